"""Model selection and comparison: tune each model on validation, score the winner on test.

    reports = run_experiment(split, ["pop", "ease", "als"], ks=(10, 20))

For each model, every point of its grid (``registry.SEARCH_SPACES``, or the one given) is fitted
on ``split.train`` and scored on ``split.valid``; the best by ``metric`` (validation only, never
test) is then scored on ``split.test``. As in RecBole, models are fitted on train only; test
ranking excludes train + validation items.
"""

from __future__ import annotations

import inspect
import itertools
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from recstrata.data.split import Split
from recstrata.errors import ConfigError
from recstrata.evaluation.metrics import ACCURACY_METRICS
from recstrata.evaluation.protocol import evaluate
from recstrata.retrieval._params import is_int
from recstrata.retrieval.base import Recommender
from recstrata.retrieval.registry import SEARCH_SPACES, check_model_names, make_model

ProgressFn = Callable[[str, int, int], None]  # (model name, trials done, trials total)


@dataclass
class Trial:
    params: dict[str, Any]
    valid: float
    fit_seconds: float


@dataclass
class ModelReport:
    model: str
    params: dict[str, Any]
    selection_metric: str
    valid: dict[str, float]
    test: dict[str, float]
    fit_seconds: float
    total_seconds: float
    trials: list[Trial] = field(default_factory=list)
    groups: dict[str, Any] = field(default_factory=dict)
    fitted: Recommender | None = field(default=None, repr=False)
    # the test figure of the selection metric: its bootstrap 95% interval over users, and the paired
    # comparison with the model of best validation figure (None for that model itself)
    test_interval: tuple[float, float] | None = None
    vs_best: dict[str, Any] | None = None
    test_result: Any = field(default=None, repr=False)  # the test EvalResult (per-user values)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "params": self.params,
            "selection_metric": self.selection_metric,
            "valid": self.valid,
            "test": self.test,
            "fit_seconds": self.fit_seconds,
            "total_seconds": self.total_seconds,
            "trials": [t.__dict__ for t in self.trials],
            "groups": self.groups,
            "test_interval": None if self.test_interval is None else list(self.test_interval),
            "vs_best": self.vs_best,
        }


def grid(space: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """All combinations of a parameter grid (one empty combination for an empty grid)."""
    keys = list(space)
    return [dict(zip(keys, values)) for values in itertools.product(*(space[k] for k in keys))]


def tune(
    name: str,
    split: Split,
    *,
    space: Mapping[str, Sequence[Any]] | None = None,
    metric: str = "ndcg@10",
    fixed: Mapping[str, Any] | None = None,
    progress: ProgressFn | None = None,
) -> tuple[Recommender, Trial, list[Trial]]:
    """Grid-search ``name`` on the validation part; return the best fitted model and all trials.

    A model whose ``fit`` takes ``valid=`` (Mult-VAE, RecVAE, SASRec) early-stops on the same
    validation split, and its trial's parameters include what reproduces that fit without
    ``valid=`` (``early_stopped_params()``, e.g. the best epoch count), so a refit on more data
    trains as long as validation chose."""
    k = _metric_k(metric)
    points = grid(SEARCH_SPACES.get(name, {}) if space is None else space)
    trials: list[Trial] = []
    best: tuple[float, Recommender, Trial] | None = None
    for i, params in enumerate(points):
        model = make_model(name, **{**(fixed or {}), **params})
        if "valid" in inspect.signature(model.fit).parameters:
            model.fit(split.train, valid=split)
            params = params | model.early_stopped_params()
        else:
            model.fit(split.train)
        score = evaluate(model, split, "valid", ks=[k], beyond_accuracy=False, group_by=[]).metrics[metric]
        trial = Trial(params=params, valid=score, fit_seconds=model.fit_seconds_)
        trials.append(trial)
        if best is None or score > best[0]:
            best = (score, model, trial)
        if progress:
            progress(name, i + 1, len(points))
    assert best is not None
    return best[1], best[2], trials


def run_experiment(
    split: Split,
    models: Iterable[str],
    *,
    ks: Sequence[int] = (10, 20),
    metric: str = "ndcg@10",
    tuned: bool = True,
    spaces: Mapping[str, Mapping[str, Sequence[Any]]] | None = None,
    group_by: Sequence[str] | None = None,
    progress: ProgressFn | None = None,
) -> list[ModelReport]:
    """Tune (or just fit, with ``tuned=False``) each model and score it on valid and test."""
    models = list(models)
    check_experiment(models, ks, metric)
    reports = []
    ks = tuple(sorted(set(ks) | {_metric_k(metric)}))  # the selection metric is always scored
    for name in models:
        start = time.perf_counter()
        space = (spaces or {}).get(name) if tuned else {}
        model, trial, trials = tune(name, split, space=space, metric=metric, progress=progress)
        valid = evaluate(model, split, "valid", ks=ks, beyond_accuracy=False, group_by=[])
        test = evaluate(model, split, "test", ks=ks, group_by=group_by)
        reports.append(
            ModelReport(
                model=name,
                params=model.get_params(),
                selection_metric=metric,
                valid=valid.metrics,
                test=test.metrics,
                fit_seconds=trial.fit_seconds,
                total_seconds=time.perf_counter() - start,
                trials=trials,
                groups=test.groups,
                fitted=model,
                test_interval=test.interval(metric),
                test_result=test,
            )
        )
    _compare_with_best(reports, metric)
    return reports


def _compare_with_best(reports: list[ModelReport], metric: str) -> None:
    """Each report's paired test comparison with the model validation ranks first (how much of a
    difference on test is noise: the same users score both)."""
    from recstrata.evaluation.stats import compare

    if len(reports) < 2:
        return
    best = max(reports, key=lambda r: r.valid[metric])
    for r in reports:
        if r is not best:
            r.vs_best = {"model": best.model, **compare(r.test_result, best.test_result, metric).to_dict()}


def check_experiment(models: Sequence[str], ks: Sequence[int], metric: str) -> None:
    """ConfigError for what :func:`run_experiment` would refuse, found before any data is touched: no
    model, an unknown model name, a cut-off that is not a positive integer, a selection metric that is
    not an accuracy metric at a cut-off (each named separately: the metric's cut-off is scored too)."""
    if not models:
        raise ConfigError("no model to evaluate: give at least one model name (e.g. pop, ease)")
    check_model_names(models)
    if not ks or not all(is_int(k) and k >= 1 for k in ks):
        raise ConfigError(f"the cut-offs ks must be positive integers, got {list(ks)}")
    _metric_k(metric)


def _metric_k(metric: str) -> int:
    name, _, k = metric.partition("@")
    if name not in ACCURACY_METRICS or not k.isdigit() or int(k) < 1:
        raise ConfigError(
            f"selection metric {metric!r} is not an accuracy metric at a cut-off: use one of "
            f"{', '.join(ACCURACY_METRICS)} at a cut-off >= 1, e.g. 'ndcg@10' (coverage and novelty are "
            "reported for every model, not used to choose)")
    return int(k)
