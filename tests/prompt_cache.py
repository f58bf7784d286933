"""Anthropic's prompt cache as the fake server (fake_server.py) keeps it, for requests that carry `cache_control`.

A request is a sequence of blocks (the system blocks, then each message's content blocks, a string being one block).
Each breakpoint (a block with `cache_control`) writes the prefix that ends there into the cache; a request reads the
longest cached prefix that ends at one of its breakpoints or at most LOOKBACK blocks before one. Tokens are words,
as everywhere in the fake server. The usage it reports splits the input as the real API does: `input_tokens`
(neither read nor written), `cache_read_input_tokens`, `cache_creation_input_tokens` (from the end of what was read
to the last breakpoint). Nothing expires and there is no minimum length.
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any

LOOKBACK = 20
"""Blocks before a breakpoint where a cached prefix is still found (Anthropic's documented lookback)."""


def blocks(body: dict) -> list[tuple[str, str, bool]]:
    """(role, text, marked) of every block of the request, in order."""
    found = []
    for role, content in [("system", body.get("system"))] + [(m["role"], m["content"]) for m in body.get("messages", [])]:
        if content is None:
            continue
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
        found += [(role, part.get("text", ""), "cache_control" in part) for part in parts]
    return found


def marked(body: dict) -> bool:
    return any(mark for _, _, mark in blocks(body))


class PromptCache:
    def __init__(self) -> None:
        self.prefixes: set[str] = set()
        self._lock = threading.Lock()

    def usage(self, body: dict) -> dict[str, Any]:
        """The input token fields of a reply to `body`; the prefixes at its breakpoints are cached after it."""
        seen = blocks(body)
        sizes = [len(text.split()) for _, text, _ in seen]
        keys, digest = [], hashlib.sha256()
        for role, text, _ in seen:
            digest.update(json.dumps([role, text]).encode())
            keys.append(digest.copy().hexdigest())
        points = [i for i, (_, _, mark) in enumerate(seen) if mark]
        with self._lock:
            read_to = max((p + 1 for end in points for p in range(max(0, end - LOOKBACK), end + 1)
                           if keys[p] in self.prefixes), default=0)
            self.prefixes.update(keys[p] for p in points)
        write_to = max(read_to, points[-1] + 1) if points else read_to
        read, written = sum(sizes[:read_to]), sum(sizes[read_to:write_to])
        return {"input_tokens": sum(sizes) - read - written, "cache_read_input_tokens": read,
                "cache_creation_input_tokens": written}
