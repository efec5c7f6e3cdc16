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
    assert interval([0.5, 0.5, 0.5]) == (0.5, 0.5)


@pytest.mark.parametrize("values, match", [([0.3], "at least 2"), ([np.nan, 0.2], "at least 2"),
                                           ([0.1, np.inf], "finite")])
def test_interval_refuses_what_it_cannot_estimate(values, match):
    with pytest.raises(ConfigError, match=match):
        interval(values)


@pytest.mark.parametrize("kw, match", [(dict(level=95), "level"), (dict(resamples=10), "resamples")])
def test_interval_refuses_bad_settings(kw, match):
    with pytest.raises(ConfigError, match=match):
        interval([0.1, 0.2, 0.3], **kw)


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
    a, b = np.array([0.5, np.nan, 0.2, 0.4]), np.array([0.1, 0.3, np.nan, 0.2])
    c = compare(result(a), result(b), "ndcg@10")
    assert c.n_users == 2 and c.difference == pytest.approx(((0.5 - 0.1) + (0.4 - 0.2)) / 2)


def test_comparison_refuses_results_over_different_users_or_without_the_metric():
    a = result(np.full(5, 0.2))
    with pytest.raises(ConfigError, match="same users"):
        compare(a, result(np.full(5, 0.1), users=np.arange(1, 6)), "ndcg@10")
    with pytest.raises(ConfigError, match="same users"):
        compare(a, result(np.full(5, 0.1), part="valid"), "ndcg@10")
    with pytest.raises(ConfigError, match="recall@10"):
        compare(a, result(np.full(5, 0.1)), "recall@10")


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
