"""Shadow candidates: a published version (or a model fitted by name), served like the live model."""

from __future__ import annotations

import pytest

from recstrata.errors import ArtifactError
from recstrata.retrieval.ease import EASE
from recstrata.retrieval.itemknn import ItemKNN
from recstrata.serving.modelstore import ModelStore
from recstrata.serving.settings import ServingSettings
from recstrata.serving.shadow import Shadow
from recstrata.serving.state import shadow_candidate


def _settings(tmp_path, **kw) -> ServingSettings:
    return ServingSettings(dataset="unused", runs_dir=tmp_path, state_dir=tmp_path / "s", llm_backend=None, **kw)


def test_a_published_name_is_loaded_at_its_current_or_a_given_version(blocks, tmp_path):
    store = ModelStore(tmp_path, "cand")
    store.publish(ItemKNN(k=5).fit(blocks[0]))
    store.publish(EASE(reg=1.0).fit(blocks[0]))
    model, label = shadow_candidate(_settings(tmp_path, shadow_model="cand"), blocks[0])
    assert label == "cand/2" and isinstance(model, EASE)
    model, label = shadow_candidate(_settings(tmp_path, shadow_model="cand/1"), blocks[0])
    assert label == "cand/1" and isinstance(model, ItemKNN)
    with pytest.raises(ArtifactError, match="no version '7' .*published: 1, 2"):
        shadow_candidate(_settings(tmp_path, shadow_model="cand/7"), blocks[0])


def test_an_unpublished_model_name_is_fitted_and_served_through_the_live_index(blocks, tmp_path):
    pytest.importorskip("faiss")
    pytest.importorskip("implicit")
    from recstrata.retrieval.vector import VectorRetriever

    model, label = shadow_candidate(_settings(tmp_path, shadow_model="als", index="exact"), blocks[0])
    assert label == "als" and isinstance(model, VectorRetriever) and model.base_.is_fitted


def test_the_summary_covers_a_bounded_window_and_counts_every_comparison(blocks):
    shadow = Shadow(EASE(reg=1.0).fit(blocks[0]), "ease", fraction=1.0, window=4)
    try:
        for u in range(10):
            shadow.offer([0, 1, 2], [3, 4, 5], 1.0, 3)
        shadow.drain()
        summary = shadow.summary()
    finally:
        shadow.close()
    assert summary["compared"] == 10 and summary["window"] == 4 and len(shadow.overlaps) == 4


def test_a_published_pipeline_shadow_is_not_wrapped_in_an_index(blocks, tmp_path):
    from recstrata.ranking.pipeline import Pipeline
    from recstrata.retrieval.popularity import Popularity

    pipe = Pipeline({"ease": EASE(reg=1.0), "pop": Popularity()}, n_per_source=10, ranker=None).fit(blocks[0])
    ModelStore(tmp_path, "blend").publish(pipe)
    model, label = shadow_candidate(_settings(tmp_path, shadow_model="blend", index="exact"), blocks[0])
    assert label == "blend/1" and isinstance(model, Pipeline)
    assert model.recommend(histories=[[0, 1]], k=3)[0].shape == (1, 3)


def test_a_shadow_without_vectors_is_served_as_it_is_when_the_live_model_uses_an_index(blocks, tmp_path):
    model, label = shadow_candidate(_settings(tmp_path, shadow_model="ease", index="exact"), blocks[0])
    assert label == "ease" and isinstance(model, EASE)
