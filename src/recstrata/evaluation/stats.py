"""How sure a figure is: bootstrap confidence intervals over users and paired model comparisons.

A full-ranking metric is a mean over users, so its uncertainty is that of a mean of per-user values
(``EvalResult.per_user``). On ML-100K's 943 test users (RecBole's general split) EASE's NDCG@10 of
0.3295 carries a 95% interval of 0.3145-0.3448 (+-0.015; validation +-0.013), wider than most
differences between good models; two models scored on the same users are compared *paired*
(per-user differences), which removes the between-user spread they share.

    from recstrata.evaluation.stats import compare, interval
    low, high = interval(result.per_user["ndcg@10"])
    c = compare(a_result, b_result, "ndcg@10")   # a - b: difference, its interval, p-values

Intervals are percentile bootstraps over users (``scipy.stats.bootstrap``, seeded, so a report is
reproducible); p-values are the paired t-test (of the mean difference) and the Wilcoxon signed-rank
test (Pratt's treatment of zero differences, which are common: two models often score a user alike;
it tests that the differences are centred on 0, not their mean). Users whose value is undefined (NaN)
are left out, pairwise for comparisons.

What the interval covers: the spread over users of one fitted model on one split - not seeds, not
other splits (two SASRec seeds differ by more than nothing). Simulated NDCG-like values
(``bench/interval_coverage.py``, 400 trials each): with 60% of users at 0 the 95% interval covers the
mean 0.95-0.97 of the time from 30 users on; with 88% at 0 (leave-one-out) 0.90-0.93 below 943 users
and 0.95 at 943. Fewer than ``MIN_USERS`` users are refused.
``Comparison.significant`` needs both the interval to exclude 0 and the t-test's p below
1 - level, so the flag never contradicts the p-value shown next to it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from recstrata.errors import ConfigError

#: fewer users than this are refused: a bootstrap interval needs enough users to describe their spread
MIN_USERS = 30


@dataclass(frozen=True)
class Comparison:
    """``a - b`` on one metric over the users both were scored on."""

    metric: str
    n_users: int
    mean_a: float
    mean_b: float
    difference: float  # mean over users of a - b (= mean_a - mean_b on the shared users)
    low: float  # confidence interval of the difference
    high: float
    level: float
    p_value: float  # paired t-test, two-sided
    p_wilcoxon: float  # Wilcoxon signed-rank, two-sided (zero differences ranked, Pratt)

    @property
    def significant(self) -> bool:
        """The interval excludes 0 and the paired t-test agrees at the same level."""
        return (self.low > 0 or self.high < 0) and self.p_value < 1.0 - self.level

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "significant": self.significant}


def interval(values, *, level: float = 0.95, resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of the mean of ``values`` (NaN left out)."""
    from scipy import stats

    x = _finite(values, "values")
    _check_level(level, resamples)
    if np.all(x == x[0]):  # no spread: every resample has the same mean
        return float(x[0]), float(x[0])
    # batch bounds the memory: all resamples at once would take 8 bytes x users x resamples (4 GB for
    # ML-20M's 138k users)
    res = stats.bootstrap((x,), np.mean, confidence_level=level, n_resamples=resamples, batch=50,
                          method="percentile", rng=np.random.default_rng(seed), vectorized=True)
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def compare(a, b, metric: str, *, level: float = 0.95, resamples: int = 2000, seed: int = 0) -> Comparison:
    """Paired comparison of two :class:`~recstrata.evaluation.EvalResult` objects on ``metric``.

    Both must come from the same split part (the same users, in the same order, as ``evaluate``
    returns them); a different set of users is refused rather than silently intersected.
    """
    from scipy import stats

    for name, result in (("a", a), ("b", b)):
        if metric not in result.per_user:
            raise ConfigError(f"metric {metric!r} is not in result {name} (it has {sorted(result.per_user)})")
    if a.part != b.part or not np.array_equal(a.users, b.users):
        raise ConfigError(f"compare needs results on the same users: a is {a.part!r} over {len(a.users)} users, "
                          f"b is {b.part!r} over {len(b.users)} (evaluate both models on the same split part)")
    va, vb = np.asarray(a.per_user[metric], np.float64), np.asarray(b.per_user[metric], np.float64)
    both = ~(np.isnan(va) | np.isnan(vb))
    va, vb = va[both], vb[both]
    d = _finite(va - vb, f"{metric} differences")
    low, high = interval(d, level=level, resamples=resamples, seed=seed)
    if np.all(d == 0):
        p_t = p_w = 1.0
    else:
        constant = np.ptp(d) <= 1e-12 * max(1.0, float(np.abs(d).max()))  # a shift without spread
        p_t = 0.0 if constant else float(stats.ttest_rel(va, vb).pvalue)
        p_w = float(stats.wilcoxon(d, zero_method="pratt").pvalue)
    return Comparison(metric=metric, n_users=len(d), mean_a=float(va.mean()), mean_b=float(vb.mean()),
                      difference=float(d.mean()), low=low, high=high, level=level, p_value=p_t, p_wilcoxon=p_w)


def _finite(values, what: str) -> np.ndarray:
    x = np.asarray(values, np.float64).ravel()
    x = x[~np.isnan(x)]
    if len(x) < MIN_USERS:
        raise ConfigError(f"{what}: need at least {MIN_USERS} defined per-user values for a trustworthy "
                          f"interval, got {len(x)} (evaluate on more users)")
    if not np.isfinite(x).all():
        raise ConfigError(f"{what}: per-user values must be finite (found inf)")
    return x


def _check_level(level: float, resamples: int) -> None:
    if not 0.0 < level < 1.0:
        raise ConfigError(f"level must be between 0 and 1 (e.g. 0.95), got {level!r}")
    if not isinstance(resamples, int) or isinstance(resamples, bool) or resamples < 100:
        raise ConfigError(f"resamples must be an integer >= 100, got {resamples!r}")
