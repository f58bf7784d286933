"""Render the Jinja2 prompt templates kept in configs/ (StrictUndefined: a missing variable is an error)."""

from __future__ import annotations

from functools import cache

import jinja2


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False)


@cache
def _compile(template: str) -> jinja2.Template:
    return _environment().from_string(template)


def render(template: str, **variables) -> str:
    return _compile(template).render(**variables).strip()
