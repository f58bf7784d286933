"""`codescale compare RUN_DIR RUN_DIR ...`: graded runs side by side on the tasks they share."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from codescale.eval.cli.common import command, examples

EXAMPLES = examples(
    "codescale compare runs/a runs/b",
    "codescale compare runs/a runs/b --baseline runs/b --markdown",
)


@command
def compare(
    runs: Annotated[list[Path], typer.Argument(help="Run directories, each graded with `codescale evaluate`.")],
    baseline: Annotated[Optional[Path], typer.Option("--baseline", help="The run the others are compared with "
                                                     "(default: the first).")] = None,
    as_markdown: Annotated[bool, typer.Option("--markdown", help="Print Markdown tables.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")] = False,
    resamples: Annotated[int, typer.Option("--resamples", help="Bootstrap resamples.")] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="Bootstrap seed (the same data and seed give the same "
                                      "intervals).")] = 0,
) -> None:
    """Compare graded runs on their shared tasks: resolved rates with intervals, paired tests, cost by phase."""
    from codescale.eval.analysis.compare import compare as compare_runs
    from codescale.eval.analysis.compare import markdown, print_rich

    comparison = compare_runs(runs, baseline, resamples, seed)
    if as_json:
        typer.echo(comparison.model_dump_json(indent=1))
    elif as_markdown:
        typer.echo(markdown(comparison), nl=False)
    else:
        print_rich(comparison)
