"""The CI bot refuses what its own check refuses, and its GitHub workflow admits only users with write access, installs
only hash-pinned code where the model key is, pushes without --force (never over commits it did not make), can push
to a fork, and passes zizmor. The workflow's scripts run here under bash, against local git repositories standing
for GitHub, with `gh` played by a small program that records what it is asked."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import CALC_FILES, git, make_repo
from fake_server import FakeServer
from peers import peer
from test_agent import FIX
from test_fix_issue import agent, calc, fix_issue, run_args  # noqa: F401 (calc: a fixture)

ROOT = Path(__file__).resolve().parent.parent.parent
WORKFLOW = ROOT / "examples" / "github" / "codescale.yml"
REQUIREMENTS = ROOT / "examples" / "github" / "requirements.txt"
BOT = "codescale-bot@users.noreply.github.com"
FAKE_GH = f"""#!{sys.executable}
import json, os, sys
with open(os.environ["GH_LOG"], "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
if sys.argv[1] == "api":
    permission = os.environ.get("GH_PERMISSION", "")
    print(permission) if permission else sys.exit(1)
elif sys.argv[1:3] == ["pr", "create"]:
    print("https://github.example/owner/repo/pull/1")
"""


def flow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def step(job: str, name: str) -> dict:
    [found] = [s for s in flow()["jobs"][job]["steps"] if s.get("name", "").startswith(name)]
    return found


def run_step(job: str, name: str, tmp_path: Path, env: dict, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The step's script as the runner runs it (`bash -e`), with the workflow's `env:` and `gh` faked on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "gh").write_text(FAKE_GH)
    (bin_dir / "gh").chmod(0o755)
    output = tmp_path / "github_output"
    output.write_text("")
    settings = {k: str(v) for k, v in flow()["env"].items()}
    base = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "GH_LOG": str(tmp_path / "gh.log"),
            "GITHUB_OUTPUT": str(output), "RUNNER_TEMP": str(tmp_path / "runner")}
    return subprocess.run(["bash", "-e", "-c", step(job, name)["run"]], capture_output=True, text=True, timeout=120,
                          cwd=cwd or tmp_path, env={**settings, **base, **env})


def outputs(tmp_path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in (tmp_path / "github_output").read_text().splitlines())


def gh_calls(tmp_path: Path) -> list[list[str]]:
    log = tmp_path / "gh.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.mark.slow
@pytest.mark.parametrize("command, reaches", [
    ("ln -s /etc/passwd calc/passwords", "'calc/passwords': a symlink to '/etc/passwd', outside the repository"),
    ("mkdir -p .github/workflows && printf 'on: push\\n' > .github/workflows/ci.yml",
     "'.github/workflows/ci.yml': a GitHub Actions workflow or action"),
])
def test_a_patch_its_own_check_refuses_is_refused_and_not_proposed(command, reaches, calc, tmp_path, base_image):
    repo, issue = calc
    out = tmp_path / "runner" / "codescale-out"
    with FakeServer(responder=agent(FIX, command, "echo CODESCALE_SUBMIT")) as server:
        done = fix_issue(*run_args(repo, issue, server, out, base_image, "--test-cmd", "true"))
    result = json.loads((out / "result.json").read_text())
    assert (result["status"], result["check"]) == ("refused", None), done.stderr
    assert reaches in result["reason"] and done.returncode == 0
    # the workflow: the pull request job proposes only `patched`, and says why nothing was proposed
    assert step("pr", "Push")["if"] == "needs.fix.outputs.status == 'patched'"
    commented = run_step("pr", "Comment", tmp_path, {"STATUS": "refused", "ISSUE": "7", "PR_URL": "",
                                                     "RUN_URL": "https://github.example/run/1"})
    assert commented.returncode == 0, commented.stderr
    [call] = gh_calls(tmp_path)
    assert call[:3] == ["issue", "comment", "7"] and reaches in call[4] and "proposes no patch" in call[4]


@pytest.fixture
def github(tmp_path) -> dict:
    """Local stand-ins for GitHub: owner/repo (main holds the bug) and a fork someone/repo, as bare repositories under
    one "server"; the runner's checkout of main; the fix job's artifact with a patch fixing the bug."""
    server = tmp_path / "server"
    source, _ = make_repo(tmp_path / "source", CALC_FILES)
    for name in ("owner/repo", "someone/repo"):
        subprocess.run(["git", "clone", "-q", "--bare", str(source), str(server / f"{name}.git")], check=True)
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(server / "owner/repo.git"), str(work)], check=True)
    (work / "calc" / "ops.py").write_text(CALC_FILES["calc/ops.py"].replace("a - b", "a + b"))
    patch = git(work, "diff") + "\n"
    git(work, "checkout", "--", ".")
    out = tmp_path / "runner" / "codescale-out"
    out.mkdir(parents=True)
    (out / "patch.diff").write_text(patch)
    (out / "result.json").write_text(json.dumps({"status": "patched", "pr_title": "Fix #7: add() subtracts"}))
    (out / "pr_body.md").write_text("body\n")
    env = {"ISSUE": "7", "GH_REPO": "owner/repo", "GH_TOKEN": "t", "PUSH_TOKEN": "t", "SERVER": f"file://{server}"}
    return {"server": server, "work": work, "env": env}


def push(github: dict, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    return run_step("pr", "Push", tmp_path, {**github["env"], **env}, cwd=github["work"])


def branch(github: dict, repo: str) -> str:
    found = subprocess.run(["git", "-C", str(github["server"] / f"{repo}.git"), "rev-parse", "--verify", "-q",
                            "refs/heads/codescale/issue-7"], capture_output=True, text=True)
    return found.stdout.strip()


def commit_on_branch(github: dict, tmp_path: Path, email: str) -> str:
    """Someone (`email`) pushes a commit to codescale/issue-7 of owner/repo; its sha."""
    clone = tmp_path / f"clone-{email.split('@')[0]}"
    subprocess.run(["git", "clone", "-q", str(github["server"] / "owner/repo.git"), str(clone)], check=True)
    (clone / "NOTES.md").write_text(f"by {email}\n")
    env = {**os.environ, "GIT_AUTHOR_NAME": "x", "GIT_AUTHOR_EMAIL": email, "GIT_COMMITTER_NAME": "x",
           "GIT_COMMITTER_EMAIL": email}
    for args in (["add", "NOTES.md"], ["commit", "-q", "-m", "notes"], ["push", "-q", "origin", "HEAD:refs/heads/codescale/issue-7"]):
        subprocess.run(["git", "-C", str(clone), *args], check=True, env=env, capture_output=True)
    return branch(github, "owner/repo")


def test_the_push_stops_over_commits_it_did_not_make_and_never_forces(github, tmp_path):
    theirs = commit_on_branch(github, tmp_path, "maintainer@example.invalid")
    done = push(github, tmp_path)
    assert done.returncode == 1
    assert "codescale/issue-7 holds commits codescale did not make" in done.stdout + done.stderr
    assert branch(github, "owner/repo") == theirs
    assert "--force" not in step("pr", "Push")["run"] and "+refs" not in step("pr", "Push")["run"]


def test_a_new_proposal_goes_on_top_of_the_bots_own_earlier_one(github, tmp_path):
    earlier = commit_on_branch(github, tmp_path, BOT)
    done = push(github, tmp_path)
    assert done.returncode == 0, done.stderr
    bare = github["server"] / "owner/repo.git"
    now = branch(github, "owner/repo")
    assert now != earlier and git(bare, "merge-base", "--is-ancestor", earlier, now) == ""
    assert "return a + b" in git(bare, "show", f"{now}:calc/ops.py")
    assert ["pr", "create", "--draft", "--head", "codescale/issue-7"] == gh_calls(tmp_path)[-1][:5]


def test_the_branch_can_go_to_a_fork(github, tmp_path):
    done = push(github, tmp_path, CODESCALE_PUSH_REPO="someone/repo")
    assert done.returncode == 0, done.stderr
    assert branch(github, "someone/repo") and not branch(github, "owner/repo")
    assert gh_calls(tmp_path)[-1][:5] == ["pr", "create", "--draft", "--head", "someone:codescale/issue-7"]
    assert outputs(tmp_path)["url"] == "https://github.example/owner/repo/pull/1"


@pytest.mark.parametrize("permission, admitted", [("admin", "true"), ("maintain", "true"), ("write", "true"),
                                                  ("triage", "false"), ("read", "false"), ("none", "false"),
                                                  ("", "false")])
def test_only_users_with_write_access_are_admitted(permission, admitted, tmp_path):
    jobs = flow()["jobs"]
    assert jobs["fix"]["needs"] == "admit" and jobs["fix"]["if"] == "needs.admit.outputs.admitted == 'true'"
    assert "author_association" not in WORKFLOW.read_text()  # an organisation MEMBER may hold no write access
    done = run_step("admit", "Admit", tmp_path, {"GH_REPO": "owner/repo", "REQUESTER": "octo", "GH_TOKEN": "t",
                                                 "GH_PERMISSION": permission})
    assert done.returncode == 0, done.stderr
    assert outputs(tmp_path) == {"admitted": admitted}
    assert gh_calls(tmp_path) == [["api", "repos/owner/repo/collaborators/octo/permission", "--jq", ".permission"]]


def test_the_job_with_the_key_installs_only_hash_pinned_code(tmp_path):
    fix = flow()["jobs"]["fix"]
    assert "secrets." in yaml.safe_dump(fix) and fix["environment"] == "codescale"
    installs = [line.strip() for s in fix["steps"] for line in s.get("run", "").splitlines() if "pip install" in line]
    assert installs == [
        "python -m pip install --require-hashes --no-deps -r .github/codescale-requirements.txt",
        'python -m pip install --no-deps --no-build-isolation "codescale @ git+${CODESCALE_GIT}@${CODESCALE_COMMIT}"',
    ]
    # what the install step runs, with `python` echoing its arguments: only a 40-digit commit is taken
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python").write_text('#!/bin/sh\necho "$@"\n')
    (tmp_path / "bin" / "python").chmod(0o755)
    script = step("fix", "Install codescale")["run"]
    env = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "CODESCALE_GIT": "https://example.invalid/me/codescale.git"}
    sha = "0123456789abcdef0123456789abcdef01234567"
    done = subprocess.run(["bash", "-e", "-c", script], capture_output=True, text=True, env={**env, "CODESCALE_COMMIT": sha})
    assert done.returncode == 0 and done.stdout.splitlines()[1].endswith(f"codescale @ git+{env['CODESCALE_GIT']}@{sha}")
    tag = subprocess.run(["bash", "-e", "-c", script], capture_output=True, text=True, env={**env, "CODESCALE_COMMIT": "v1.0"})
    assert tag.returncode == 1 and "a 40-digit commit" in tag.stdout
    # the requirements: every package pinned by version and sha256, codescale's dependencies all there
    entries = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)((?: \\\n\s+--hash=sha256:[0-9a-f]{64})+)", REQUIREMENTS.read_text(), re.M)
    pinned = {name.lower(): version for name, version, _ in entries}
    lines = [line for line in REQUIREMENTS.read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert len(entries) == sum(1 for line in lines if not line.startswith(" ")) and "setuptools" in pinned
    from packaging.requirements import Requirement

    for dependency in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        wanted = Requirement(dependency)
        assert wanted.specifier.contains(pinned[wanted.name.lower()]), dependency


def test_the_workflow_passes_zizmor():
    zizmor = peer("zizmor")
    done = subprocess.run([str(zizmor.bin("zizmor")), "--offline", "--persona=auditor", "--format=json", str(WORKFLOW)],
                          capture_output=True, text=True, timeout=120)
    findings = json.loads(done.stdout)
    assert [(f["ident"], f["determinations"]["severity"]) for f in findings
            if f["determinations"]["severity"] in ("High", "Medium")] == []
    readme = (ROOT / "examples" / "github" / "README.md").read_text()
    for audit in re.findall(r"zizmor: ignore\[([a-z-]+)\]", WORKFLOW.read_text()):  # each one explained
        assert f"`{audit}`" in readme.split("## zizmor", 1)[1]
