"""The bundled task suite: `eval/suite/<instance_id>/` holding task.yaml, repo/, gold.patch and test.patch.

The base commit is computed in Python from the repo files with a fixed author, committer and date, so the
same files always give the same sha; the image build makes the same commit with git and checks it matches.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict

SUITE_DIR = Path(__file__).parent / "suite"
SUITE_NAME = "codescale"
"""The name that selects the whole bundled suite (`codescale tasks build codescale`)."""

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "codescale", "GIT_AUTHOR_EMAIL": "tasks@codescale.invalid",
    "GIT_COMMITTER_NAME": "codescale", "GIT_COMMITTER_EMAIL": "tasks@codescale.invalid",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
}
"""Who made, and when, the base commit of every bundled repo (1767225600 seconds since the epoch)."""
COMMIT_MESSAGE = "initial"
_SKIPPED = {"__pycache__", ".pytest_cache", ".git"}


class SuiteTask(BaseModel):
    """The task.yaml of one bundled task."""

    model_config = ConfigDict(extra="forbid")

    instance_id: str
    """`codescale__<name>-<n>`."""
    repo: str
    """`codescale/<name>`."""
    problem_statement: str
    """The issue as a user would write it: symptoms, not the fix."""
    FAIL_TO_PASS: list[str]
    """Tests the test patch adds or changes that fail before the fix and pass after."""
    PASS_TO_PASS: list[str] = []
    """Tests that pass before and after."""
    difficulty: Literal["easy", "medium", "hard"]
    """How hard we judge it; the demo uses the easy ones."""
    notes: str = ""
    """What the task exercises (for maintainers; never shown to agents)."""
    test_runner: Literal["pytest", "unittest"] = "pytest"
    """How the generated eval script runs the tests."""
    setup: list[str] = []
    """Shell commands run in the repo at image build time (after the base commit)."""
    hints_text: str = ""
    version: str = "1.0"


def suite_ids() -> list[str]:
    return sorted(p.name for p in SUITE_DIR.iterdir() if (p / "task.yaml").is_file())


def repo_files(task_dir: Path) -> dict[str, bytes]:
    """The files of a bundled repo at its base commit, by posix path (caches and .git left out)."""
    root = task_dir / "repo"
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and not _SKIPPED & set(rel.parts) and path.suffix != ".pyc":
            files[rel.as_posix()] = path.read_bytes()
    return files


def read_suite_task(task_dir: Path) -> SuiteTask:
    return SuiteTask.model_validate(yaml.safe_load((task_dir / "task.yaml").read_text()))


def commit_sha(files: dict[str, bytes]) -> str:
    """The sha git gives one commit of `files` (mode 100644) with GIT_IDENTITY and COMMIT_MESSAGE."""
    tree = _tree_sha(files)
    stamp = "1767225600 +0000"
    name = f"{GIT_IDENTITY['GIT_AUTHOR_NAME']} <{GIT_IDENTITY['GIT_AUTHOR_EMAIL']}>"
    body = f"tree {tree}\nauthor {name} {stamp}\ncommitter {name} {stamp}\n\n{COMMIT_MESSAGE}\n".encode()
    return _object_sha(b"commit", body).hex()


def _object_sha(kind: bytes, body: bytes) -> bytes:
    return hashlib.sha1(kind + b" %d\0" % len(body) + body).digest()


def _tree_sha(files: dict[str, bytes]) -> str:
    def tree(entries: dict[str, bytes]) -> bytes:
        blobs = {name: data for name, data in entries.items() if "/" not in name}
        dirs: dict[str, dict[str, bytes]] = {}
        for name, data in entries.items():
            if "/" in name:
                head, rest = name.split("/", 1)
                dirs.setdefault(head, {})[rest] = data
        rows = [(name, b"100644", _object_sha(b"blob", data)) for name, data in blobs.items()]
        rows += [(name + "/", b"40000", tree(sub)) for name, sub in dirs.items()]
        # git orders tree entries by name, with a directory compared as if it ended in "/"
        body = b"".join(mode + b" " + name.rstrip("/").encode() + b"\0" + sha for name, mode, sha in sorted(
            rows, key=lambda row: row[0].encode()))
        return _object_sha(b"tree", body)

    return tree(files).hex()
