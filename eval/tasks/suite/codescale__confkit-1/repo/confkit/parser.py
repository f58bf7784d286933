"""The confkit configuration language: a small TOML-like format with interpolation.

A document is a sequence of lines:

    # a comment
    [section]                 a table; dotted names make nested tables: [server.tls]
    [[section]]               an array of tables: each header appends a new table
    key = value               a key in the current table; keys may be dotted: a.b = 1
    key = value  # comment    comments may follow a value

Values:

    "text with \\n escapes"    basic string (escapes: \\n \\t \\r \\" \\\\ \\uXXXX \\UXXXXXXXX)
    'C:\\raw\\path'             literal string (no escapes)
    \"\"\"multi-line\"\"\"          multi-line basic string ('''...''' for literal)
    42, -7, 1_000, 0x1F        integers (underscores allowed, hex/octal/binary prefixes)
    3.14, 1e6, inf, nan        floats
    true, false                booleans
    2024-05-01                 dates (datetime.date)
    [1, 2, 3]                  arrays, may span lines, trailing comma allowed
    {a = 1, b = "x"}           inline tables
    "${section.key}"           interpolation inside basic strings, resolved after parsing

Errors raise ConfigError with the line number.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ConfigError", "parse", "Document"]


class ConfigError(ValueError):
    """A syntax or semantic error, with the 1-based line number where it was found."""

    def __init__(self, message: str, line: int | None = None):
        self.line = line
        super().__init__(f"line {line}: {message}" if line else message)


# ---------------------------------------------------------------------------------------------------------
# Lexical helpers
# ---------------------------------------------------------------------------------------------------------

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_INTEGER = re.compile(r"[+-]?(0|[1-9](_?\d)*)")
_PREFIXED = re.compile(r"0(x[0-9A-Fa-f](_?[0-9A-Fa-f])*|o[0-7](_?[0-7])*|b[01](_?[01])*)")
_FLOAT = re.compile(r"[+-]?(0|[1-9](_?\d)*)(\.\d(_?\d)*)?([eE][+-]?\d(_?\d)*)?")
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_INTERPOLATION = re.compile(r"\$\{([A-Za-z0-9_.-]+)\}")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "b": "\b", "f": "\f", "e": "\x1b"}


def _strip_comment(line: str) -> str:
    """`line` without a trailing comment; a '#' inside a quoted string is not a comment."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            if char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char == "#":
            return line[:i].rstrip()
    return line.rstrip()


def _unescape(text: str, line: int) -> str:
    """Resolve backslash escapes of a basic string body."""
    out = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        if i + 1 >= len(text):
            raise ConfigError("dangling backslash at end of string", line)
        code = text[i + 1]
        if code in _ESCAPES:
            out.append(_ESCAPES[code])
            i += 2
        elif code in "uU":
            width = 4 if code == "u" else 8
            digits = text[i + 2 : i + 2 + width]
            if len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise ConfigError(f"bad unicode escape \\{code}{digits}", line)
            out.append(chr(int(digits, 16)))
            i += 2 + width
        else:
            raise ConfigError(f"unknown escape \\{code}", line)
    return "".join(out)


# ---------------------------------------------------------------------------------------------------------
# Value parsing: a small recursive-descent reader over one logical value
# ---------------------------------------------------------------------------------------------------------


@dataclass
class _Reader:
    text: str
    line: int
    pos: int = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
            self.pos += 1

    def expect(self, char: str) -> None:
        self.skip_space()
        if self.peek() != char:
            found = self.peek() or "end of value"
            raise ConfigError(f"expected {char!r}, found {found!r}", self.line)
        self.pos += 1

    def at_end(self) -> bool:
        self.skip_space()
        return self.pos >= len(self.text)

    def rest(self) -> str:
        return self.text[self.pos :]


def _read_value(reader: _Reader) -> Any:
    reader.skip_space()
    char = reader.peek()
    if not char:
        raise ConfigError("missing value", reader.line)
    if reader.rest().startswith('"""'):
        return _read_multiline(reader, '"""')
    if reader.rest().startswith("'''"):
        return _read_multiline(reader, "'''")
    if char == '"':
        return _read_basic_string(reader)
    if char == "'":
        return _read_literal_string(reader)
    if char == "[":
        return _read_array(reader)
    if char == "{":
        return _read_inline_table(reader)
    return _read_scalar(reader)


def _read_basic_string(reader: _Reader) -> str:
    reader.pos += 1
    start = reader.pos
    while reader.pos < len(reader.text):
        char = reader.text[reader.pos]
        if char == "\\":
            reader.pos += 2
            continue
        if char == '"':
            body = reader.text[start : reader.pos]
            reader.pos += 1
            return _Interpolated.wrap(_unescape(body, reader.line))
        if char == "\n":
            break
        reader.pos += 1
    raise ConfigError("unterminated string", reader.line)


def _read_literal_string(reader: _Reader) -> str:
    reader.pos += 1
    end = reader.text.find("'", reader.pos)
    newline = reader.text.find("\n", reader.pos)
    if end < 0 or (0 <= newline < end):
        raise ConfigError("unterminated literal string", reader.line)
    body = reader.text[reader.pos : end]
    reader.pos = end + 1
    return body


def _read_multiline(reader: _Reader, delimiter: str) -> str:
    reader.pos += 3
    end = reader.text.find(delimiter, reader.pos)
    if end < 0:
        raise ConfigError("unterminated multi-line string", reader.line)
    body = reader.text[reader.pos : end]
    reader.pos = end + 3
    if body.startswith("\n"):  # a newline right after the opening delimiter is trimmed
        body = body[1:]
    if delimiter == "'''":
        return body
    # a backslash at the end of a line joins it with the next non-blank line
    body = re.sub(r"\\\n\s*", "", body)
    return _Interpolated.wrap(_unescape(body, reader.line))


def _read_array(reader: _Reader) -> list[Any]:
    reader.expect("[")
    items: list[Any] = []
    while True:
        reader.skip_space()
        if reader.peek() == "]":
            reader.pos += 1
            return items
        items.append(_read_value(reader))
        reader.skip_space()
        if reader.peek() == ",":
            reader.pos += 1
            continue
        reader.expect("]")
        return items


def _read_inline_table(reader: _Reader) -> dict[str, Any]:
    reader.expect("{")
    table: dict[str, Any] = {}
    reader.skip_space()
    if reader.peek() == "}":
        reader.pos += 1
        return table
    while True:
        reader.skip_space()
        key_path = _read_key(reader)
        reader.expect("=")
        value = _read_value(reader)
        _assign(table, key_path, value, reader.line)
        reader.skip_space()
        if reader.peek() == ",":
            reader.pos += 1
            continue
        reader.expect("}")
        return table


_SCALAR_END = re.compile(r"[,\]\}\s]")


def _read_scalar(reader: _Reader) -> Any:
    match = _SCALAR_END.search(reader.text, reader.pos)
    end = match.start() if match else len(reader.text)
    token = reader.text[reader.pos : end]
    reader.pos = end
    return _scalar(token, reader.line)


def _scalar(token: str, line: int) -> Any:
    if token == "true":
        return True
    if token == "false":
        return False
    if token in ("inf", "+inf"):
        return math.inf
    if token == "-inf":
        return -math.inf
    if token in ("nan", "+nan", "-nan"):
        return math.nan
    if _PREFIXED.fullmatch(token):
        base = {"x": 16, "o": 8, "b": 2}[token[1]]
        return int(token[2:].replace("_", ""), base)
    if _INTEGER.fullmatch(token):
        return int(token.replace("_", ""))
    if _FLOAT.fullmatch(token):
        return float(token.replace("_", ""))
    date = _DATE.fullmatch(token)
    if date:
        try:
            return _dt.date(*(int(part) for part in date.groups()))
        except ValueError as e:
            raise ConfigError(f"bad date {token!r}: {e}", line) from None
    raise ConfigError(f"cannot understand value {token!r}", line)


# ---------------------------------------------------------------------------------------------------------
# Keys and tables
# ---------------------------------------------------------------------------------------------------------


def _read_key(reader: _Reader) -> list[str]:
    """A dotted key: bare or quoted parts separated by dots."""
    parts = []
    while True:
        reader.skip_space()
        char = reader.peek()
        if char == '"':
            parts.append(_read_basic_string(reader))
        elif char == "'":
            parts.append(_read_literal_string(reader))
        else:
            match = _BARE_KEY.match(reader.text, reader.pos)
            if not match:
                raise ConfigError(f"expected a key, found {reader.rest()[:10]!r}", reader.line)
            parts.append(match.group())
            reader.pos = match.end()
        reader.skip_space()
        if reader.peek() != ".":
            return [str(p) for p in parts]
        reader.pos += 1


def _parse_key(text: str, line: int) -> list[str]:
    reader = _Reader(text, line)
    parts = _read_key(reader)
    if not reader.at_end():
        raise ConfigError(f"unexpected text after key: {reader.rest()!r}", line)
    return parts


def _descend(root: dict[str, Any], path: list[str], line: int) -> dict[str, Any]:
    """The table at `path`, created as needed; the last table of an array of tables is used."""
    table = root
    for part in path:
        child = table.setdefault(part, {})
        if isinstance(child, list) and child and isinstance(child[-1], dict):
            child = child[-1]
        if not isinstance(child, dict):
            raise ConfigError(f"{'.'.join(path)}: {part!r} is already a value, not a table", line)
        table = child
    return table


def _assign(table: dict[str, Any], path: list[str], value: Any, line: int) -> None:
    parent = _descend(table, path[:-1], line)
    key = path[-1]
    if key in parent:
        raise ConfigError(f"duplicate key {'.'.join(path)!r}", line)
    parent[key] = value


# ---------------------------------------------------------------------------------------------------------
# Interpolation
# ---------------------------------------------------------------------------------------------------------


class _Interpolated(str):
    """A basic string that contains ${...} references, resolved once the document is complete."""

    @staticmethod
    def wrap(text: str) -> str:
        return _Interpolated(text) if _INTERPOLATION.search(text) else text


def _lookup(root: dict[str, Any], dotted: str) -> Any:
    node: Any = root
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"interpolation refers to unknown key {dotted!r}")
        node = node[part]
    return node


def _resolve(root: dict[str, Any], value: Any, stack: tuple[str, ...] = ()) -> Any:
    if isinstance(value, _Interpolated):

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in stack:
                raise ConfigError(f"interpolation cycle: {' -> '.join(stack + (name,))}")
            target = _resolve(root, _lookup(root, name), stack + (name,))
            if isinstance(target, (dict, list)):
                raise ConfigError(f"cannot interpolate table or array {name!r} into a string")
            if isinstance(target, bool):
                return "true" if target else "false"
            return str(target)

        return _INTERPOLATION.sub(replace, value)
    if isinstance(value, dict):
        return {key: _resolve(root, item, stack) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(root, item, stack) for item in value]
    return value


# ---------------------------------------------------------------------------------------------------------
# Logical lines: a value may continue over several physical lines (arrays, inline tables, multi-line strings)
# ---------------------------------------------------------------------------------------------------------


def _open_brackets(text: str) -> int:
    """How many [ and { are still open at the end of `text` (strings skipped)."""
    depth = 0
    i = 0
    while i < len(text):
        if text.startswith('"""', i) or text.startswith("'''", i):
            end = text.find(text[i : i + 3], i + 3)
            if end < 0:
                return depth + 1  # an open multi-line string also continues the value
            i = end + 3
            continue
        char = text[i]
        if char in "\"'":
            end = i + 1
            while end < len(text) and text[end] != char:
                end += 2 if char == '"' and text[end] == "\\" else 1
            i = end + 1
            continue
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        i += 1
    return depth


def _logical_lines(source: str) -> list[tuple[int, str]]:
    """(first line number, text) of each statement, comments removed, continuation lines joined."""
    statements: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(source.splitlines(), 1):
        in_multiline = pending and _open_brackets("\n".join(pending)) > 0 and _inside_multiline(pending)
        line = raw if in_multiline else _strip_comment(raw)
        if not pending:
            if not line.strip():
                continue
            start = number
        pending.append(line)
        joined = "\n".join(pending)
        if _open_brackets(joined) <= 0 or _is_table_header(pending[0]):
            statements.append((start, joined.strip()))
            pending = []
    if pending:
        raise ConfigError("value is not closed before the end of the document", start)
    return statements


def _inside_multiline(pending: list[str]) -> bool:
    text = "\n".join(pending)
    return text.count('"""') % 2 == 1 or text.count("'''") % 2 == 1


def _is_table_header(line: str) -> bool:
    return line.lstrip().startswith("[") and "=" not in line.split("]")[0]


# ---------------------------------------------------------------------------------------------------------
# The document
# ---------------------------------------------------------------------------------------------------------


@dataclass
class Document:
    """A parsed configuration: nested dicts, with typed accessors."""

    data: dict[str, Any] = field(default_factory=dict)

    def get(self, dotted: str, default: Any = None) -> Any:
        try:
            return _lookup(self.data, dotted)
        except ConfigError:
            return default

    def require(self, dotted: str, kind: type | tuple[type, ...] | None = None) -> Any:
        value = _lookup(self.data, dotted)
        if kind is not None and not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise ConfigError(f"{dotted} should be {names}, not {type(value).__name__}")
        return value

    def section(self, dotted: str) -> Document:
        value = self.require(dotted, dict)
        return Document(value)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __contains__(self, dotted: str) -> bool:
        return self.get(dotted, _MISSING) is not _MISSING


_MISSING = object()


def parse(source: str) -> Document:
    """Parse a confkit document."""
    root: dict[str, Any] = {}
    current = root
    defined_tables: set[tuple[str, ...]] = set()
    for number, statement in _logical_lines(source):
        if statement.startswith("[["):
            if not statement.endswith("]]"):
                raise ConfigError("array-of-tables header must end with ]]", number)
            path = _parse_key(statement[2:-2], number)
            parent = _descend(root, path[:-1], number)
            array = parent.setdefault(path[-1], [])
            if not isinstance(array, list):
                raise ConfigError(f"{'.'.join(path)} is already defined as a table", number)
            current = {}
            array.append(current)
            continue
        if statement.startswith("["):
            if not statement.endswith("]"):
                raise ConfigError("table header must end with ]", number)
            path = _parse_key(statement[1:-1], number)
            if tuple(path) in defined_tables:
                raise ConfigError(f"table [{'.'.join(path)}] defined twice", number)
            defined_tables.add(tuple(path))
            current = _descend(root, path, number)
            continue
        reader = _Reader(statement, number)
        key_path = _read_key(reader)
        reader.expect("=")
        value = _read_value(reader)
        if not reader.at_end():
            raise ConfigError(f"unexpected text after value: {reader.rest()!r}", number)
        _assign(current, key_path, value, number)
    return Document(_resolve(root, root))
