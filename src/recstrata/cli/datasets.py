"""``recstrata datasets``: what can be loaded offline, with sizes."""

from __future__ import annotations

import typer
from rich.table import Table

from recstrata.cli import app
from recstrata.cli._common import console, fail
from recstrata.errors import RecstrataError


@app.command("datasets")
def datasets(
    spec: str = typer.Argument("ml-latest-small", help="dataset name or path to inspect"),
) -> None:
    """Load a dataset and print its size and catalog fields."""
    from recstrata.data.registry import load_dataset

    try:
        ds = load_dataset(spec)
    except RecstrataError as exc:
        raise fail(exc) from exc
    table = Table(title=ds.name)
    table.add_column("field")
    table.add_column("value", justify="right")
    table.add_row("interactions", f"{len(ds):,}")
    table.add_row("users", f"{ds.n_users:,}")
    table.add_row("items", f"{ds.n_items:,}")
    table.add_row("density", f"{len(ds) / (ds.n_users * ds.n_items):.4%}")
    table.add_row("genres", str(ds.genre_matrix[0].shape[1]))
    table.add_row("user attributes", ", ".join(c for c in ds.users.columns if c != "user_id") or "-")
    table.add_row("timestamps", "yes" if ds.interactions.has_timestamps else "no")
    console.print(table)
