"""Confidence intervals and paired comparisons: known answers from normal theory and simulation."""

from __future__ import annotations

import numpy as np
import pytest

from recstrata.errors import ConfigError
from recstrata.evaluation import EvalResult
from recstrata.evaluation.stats import compare, interval


def result(values, users=None, part="test", metric="ndcg@10") -> EvalResult:
    values = np.asarray(values, np.float64)
    users = np.arange(len(values)) if users is None else np.asarray(users)
    return EvalResult(part=part, ks=(10,), metrics={metric: float(np.nanmean(values))}, per_user={metric: values},
                      users=users, ranked=np.zeros((len(values), 10), np.int64))


def test_interval_of_a_large_sample_is_the_normal_one():
    x = np.random.default_rng(1).normal(0.3, 0.2, 4000)
    low, high = interval(x)
    half = 1.96 * x.std(ddof=1) / np.sqrt(len(x))  # 0.0062
    assert low < x.mean() < high
    assert abs((high - low) / 2 - half) < 0.1 * half
    assert abs((low + high) / 2 - x.mean()) < 0.1 * half


def test_interval_covers_the_true_mean_about_as_often_as_its_level():
    rng = np.random.default_rng(2)
    true = 0.25
    hits = 0
    for _ in range(200):
        x = rng.binomial(1, true, 300).astype(float)  # hit@k-like 0/1 per user
        low, high = interval(x, resamples=1000, seed=int(rng.integers(1 << 30)))
        hits += low <= true <= high
    assert 0.89 <= hits / 200 <= 0.99  # 95% nominal; the binomial spread of 200 draws is ~0.015


def test_interval_is_reproducible_ignores_nan_and_is_a_point_without_spread():
    x = np.random.default_rng(3).random(50)
    assert interval(x, seed=7) == interval(x, seed=7)
    assert interval(np.r_[x, np.nan], seed=7) == interval(x, seed=7)
    assert interval([0.5] * 40) == (0.5, 0.5)


@pytest.mark.parametrize("values, match", [([0.3] * 29, "at least 30"), ([np.nan] * 5 + [0.2] * 29, "at least 30"),
                                           ([0.1] * 40 + [np.inf], "finite")])
def test_interval_refuses_what_it_cannot_estimate(values, match):
    with pytest.raises(ConfigError, match=match):
        interval(values)


@pytest.mark.parametrize("kw, match", [(dict(level=95), "level"), (dict(resamples=10), "resamples")])
def test_interval_refuses_bad_settings(kw, match):
    with pytest.raises(ConfigError, match=match):
        interval(np.linspace(0, 1, 50), **kw)


def test_paired_comparison_finds_a_small_shift_the_unpaired_intervals_cannot():
    """b = a - 0.01 per user, a spread 0.3 across users: the two means' intervals overlap widely,
    the paired difference is exactly 0.01 and significant."""
    rng = np.random.default_rng(4)
    a = rng.uniform(0.0, 1.0, 900)
    b = a - 0.01 + rng.normal(0, 0.002, 900)
    ra, rb = result(a), result(b)
    assert ra.interval("ndcg@10")[0] < rb.interval("ndcg@10")[1]  # unpaired: overlapping
    c = compare(ra, rb, "ndcg@10")
    assert c.n_users == 900 and abs(c.difference - 0.01) < 0.0005
    assert c.low > 0 and c.significant and c.p_value < 1e-10 and c.p_wilcoxon < 1e-10
    assert c.mean_a - c.mean_b == pytest.approx(c.difference)


def test_comparing_a_model_with_itself_or_with_noise_is_not_significant():
    rng = np.random.default_rng(5)
    a = rng.uniform(0, 1, 500)
    same = compare(result(a), result(a.copy()), "ndcg@10")
    assert (same.difference, same.low, same.high, same.p_value, same.p_wilcoxon) == (0.0, 0.0, 0.0, 1.0, 1.0)
    assert not same.significant
    noise = compare(result(a), result(a + rng.normal(0, 0.1, 500)), "ndcg@10")
    assert noise.low < 0 < noise.high or noise.p_value > 0.01


def test_comparison_leaves_out_users_undefined_in_either_result():
    rng = np.random.default_rng(8)
    a, b = rng.random(60), rng.random(60)
    a[:10], b[10:20] = np.nan, np.nan
    c = compare(result(a), result(b), "ndcg@10")
    assert c.n_users == 40 and c.difference == pytest.approx((a[20:] - b[20:]).mean())
    with pytest.raises(ConfigError, match="at least 30"):  # 29 users defined in both
        compare(result(a), result(np.r_[b[:31], np.full(29, np.nan)]), "ndcg@10")


def test_a_constant_shift_is_certain_and_the_flag_agrees_with_the_p_value():
    a = np.random.default_rng(9).random(100)
    c = compare(result(a), result(a - 0.1), "ndcg@10")  # a - (a - 0.1): float noise, no real spread
    assert c.difference == pytest.approx(0.1) and c.p_value == 0.0 and c.significant
    assert c.p_wilcoxon < 1e-15  # every difference positive: the smallest two-sided p for 100 users
    assert c.to_dict()["significant"] is True


def test_wilcoxon_ranks_zero_differences_pratt():
    """20 users tied, 25 better, 15 worse: Pratt's test ranks |d| with the ties included (then drops
    them), so W- = the rank sum of the worse users among all 60; the default would rank the 40 only."""
    from scipy import stats

    d = np.r_[np.zeros(20), np.arange(1, 26), -3 * np.arange(1, 16)] / 1024  # exact in binary: a - (a - d) = d
    a = np.full(60, 0.5)
    c = compare(result(a), result(a - d), "ndcg@10")
    pratt = stats.wilcoxon(d, zero_method="pratt")
    w_minus = stats.rankdata(np.abs(d))[d < 0].sum()
    assert pratt.statistic == w_minus
    assert c.p_wilcoxon == pytest.approx(pratt.pvalue)
    assert abs(c.p_wilcoxon - stats.wilcoxon(d, zero_method="wilcox").pvalue) > 0.05


def test_comparison_refuses_results_over_different_users_or_without_the_metric():
    a = result(np.full(40, 0.2))
    with pytest.raises(ConfigError, match="same users"):
        compare(a, result(np.full(40, 0.1), users=np.arange(1, 41)), "ndcg@10")
    with pytest.raises(ConfigError, match="same users"):
        compare(a, result(np.full(40, 0.1), part="valid"), "ndcg@10")
    with pytest.raises(ConfigError, match="recall@10"):
        compare(a, result(np.full(40, 0.1)), "recall@10")


def test_eval_result_interval_on_a_real_evaluation():
    """The interval of a model's evaluation brackets its reported mean."""
    from tests_support import tiny_dataset

    from recstrata.data.split import loo_split
    from recstrata.evaluation import evaluate
    from recstrata.retrieval.registry import make_model

    rng = np.random.default_rng(6)
    ds = tiny_dataset([list(rng.choice(30, 8, replace=False)) for _ in range(60)], 30)
    split = loo_split(ds)
    res = evaluate(make_model("pop").fit(split.train), split, "test", ks=[10], group_by=[])
    low, high = res.interval("ndcg@10")
    assert low <= res.metrics["ndcg@10"] <= high and low < high
    with pytest.raises(ConfigError, match="not per-user"):
        res.interval("coverage@10")
