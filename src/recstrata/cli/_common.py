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
    """Print a recstrata error without a traceback and return the exit to raise. Not wrapped by
    Rich: messages quote commands and values, which a hard line break would corrupt."""
    console.print("[bold red]error:[/]", end=" ")
    console.print(str(exc), markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


def commands(title: str, *lines: str) -> None:
    """Copy-paste commands, one per line, indented under ``title``: printed as they are (no markup,
    no highlighting) and never wrapped by Rich (the terminal wraps long lines softly, so a command
    pasted back is intact; Rich would insert hard line breaks inside quoted arguments)."""
    console.print(title)
    for line in lines:
        console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)


def p_value(p: float) -> str:
    """``p 0.031``; below float64's resolution (a t-test's p can round to 0) ``p < 1e-16``, not ``p 0``."""
    return "p < 1e-16" if p < 1e-16 else f"p {p:.2g}"


def write_json(path: Path, payload: Any) -> None:
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=True, default=str))
    console.print(f"wrote {path}")
