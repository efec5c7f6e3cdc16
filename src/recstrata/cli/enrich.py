"""``recstrata enrich items|users|negatives`` (offline LLM enrichment) and ``recstrata llm ls``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from recstrata.cli import app
from recstrata.cli._common import console, fail
from recstrata.errors import RecstrataError

enrich_app = typer.Typer(no_args_is_help=True, help="Offline, resumable LLM enrichment into a SQLite store.")
llm_app = typer.Typer(no_args_is_help=True, help="LLM backends.")
app.add_typer(enrich_app, name="enrich")
app.add_typer(llm_app, name="llm")

DATASET = typer.Option("ml-latest-small", help="dataset name (ml-latest-small, ml-100k) or path")
BACKEND = typer.Option("smollm2", help="LLM backend: smollm2 | gemma3-270m | openai:<url> | mock (an "
                                       "offline dry run: placeholder answers that pass the schema)")
LIMIT = typer.Option(None, min=1, help="only the first N items / users (done ones included)")
STORE = typer.Option(None, help="SQLite result store, created if missing (default: enrichment.db in the "
                                "serving settings' runs_dir, RECSTRATA_SERVING__RUNS_DIR, itself 'runs')")
CONSTRAINED = typer.Option(True, help="schema-constrained decoding (--no-constrained: validate after)")
THREADS = typer.Option(None, min=1, help="llama.cpp threads (default: settings; 1 is faster on a busy "
                                         "machine)")
WORKERS = typer.Option(1, min=1, help="worker processes sharing the store, each with its own model "
                                      "(e.g. --workers 2 --threads 1 on 2 cores)")


def _run(job_name: str, dataset: str, backend: str, limit: int | None, store: Path | None, constrained: bool,
         threads: int | None, workers: int = 1) -> None:
    from functools import partial

    from recstrata.data.registry import load_dataset
    from recstrata.enrichment import JOBS
    from recstrata.enrichment.parallel import run_job_parallel
    from recstrata.llm.registry import get_backend
    from recstrata.llm.settings import LLMSettings

    if store is None:  # beside the published models, wherever the deployment keeps them
        from recstrata.config import get_settings

        store = get_settings().serving.runs_dir / "enrichment.db"
    try:
        ds = load_dataset(dataset)
        factory = partial(get_backend, backend, LLMSettings(n_threads=threads) if threads else None)
        first = factory()  # an unknown backend or a missing model package fails here, before any worker starts
        report = run_job_parallel(JOBS[job_name](), ds, (lambda: first) if workers == 1 else factory, store,
                                  workers=workers, limit=limit, constrained=constrained)
    except RecstrataError as exc:
        raise fail(exc) from exc
    if backend == "mock":
        console.print(f"[yellow]mock backend: placeholder answers (a dry run), stored under model "
                      f"{report.model}; readers of the store take every model's results unless given one, so keep dry runs "
                      "in their own --store[/]")
    table = Table(title=f"enrich {job_name}: {ds.name} with {report.model}")
    table.add_column("what")
    table.add_column("value", justify="right")
    for name, value in (
        ("tasks", report.total), ("already done", report.already_done), ("stored", report.stored),
        ("skipped", report.skipped), ("failed", report.failed),
        ("tokens in / out", f"{report.tokens_in:,} / {report.tokens_out:,}"),
        ("cost", f"${report.cost:.4f}"), ("wall time", f"{report.wall_seconds:.1f} s"),
    ):
        table.add_row(name, str(value))
    for reason, n in sorted(report.reasons.items()):
        table.add_row(f"  {reason}", str(n))
    for note, n in sorted(report.notes.items()):
        table.add_row(f"  {note}", str(n))
    console.print(table)
    if report.failed:
        console.print(f"{report.failed} failed: run the same command again to retry them")


@enrich_app.command("items")
def enrich_items(dataset: str = DATASET, backend: str = BACKEND, limit: int | None = LIMIT,
                 store: Path | None = STORE, constrained: bool = CONSTRAINED, threads: int | None = THREADS,
                 workers: int = WORKERS) -> None:
    """Tags, mood, audience and a one-line summary for each catalog item."""
    _run("items", dataset, backend, limit, store, constrained, threads, workers)


@enrich_app.command("users")
def enrich_users(dataset: str = DATASET, backend: str = BACKEND, limit: int | None = LIMIT,
                 store: Path | None = STORE, constrained: bool = CONSTRAINED, threads: int | None = THREADS,
                 workers: int = WORKERS) -> None:
    """PII-free taste profiles (genres, eras, themes) summarised from each user's history."""
    _run("users", dataset, backend, limit, store, constrained, threads, workers)


@enrich_app.command("negatives")
def enrich_negatives(dataset: str = DATASET, backend: str = BACKEND, limit: int | None = LIMIT,
                     store: Path | None = STORE, constrained: bool = CONSTRAINED, threads: int | None = THREADS,
                     workers: int = WORKERS) -> None:
    """LLM-picked hard negatives per user from a shortlist of popular items in their genres."""
    _run("negatives", dataset, backend, limit, store, constrained, threads, workers)


@llm_app.command("ls")
def llm_ls() -> None:
    """List the LLM backends and whether each can run offline here."""
    from recstrata.llm import registry

    table = Table(title="LLM backends")
    for col in ("name", "available", "detail"):
        table.add_column(col)
    for info in registry.available_backends():
        table.add_row(info.name, "yes" if info.usable else "no", info.reason)
    console.print(table)
