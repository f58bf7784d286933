"""The GitHub workflow runs only pinned code: every action by a commit SHA, codescale from a git commit the
user sets and its dependencies by hash (never a package name alone looked up on an index), and it refuses to run
until that is set."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

WORKFLOW = Path(__file__).resolve().parent.parent / "examples" / "github" / "codescale.yml"


def steps() -> list[dict]:
    flow = yaml.safe_load(WORKFLOW.read_text())
    return [step for job in flow["jobs"].values() for step in job["steps"]]


def test_every_action_is_pinned_by_a_commit_sha_with_its_tag_in_a_comment():
    uses = [step["uses"] for step in steps() if "uses" in step]
    assert len(uses) == 5
    assert [u for u in uses if not re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", u)] == []
    for line in WORKFLOW.read_text().splitlines():
        if "uses:" in line:
            assert re.search(r"@[0-9a-f]{40}  # v\d+\.\d+\.\d+$", line), line


def install_script() -> str:
    (step,) = [s for s in steps() if s.get("name", "").startswith("Install codescale")]
    return step["run"]


def run_install(git: str, commit: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """The install step under bash with `python` replaced by echo: what it would install, or its error."""
    (tmp_path / "python").write_text('#!/bin/sh\necho "$@"\n')
    (tmp_path / "python").chmod(0o755)
    return subprocess.run(["bash", "-e", "-c", install_script()], capture_output=True, text=True,
                          env={"PATH": f"{tmp_path}:/usr/bin:/bin", "CODESCALE_GIT": git, "CODESCALE_COMMIT": commit})


def test_the_install_step_installs_the_pinned_commit(tmp_path):
    flow = yaml.safe_load(WORKFLOW.read_text())
    defaults = run_install(flow["env"]["CODESCALE_GIT"], flow["env"]["CODESCALE_COMMIT"], tmp_path)
    assert defaults.returncode == 1 and "set CODESCALE_GIT and CODESCALE_COMMIT" in defaults.stdout
    sha = "0123456789abcdef0123456789abcdef01234567"
    done = run_install("https://example.invalid/me/codescale.git", sha, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        "-m pip install --require-hashes --no-deps -r .github/codescale-requirements.txt",
        f"-m pip install --no-deps --no-build-isolation codescale @ git+https://example.invalid/me/codescale.git@{sha}",
        "-m pip check",
    ]
    assert run_install("https://example.invalid/me/codescale.git", "main", tmp_path).returncode == 1
