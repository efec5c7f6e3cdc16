"""Train a model or a blended pipeline on a whole dataset and publish it for serving.

    report = train_and_publish(dataset, ModelStore("runs", "als"), model="als", params={"factors": 64})
    report = train_and_publish(dataset, ModelStore("runs", "blend"),
                               sources={"ease": {"reg": 250.0}, "als": {}, "itemknn": {}, "pop": {}})

A single model is fitted on every interaction and published. A pipeline needs labels from a later
period for its ranker, so it is built the way it is measured: the dataset is split per user
(``ratio_split``, 80/10/10), sources are fitted on the first part, and the pipeline and each source
alone are scored on the third -- the report says whether the blend beats its best source on held-out
data. How the pipeline orders its candidates (``blend``) is chosen on the second part: ``"ranker"``
trains the LambdaRank ranker on it (cross-fitted over users, so its figure there is out of fold),
``"fusion"`` orders by reciprocal rank fusion with equal weights (no parameters learned),
``"weighted"`` by rank fusion whose per-source weights (0 drops a source) and ``k`` are chosen on it
(``Pipeline.fit_fusion``; its figure is out of fold too), and the default ``"auto"`` tries all three and
keeps the one with the higher validation NDCG@10 (on an exact tie the simpler: fusion, then weighted;
a blend that cannot be fitted, e.g. too few labelled users, is left out and the report says why).
Weighted fusion can put all the weight on one source, so ``auto`` can choose a single source when
validation favours it (on ml-latest-small with ``ease,als,itemknn,pop``: weighted fusion keeps EASE
alone, validation 0.2119 against the ranker's 0.1988 and fusion's 0.1875; held out 0.2878, as EASE
alone, where the ranker scores 0.2778); no source alone is compared directly, and the weights are
chosen on at most 10,000 sampled labelled users (``Pipeline.fit_fusion``'s ``max_users``): every
blend's figure is then taken over that same sample. The ranker's figure is out of
fold, from models trained on fewer users than the published one, so the comparison leans slightly
towards fusion. In the ML-100K benchmark's selection rounds (``BENCHMARKS.md``) the ranker never beat
fusion by more than noise (0.2690 vs 0.2685 at best); with other sources or ``folds`` it can come out
ahead, and the two are often within noise: the report gives their paired difference.
The sources are then refitted on all interactions (the ranker is kept, as ``Pipeline.refit_sources``
does) and the result is published, with the report written beside it (``report.json``). ``tune=True`` first chooses
every hyper-parameter not given on the validation part (the registry's grids, as ``recstrata
evaluate`` does).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from recstrata.data.dataset import Dataset
from recstrata.errors import ConfigError, DataError

#: metrics recorded in a training report (held-out part of the split)
REPORT_METRICS = ("ndcg@10", "recall@10", "mrr@10")
#: how a pipeline orders its candidates: chosen on validation, a trained ranker, rank fusion with equal
#: weights, or rank fusion with weights chosen on validation
BLENDS = ("auto", "ranker", "fusion", "weighted")
#: the blends ``auto`` tries, simplest first: an exact tie of validation figures goes to the earlier one
_AUTO_ORDER = ("fusion", "weighted", "ranker")


@dataclass
class TrainReport:
    name: str
    version: str
    kind: str  # "model" | "pipeline"
    spec: dict[str, Any]
    fit_seconds: float
    #: held-out metrics per entry ("pipeline" and each source, or the tuned model); empty for an untuned model
    heldout: dict[str, dict[str, float]] = field(default_factory=dict)
    #: the ranker's out-of-fold validation NDCG@10 over every user it scored (``ranker_valid_ndcg_``)
    ranker_valid_ndcg: float | None = None
    #: a pipeline's validation NDCG@10 per blend tried (the ranker's and weighted fusion's out of fold),
    #: all over the same users (``spec["blend_valid_users"]`` of them: weighted fusion's sample above
    #: 10,000 labelled users); the chosen one is spec["blend"]
    blend_valid_ndcg: dict[str, float] = field(default_factory=dict)
    #: when the ranker and fusion were both tried: ranker minus fusion, paired over those same users
    #: (``evaluation.stats.compare``; None below 30 users)
    blend_comparison: dict[str, Any] | None = None
    #: when weighted fusion and fusion were both tried: weighted (out of fold) minus fusion, paired
    weighted_comparison: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def train_and_publish(dataset: Dataset, store, *, model: str | None = None, params: Mapping[str, Any] | None = None,
                      sources: Mapping[str, Mapping[str, Any]] | None = None, n_per_source: int = 300,
                      ranker_params: Mapping[str, Any] | None = None, folds: int = 5, seed: int = 2020,
                      tune: bool = False, blend: str = "auto") -> TrainReport:
    """Fit ``model`` (a registry name with ``params``) or a pipeline over ``sources`` (registry name
    -> params) on ``dataset`` and publish it to ``store`` (a :class:`~recstrata.serving.modelstore.ModelStore`).

    ``tune=True`` grid-searches every hyper-parameter not given (the registry's grids) on the
    validation part of the split, keeps the best, and reports it on the held-out part before the
    final fit on everything (a single model is then split and scored too). A model that early-stops
    (Mult-VAE, RecVAE, SASRec: its ``fit`` takes ``valid=``) and whose ``epochs`` is not given gets
    its epoch count from early stopping on that split even without ``tune``, instead of training
    the configured maximum on everything."""
    check_request(model=model, params=params, sources=sources, blend=blend)
    start = time.perf_counter()
    if model is not None:
        fitted, report = _single(dataset, model, dict(params or {}), tune, seed)
    else:
        fitted, report = _pipeline(dataset, dict(sources), n_per_source, dict(ranker_params or {}), folds, seed, tune,
                                   blend)
    report.name = store.name
    report.fit_seconds = round(time.perf_counter() - start, 2)
    report.version = store.publish(fitted, report=report.to_dict())
    return report


def check_request(*, model: str | None = None, params: Mapping[str, Any] | None = None,
                  sources: Mapping[str, Mapping[str, Any]] | None = None, blend: str = "auto") -> None:
    """ConfigError for what :func:`train_and_publish` would refuse, found without data (the command
    line calls it before loading a dataset): the choice of model or sources, the blend, and every
    model's hyper-parameters (unknown names, wrong types or ranges: ``Recommender.check_params``),
    so that no fit starts with a bad one."""
    from recstrata.retrieval.registry import make_model

    if (model is None) == (sources is None):
        raise ConfigError("give either model= (one model) or sources= (a blended pipeline), not both or neither")
    if blend not in BLENDS:
        raise ConfigError(f"blend must be one of {', '.join(BLENDS)}; got blend={blend!r}")
    if model is not None and blend != "auto":
        raise ConfigError(f"blend={blend!r} orders a pipeline's sources: it needs sources=, not model=")
    if sources is not None and not sources:
        raise ConfigError("a pipeline needs at least one source, e.g. ease,als")
    for name, given in ({model: params or {}} if model is not None else sources or {}).items():
        if not isinstance(given, Mapping):
            raise ConfigError(f"the parameters of {name!r} must map parameter names to values "
                              f"({{\"name\": value, ...}}), got {given!r}")
        make_model(name, **given).check_params()


def _single(dataset: Dataset, name: str, params: dict[str, Any], tune: bool, seed: int):
    from recstrata.data.split import ratio_split
    from recstrata.retrieval.registry import make_model

    spec: dict[str, Any] = {"model": name, "params": params}
    heldout = {}
    if tune or _needs_early_stopping(name, params):
        split = ratio_split(dataset, seed=seed)
        fitted, params = _fit_source(name, params, split, tune=tune)
        heldout[name] = _heldout(fitted, split)
        spec = {"model": name, "params": params, ("tuned" if tune else "early_stopped"): True,
                "split": {"ratios": [0.8, 0.1, 0.1], "seed": seed}}
    return make_model(name, **params).fit(dataset), TrainReport("", "", "model", spec, 0.0, heldout=heldout)


def _needs_early_stopping(name: str, given: Mapping[str, Any]) -> bool:
    """The model early-stops on validation (its ``fit`` takes ``valid=``) and no epoch count was given."""
    import inspect

    from recstrata.retrieval.registry import model_class

    return "epochs" not in given and "valid" in inspect.signature(model_class(name).fit).parameters


def _fit_source(name: str, given: Mapping[str, Any], split, *, tune: bool):
    """A source fitted on ``split.train`` and its parameters: the given ones, plus the best of the
    registry grid on validation for the rest when ``tune``; a model that early-stops and has no
    ``epochs`` given also gets the epoch count early stopping on validation chose (tune or not)."""
    from recstrata.retrieval.registry import SEARCH_SPACES, make_model

    if not tune and not _needs_early_stopping(name, given):
        return make_model(name, **given).fit(split.train), dict(given)
    from recstrata.experiment import tune as grid_search

    space = {k: v for k, v in SEARCH_SPACES.get(name, {}).items() if k not in given} if tune else {}
    fitted, best, _ = grid_search(name, split, space=space, fixed=given)
    return fitted, {**given, **best.params}


def _heldout(model, split) -> dict[str, float]:
    from recstrata.evaluation import evaluate

    res = evaluate(model, split, "test", ks=[10], beyond_accuracy=False, group_by=[])
    return {k: round(float(res.metrics[k]), 4) for k in REPORT_METRICS}


def _pipeline(dataset: Dataset, sources: dict[str, Mapping[str, Any]], n_per_source: int,
              ranker_params: dict[str, Any], folds: int, seed: int, tune: bool, blend: str):
    from recstrata.data.split import ratio_split
    from recstrata.evaluation import evaluate
    from recstrata.ranking import LambdaRanker, Pipeline
    from recstrata.ranking.fusion import FUSION_KS, FUSION_WEIGHTS, fusion_settings

    skipped: dict[str, str] = {}  # blend -> why auto left it out
    if blend in ("auto", "weighted"):  # a fusion grid too large for the sources fails before any fit
        _attempt(blend, "weighted", skipped, ConfigError,
                 lambda: fusion_settings(tuple(sources), FUSION_WEIGHTS, FUSION_KS))
    split = ratio_split(dataset, seed=seed)
    built, chosen = {}, {}
    for name, given in sources.items():
        built[name], chosen[name] = _fit_source(name, given, split, tune=tune)
    vector_source = next((n for n in built if _has_vectors(built[n])), None)
    tried, per_user = {}, {}  # blend -> its pipeline over the same fitted sources; (users, validation NDCG@10)
    # fitted once, even for blend="ranker" or "weighted": the other blends are siblings of this one
    fused = Pipeline(built, n_per_source=n_per_source, vector_source=vector_source)
    fused.fit(split.train, fit_sources=False)
    if blend in ("auto", "fusion"):
        tried["fusion"] = fused
        fusion_valid = evaluate(fused, split, "valid", ks=[10], beyond_accuracy=False, group_by=[])
        per_user["fusion"] = fusion_valid.users, fusion_valid.per_user["ndcg@10"]
    if blend in ("auto", "weighted") and "weighted" not in skipped:
        weighted = _sibling(fused)  # its own weights and k
        if _attempt(blend, "weighted", skipped, DataError, lambda: weighted.fit_fusion(
                split.valid, weights=FUSION_WEIGHTS, ks=FUSION_KS, folds=folds, seed=seed)):
            tried["weighted"] = weighted  # out of fold, on at most 10,000 sampled users:
            per_user["weighted"] = weighted.fusion_users_, weighted.fusion_report_.oof_ndcg
    if blend in ("auto", "ranker"):
        ranked = _sibling(fused)  # plus a ranker
        ranked.ranker = LambdaRanker(**ranker_params)
        if _attempt(blend, "ranker", skipped, DataError,
                    lambda: ranked.fit_ranker(split.valid, folds=folds, seed=seed)):
            tried["ranker"], per_user["ranker"] = ranked, _ranker_per_user(ranked, split)  # out of fold
    own = {"fusion": lambda: fusion_valid.metrics["ndcg@10"], "ranker": lambda: ranked.ranker_valid_ndcg_,
           "weighted": lambda: weighted.fusion_report_.cv_ndcg}  # each blend's figure over its own users
    valid, common = _on_common_users(per_user, own)  # the blends are compared on the same users
    best = max(valid, key=lambda b: (valid[b], -_AUTO_ORDER.index(b)))
    pipe = tried[best]
    scores = {"pipeline": _heldout(pipe, split)}
    scores |= {f"pipeline ({b}, not chosen)": _heldout(tried[b], split) for b in tried if b != best}
    scores |= {name: _heldout(src, split) for name, src in built.items()}
    # the blends share their source objects, which this refits in place: every figure is taken above
    pipe.refit_sources(dataset)
    spec = {"sources": chosen, "tuned": tune, "n_per_source": n_per_source, "blend": best,
            "ranker": ranker_params if blend in ("auto", "ranker") else None, "folds": folds,
            "ranker_skipped": skipped.get("ranker"), "weighted_skipped": skipped.get("weighted"),
            "fusion": {"weights": pipe.fusion_weights, "k": pipe.fusion_k} if best == "weighted" else None,
            "split": {"ratios": [0.8, 0.1, 0.1], "seed": seed}, "vector_source": vector_source,
            "blend_valid_users": len(common)}
    report = TrainReport("", "", "pipeline", spec, 0.0, heldout=scores,
                         ranker_valid_ndcg=round(float(ranked.ranker_valid_ndcg_), 4) if "ranker" in valid else None,
                         blend_valid_ndcg={b: round(float(v), 4) for b, v in valid.items()},
                         blend_comparison=_paired_with_fusion(fusion_valid, *per_user["ranker"], common)
                         if {"fusion", "ranker"} <= set(tried) else None,
                         weighted_comparison=_paired_with_fusion(fusion_valid, *per_user["weighted"], common)
                         if {"fusion", "weighted"} <= set(tried) else None)
    return pipe, report


_NOT_FITTED = {"ranker": "ranker not trained", "weighted": "weighted fusion not tuned"}


def _attempt(blend: str, name: str, skipped: dict[str, str], errors, fit) -> bool:
    """Run ``fit`` for blend ``name``: True when it ran. Its ``errors`` are raised when ``blend`` asked
    for ``name`` alone; under ``"auto"`` the reason is kept in ``skipped`` and the blend left out."""
    try:
        fit()
    except errors as exc:
        if blend == name:
            raise
        skipped[name] = f"{_NOT_FITTED[name]}: {exc}"
        return False
    return True


def _sibling(pipe):
    """A shallow copy of a fitted pipeline: the same fitted sources and candidate-feature statistics
    (fitted once), its own source mapping. ``fit_ranker``, ``fit_fusion`` and ``refit_sources`` only
    assign attributes, so fitting a blend on the copy leaves ``pipe``'s blend alone; the source objects
    themselves stay shared (a refit of one refits both)."""
    twin = copy.copy(pipe)
    twin.sources = dict(pipe.sources)
    return twin


def _ranker_per_user(ranked, split):
    """(users, validation NDCG@10 of the ranker's out-of-fold top-10) of the users it scored."""
    import numpy as np

    from recstrata.evaluation.metrics import accuracy

    users = ranked.ranker_valid_users_
    values, scored = accuracy(ranked.ranker_valid_ranked_, split.valid.user_items[users], [10], ["ndcg"])
    return users[scored], np.asarray(values["ndcg@10"])[scored]


def _on_common_users(per_user: dict[str, tuple[Any, Any]], own) -> tuple[dict[str, float], Any]:
    """Each blend's mean validation NDCG@10 over the users every blend was scored on, and those users.
    Weighted fusion is tuned on at most 10,000 sampled users: above that, the other blends' figures
    are taken over its sample, as means over other users would not compare. A blend scored on
    exactly those users keeps its own figure (``own[blend]()``: the same mean)."""
    import functools

    import numpy as np

    common = functools.reduce(np.intersect1d, [np.unique(users) for users, _ in per_user.values()])
    if not len(common):
        raise DataError(f"no validation user was scored by every blend ({', '.join(per_user)}): cannot compare them")
    means = {b: (float(own[b]()) if len(users) == len(common) else float(_values_at(users, values, common).mean()))
             for b, (users, values) in per_user.items()}
    return means, common


def _values_at(users, values, wanted):
    """``values`` (one per user of ``users``) of the users ``wanted`` (each one among ``users``)."""
    import numpy as np

    users = np.asarray(users)
    order = np.argsort(users, kind="stable")
    return np.asarray(values)[order[np.searchsorted(users, wanted, sorter=order)]]


def _paired_with_fusion(fusion_valid, users, values, among) -> dict[str, Any] | None:
    """``values`` (one validation NDCG@10 per user of ``users``) minus fusion's, paired over the users
    of ``among`` (every blend scored them: ``_on_common_users``) with ``evaluation.stats.compare``,
    rounded for the report; None below ``MIN_USERS`` users."""
    import numpy as np

    from recstrata.evaluation import EvalResult
    from recstrata.evaluation.stats import MIN_USERS, compare

    common = np.asarray(among)  # every blend, fusion included, scored them (sorted, unique)
    if len(common) < MIN_USERS:  # too few for an interval: no comparison rather than a failed training
        return None

    def on_common(who, values) -> EvalResult:
        return EvalResult("valid", (10,), {}, {"ndcg@10": _values_at(who, values, common)}, common,
                          np.zeros((len(common), 0), np.int64))

    paired = compare(on_common(users, values),
                     on_common(fusion_valid.users, fusion_valid.per_user["ndcg@10"]), "ndcg@10")
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in paired.to_dict().items()}


def _has_vectors(model) -> bool:
    vectors = getattr(model, "item_vectors", None)
    return vectors is not None and vectors() is not None
