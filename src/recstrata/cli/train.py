"""``recstrata train``: fit a model or a blended pipeline on a dataset and publish it for ``recstrata serve``."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import typer
from rich.table import Table

from recstrata.cli import app
from recstrata.cli._common import commands, console, fail, p_value
from recstrata.errors import ConfigError, RecstrataError


#: a valid value of each JSON option, shown when the value given is not
EXAMPLES = {"--params": '{"factors": 64}', "--source-params": '{"ease": {"reg": 250}, "als": {"factors": 64}}'}


def _json_option(text: str | None, what: str) -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{what} is not valid JSON ({exc}); example: '{EXAMPLES[what]}'") from exc
    if not isinstance(value, dict):
        raise ConfigError(f"{what} must be a JSON object, got {type(value).__name__}; "
                          f"example: '{EXAMPLES[what]}'")
    return value


@app.command("train")
def train_cmd(
    dataset: str = typer.Option("ml-latest-small", help="dataset name (ml-latest-small, ml-100k) or path"),
    model: str | None = typer.Option(None, help="one model to fit on every interaction (als, ease, ...)"),
    params: str | None = typer.Option(None, help="JSON hyper-parameters of --model, "
                                                 f"e.g. '{EXAMPLES['--params']}'"),
    sources: str | None = typer.Option(None, help="comma-separated sources of a blended pipeline "
                                                  "(ordered as --blend says), e.g. ease,als,itemknn,pop"),
    blend: str = typer.Option("auto", help="how a pipeline orders candidates: ranker (LambdaRank trained on "
                                           "held-out labels), fusion (reciprocal rank fusion, equal weights), "
                                           "weighted (fusion weights chosen on held-out labels: a grid of 3 "
                                           "weights per source, seconds for 4 sources, minutes for 8, at most "
                                           "10,000 users) or auto (the best of the three on validation)"),
    source_params: str | None = typer.Option(None, help="JSON {source: {param: value}} for --sources, e.g. "
                                                        f"'{EXAMPLES['--source-params']}'"),
    n_per_source: int = typer.Option(300, min=1, help="candidates each source proposes to the blend"),
    folds: int = typer.Option(5, min=2, help="cross-fitting folds over users for the ranker and the fusion weights "
                                             "(--blend auto, ranker or weighted)"),
    name: str | None = typer.Option(None, help="name in the model store (default: the model name, or 'pipeline')"),
    runs_dir: Path | None = typer.Option(None, help="model store root (default: the serving settings' runs_dir)"),
    seed: int = typer.Option(2020, min=0, help="seed of the split a pipeline is trained and scored on"),
    tune: bool = typer.Option(False, help="grid-search each model's hyper-parameters not given on the validation "
                                          "part first (recstrata evaluate's grids)"),
    events: Path | None = typer.Option(None, help="the server's event store (state/events.sqlite): fold its events "
                                                 "into the training data and forget erased users"),
) -> None:
    """Train and publish: the server loads the new version at start-up (or on /v1/admin/reload)."""
    from recstrata.config import get_settings
    from recstrata.data.registry import load_dataset
    from recstrata.serving.modelstore import ModelStore
    from recstrata.training import check_request, train_and_publish

    try:
        if (model is None) == (sources is None):
            raise ConfigError("give --model NAME (one model) or --sources a,b,c (a blended pipeline)")
        names = [s.strip() for s in (sources or "").split(",") if s.strip()]
        per_source = _json_option(source_params, "--source-params")
        unknown = set(per_source) - set(names)
        if unknown:
            raise ConfigError(f"--source-params names {sorted(unknown)}, which are not in --sources {names}")
        model_params = _json_option(params, "--params")
        source_map = {n: per_source.get(n, {}) for n in names} if sources is not None else None
        check_request(model=model, params=model_params, sources=source_map, blend=blend)  # before any loading
        store_name = name or model or "pipeline"
        store = ModelStore(runs_dir or get_settings().serving.runs_dir, store_name)
        with console.status(f"loading {dataset}"):
            ds = load_dataset(dataset)
        if events is not None:
            ds = _fold_events(ds, events)
        elif (default := get_settings().serving.state_dir / "events.sqlite").is_file():
            console.print(f"[yellow]{default} exists but --events was not given: its events are not folded in "
                          "and users erased there are not forgotten in this model[/]")
        with console.status(f"training {store_name} on {ds!r}"):
            report = train_and_publish(
                ds, store, model=model, params=model_params, sources=source_map, n_per_source=n_per_source,
                folds=folds, seed=seed, tune=tune, blend=blend)
    except RecstrataError as exc:
        raise fail(exc) from exc
    if report.heldout:
        how = "sources fitted on 80%, blend chosen on the next 10%" if report.kind == "pipeline" else \
            "fitted on 80%, tuned on the next 10%"
        table = Table(title=f"held-out 10% of each user's events ({how})")
        table.add_column("")
        for metric in next(iter(report.heldout.values())):
            table.add_column(metric, justify="right")
        for entry, metrics in report.heldout.items():
            table.add_row(entry, *(f"{v:.4f}" for v in metrics.values()))
        console.print(table)
        best = max((e for e in report.heldout if not e.startswith("pipeline")),
                   key=lambda e: report.heldout[e]["ndcg@10"])
        if "pipeline" in report.heldout and report.heldout["pipeline"]["ndcg@10"] < report.heldout[best]["ndcg@10"]:
            console.print(f"[yellow]the pipeline does not beat {best} alone on held-out data: consider serving "
                          f"{best} (--model {best}){'' if tune else ', --tune'} or other sources[/]")
    if report.blend_valid_ndcg:
        tried = ", ".join(f"{b} {v:.4f}" for b, v in report.blend_valid_ndcg.items())
        over = f" over {report.spec['blend_valid_users']} users" if report.spec.get("blend_valid_users") else ""
        console.print(f"blend: {report.spec['blend']} (validation NDCG@10{over}: {tried}; the not-chosen row above is "
                      f"for reference only: choosing on it would be choosing on test)")
        for other, c in (("ranker", report.blend_comparison), ("weighted", report.weighted_comparison)):
            if c:
                console.print(f"{other} minus fusion on validation, paired over {c['n_users']} users: "
                              f"{c['difference']:+.4f} (95% interval {c['low']:+.4f} to {c['high']:+.4f}, "
                              f"{p_value(c['p_value'])}){'' if c['significant'] else ': within noise'}")
        for skipped in ("ranker_skipped", "weighted_skipped"):
            if report.spec.get(skipped):
                console.print(f"[yellow]{report.spec[skipped]}[/]")
        if report.spec.get("fusion"):
            weights = report.spec["fusion"]["weights"]
            unused = [s for s, w in weights.items() if w == 0]
            console.print(f"fusion weights {weights}, k {report.spec['fusion']['k']:g}"
                          + (f"; weighted 0, so not queried at request time (kept for similar items): "
                             f"{', '.join(unused)}" if unused else ""))
    if report.spec.get("tuned"):
        console.print(f"chosen on validation: {report.spec.get('sources') or report.spec['params']}")
    console.print(f"published {store.root}/{report.version} ({report.kind}, {report.fit_seconds:.1f} s)")
    where = "" if runs_dir is None else f"RECSTRATA_SERVING__RUNS_DIR={shlex.quote(str(runs_dir))} "  # else: the default
    commands("serve it:", f"{where}recstrata serve --dataset {shlex.quote(str(dataset))} --model {store_name}")


def _fold_events(ds, path: Path):
    from recstrata.data.events import with_events
    from recstrata.serving.events import EventStore

    store = EventStore.open_readonly(path)
    try:
        implicit = ds.rating_scale[1] if ds.rating_scale else 1.0
        folded, stats = with_events(ds, *store.export(implicit_weight=implicit), forget=store.erased_users())
    finally:
        store.close()
    console.print(f"events folded in: {stats['events']} (on unknown items, skipped: {stats['unknown_items']}), "
                  f"new users {stats['new_users']}, erased users forgotten {stats['forgotten_users']} "
                  f"({stats['forgotten_interactions']} interactions removed)")
    return folded
