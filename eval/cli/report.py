"""`codescale report RUN_DIR ... -o report.html`: one self-contained HTML file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from codescale.eval.cli.common import command, examples, fail

EXAMPLES = examples(
    "codescale report runs/a runs/b -o report.html",
    "codescale report runs/a --no-trajectories -o small.html",
)


@command
def report(
    runs: Annotated[list[Path], typer.Argument(help="Run directories (graded with `codescale evaluate` for the table).")],
    out: Annotated[Path, typer.Option("-o", "--out", help="The HTML file to write.")] = Path("report.html"),
    baseline: Annotated[Optional[Path], typer.Option("--baseline", help="The run the others are compared with "
                                                     "(default: the first).")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Characters kept of each response, observation and patch "
                                       "(0: all).")] = 4000,
    trajectories: Annotated[bool, typer.Option("--trajectories/--no-trajectories", help="Include every trajectory "
                                               "step by step.")] = True,
) -> None:
    """Write one self-contained HTML report: comparison, plots, and every task's rollouts, brackets and trajectories."""
    from codescale.agent.files import write_atomic
    from codescale.eval.analysis.report import build

    try:
        html = build(runs, limit, trajectories, baseline)
    except RuntimeError as e:  # the plots' library is missing
        raise fail(str(e)) from None
    write_atomic(out, html)
    typer.echo(f"wrote {out} ({len(html.encode()) / 1e6:.1f} MB)")
