"""``train_and_publish`` and ``recstrata train``: fit, score on held-out data, publish for serving."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from recstrata.errors import ConfigError
from recstrata.ranking.pipeline import Pipeline
from recstrata.retrieval.ease import EASE
from recstrata.retrieval.popularity import Popularity
from recstrata.serving.modelstore import ModelStore
from recstrata.training import train_and_publish


def test_a_single_model_is_fitted_on_everything_and_published_with_its_report(blocks, tmp_path):
    ds, expected = blocks
    store = ModelStore(tmp_path, "ease")
    report = train_and_publish(ds, store, model="ease", params={"reg": 1.0})
    assert report.version == "1" and store.current() == "1" and report.kind == "model"
    model, version = store.load()
    ids, _ = model.recommend(np.arange(ds.n_users), k=1)
    assert (ids[:, 0] == expected).all()  # fitted on every interaction: the one missing item comes first
    assert store.report()["spec"] == {"model": "ease", "params": {"reg": 1.0}}
    assert train_and_publish(ds, store, model="pop").version == "2" and store.current() == "2"


def test_a_pipeline_is_scored_on_held_out_events_then_refitted_on_all_and_published(blocks, tmp_path):
    ds, expected = blocks
    store = ModelStore(tmp_path, "blend")
    report = train_and_publish(ds, store, sources={"ease": {"reg": 1.0}, "pop": {}}, n_per_source=15,
                               ranker_params={"min_data_in_leaf": 1, "n_estimators": 20}, folds=2, blend="ranker")
    assert report.kind == "pipeline" and set(report.heldout) == {"pipeline", "ease", "pop"}
    assert report.spec["blend"] == "ranker" and set(report.blend_valid_ndcg) == {"ranker"}
    # every held-out event is in the user's own block: EASE finds it, popularity cannot tell blocks apart
    assert report.heldout["ease"]["recall@10"] >= 0.9
    assert report.heldout["pipeline"]["ndcg@10"] > report.heldout["pop"]["ndcg@10"]
    pipe, _ = store.load()
    assert isinstance(pipe, Pipeline) and pipe.ranker_ is not None
    ids, _ = pipe.recommend(np.arange(ds.n_users), k=2)
    # refitted on all events: the only unseen item of the user's block is among the top 2
    assert np.mean([expected[u] in ids[u] for u in range(ds.n_users)]) >= 0.9
    saved = json.loads((store.root / "1" / "report.json").read_text())
    assert saved["spec"]["sources"] == {"ease": {"reg": 1.0}, "pop": {}} and saved["version"] == "1"


def test_tune_searches_only_the_parameters_not_given_on_validation(blocks, tmp_path):
    from recstrata.retrieval.registry import SEARCH_SPACES

    ds = blocks[0]
    report = train_and_publish(ds, ModelStore(tmp_path, "knn"), model="itemknn", params={"shrink": 0.0}, tune=True)
    chosen = report.spec["params"]
    assert chosen["shrink"] == 0.0 and chosen["k"] in SEARCH_SPACES["itemknn"]["k"]
    assert set(report.heldout) == {"itemknn"} and report.heldout["itemknn"]["recall@10"] >= 0.9
    report = train_and_publish(ds, ModelStore(tmp_path, "blend"), sources={"ease": {"reg": 1.0}, "itemknn": {}},
                               n_per_source=15, ranker_params={"min_data_in_leaf": 1, "n_estimators": 20}, folds=2,
                               tune=True)
    ease = report.spec["sources"]["ease"]  # reg was given: only the rest of EASE's grid is searched
    assert ease["reg"] == 1.0 and set(ease) == {"reg", "rating_weight"}
    assert ease["rating_weight"] in SEARCH_SPACES["ease"]["rating_weight"]
    assert set(report.spec["sources"]["itemknn"]) == {"k", "shrink"}


def test_model_and_sources_are_mutually_exclusive(blocks, tmp_path):
    with pytest.raises(ConfigError, match="either model="):
        train_and_publish(blocks[0], ModelStore(tmp_path, "x"), model="ease", sources={"pop": {}})
    with pytest.raises(ConfigError, match="either model="):
        train_and_publish(blocks[0], ModelStore(tmp_path, "x"))


def _invoke(*args: str):
    from recstrata.cli import _register, app

    _register()
    return CliRunner().invoke(app, list(args))


def test_cli_trains_and_publishes_what_serve_then_loads(tmp_path):
    result = _invoke("train", "--dataset", "ml-latest-small", "--model", "pop", "--runs-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    # the printed command serves what was published: the runs dir given is passed on
    assert "published" in result.output and \
        f"RECSTRATA_SERVING__RUNS_DIR={tmp_path} recstrata serve --dataset ml-latest-small --model pop" in result.output
    assert ModelStore(tmp_path, "pop").current() == "1"


@pytest.mark.parametrize("args, message", [
    ((), "give --model NAME"),
    (("--model", "pop", "--sources", "ease"), "give --model NAME"),
    (("--model", "als", "--params", "{factors: 3"), "--params is not valid JSON"),
    (("--model", "als", "--params", "[1]"), "must be a JSON object"),
    (("--sources", "ease,pop", "--source-params", '{"als": {}}'), "not in --sources"),
    (("--model", "nope"), "unknown model 'nope'"),
    (("--sources", "ease,pop", "--blend", "lambdarank"), "blend must be one of auto, ranker, fusion, weighted"),
])
def test_cli_bad_input_is_a_clear_error_and_publishes_nothing(tmp_path, args, message):
    result = _invoke("train", "--dataset", "ml-latest-small", "--runs-dir", str(tmp_path), *args)
    assert result.exit_code == 2 and message in result.output, result.output
    assert not any(tmp_path.rglob("CURRENT"))


def test_serving_an_unpublished_name_that_is_no_model_says_how_to_publish_it(blocks, tmp_path):
    from recstrata.serving.settings import ServingSettings
    from recstrata.serving.state import build_state

    settings = ServingSettings(dataset="unused", model="blend", runs_dir=tmp_path, state_dir=tmp_path / "s",
                               llm_backend=None)
    with pytest.raises(ConfigError, match="recstrata train --name blend"):
        build_state(settings, dataset=blocks[0], backend=None)


def test_cli_folds_served_events_into_training_and_forgets_erased_users(tmp_path):
    from recstrata.data.registry import load_dataset
    from recstrata.serving.events import Event, EventStore

    ds = load_dataset("ml-latest-small")
    rare = str(ds.item_ids.external[int(np.argmin(np.asarray(ds.user_items.sum(0)).ravel()))])
    heavy = str(ds.user_ids.external[int(np.argmax(np.diff(ds.user_items.indptr)))])
    store = EventStore(tmp_path / "events.sqlite")
    for i in range(400):  # 400 new users click one rare film: it must become the most popular
        store.append(Event(f"k{i}", f"new-{i}", rare, "click", None, 1.0e9 + i))
    store.append(Event("gone", heavy, rare, "rating", 4.0, 1.0e9))
    store.erase(heavy)
    store.close()
    result = _invoke("train", "--dataset", "ml-latest-small", "--model", "pop", "--runs-dir", str(tmp_path / "runs"),
                     "--events", str(tmp_path / "events.sqlite"))
    assert result.exit_code == 0, result.output
    assert "events folded in: 400" in result.output and "erased users forgotten 1" in result.output
    model, _ = ModelStore(tmp_path / "runs", "pop").load()
    assert str(ds.item_ids.external[model.recommend(histories=[[]], k=1)[0][0, 0]]) == rare
    assert model.n_users_ == ds.n_users + 400
    heavy_row = int(ds.user_ids.to_index([heavy])[0])
    assert ds.user_items[heavy_row].nnz > 0 and model.seen_[heavy_row].nnz == 0  # forgotten, row kept


def test_cli_events_must_be_an_existing_event_store_and_is_never_written(tmp_path):
    import sqlite3

    not_db = tmp_path / "events.csv"
    not_db.write_text("user_id,item_id\n1,2\n")
    other = tmp_path / "explanations.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE cache (k TEXT)").connection.close()
    before = other.read_bytes()
    for path, message in ((tmp_path / "nope.sqlite", "does not exist"), (not_db, "is not a recstrata event store"),
                          (other, "is not a recstrata event store")):
        result = _invoke("train", "--dataset", "ml-latest-small", "--model", "pop", "--runs-dir", str(tmp_path),
                         "--events", str(path))
        assert result.exit_code == 2 and message in result.output, result.output
    assert other.read_bytes() == before and not_db.read_text().startswith("user_id")


def test_an_early_stopping_model_gets_its_epoch_count_from_validation_without_tune(blocks, tmp_path):
    ds, _ = blocks
    small = {"hidden": 32, "latent": 8, "batch_size": 8, "learning_rate": 0.01, "total_anneal_steps": 100,
             "anneal_cap": 0.2, "patience": 5}
    report = train_and_publish(ds, ModelStore(tmp_path, "vae"), model="multvae", params=small)
    spec = report.spec
    assert spec["early_stopped"] and 1 <= spec["params"]["epochs"] < 200  # not the configured maximum
    model, _ = ModelStore(tmp_path, "vae").load()
    assert model.epochs == spec["params"]["epochs"] and set(report.heldout) == {"multvae"}
    # given epochs are respected as they are
    fixed = train_and_publish(ds, ModelStore(tmp_path, "vae2"), model="multvae", params=small | {"epochs": 3})
    assert fixed.spec == {"model": "multvae", "params": small | {"epochs": 3}}
    # the same for a pipeline's sources
    blend = train_and_publish(ds, ModelStore(tmp_path, "blend"), sources={"multvae": small, "pop": {}},
                              n_per_source=15, ranker_params={"min_data_in_leaf": 1, "n_estimators": 20}, folds=2)
    assert 1 <= blend.spec["sources"]["multvae"]["epochs"] < 200 and blend.spec["sources"]["pop"] == {}


def test_auto_blend_keeps_whichever_of_fusion_and_ranker_scores_higher_on_validation(blocks, tmp_path, monkeypatch):
    """Both are tried on the same fitted sources; fusion's figure is its validation NDCG@10 (not
    test's), the choice follows the figures (fusion on a tie), the other's held-out figure is reported
    beside it, and the chosen pipeline is published refitted on every event."""
    from recstrata.data.split import ratio_split
    from recstrata.evaluation import evaluate
    from recstrata.ranking import Pipeline as P

    ds, expected = blocks
    kwargs = dict(sources={"ease": {"reg": 1.0}, "pop": {}}, n_per_source=15, folds=2,
                  ranker_params={"min_data_in_leaf": 1, "n_estimators": 20})
    report = train_and_publish(ds, ModelStore(tmp_path, "a"), **kwargs)
    valid = report.blend_valid_ndcg
    assert set(valid) == {"fusion", "weighted", "ranker"}
    assert report.spec["blend"] == max(valid, key=lambda b: (valid[b], -("fusion", "weighted", "ranker").index(b)))
    # from here on fusion against the ranker: weighted fusion (test_auto_blend_tries_weighted_fusion_too) out
    monkeypatch.setattr(P, "fit_fusion", _reporting(P.fit_fusion, -1.0, "fusion"))
    # the same fusion built by hand on the same split: its validation and held-out figures
    split = ratio_split(ds, seed=2020)
    by_hand = P({"ease": EASE(reg=1.0).fit(split.train), "pop": Popularity().fit(split.train)}, n_per_source=15)
    by_hand.fit(split.train, fit_sources=False)
    figure = {part: evaluate(by_hand, split, part, ks=[10], beyond_accuracy=False, group_by=[]).metrics["ndcg@10"]
              for part in ("valid", "test")}
    assert valid["fusion"] == round(figure["valid"], 4)
    paired = report.blend_comparison  # ranker minus fusion over the same validation users
    assert paired["n_users"] == len(evaluate(by_hand, split, "valid", ks=[10]).users)
    assert abs(paired["difference"] - (valid["ranker"] - valid["fusion"])) <= 2e-4
    assert paired["low"] <= paired["difference"] <= paired["high"]
    weighted = report.weighted_comparison  # weighted (out of fold) minus fusion, the same users
    assert weighted["n_users"] == paired["n_users"]
    assert abs(weighted["difference"] - (valid["weighted"] - valid["fusion"])) <= 2e-4
    original = P.fit_ranker
    # force each outcome through the ranker's out-of-fold figure; an exact tie goes to fusion
    for ranker_figure, expected_blend in ((1.0, "ranker"), (-1.0, "fusion"), (figure["valid"], "fusion")):
        monkeypatch.setattr(P, "fit_ranker", _reporting(original, ranker_figure))
        store = ModelStore(tmp_path, f"forced-{ranker_figure}")
        forced = train_and_publish(ds, store, **kwargs)
        assert forced.spec["blend"] == expected_blend
        if expected_blend == "ranker":  # the not-chosen row is fusion's own held-out figure
            assert forced.heldout["pipeline (fusion, not chosen)"]["ndcg@10"] == round(figure["test"], 4)
        pipe, _ = store.load()
        assert (pipe.ranker_ is not None) == (expected_blend == "ranker")
        # published refitted on every event: the ranked one finds each user's one unseen block item first;
        # the fusion one answers as the same fusion fitted on everything by hand
        ids, _ = pipe.recommend(np.arange(ds.n_users), k=5)
        if expected_blend == "ranker":
            assert np.mean(ids[:, 0] == expected) >= 0.9
        else:
            on_all = P({"ease": EASE(reg=1.0), "pop": Popularity()}, n_per_source=15).fit(ds)
            np.testing.assert_array_equal(ids, on_all.recommend(np.arange(ds.n_users), k=5)[0])


def test_auto_blend_fits_the_feature_statistics_once_and_publishes_what_separate_pipelines_would(
        blocks, tmp_path, monkeypatch):
    """Fusion and ranker share one fit of the candidate-feature statistics on the training part (the
    published pipeline then fits its own on every event), yet every figure of the report and every
    recommendation of the published pipeline, either blend chosen, is that of two pipelines built
    apart on the same split, each fitting its own statistics."""
    from recstrata.data.split import ratio_split
    from recstrata.evaluation import evaluate
    from recstrata.ranking import FeatureBuilder, LambdaRanker
    from recstrata.training import _heldout, _paired_with_fusion, _ranker_per_user

    ds, _ = blocks
    ranker_params = {"min_data_in_leaf": 1, "n_estimators": 20}
    split = ratio_split(ds, seed=2020)
    fitted_on = []
    fit = FeatureBuilder.fit

    def counting(self, dataset, **kwargs):
        fitted_on.append(dataset.name)
        return fit(self, dataset, **kwargs)

    def apart(ranker=None):  # on fresh sources fitted on the training part, its own statistics
        sources = {"ease": EASE(reg=1.0).fit(split.train), "pop": Popularity().fit(split.train)}
        pipe = Pipeline(sources, n_per_source=15, ranker=ranker).fit(split.train, fit_sources=False)
        return pipe.fit_ranker(split.valid, folds=2, seed=2020) if ranker else pipe

    monkeypatch.setattr(FeatureBuilder, "fit", counting)
    monkeypatch.setattr(Pipeline, "fit_fusion", _reporting(Pipeline.fit_fusion, -1.0, "fusion"))
    original = Pipeline.fit_ranker
    for ranker_figure, chosen, other in ((1.0, "ranker", "fusion"), (-1.0, "fusion", "ranker")):
        monkeypatch.setattr(Pipeline, "fit_ranker", _reporting(original, ranker_figure))
        fitted_on.clear()
        store = ModelStore(tmp_path, chosen)
        report = train_and_publish(ds, store, sources={"ease": {"reg": 1.0}, "pop": {}}, n_per_source=15,
                                   folds=2, ranker_params=ranker_params)
        assert report.spec["blend"] == chosen and fitted_on == [split.train.name, ds.name]
        pipes = {"fusion": apart(), "ranker": apart(LambdaRanker(**ranker_params)),
                 "weighted": apart().fit_fusion(split.valid, folds=2, seed=2020)}
        fusion_valid = evaluate(pipes["fusion"], split, "valid", ks=[10], beyond_accuracy=False, group_by=[])
        assert report.heldout == {"pipeline": _heldout(pipes[chosen], split),
                                  f"pipeline ({other}, not chosen)": _heldout(pipes[other], split),
                                  "pipeline (weighted, not chosen)": _heldout(pipes["weighted"], split),
                                  **{name: _heldout(src, split) for name, src in pipes["fusion"].sources.items()}}
        assert report.blend_valid_ndcg == {"fusion": round(float(fusion_valid.metrics["ndcg@10"]), 4),
                                           "weighted": -1.0, "ranker": ranker_figure}
        assert report.blend_comparison == _paired_with_fusion(fusion_valid, *_ranker_per_user(pipes["ranker"], split),
                                                              fusion_valid.users)
        published, _ = store.load()
        expected = pipes[chosen].refit_sources(ds)
        for got, want in zip(published.recommend(np.arange(ds.n_users), k=5),
                             expected.recommend(np.arange(ds.n_users), k=5), strict=True):
            np.testing.assert_array_equal(got, want)


def _reporting(original, value: float, what: str = "ranker"):
    """``Pipeline.fit_ranker`` (or ``fit_fusion``, ``what="fusion"``) that fits as usual, then reports
    ``value`` as its out-of-fold figure."""
    import dataclasses

    def fit(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        if what == "ranker":
            self.ranker_valid_ndcg_ = value
        else:
            self.fusion_report_ = dataclasses.replace(self.fusion_report_, cv_ndcg=value)
        return out
    return fit


def test_auto_blend_tries_weighted_fusion_too(blocks, tmp_path, monkeypatch):
    """Weighted fusion's weights and k are chosen on validation and its figure there is out of fold;
    auto keeps it when that figure is the highest, publishes those weights (refitted on every event),
    and an exact tie goes to the simpler blend: fusion before weighted before ranker."""
    from recstrata.data.split import ratio_split
    from recstrata.evaluation import evaluate
    from recstrata.ranking import Pipeline as P

    ds, _ = blocks
    kwargs = dict(sources={"ease": {"reg": 1.0}, "pop": {}}, n_per_source=15, folds=2,
                  ranker_params={"min_data_in_leaf": 1, "n_estimators": 20})
    report = train_and_publish(ds, ModelStore(tmp_path, "w"), blend="weighted", **kwargs)
    split = ratio_split(ds, seed=2020)
    by_hand = P({"ease": EASE(reg=1.0).fit(split.train), "pop": Popularity().fit(split.train)}, n_per_source=15)
    by_hand.fit(split.train, fit_sources=False).fit_fusion(split.valid, folds=2, seed=2020)
    assert report.spec["blend"] == "weighted" and report.ranker_valid_ndcg is None
    assert report.blend_valid_ndcg == {"weighted": round(by_hand.fusion_report_.cv_ndcg, 4)}
    assert report.spec["fusion"] == {"weights": by_hand.fusion_weights, "k": by_hand.fusion_k}
    assert report.spec["fusion"]["weights"]["ease"] > 0  # the blocks' answer is EASE's
    published, _ = ModelStore(tmp_path, "w").load()
    assert published.fusion_weights == by_hand.fusion_weights and published.ranker_ is None
    on_all = P({"ease": EASE(reg=1.0), "pop": Popularity()}, n_per_source=15,
               fusion_weights=by_hand.fusion_weights, fusion_k=by_hand.fusion_k).fit(ds)
    np.testing.assert_array_equal(published.recommend(np.arange(ds.n_users), k=5)[0],
                                  on_all.recommend(np.arange(ds.n_users), k=5)[0])
    equal = P({"ease": EASE(reg=1.0).fit(split.train), "pop": Popularity().fit(split.train)}, n_per_source=15)
    fusion_figure = evaluate(equal.fit(split.train, fit_sources=False), split, "valid", ks=[10],
                             beyond_accuracy=False, group_by=[]).metrics["ndcg@10"]  # exact: ties are exact
    for weighted, ranker, expected in ((1.0, 0.5, "weighted"), (fusion_figure, -1.0, "fusion"),
                                       (0.7, 0.7, "weighted"), (-1.0, 1.0, "ranker")):
        monkeypatch.setattr(P, "fit_fusion", _reporting(P.fit_fusion, weighted, "fusion"))
        monkeypatch.setattr(P, "fit_ranker", _reporting(P.fit_ranker, ranker))
        forced = train_and_publish(ds, ModelStore(tmp_path, f"a{weighted}{ranker}"), **kwargs)
        monkeypatch.undo()
        assert forced.spec["blend"] == expected, (weighted, ranker)
        assert (forced.spec["fusion"] is not None) == (expected == "weighted")


def test_fusion_blend_trains_no_ranker_and_bad_blends_are_named(blocks, tmp_path, monkeypatch):
    from recstrata.errors import DataError
    from recstrata.ranking import Pipeline as P

    ds = blocks[0]
    sources = {"ease": {"reg": 1.0}, "pop": {}}
    report = train_and_publish(ds, ModelStore(tmp_path, "f"), sources=sources, n_per_source=15, blend="fusion")
    assert report.spec["blend"] == "fusion" and report.ranker_valid_ndcg is None
    assert report.heldout["pipeline"]["recall@10"] >= 0.9  # EASE's block answer survives the fusion with pop
    with pytest.raises(ConfigError, match="blend='lambdarank'"):
        train_and_publish(ds, ModelStore(tmp_path, "x"), sources={"pop": {}}, blend="lambdarank")
    with pytest.raises(ConfigError, match="needs sources="):
        train_and_publish(ds, ModelStore(tmp_path, "x"), model="ease", blend="fusion")

    def cannot(self, *args, **kwargs):
        raise DataError("fewer than 2 users have a labelled item among their candidates")

    monkeypatch.setattr(P, "fit_ranker", cannot)  # auto falls back to fusion; ranker says why it cannot
    auto = train_and_publish(ds, ModelStore(tmp_path, "g"), sources=sources, n_per_source=15)
    assert auto.spec["blend"] != "ranker" and "fewer than 2 users" in auto.spec["ranker_skipped"]
    monkeypatch.setattr(P, "fit_fusion", cannot)  # the same for weighted fusion
    alone = train_and_publish(ds, ModelStore(tmp_path, "g2"), sources=sources, n_per_source=15)
    assert alone.spec["blend"] == "fusion" and "fewer than 2 users" in alone.spec["weighted_skipped"]
    with pytest.raises(DataError, match="fewer than 2 users"):
        train_and_publish(ds, ModelStore(tmp_path, "h2"), sources=sources, n_per_source=15, blend="weighted")
    with pytest.raises(DataError, match="fewer than 2 users"):
        train_and_publish(ds, ModelStore(tmp_path, "h"), sources=sources, n_per_source=15, blend="ranker")


def test_a_fusion_grid_too_large_for_the_sources_is_refused_before_any_fit(blocks, tmp_path, monkeypatch):
    """blend="weighted" fails at once, naming the grid; auto leaves weighted fusion out and says why."""
    import recstrata.ranking.fusion as fusion
    from recstrata.ranking import Pipeline as P

    ds = blocks[0]
    monkeypatch.setattr(fusion, "MAX_SETTINGS", 5)  # 2 sources: 3 weights ^ 2 x 3 k, 18 settings less duplicates
    fitted = []
    monkeypatch.setattr(EASE, "_fit", lambda self, dataset: fitted.append(dataset.name))
    sources = {"ease": {"reg": 1.0}, "pop": {}}
    with pytest.raises(ConfigError, match="the fusion grid has"):
        train_and_publish(ds, ModelStore(tmp_path, "w"), sources=sources, n_per_source=15, blend="weighted")
    assert fitted == []
    monkeypatch.undo()
    monkeypatch.setattr(fusion, "MAX_SETTINGS", 5)
    monkeypatch.setattr(P, "fit_ranker", _reporting(P.fit_ranker, -1.0))
    auto = train_and_publish(ds, ModelStore(tmp_path, "a"), sources=sources, n_per_source=15, folds=2,
                             ranker_params={"min_data_in_leaf": 1, "n_estimators": 20})
    assert set(auto.blend_valid_ndcg) == {"fusion", "ranker"} and auto.spec["blend"] == "fusion"
    assert "the fusion grid has" in auto.spec["weighted_skipped"]


def test_auto_blend_compares_the_blends_on_weighted_fusions_sample_of_users(blocks, tmp_path, monkeypatch):
    """Above ``max_users`` labelled users weighted fusion is tuned (and scored out of fold) on a sample:
    the other blends' validation figures are then taken over the same users, not over all of them."""
    from recstrata.data.split import ratio_split
    from recstrata.evaluation import evaluate
    from recstrata.ranking import LambdaRanker
    from recstrata.training import _ranker_per_user, _values_at

    ds, _ = blocks
    ranker_params = {"min_data_in_leaf": 1, "n_estimators": 20}
    original = Pipeline.fit_fusion
    sample_size = 30
    monkeypatch.setattr(Pipeline, "fit_fusion", lambda self, *a, **kw: original(self, *a, **kw | {"max_users": sample_size}))
    train = dict(sources={"ease": {"reg": 1.0}, "pop": {}}, n_per_source=15, folds=2, ranker_params=ranker_params)
    report = train_and_publish(ds, ModelStore(tmp_path, "s"), **train)
    split = ratio_split(ds, seed=2020)

    def apart(ranker=None):
        sources = {"ease": EASE(reg=1.0).fit(split.train), "pop": Popularity().fit(split.train)}
        return Pipeline(sources, n_per_source=15, ranker=ranker).fit(split.train, fit_sources=False)

    weighted = apart().fit_fusion(split.valid, folds=2, seed=2020)  # patched: 30 users
    sample = weighted.fusion_users_
    assert len(sample) == 30 and report.spec["blend_valid_users"] == 30 == report.weighted_comparison["n_users"]
    assert report.blend_comparison["n_users"] == 30  # ranker minus fusion over the same users
    fusion_valid = evaluate(apart(), split, "valid", ks=[10], beyond_accuracy=False, group_by=[])
    assert len(fusion_valid.users) > 30  # the others scored every labelled user
    ranked = apart(LambdaRanker(**ranker_params)).fit_ranker(split.valid, folds=2, seed=2020)
    expected = {"fusion": _values_at(fusion_valid.users, fusion_valid.per_user["ndcg@10"], sample).mean(),
                "weighted": weighted.fusion_report_.cv_ndcg,
                "ranker": _values_at(*_ranker_per_user(ranked, split), sample).mean()}
    assert report.blend_valid_ndcg == {b: round(float(v), 4) for b, v in expected.items()}
    assert report.ranker_valid_ndcg == round(ranked.ranker_valid_ndcg_, 4)  # the ranker's own, over all users
    assert abs(report.blend_comparison["difference"] - (expected["ranker"] - expected["fusion"])) <= 1e-4
    assert expected["fusion"] != fusion_valid.metrics["ndcg@10"]  # (the old figure, over all users)
    # fewer users than a paired interval needs: the blends are still compared, the intervals left out
    sample_size = 12
    small = train_and_publish(ds, ModelStore(tmp_path, "small"), **train)
    assert small.spec["blend_valid_users"] == 12 and len(small.blend_valid_ndcg) == 3
    assert small.weighted_comparison is None and small.blend_comparison is None


def test_a_sibling_blend_refits_without_touching_the_other(blocks):
    """Blends are shallow copies of one fitted pipeline: a refit of the chosen one gives it new feature
    statistics and source mapping of its own, and leaves the other's as they were."""
    from recstrata.data.split import ratio_split
    from recstrata.training import _sibling

    ds, _ = blocks
    split = ratio_split(ds, seed=2020)
    fused = Pipeline({"ease": EASE(reg=1.0).fit(split.train), "pop": Popularity().fit(split.train)},
                     n_per_source=15).fit(split.train, fit_sources=False)
    features, n_users = fused.features_, fused.features_.n_users_
    twin = _sibling(fused)
    twin.sources["extra"] = Popularity().fit(split.train)
    twin.fit_fusion(split.valid, folds=2)
    twin.refit_sources(ds)
    assert fused.features_ is features and fused.features_.n_users_ == n_users
    assert twin.features_ is not features and list(fused.sources) == ["ease", "pop"]
    assert fused.fusion_weights is None and twin.fusion_weights is not None
