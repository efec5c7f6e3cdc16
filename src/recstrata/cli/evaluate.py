"""``recstrata evaluate``: load, split, tune on validation, score on test, print and save a table."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from recstrata.cli import app
from recstrata.cli._common import console, fail, p_value, write_json
from recstrata.errors import RecstrataError

SHOWN = ("recall", "ndcg", "mrr", "hit", "precision", "map")


@app.command("evaluate")
def evaluate_cmd(
    dataset: str = typer.Option("ml-latest-small", help="dataset name (ml-latest-small, ml-100k) or path"),
    protocol: str = typer.Option("ratio", help="ratio | loo | cold-items | temporal | from-files"),
    models: str = typer.Option("pop,itemknn,ease,als,bpr", help="comma-separated model names"),
    split_dir: Path | None = typer.Option(None, help="folder with train/valid/test.csv (implies from-files)"),
    k: list[int] = typer.Option([10, 20], "--k", min=1, help="cut-offs (repeatable)"),
    metric: str = typer.Option("ndcg@10", help="validation metric used to choose hyper-parameters"),
    tune: bool = typer.Option(True, help="grid-search hyper-parameters on validation (--no-tune: defaults)"),
    seed: int = typer.Option(2020, min=0, help="split seed"),
    group_by: list[str] = typer.Option(
        [], "--group-by", help="user attribute or 'activity' for per-group tables (repeatable); default: "
        "activity, gender, age when present"),
    output: Path | None = typer.Option(None, help="JSON results file (default results/<dataset>-<protocol>.json)"),
) -> None:
    """Compare models on one dataset and protocol: full ranking, train items excluded."""
    from recstrata.data.registry import load_dataset
    from recstrata.data.split import check_protocol, make_split
    from recstrata.experiment import check_experiment, run_experiment

    names = [m.strip() for m in models.split(",") if m.strip()]
    if split_dir is not None:
        protocol = "from-files"
    start = time.perf_counter()
    try:  # what needs no data is checked before the dataset is loaded and split
        check_experiment(names, k, metric)
        check_protocol(protocol, str(split_dir) if split_dir else None)
        with console.status(f"loading {dataset}"):
            ds = load_dataset(dataset)
            split = make_split(ds, protocol, seed=seed, split_dir=str(split_dir) if split_dir else None)
        console.print(f"{ds!r}  ->  {split!r}")
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TimeRemainingColumn())
        with Progress(*columns, console=console, transient=True) as bar:
            tasks: dict[str, int] = {}

            def progress(name: str, done: int, total: int) -> None:
                if name not in tasks:
                    tasks[name] = bar.add_task(f"tuning {name}", total=total)
                bar.update(tasks[name], completed=done)
                if not console.is_terminal:  # piped or logged: the bar is not drawn, so say it in lines
                    console.print(f"tuning {name}: {done}/{total} settings, {time.perf_counter() - start:.0f} s")

            reports = run_experiment(split, names, ks=k, metric=metric, tuned=tune, progress=progress,
                                     group_by=group_by or None)
    except RecstrataError as exc:
        raise fail(exc) from exc

    kmin = min(k)
    table = Table(title=f"{ds.name} / {protocol}: test metrics (hyper-parameters chosen on valid {metric})")
    table.add_column("model")
    for m in SHOWN:
        table.add_column(f"{m}@{kmin}", justify="right")
    for extra in (f"coverage@{kmin}", f"novelty@{kmin}"):
        table.add_column(extra, justify="right")
    table.add_column(f"{metric} 95% CI", justify="right")
    table.add_column("vs reference (p)", justify="right")
    table.add_column(f"valid {metric}", justify="right")
    table.add_column("fit s", justify="right")
    table.add_column("params")
    for r in reports:
        table.add_row(
            r.model,
            *(f"{r.test[f'{m}@{kmin}']:.4f}" for m in SHOWN),
            f"{r.test.get(f'coverage@{kmin}', float('nan')):.3f}",
            f"{r.test.get(f'novelty@{kmin}', float('nan')):.2f}",
            _interval(r.test_interval),
            _versus(r.vs_best),
            f"{r.valid[metric]:.4f}",
            f"{r.fit_seconds:.2f}",
            ", ".join(f"{a}={b}" for a, b in r.params.items() if a != "seed"),
        )
    console.print(table)
    reference = next((r.model for r in reports if r.vs_best is None and len(reports) > 1), None)
    if reference:
        console.print(f"{metric} 95% CI: bootstrap over test users. vs reference: paired test difference from "
                      f"{reference} (the best on validation; the order on test may differ), paired t-test p; "
                      f"* = the paired 95% interval excludes 0 and p < 0.05 (no correction for several models)")
    _print_groups(reports, f"ndcg@{kmin}")
    console.print(f"total {time.perf_counter() - start:.1f} s")
    out = output or Path("results") / f"{ds.name}-{protocol}.json"
    write_json(out, {
        "dataset": ds.name,
        "protocol": protocol,
        "split": split.params,
        "ks": list(k),
        "selection_metric": metric,
        "models": [r.to_dict() for r in reports],
        "seconds": time.perf_counter() - start,
    })


def _interval(bounds) -> str:
    return "-" if bounds is None else f"{bounds[0]:.4f}-{bounds[1]:.4f}"


def _versus(c) -> str:
    """``a - reference`` on test with the paired t-test's p-value, ``*`` when ``Comparison.significant``."""
    if c is None:
        return "(reference)"
    return f"{c['difference']:+.4f} ({p_value(c['p_value'])}){'*' if c['significant'] else ''}"


def _print_groups(reports, metric: str) -> None:
    """One table per grouping: each model's test ``metric`` per user group (fairness at a glance)."""
    if not reports or not reports[0].groups:
        return
    for attr, groups in reports[0].groups.items():
        table = Table(title=f"test {metric} by {attr}")
        table.add_column("model")
        for g, row in groups.items():
            table.add_column(f"{g} (n={int(row['n_users'])})", justify="right")
        for r in reports:
            table.add_row(r.model, *(f"{r.groups[attr][g][metric]:.4f}" for g in groups))
        console.print(table)
