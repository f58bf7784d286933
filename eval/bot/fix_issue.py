"""The CI bot (`codescale fix-issue`). Fix an issue in a local git repository under a strategy, check the patch in a
fresh sandbox, and write what a pull request needs: OUT/patch.diff, OUT/result.json, OUT/pr_body.md.

OUT is a run directory like any other (run.yaml, results.jsonl, preds.jsonl, tasks/issue-<n>/), so the
commands that read runs read it too. Nothing the agent or the test command runs ever runs on this machine:
both run in Docker sandboxes built from the repository's HEAD.
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
from pathlib import Path

from codescale.agent.files import write_atomic
from codescale.agent.models.rates import RateConfig
from codescale.agent.records import Task, Usage
from codescale.eval.runs.budget import BudgetConfig, BudgetExhausted, limited, require_prices
from codescale.eval.runs.config import ConfigError, RunConfig
from codescale.eval.bot.issue import Issue
from codescale.eval.bot.patch_check import unsafe_paths
from codescale.eval.bot.pr_body import FixResult, PRBodyConfig, changed_files, no_patch_reason, redact, render_pr, secrets
from codescale.eval.runs.outcomes import cause
from codescale.eval.runs.rundir import RunDir
from codescale.scaling.records import Summary, TaskResult

OUTPUTS = ("patch.diff", "result.json", "pr_body.md")

log = logging.getLogger(__name__)


def chosen_summary(run_dir: RunDir, result: TaskResult, config: RunConfig) -> tuple[Summary | None, bool]:
    """The summary of the chosen rollout, and whether it was written now: the strategy's when it made one, else
    one written now (and saved beside it, like the strategies' own)."""
    from codescale.eval.runs.saved import saved_population

    if not result.final_rollout:
        return None, False
    population = saved_population(run_dir, result.instance_id, config)
    new = result.final_rollout not in population.summaries
    return population.summarize([result.final_rollout])[0], new


def fix_result(issue: Issue, task: Task, result: TaskResult, config: RunConfig, *, base_commit: str,
               extra_summary: Usage) -> FixResult:
    """The record of the run (without the check); `extra_summary` is the usage of a summary written after it."""
    usage = result.usage.model_copy(deep=True)
    usage.summaries = usage.summaries + extra_summary
    patch = result.final_patch
    problems = unsafe_paths(patch)
    status = ("error" if result.status == "error" else "refused" if problems else "patched" if patch.strip()
              else "no_patch")
    reasons = {"error": result.error, "no_patch": no_patch_reason(result.exit_statuses, PRBodyConfig()),
               "refused": "The patch was refused: " + "; ".join(problems) + "."}
    return FixResult(
        status=status, reason=reasons.get(status, ""), failure=cause(result) if status == "error" else "",
        issue=issue, repo=task.repo, base_commit=base_commit, image=task.image, model=config.model.id, strategy=config.scaling.strategy,
        attempts=len(result.exit_statuses), chosen_rollout=result.final_rollout,
        exit_status=result.exit_statuses.get(result.final_rollout or "", ""), files=changed_files(patch),
        usage=usage, total=usage.total, cost_usd=usage.total.cost_usd, seconds=result.seconds,
    )


def fix_issue(issue: Issue, task: Task, config: RunConfig, run_dir: RunDir, run_id: str, *, base_commit: str,
              test_cmd: str | None = None, test_timeout: float = 1800, say=lambda line: None) -> tuple[FixResult, str, str]:
    """Solve `task` (whose image holds the repository at `base_commit`) into `run_dir`, summarize the chosen
    rollout, run `test_cmd` on the patch in a fresh sandbox; returns (result, patch, PR body)."""
    from codescale.eval.bot.patch_check import check_patch
    from codescale.eval.runs.solve import retrying, solve
    from codescale.sandboxes.base import SandboxError

    start = time.monotonic()
    result = solve(task, config, run_dir, run_id, rerun=retrying(run_dir))
    summary, new = None, False
    if result.final_patch.strip():
        try:
            summary, new = chosen_summary(run_dir, result, config)
        except BudgetExhausted:  # the patch stands; the PR body goes without the summary
            log.warning("the run's cost cap was reached before the chosen attempt was summarized")
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


def stopped_result(issue: Issue, task: Task, config: RunConfig, *, base_commit: str, reason: str,
                   spent: Usage) -> tuple[FixResult, str, str]:
    """The record of a run the cost cap stopped before it chose a patch: no patch, the reason, what was spent."""
    fixed = FixResult(status="stopped", reason=reason, issue=issue, repo=task.repo, base_commit=base_commit,
                      image=task.image, model=config.model.id, strategy=config.scaling.strategy, total=spent,
                      cost_usd=spent.cost_usd)
    fixed.pr_title, body = render_pr(fixed, None, PRBodyConfig())
    return fixed, "", body


def dirty(repo: Path) -> list[str]:
    """Tracked files with uncommitted changes in `repo`'s working tree."""
    out = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                         capture_output=True, text=True, check=True)
    return [line[3:] for line in out.stdout.splitlines()]


def apply_patch(repo: Path, patch_path: Path) -> str:
    """`git apply` the patch to `repo`'s working tree; '' on success, else git's complaint (or why it was refused
    unapplied: a path or a symlink reaching outside the repository)."""
    if problems := unsafe_paths(patch_path.read_text(errors="replace")):
        return "refused, it reaches outside the repository: " + "; ".join(problems)
    done = subprocess.run(["git", "-C", str(repo), "apply", "--whitespace=nowarn", str(patch_path.resolve())],
                          capture_output=True, text=True)
    return "" if done.returncode == 0 else done.stderr.strip()


def check_config(config: RunConfig) -> None:
    """Refuse what would run code outside Docker, or would carry a key into run.yaml or a sandbox; check the model
    (before the image is built: the run directory is opened after)."""
    from codescale.eval.runs.opening import check_model

    if config.sandbox.get("kind", "docker") != "docker":
        raise ConfigError("fix-issue runs agents and tests only in Docker sandboxes (sandbox.kind: docker)")
    saved = json.dumps(config.model_dump(mode="json"))
    if any(value in saved for value in secrets()):
        raise ConfigError("the configuration holds the value of a key or token variable: it would be saved in "
                         "run.yaml and could reach the sandbox")
    check_model(config)


def sandbox_image(repo: Path, *, image: str | None, dockerfile: Path | None, base_image: str | None,
                  setup: list[str], owner: str, say) -> str:
    """The image to run in: `image` as it is, or the repository's HEAD built on `dockerfile`'s image or a base."""
    from codescale.eval.tasks.images import base_image as default_base
    from codescale.eval.bot.repo_image import build_repo_image

    if image:
        return image
    base = default_base(base_image)
    say(f"building the sandbox image of {repo} on {dockerfile or base}")
    tag, built = build_repo_image(repo, base=base, setup=setup, dockerfile_path=dockerfile, owner=owner)
    say(f"{'built' if built else 'reusing'} {tag}")
    return tag


def fix_issue_in_repo(repo: Path, issue: str, out: Path, *, title: str | None, image: str | None,
                      dockerfile: Path | None, base_image: str | None, setup: list[str], test_cmd: str | None,
                      test_timeout: float, config: list[str], flags: dict, strategy: str | None, apply: bool,
                      allow_dirty: bool, overwrite: bool, say, budget: BudgetConfig | None = None,
                      rates: RateConfig | None = None) -> tuple[Task, FixResult]:
    """`codescale fix-issue`: check the input, build the sandbox image, solve under the run's budget and rates, check
    the patch, write OUT/patch.diff, OUT/result.json and OUT/pr_body.md. Bad input raises ConfigError (or a subclass)
    before anything runs; a budget reached before a patch was chosen gives the status `stopped`."""
    from codescale.eval.bot.issue import read_issue
    from codescale.eval.bot.repo_image import head, repo_problem
    from codescale.eval.runs.config import load_config
    from codescale.eval.runs.opening import open_run
    from codescale.eval.runs.solve import preflight
    from codescale.eval.tasks.images import WORKDIR
    from codescale.eval.tasks.kinds.patch import PatchTask

    start = time.monotonic()
    if problem := repo_problem(repo):
        raise ConfigError(problem)
    the_issue = read_issue(issue, title)
    if image and (dockerfile or base_image or setup):
        raise ConfigError("--image is used as it is: it cannot be combined with --dockerfile, --base-image or --setup")
    if dockerfile and not dockerfile.is_file():
        raise ConfigError(f"--dockerfile {dockerfile}: no such file")
    budget, rates = budget or BudgetConfig(), rates or RateConfig()
    resolved = load_config(config, flags, strategy=strategy)
    check_config(resolved)
    require_prices(resolved, budget)
    if apply and not allow_dirty and (changed := dirty(repo)):
        raise ConfigError(f"--apply: {repo} has uncommitted changes ({', '.join(changed[:5])}); commit or stash "
                          "them, or pass --allow-dirty")
    base_commit, _ = head(repo)
    tag = sandbox_image(repo, image=image, dockerfile=dockerfile, base_image=base_image, setup=setup,
                        owner=the_issue.instance_id, say=say)
    task = PatchTask(
        instance_id=the_issue.instance_id, problem_statement=the_issue.problem_statement,
        repo=the_issue.repo or repo.resolve().name, image=tag, workdir=WORKDIR, repo_dir=str(repo.resolve()),
    )
    preflight(task, resolved)
    # a killed or failed run of this issue, image and configuration is continued (its finished rollouts reused)
    run = open_run(out, resolved, command="fix-issue", overwrite=overwrite, same=("task", "image"), retry_failed=True,
                   say=say, task=task.instance_id, base_commit=base_commit, image=task.image, budget=budget.model_dump(),
                   rates=rates.model_dump())
    for name in OUTPUTS:
        (out / name).unlink(missing_ok=True)
    with limited(budget, run.dir.ledger_path, rates=rates) as meter:
        try:
            fixed, patch, body = fix_issue(the_issue, task, resolved, run.dir, run.run_id, base_commit=base_commit,
                                           test_cmd=test_cmd, test_timeout=test_timeout, say=say)
        except BudgetExhausted as e:
            fixed, patch, body = stopped_result(the_issue, task, resolved, base_commit=base_commit, reason=str(e),
                                                spent=meter.total)
    fixed.seconds = time.monotonic() - start
    write_outputs(out, fixed, patch, body, secrets())
    return task, fixed


def write_outputs(out: Path, result: FixResult, patch: str, body: str, keys: list[str]) -> None:
    """patch.diff, result.json and pr_body.md, each with any key or token value redacted."""
    texts = (patch, result.model_dump_json(indent=1) + "\n", body)
    for name, text in zip(OUTPUTS, texts):
        write_atomic(out / name, redact(text, keys))
