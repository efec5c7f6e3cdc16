"""``recstrata llm ls``: which LLM backends can run here, offline."""

from __future__ import annotations

import typer
from rich.table import Table

from recstrata.cli import app
from recstrata.cli._common import console

llm_app = typer.Typer(no_args_is_help=True, help="LLM backends.")
app.add_typer(llm_app, name="llm")


@llm_app.command("ls")
def ls() -> None:
    """List the backends available offline (and why not, when one is not)."""
    from recstrata.llm.registry import available_backends

    table = Table(title="LLM backends")
    table.add_column("backend")
    table.add_column("available")
    table.add_column("detail")
    for info in available_backends():
        table.add_row(info.name, "yes" if info.available else "[red]no[/]", info.detail)
    console.print(table)
