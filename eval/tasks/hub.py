"""The Hugging Face hub as a source of datasets: whether it can be reached, asked once in at most a few seconds, so
that a name that is neither a bundled task, a file nor a reachable dataset fails at once instead of after minutes
of the datasets library's retries."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

PROBE_SECONDS = 3.0
"""How long the hub may take to accept a connection."""
OFFLINE = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
"""Variables that tell the datasets library to use its local cache only: then the hub is not asked."""


def endpoint() -> str:
    """The hub's address (`HF_ENDPOINT`, as the hub's own client reads it)."""
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def offline() -> bool:
    return any(os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on") for name in OFFLINE)


def unreachable() -> str | None:
    """Why the hub cannot be reached (one line), or None when it accepts a connection or when the datasets library
    is told to work offline (it reads its cache then, without the network)."""
    if offline():
        return None
    url = urlparse(endpoint())
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname or "", port), timeout=PROBE_SECONDS).close()
    except OSError as e:
        return f"the Hugging Face hub at {endpoint()} cannot be reached ({e.strerror or e})"
    return None
