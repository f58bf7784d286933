"""`codescale fix-issue`: the CI bot. Fix an issue in a local git repository under a strategy, check the patch in a
fresh sandbox, and write what a pull request needs: OUT/patch.diff, OUT/result.json, OUT/pr_body.md.

OUT is a run directory like any other (run.yaml, results.jsonl, preds.jsonl, tasks/issue-<n>/), so the
commands that read runs read it too. Nothing the agent or the test command runs ever runs on this machine:
both run in Docker sandboxes built from the repository's HEAD.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Annotated, Optional

import typer
import yaml

from agent.records import Task, Trajectory, Usage, write_atomic
from eval.config import RunConfig
from eval.issue import Issue
from eval.pr_body import FixResult, PRBodyConfig, changed_files, no_patch_reason, redact, render_pr, secrets
from eval.rundir import RunDir
from scaling.records import Summary, TaskResult

OUTPUTS = ("patch.diff", "result.json", "pr_body.md")


def chosen_summary(task: Task, result: TaskResult, config: RunConfig, task_dir: Path) -> tuple[Summary | None, bool]:
    """The summary of the chosen rollout, and whether it was written now: the strategy's when it made one, else
    one written now (and saved as `<rollout>.summary.json`, like the strategies' own)."""
    from scaling.summarizer import Summarizer

    if not result.final_rollout:
        return None, False
    path = task_dir / f"{result.final_rollout}.summary.json"
    if path.exists():
        return Summary.model_validate_json(path.read_text()), False
    summary = Summarizer(config.scaling.summarizer, config.model).summarize(
        task, Trajectory.load(task_dir / f"{result.final_rollout}.traj.json")
    )
    write_atomic(path, summary.model_dump_json(indent=1))
    return summary, True


def fix_result(issue: Issue, task: Task, result: TaskResult, config: RunConfig, *, base_commit: str,
               extra_summary: Usage) -> FixResult:
    """The record of the run (without the check); `extra_summary` is the usage of a summary written after it."""
    usage = result.usage.model_copy(deep=True)
    usage.summaries = usage.summaries + extra_summary
    patch = result.final_patch
    status = "error" if result.status == "error" else "patched" if patch.strip() else "no_patch"
    reasons = {"error": result.error, "no_patch": no_patch_reason(result.exit_statuses, PRBodyConfig())}
    return FixResult(
        status=status, reason=reasons.get(status, ""), issue=issue, repo=task.repo, base_commit=base_commit,
        image=task.image, model=config.model.id, strategy=config.scaling.strategy,
        attempts=len(result.exit_statuses), chosen_rollout=result.final_rollout,
        exit_status=result.exit_statuses.get(result.final_rollout or "", ""), files=changed_files(patch),
        usage=usage, total=usage.total, cost_usd=usage.total.cost_usd, seconds=result.seconds,
    )


def fix_issue(issue: Issue, task: Task, config: RunConfig, run_dir: RunDir, run_id: str, *, base_commit: str,
              test_cmd: str | None = None, test_timeout: float = 1800, say=lambda line: None) -> tuple[FixResult, str, str]:
    """Solve `task` (whose image holds the repository at `base_commit`) into `run_dir`, summarize the chosen
    rollout, run `test_cmd` on the patch in a fresh sandbox; returns (result, patch, PR body)."""
    from eval.patch_check import check_patch
    from eval.run import solve
    from sandboxes.base import SandboxError

    start = time.monotonic()
    result = solve(task, config, run_dir, run_id)
    summary, new = None, False
    if result.final_patch.strip():
        summary, new = chosen_summary(task, result, config, run_dir.task_dir(task.instance_id))
    fixed = fix_result(issue, task, result, config, base_commit=base_commit,
                       extra_summary=summary.usage if summary is not None and new else Usage())
    if fixed.status == "patched" and test_cmd:
        say(f"checking the patch in a fresh sandbox: {test_cmd}")
        try:
            fixed.check = check_patch(task, result.final_patch, test_cmd, config.sandbox, run_id=run_id,
                                      timeout=test_timeout)
        except SandboxError as e:
            fixed.reason = f"the test command could not be run: {e}"
    fixed.seconds = time.monotonic() - start
    fixed.pr_title, body = render_pr(fixed, summary, PRBodyConfig())
    return fixed, result.final_patch, body


def dirty(repo: Path) -> list[str]:
    """Tracked files with uncommitted changes in `repo`'s working tree."""
    out = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                         capture_output=True, text=True, check=True)
    return [line[3:] for line in out.stdout.splitlines()]


def apply_patch(repo: Path, patch_path: Path) -> str:
    """`git apply` the patch to `repo`'s working tree; '' on success, else git's complaint."""
    done = subprocess.run(["git", "-C", str(repo), "apply", "--whitespace=nowarn", str(patch_path.resolve())],
                          capture_output=True, text=True)
    return "" if done.returncode == 0 else done.stderr.strip()


def previous_image(run_dir: RunDir) -> str:
    """The image an earlier run in `run_dir` used ('' when there was none)."""
    if not run_dir.config_path.is_file():
        return ""
    return str((yaml.safe_load(run_dir.config_path.read_text()) or {}).get("image") or "")


def check_config(config: RunConfig) -> None:
    """Refuse what would run code outside Docker, or would carry a key into run.yaml or a sandbox; check the model."""
    from agent.models.base import Model, ModelError
    from eval.run import check_server

    if config.sandbox.get("kind", "docker") != "docker":
        raise ValueError("fix-issue runs agents and tests only in Docker sandboxes (sandbox.kind: docker)")
    saved = json.dumps(config.model_dump(mode="json"))
    if any(value in saved for value in secrets()):
        raise ValueError("the configuration holds the value of a key or token variable: it would be saved in "
                         "run.yaml and could reach the sandbox")
    try:
        Model(config.model)
    except ModelError as e:
        raise ValueError(str(e)) from None
    if config.model.base_url:
        check_server(config.model.base_url)


def sandbox_image(repo: Path, *, image: str | None, dockerfile: Path | None, base_image: str | None,
                  setup: list[str], owner: str, say) -> str:
    """The image to run in: `image` as it is, or the repository's HEAD built on `dockerfile`'s image or a base."""
    from eval.images import base_image as default_base
    from eval.repo_image import build_repo_image

    if image:
        return image
    base = default_base(base_image)
    say(f"building the sandbox image of {repo} on {dockerfile or base}")
    tag, built = build_repo_image(repo, base=base, setup=setup, dockerfile_path=dockerfile, owner=owner)
    say(f"{'built' if built else 'reusing'} {tag}")
    return tag


def fix_issue_cmd(
    repo: Annotated[Path, typer.Option("--repo", help="The git repository to fix (its HEAD commit is used).")],
    issue: Annotated[str, typer.Option("--issue", help="Issue file: plain text (first line = title) or a GitHub "
                                       "issue event JSON ($GITHUB_EVENT_PATH); - reads standard input.")],
    out: Annotated[Path, typer.Option("--out", help="Run directory to write (patch.diff, result.json, pr_body.md).")],
    title: Annotated[Optional[str], typer.Option("--title", help="The issue's title (default: from the file).")] = None,
    image: Annotated[Optional[str], typer.Option("--image", help="Use this image as it is: it must hold the "
                                                 "repository at HEAD in /testbed (no build, no --setup).")] = None,
    dockerfile: Annotated[Optional[Path], typer.Option("--dockerfile", help="Build the base image from this "
                                                       "Dockerfile (context: the repository), then add the repo.")] = None,
    base_image: Annotated[Optional[str], typer.Option("--base-image", help="Base image to add the repository to "
                                                      "(default: $CODESCALE_BASE_IMAGE or a public Python image).")] = None,
    setup: Annotated[list[str], typer.Option("--setup", help="Command run in the repo at image build time, e.g. "
                                             "installing its dependencies (repeatable).")] = [],
    test_cmd: Annotated[Optional[str], typer.Option("--test-cmd", help="Command run on the final patch in a fresh "
                                                    "sandbox; its result goes into the PR body.")] = None,
    test_timeout: Annotated[float, typer.Option("--test-timeout", help="Seconds the test command may take.")] = 1800,
    model: Annotated[Optional[str], typer.Option("--model", help="Model id BACKEND/NAME.")] = None,
    base_url: Annotated[Optional[str], typer.Option("--base-url", help="Server URL for OpenAI-compatible servers.")] = None,
    strategy: Annotated[Optional[str], typer.Option("--strategy", help="single, best_of_n, rtv, pdr or pdr+rtv.")] = None,
    config: Annotated[list[str], typer.Option("-c", "--config", help="A YAML file or key.path=value override.")] = [],
    apply: Annotated[bool, typer.Option("--apply", help="Apply the patch to the repository's working tree.")] = False,
    allow_dirty: Annotated[bool, typer.Option("--allow-dirty", help="With --apply: apply even when tracked files "
                                              "have uncommitted changes.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the results of an earlier run in --out.")] = False,
) -> None:
    """Fix an issue in a local git repository: build its sandbox image, run the strategy, check the patch, and write
    OUT/patch.diff, OUT/result.json and OUT/pr_body.md (exit 0 with a patch or with none, 1 on a failed run)."""
    from eval.cli import console, exit_on_interrupt, fail
    from eval.config import load_config
    from eval.images import WORKDIR
    from eval.issue import read_issue
    from eval.repo_image import head, repo_problem
    from eval.run import PreflightError, preflight

    start = time.monotonic()
    say = lambda line: console.print(line, highlight=False)  # noqa: E731
    run_dir = RunDir(out)
    try:
        if problem := repo_problem(repo):
            raise ValueError(problem)
        the_issue = read_issue(issue, title)
        if image and (dockerfile or base_image or setup):
            raise ValueError("--image is used as it is: it cannot be combined with --dockerfile, --base-image or --setup")
        if dockerfile and not dockerfile.is_file():
            raise ValueError(f"--dockerfile {dockerfile}: no such file")
        resolved = load_config(config, {"model.id": model, "model.base_url": base_url,
                                        "scaling.strategy": strategy}, strategy=strategy)
        check_config(resolved)
        if apply and not allow_dirty and (changed := dirty(repo)):
            raise ValueError(f"--apply: {repo} has uncommitted changes ({', '.join(changed[:5])}); commit or stash "
                             "them, or pass --allow-dirty")
        if run_dir.results_path.exists() and not overwrite:
            raise ValueError(f"{out} already holds results; pass --overwrite to replace them")
        base_commit, _ = head(repo)
        tag = sandbox_image(repo, image=image, dockerfile=dockerfile, base_image=base_image, setup=setup,
                            owner=the_issue.instance_id, say=say)
        task = Task(
            instance_id=the_issue.instance_id, problem_statement=the_issue.problem_statement,
            repo=the_issue.repo or repo.resolve().name, image=tag, workdir=WORKDIR, repo_dir=str(repo.resolve()),
        )
        preflight(task, resolved)
    except (ValueError, PreflightError) as e:  # ConfigError and TaskError are ValueErrors
        raise fail(str(e)) from None

    if overwrite or previous_image(run_dir) not in ("", task.image):  # else resume a killed run of this image
        run_dir.clear()
    for name in OUTPUTS:
        (out / name).unlink(missing_ok=True)
    run_id = uuid.uuid4().hex[:12]
    run_dir.write_config(resolved.model_dump(mode="json"), run_id, command="fix-issue", task=task.instance_id,
                         base_commit=base_commit, image=task.image)
    exit_on_interrupt(run_id)
    fixed, patch, body = fix_issue(the_issue, task, resolved, run_dir, run_id, base_commit=base_commit,
                                   test_cmd=test_cmd, test_timeout=test_timeout, say=say)
    fixed.seconds = time.monotonic() - start
    write_outputs(out, fixed, patch, body, secrets())

    check = "" if fixed.check is None else f"; tests {'passed' if fixed.check.passed else 'FAILED'}"
    cost = f"${fixed.cost_usd:.4f}" if fixed.cost_usd is not None else "cost unknown"
    files = ", ".join(f.path for f in fixed.files) or "no files"
    console.print(f"{task.instance_id}: {fixed.status} ({files}){check}; {fixed.total.requests} model calls, "
                  f"{cost}; {fixed.seconds:.1f} s\nwrote {out / 'patch.diff'}, {out / 'result.json'}, "
                  f"{out / 'pr_body.md'}", highlight=False)
    if fixed.status == "error":
        raise fail(fixed.reason, 1)
    if fixed.status == "no_patch":
        console.print(fixed.reason, highlight=False)
    elif apply:
        if complaint := apply_patch(repo, out / "patch.diff"):
            raise fail(f"--apply: the patch did not apply to {repo}: {complaint}", 1)
        console.print(f"applied the patch to {repo}", highlight=False)


def write_outputs(out: Path, result: FixResult, patch: str, body: str, keys: list[str]) -> None:
    """patch.diff, result.json and pr_body.md, each with any key or token value redacted."""
    texts = (patch, result.model_dump_json(indent=1) + "\n", body)
    for name, text in zip(OUTPUTS, texts):
        write_atomic(out / name, redact(text, keys))
