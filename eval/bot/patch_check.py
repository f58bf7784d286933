"""Check a final patch the way a reviewer would: apply it in a fresh sandbox of the task and run a test command."""

from __future__ import annotations

import posixpath
import re
import time
from typing import Any

from pydantic import BaseModel

from codescale.agent.records import Task
from codescale.agent.rollout import open_sandbox

PATCH_PATH = "../codescale-final.patch"
"""Beside the work directory, not in it: the test command sees a clean checkout plus the patch."""
TAIL_LINES = 60
TAIL_CHARS = 6_000


class CheckResult(BaseModel):
    """What the test command made of the patch."""

    command: str
    applied: bool
    """Whether the patch applied to a clean checkout of the base commit."""
    returncode: int | None = None
    """The test command's exit code; None when it did not run."""
    timed_out: bool = False
    output: str = ""
    """The last lines of the command's output (or git's complaint when the patch did not apply)."""
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.applied and self.returncode == 0 and not self.timed_out


PATH_LINE = re.compile(r"^(?:--- |\+\+\+ |rename from |rename to |copy from |copy to )(.*)$")
SYMLINK_MODE = "120000"


def _unquote(path: str) -> str:
    """A path as git writes it in a patch header: C-quoted when it has odd bytes; tab-ended timestamps cut off."""
    path = path.split("\t", 1)[0]
    if len(path) >= 2 and path[0] == path[-1] == '"':
        path = path[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape").encode("latin-1").decode(
            "utf-8", "replace")
    return path


def _outside(path: str) -> str:
    """Why `path` (relative to the repository root) is not a plain file of the working tree; '' when it is."""
    if path.startswith("/"):
        return "an absolute path"
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        return "a path that climbs out with .."
    if parts and parts[0].lower() == ".git":
        return "a path inside .git (hooks, config)"
    return ""


CI_FOLDERS = (".github/workflows/", ".github/actions/")
"""Where GitHub Actions workflows and actions live: a branch holding a change there runs it with the repository's
secrets once pushed, so the bot never proposes one."""


def _ci(path: str) -> str:
    """Why `path` is CI configuration the bot may not change; '' when it is not."""
    plain = "/".join(p for p in path.split("/") if p not in ("", "."))
    if plain.lower().startswith(CI_FOLDERS):
        return "a GitHub Actions workflow or action (once pushed, it would run with the repository's secrets)"
    return ""


def _header_paths(patch: str) -> list[str]:
    paths = []
    for line in patch.splitlines():
        if line.startswith("diff --git "):
            paths += [_unquote(p) for p in line[len("diff --git "):].split(" b/", 1)]
        elif found := PATH_LINE.match(line):
            paths.append(_unquote(found[1]))
    stripped = []
    for path in paths:
        if path == "/dev/null":
            continue
        stripped.append(path[2:] if path[:2] in ("a/", "b/") else path)
    return stripped


def _symlink_targets(patch: str) -> list[tuple[str, str]]:
    """(link path, target) of every symlink the patch creates or changes."""
    links, path, is_link, target = [], "", False, None
    for line in patch.splitlines() + ["diff --git end"]:
        if line.startswith("diff --git "):
            if is_link and target is not None:
                links.append((path, target))
            path, is_link, target = "", False, None
        elif line.startswith("+++ "):
            path = _unquote(line[4:]).removeprefix("b/")
        elif line.endswith(f"mode {SYMLINK_MODE}") and line.startswith(("new file mode", "new mode")):
            is_link = True
        elif is_link and line.startswith("+") and not line.startswith("+++") and target is None:
            target = line[1:]
    return links


def unsafe_paths(patch: str) -> list[str]:
    """What in `patch` reaches outside the repository or into its CI: paths that are absolute, climb out with `..`,
    go into `.git`, `.github/workflows` or `.github/actions`, and symlinks whose target lies outside. Empty when the
    patch stays inside; check before applying."""
    problems = []
    for path in dict.fromkeys(_header_paths(patch)):
        if why := _outside(path) or _ci(path):
            problems.append(f"{path!r}: {why}")
    for link, target in _symlink_targets(patch):
        resolved = target if target.startswith("/") else posixpath.normpath(posixpath.join(posixpath.dirname(link), target))
        if _outside(resolved) or resolved == "..":
            problems.append(f"{link!r}: a symlink to {target!r}, outside the repository")
    return problems


def tail(text: str, lines: int = TAIL_LINES, chars: int = TAIL_CHARS) -> str:
    kept = "\n".join(text.rstrip().splitlines()[-lines:])
    return kept[-chars:]


def check_patch(task: Task, patch: str, command: str, sandbox: dict[str, Any], *, run_id: str,
                timeout: float) -> CheckResult:
    """Apply `patch` in a fresh sandbox of `task` (settings `sandbox`), then run `command` there for at most
    `timeout` seconds. Raises SandboxError when the sandbox itself fails."""
    start = time.monotonic()
    if problems := unsafe_paths(patch):
        return CheckResult(command=command, applied=False, output="refused: " + "; ".join(problems),
                           seconds=time.monotonic() - start)
    with open_sandbox(task, sandbox, run_id=run_id, name=f"{task.instance_id}.check") as box:
        box.write_file(PATCH_PATH, patch)
        applied = box.execute(f"git apply --whitespace=nowarn {PATCH_PATH}", timeout=120)
        if applied.returncode != 0:
            return CheckResult(command=command, applied=False, output=tail(applied.output),
                               seconds=time.monotonic() - start)
        out = box.execute(command, timeout=timeout)
    return CheckResult(command=command, applied=True, returncode=out.returncode, timed_out=out.timed_out,
                       output=tail(out.output), seconds=time.monotonic() - start)
