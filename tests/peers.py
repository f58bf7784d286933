"""The peer tools the tests check codescale against (Harbor, mini-SWE-agent, zizmor), each in the virtualenv
.ci/peers.sh makes under $CODESCALE_CACHE/peers; a test that needs one skips, naming the script, where it is missing.

    harbor = peer("harbor")          # the venv's folder; harbor.python, harbor.bin("harbor")
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from codescale.agent.models.local.package import cache_dir


@dataclass
class Peer:
    root: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    def bin(self, name: str) -> Path:
        return self.root / "bin" / name


def peer(name: str) -> Peer:
    """The peer's virtualenv, or a skip naming how to make it."""
    root = cache_dir() / "peers" / name
    if not (root / ".complete").is_file():
        pytest.skip(f"{name} is not set up: run `bash .ci/peers.sh` (cached per machine)")
    return Peer(root)
