"""`codescale export RUN_DIR --format atif|mini-swe-agent|preds --out DIR`: a run in the formats other tools read."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from codescale.eval.cli.common import command, fail, say


@command
def export(
    run: Annotated[Path, typer.Argument(help="A run directory, finished or still running.", file_okay=False)],
    fmt: Annotated[str, typer.Option("--format", help="atif (Harbor's trajectories), mini-swe-agent (its trajectory "
                                     "files and preds.json) or preds (the swebench harness's predictions).")],
    out: Annotated[Path, typer.Option("--out", help="The folder to write into (outside the run directory).")],
    final_only: Annotated[bool, typer.Option("--final-only", help="Only each finished task's answer, not every "
                                             "rollout.")] = False,
) -> None:
    """Export a run's trajectories or predictions for Harbor, mini-SWE-agent or the swebench harness."""
    from codescale.eval.analysis.export import FORMATS, export as export_run
    from codescale.eval.runs.rundir import RunDir

    if fmt not in FORMATS:
        raise fail(f"unknown --format {fmt!r}; known: {', '.join(FORMATS)}")
    if out.resolve().is_relative_to(run.resolve()):
        raise fail(f"{out}: inside the run directory; export into a folder of its own")
    written, skipped = export_run(RunDir.begun(run), fmt, out, final_only)
    typer.echo(f"wrote {len(written)} file{'' if len(written) == 1 else 's'} into {out}")
    if skipped:
        say(f"left out {len(skipped)} rollout(s) that sent no message: {', '.join(skipped[:5])}")
