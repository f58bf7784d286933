"""Load a config file and apply environment overrides (CONFKIT__SECTION__KEY=value)."""

from __future__ import annotations

import os
from pathlib import Path

from confkit.parser import ConfigError, Document, _scalar, parse

PREFIX = "CONFKIT__"


def load(path: str | Path, environ: dict[str, str] | None = None) -> Document:
    """Parse the file at `path`, then override keys from `environ` (default: os.environ)."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        document = parse(text)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    apply_overrides(document, os.environ if environ is None else environ)
    return document


def apply_overrides(document: Document, environ: dict[str, str]) -> None:
    for name, raw in environ.items():
        if not name.startswith(PREFIX):
            continue
        path = [part.lower() for part in name[len(PREFIX) :].split("__") if part]
        table = document.data
        for part in path[:-1]:
            table = table.setdefault(part, {})
        try:
            value = _scalar(raw, None)
        except ConfigError:
            value = raw  # not a number, boolean or date: keep it as a string
        table[path[-1]] = value
