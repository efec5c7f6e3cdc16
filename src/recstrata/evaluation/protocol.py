"""Full-ranking evaluation of anything that can ``recommend`` over a :class:`Split`.

Evaluation knows lists of item indices, not models: it calls ``model.recommend(users, k,
exclude_seen=False, exclude=<seen matrix>, candidates=...)`` on any object with that method.
For validation the user's train items are excluded; for test, train + validation items
(RecBole's protocol). Users with nothing to predict in the part are skipped.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from recstrata.data.split import Split
from recstrata.evaluation import beyond
from recstrata.evaluation.groups import activity_groups, attribute_groups, breakdown
from recstrata.evaluation.metrics import ACCURACY_METRICS, accuracy
from recstrata.errors import ConfigError


class TopK(Protocol):
    def recommend(self, users: np.ndarray | None = None, k: int = 10, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass
class EvalResult:
    part: str
    ks: tuple[int, ...]
    metrics: dict[str, float]
    per_user: dict[str, np.ndarray] = field(repr=False)
    users: np.ndarray = field(repr=False)  # internal indices of the scored users
    ranked: np.ndarray = field(repr=False)  # (n_users, max K) item indices
    groups: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    seconds: float = 0.0

    def interval(self, metric: str, *, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
        """Bootstrap confidence interval over users of ``metric``'s mean (see ``evaluation.stats``)."""
        from recstrata.evaluation.stats import interval

        if metric not in self.per_user:
            raise ConfigError(f"metric {metric!r} is not per-user in this result (it has {sorted(self.per_user)})")
        return interval(self.per_user[metric], level=level, seed=seed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "part": self.part,
            "ks": list(self.ks),
            "n_users": int(len(self.users)),
            "metrics": self.metrics,
            "groups": self.groups,
            "seconds": self.seconds,
        }


def rank(
    model: TopK,
    users: np.ndarray,
    k: int,
    *,
    exclude=None,
    exclude_seen: bool = False,
    candidates: np.ndarray | None = None,
    sequences: list[np.ndarray] | None = None,
    batch_size: int = 4096,
) -> np.ndarray:
    """Top-``k`` lists for ``users`` in batches; ``exclude`` is a CSR matrix over all users.

    With ``sequences`` (ordered histories of all users), users are passed as ``histories=``.
    """
    out = []
    for start in range(0, len(users), batch_size):
        batch = users[start : start + batch_size]
        who = {"users": batch} if sequences is None else {"histories": [sequences[u] for u in batch]}
        ids, _ = model.recommend(
            k=k,
            exclude_seen=exclude_seen,
            exclude=None if exclude is None else exclude[batch],
            candidates=candidates,
            **who,
        )
        out.append(ids)
    return np.concatenate(out) if out else np.zeros((0, k), np.int64)


def evaluate(
    model: TopK,
    split: Split,
    part: str = "test",
    *,
    ks: Sequence[int] = (10, 20),
    metrics: Iterable[str] = ACCURACY_METRICS,
    beyond_accuracy: bool = True,
    group_by: Sequence[str] | None = None,
) -> EvalResult:
    """Score ``model`` on ``split``'s ``part`` ("valid" or "test") with full ranking.

    ``group_by`` names user attributes (``gender``, ``age``, ...) and/or ``activity``; every
    per-user metric is also averaged within each group. Default: activity plus gender and age
    when the user table has them.
    """
    if part not in ("valid", "test"):
        raise ConfigError(f"part must be 'valid' or 'test', not {part!r}")
    ks = tuple(sorted(set(int(k) for k in ks)))
    if not ks or ks[0] <= 0:
        raise ConfigError(f"ks must be positive integers, got {ks}")
    start = time.perf_counter()
    target = split.part(part)
    truth = target.user_items
    users = np.flatnonzero(np.diff(truth.indptr) > 0)
    seen = split.seen(part) if split.exclude_seen else None
    candidates = split.candidates(part)
    kmax = ks[-1]
    if candidates is not None:
        kmax_eff = min(kmax, len(candidates))
    else:
        kmax_eff = min(kmax, target.n_items)
    sequences = split.sequences(part) if split.sequential else None
    ranked = rank(model, users, kmax_eff, exclude=seen, candidates=candidates, sequences=sequences)
    if ranked.shape[1] < kmax:
        ranked = np.pad(ranked, ((0, 0), (0, kmax - ranked.shape[1])), constant_values=-1)
    per_user, _ = accuracy(ranked, truth[users], ks, metrics)

    if beyond_accuracy:
        history = split.train.user_items if part == "valid" else split.seen("test")
        genres, _ = split.train.genre_matrix
        for k in ks:
            per_user[f"novelty@{k}"] = beyond.novelty(ranked, split.train.item_counts, split.train.n_users, k)
            if genres.shape[1]:
                per_user[f"ild@{k}"] = beyond.intra_list_diversity(ranked, genres, k)
                per_user[f"calibration_kl@{k}"] = beyond.calibration_kl(ranked, history[users], genres, k)

    summary = {name: _nanmean(v) for name, v in per_user.items()}
    if beyond_accuracy:
        for k in ks:
            summary[f"coverage@{k}"] = beyond.coverage(ranked, target.n_items, k)
            summary[f"gini@{k}"] = beyond.exposure_gini(ranked, target.n_items, k)

    groups: dict[str, dict[str, dict[str, float]]] = {}
    if group_by is None:
        group_by = ["activity"] + [a for a in ("gender", "age") if a in split.train.users.columns]
    for attr in group_by:
        labels = activity_groups(split.train) if attr == "activity" else attribute_groups(split.train, attr)
        groups[attr] = breakdown(per_user, labels[users])
    return EvalResult(
        part=part,
        ks=ks,
        metrics=summary,
        per_user=per_user,
        users=users,
        ranked=ranked,
        groups=groups,
        seconds=time.perf_counter() - start,
    )


def _nanmean(values: np.ndarray) -> float:
    """Mean over defined values; NaN (silently) when there are none."""
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else float("nan")
