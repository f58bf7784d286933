"""`codescale fix-issue`: fix an issue in a local git repository and write what a pull request needs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from codescale.eval.cli.common import (BaseUrlOpt, ConfigOpt, MaxCostOpt, MaxTaskCostOpt, ModelOpt, OverwriteOpt, RpmOpt,
                                       StrategyOpt, TpmOpt, caps, command, fail, flags, say, stopped)


@command
def fix_issue(
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
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    strategy: StrategyOpt = None,
    config: ConfigOpt = [],
    apply: Annotated[bool, typer.Option("--apply", help="Apply the patch to the repository's working tree.")] = False,
    allow_dirty: Annotated[bool, typer.Option("--allow-dirty", help="With --apply: apply even when tracked files "
                                              "have uncommitted changes.")] = False,
    overwrite: OverwriteOpt = False,
    max_cost: MaxCostOpt = 0.0,
    max_task_cost: MaxTaskCostOpt = None,
    rpm: RpmOpt = 0,
    tpm: TpmOpt = 0,
) -> None:
    """Fix an issue in a local git repository: build its sandbox image, run the strategy, check the patch, and write
    OUT/patch.diff, OUT/result.json and OUT/pr_body.md (exit 0 with a patch, with none or with one refused; 1 on a
    failed run: rerunning the command retries it; 3 when --max-cost stopped it: result.json says `stopped`)."""
    from codescale.eval.bot.fix_issue import apply_patch, fix_issue_in_repo
    from codescale.eval.runs.outcomes import tally
    from codescale.eval.runs.progress import token_counts

    task, fixed = fix_issue_in_repo(
        repo, issue, out, title=title, image=image, dockerfile=dockerfile, base_image=base_image, setup=setup,
        test_cmd=test_cmd, test_timeout=test_timeout, config=config,
        flags=flags(model=model, base_url=base_url, strategy=strategy, max_task_cost=max_task_cost), strategy=strategy,
        apply=apply, allow_dirty=allow_dirty, overwrite=overwrite, say=say, **caps(max_cost, rpm, tpm),
    )
    check = "" if fixed.check is None else f"; tests {'passed' if fixed.check.passed else 'FAILED'}"
    cost = f"${fixed.cost_usd:.4f}" if fixed.cost_usd is not None else "cost unknown"
    files = ", ".join(f.path for f in fixed.files) or "no files"
    say(f"{task.instance_id}: {fixed.status} ({files}){check}; {fixed.total.requests} model calls, "
        f"{token_counts(fixed.total)}, {cost}; {fixed.seconds:.1f} s\n"
        f"wrote {out / 'patch.diff'}, {out / 'result.json'}, {out / 'pr_body.md'}")
    if fixed.status == "error":
        say(f"error: {fixed.reason}; run the same command again to retry it")
    elif fixed.status == "stopped":
        raise stopped(fixed.reason)
    elif fixed.status in ("no_patch", "refused"):
        say(fixed.reason)
    elif apply:
        if complaint := apply_patch(repo, out / "patch.diff"):
            raise fail(f"--apply: the patch did not apply to {repo}: {complaint}", 1)
        say(f"applied the patch to {repo}")
    say(tally([f"failed ({fixed.failure})" if fixed.status == "error" else fixed.status.replace("_", " ")]))
    if fixed.status == "error":
        raise typer.Exit(1)
