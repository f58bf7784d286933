"""Render the Jinja2 prompt templates kept in configs/ (StrictUndefined: a missing variable is an error).

Untrusted text (an issue, a summary, a patch, a trajectory, test output) sits in a prompt between tags that carry a
per-request key (`fresh_key`): a random token that none of the texts of that prompt contains, so that no text can
open or close a block of its own. The `untrusted` filter also neutralises, inside such text, closing tags of the
elements the template itself uses (`</issue>` becomes `<\\/issue>`), so that a model reading loosely does not take
them for the template's own.
"""

from __future__ import annotations

import re
import secrets
import threading
from functools import cache

import jinja2

KEY_BYTES = 6
"""A key is this many random bytes, written as hex (12 characters)."""
_TAG = re.compile(r"</?\s*([A-Za-z][A-Za-z0-9_]*)")


def fresh_key(*texts: str) -> str:
    """A random key (hex) that none of `texts` contains, in any case: the delimiters of one prompt carry it."""
    lowered = [t.lower() for t in texts if t]
    while True:
        key = secrets.token_hex(KEY_BYTES)
        if not any(key in t for t in lowered):
            return key


class SharedKey:
    """Random keys kept across the requests of one task, by name: the part of their prompts before the request's own
    key (the system prompt, the issue in its keyed block, the instructions) stays one shared prefix that a provider's
    prompt cache can bill at its cached rate. A key is drawn anew when a text to be shown would contain it."""

    def __init__(self) -> None:
        self._keys: dict[str, str] = {}
        self._lock = threading.Lock()

    def __call__(self, name: str, *texts: str) -> str:
        with self._lock:
            key = self._keys.get(name)
            if key is None or any(key in t.lower() for t in texts if t):
                key = self._keys[name] = fresh_key(*texts)
            return key


def neutralise(text: str, names: frozenset[str]) -> str:
    """`text` with every closing tag of these element names (`</name`, any case or spacing) written `<\\/name`."""
    if not names or not text:
        return text
    closing = re.compile(r"<\s*/\s*(?=(?:" + "|".join(map(re.escape, sorted(names))) + r")(?![A-Za-z0-9_]))",
                         re.IGNORECASE)
    return closing.sub("<\\/", text)


@jinja2.pass_context
def _untrusted(context: jinja2.runtime.Context, text) -> str:
    return neutralise("" if text is None else str(text), context.get("__tags__", frozenset()))


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False)
    env.filters["untrusted"] = _untrusted
    return env


@cache
def _compile(template: str) -> tuple[jinja2.Template, frozenset[str]]:
    """The compiled template and the element names its own tags use (`<issue-{{ key }}>` uses `issue`)."""
    return _environment().from_string(template), frozenset(name.lower() for name in _TAG.findall(template))


def render(template: str, **variables) -> str:
    compiled, tags = _compile(template)
    return compiled.render(**variables, __tags__=tags).strip()
