"""``run_experiment`` and ``recstrata evaluate``: test figures come with their interval and a paired
comparison with the model validation ranks first."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recstrata.data.split import ratio_split
from recstrata.errors import ConfigError
from recstrata.experiment import run_experiment


@pytest.fixture(scope="module")
def reports(blocks):
    split = ratio_split(blocks[0], seed=0)
    return split, run_experiment(split, ["pop", "itemknn"], ks=[10], tuned=False, group_by=[])


def test_each_test_figure_has_its_interval_and_a_paired_comparison_with_the_best(reports):
    from recstrata.evaluation.stats import compare

    _, (pop, knn) = reports
    best, other = (pop, knn) if pop.valid["ndcg@10"] > knn.valid["ndcg@10"] else (knn, pop)
    assert best.model == "itemknn"  # the blocks are pure co-occurrence: popularity cannot find them
    for r in reports[1]:
        low, high = r.test_interval
        assert low <= r.test["ndcg@10"] <= high
    assert best.vs_best is None
    expected = compare(other.test_result, best.test_result, "ndcg@10")
    assert other.vs_best == {"model": "itemknn", **expected.to_dict()}
    assert other.vs_best["difference"] == pytest.approx(other.test["ndcg@10"] - best.test["ndcg@10"])
    assert other.vs_best["high"] < 0  # popularity is significantly worse on the blocks
    json.dumps([r.to_dict() for r in reports[1]])  # the report stays JSON


def test_cli_evaluate_prints_and_saves_the_intervals(tmp_path):
    from typer.testing import CliRunner

    from recstrata.cli import _register, app

    _register()
    out = tmp_path / "r.json"
    result = CliRunner().invoke(app, ["evaluate", "--dataset", "ml-latest-small", "--models", "pop,itemknn",
                                      "--no-tune", "--k", "10", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "95% CI" in result.output and "(reference)" in result.output
    assert "best on validation" in result.output
    saved = {m["model"]: m for m in json.loads(out.read_text())["models"]}
    for m in saved.values():
        low, high = m["test_interval"]
        assert low <= m["test"]["ndcg@10"] <= high
    assert sum(m["vs_best"] is None for m in saved.values()) == 1
    worse = next(m for m in saved.values() if m["vs_best"] is not None)
    assert np.isclose(worse["vs_best"]["mean_a"], worse["test"]["ndcg@10"])


def test_the_selection_metric_is_scored_even_when_its_cutoff_is_not_listed(blocks):
    split = ratio_split(blocks[0], seed=0)
    [report] = run_experiment(split, ["pop"], ks=[20], metric="ndcg@10", tuned=False, group_by=[])
    assert {"ndcg@10", "ndcg@20"} <= set(report.test) and report.test_interval is not None


@pytest.mark.parametrize("models, ks, metric, message", [
    ([], [10], "ndcg@10", "no model to evaluate"),
    (["pop", "eas"], [10], "ndcg@10", r"unknown model 'eas' \(did you mean 'ease'\?\)"),
    (["pop"], [0], "ndcg@10", r"ks must be positive integers, got \[0\]"),  # not (0, 10): 10 is the metric's
    (["pop"], [10], "coverage@10", "selection metric 'coverage@10' is not an accuracy metric"),
    (["pop"], [10], "ndcg@0", "recall, precision, ndcg, mrr, hit, map at a cut-off >= 1"),
])
def test_run_experiment_refuses_bad_arguments_before_fitting_anything(blocks, monkeypatch, models, ks, metric,
                                                                       message):
    import recstrata.experiment

    split = ratio_split(blocks[0], seed=0)
    monkeypatch.setattr(recstrata.experiment, "make_model", lambda *a, **k: pytest.fail("a model was made"))
    with pytest.raises(ConfigError, match=message):
        run_experiment(split, models, ks=ks, metric=metric, tuned=False, group_by=[])
