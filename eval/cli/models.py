"""`codescale models`: the models codescale knows (prices, capabilities) and the providers a model id may name."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from codescale.eval.cli.common import command

PRICES = (("input", "input"), ("cached_input", "cached"), ("cache_write", "cache write"), ("output", "output"))


@command
def models(
    match: Annotated[Optional[str], typer.Argument(help="Show only the models whose key contains this text.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON.")] = False,
) -> None:
    """List the model rows (USD per million tokens, capabilities) and the providers (the prefix of a model id: its
    base URL and key variable). Rows of your catalog (~/.config/codescale/models.yaml or $CODESCALE_MODELS) are merged
    over the bundled ones and marked `user`; add a model or a price there."""
    from codescale.agent.models.providers import known

    listing = known()
    if match:
        listing.models = {k: v for k, v in listing.models.items() if match.lower() in k.lower()}
    if as_json:
        typer.echo(listing.model_dump_json(indent=1))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    if not console.is_terminal:  # piped: do not squeeze the tables into 80 columns
        console = Console(width=200)
    table = Table(title="Models (USD per million tokens; - : no price)", title_justify="left")
    for header in ("model", *(name for _, name in PRICES), "thinking", "reply tokens", "from"):
        table.add_column(header, justify="left" if header in ("model", "thinking", "from") else "right")
    for key, row in sorted(listing.models.items()):
        prices = [f"{row[field]:g}" if field in row else "-" for field, _ in PRICES]
        table.add_row(escape(key), *prices, str(row.get("thinking", "")), str(row.get("reply_tokens", "")), row["from"])
    console.print(table)
    table = Table(title="Providers (--model PROVIDER/NAME)", title_justify="left")
    for header in ("provider", "api", "base URL", "key variable", "key", "also reads", "from"):
        table.add_column(header)
    for key, row in sorted(listing.providers.items()):
        key_state = ("set" if row["key_set"] else "not set") if row.get("key") else ""
        table.add_row(key, row["api"], escape(row.get("base_url", "")), row.get("key", ""), key_state,
                      escape(row.get("setup", "")), row["from"])
    console.print(table)
    console.print(f"user catalog: {listing.user_catalog or 'none'}; any other OpenAI-compatible server: "
                  "--model openai/NAME --base-url URL", highlight=False)
