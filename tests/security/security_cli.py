"""What the security tests share: codescale run as a user runs it (a real process), the one-error-line check, small
local tasks (a git repository each, for the local sandbox) and a fake model server that only rate-limits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import CALC_FILES, make_repo
from fake_server import FakeServer

FAST_RETRIES = ("-c", "model.retries.attempts=2", "-c", "model.retries.min_wait=0.01", "-c",
                "model.retries.max_wait=0.05")
"""A model call gives up after two tries, a few milliseconds apart."""
SUBMIT = "Done.\n\n```bash\necho CODESCALE_SUBMIT\n```"


def codescale(*args: str, env: dict | None = None, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "codescale.eval.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, **kwargs)


def one_error_line(done: subprocess.CompletedProcess) -> str:
    """The one line a bad input gets: `error: ...` on stderr, exit 2, no traceback."""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "Traceback" not in done.stderr and "unexpected" not in lines[0], done.stderr
    return lines[0]


def last_line(done: subprocess.CompletedProcess) -> str:
    return [line for line in done.stderr.splitlines() if line.strip()][-1]


def tree(root: Path) -> set[str]:
    """Every path under `root`, relative to it."""
    return {str(p.relative_to(root)) for p in Path(root).rglob("*")}


def local_tasks(root: Path, *ids: str) -> Path:
    """A .jsonl task file of tasks `ids`, each on a git repository of its own (for `--sandbox local`)."""
    lines = []
    for instance_id in ids:
        repo, commit = make_repo(root / "repos" / instance_id, CALC_FILES)
        lines.append(json.dumps({"instance_id": instance_id, "problem_statement": "add() subtracts",
                                 "repo_dir": str(repo), "base_commit": commit}))
    path = root / "tasks.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    return path


def local_task(root: Path, instance_id: str = "calc-1", **fields) -> Path:
    """A .json task file of one task on a git repository of its own, with `fields` over the record."""
    repo, commit = make_repo(root / "repos" / "calc", CALC_FILES)
    record = {"instance_id": instance_id, "problem_statement": "add() subtracts", "repo_dir": str(repo),
              "base_commit": commit, **fields}
    path = root / "task.json"
    path.write_text(json.dumps(record))
    return path


def run_args(task: Path, server: FakeServer, out: Path, *extra: str) -> list[str]:
    return ["run", "--task", str(task), "--model", "openai/fake", "--base-url", server.openai_url, "--sandbox",
            "local", "--out", str(out), *extra]


def batch_args(tasks: Path, server: FakeServer, out: Path, *extra: str) -> list[str]:
    return ["batch", "--dataset", str(tasks), "--model", "openai/fake", "--base-url", server.openai_url, "--sandbox",
            "local", "--out", str(out), "--no-live", *extra]


class RateLimited(FakeServer):
    """A model server that answers every request with 429 (Retry-After: 0) while `limiting`, and by its script after."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.limiting = True

    def next_fault(self) -> tuple | None:
        return ("status", 429, 0) if self.limiting else super().next_fault()


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
