"""The ``recstrata`` command: thin command groups over the library (one module per group)."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help="recstrata: LLM-enhanced recommender system.")


def _register() -> None:
    # each module adds its commands to ``app``; imported here, not at package import, to keep start-up light
    from recstrata.cli import datasets, enrich, evaluate, serve, train  # noqa: F401


def main() -> None:
    _register()
    app()
