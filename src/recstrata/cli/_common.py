"""Helpers shared by CLI commands: error reporting, JSON output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from recstrata._atomic import atomic_write_text
from recstrata.errors import RecstrataError

import sys

# a wide console when output is not a terminal (CI logs, files) so tables are not cut to 80 columns
console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)


def fail(exc: RecstrataError) -> typer.Exit:
    """Print a recstrata error without a traceback and return the exit to raise."""
    console.print(f"[bold red]error:[/] {exc}")
    return typer.Exit(code=2)


def p_value(p: float) -> str:
    """``p 0.031``; below float64's resolution (~1e-16: a t-test's p can round to 0) ``p < 1e-16``, not ``p 0``."""
    return "p < 1e-16" if p < 1e-16 else f"p {p:.2g}"


def write_json(path: Path, payload: Any) -> None:
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=True, default=str))
    console.print(f"wrote {path}")
