"""The engine served through an ANN index (``ServingSettings.index``) and its vectorised catalog paths."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

pytest.importorskip("faiss")
pytest.importorskip("implicit")

from recstrata.retrieval.als import ALS  # noqa: E402
from recstrata.retrieval.popularity import Popularity  # noqa: E402
from recstrata.retrieval.vector import VectorRetriever  # noqa: E402
from recstrata.serving.engine import Engine, Filters, LiveModel  # noqa: E402

ALS_SMALL = {"factors": 8, "iterations": 20, "regularization": 0.01}


@pytest.fixture(scope="module")
def als(blocks):
    return ALS(**ALS_SMALL).fit(blocks[0])


def test_index_setting_wraps_every_live_model(blocks, als):
    engine = Engine(blocks[0], LiveModel(als, "1", "als"), index="exact")
    assert isinstance(engine.live.model, VectorRetriever) and engine.live.model.base_ is als
    engine.swap(LiveModel(ALS(**ALS_SMALL).fit(blocks[0]), "2", "als"))  # an admin reload
    assert isinstance(engine.live.model, VectorRetriever) and engine.live.version == "2"
    assert not isinstance(Engine(blocks[0], LiveModel(als, "1", "als")).live.model, VectorRetriever)


def test_only_cheap_requests_run_on_the_event_loop(blocks, als, monkeypatch):
    assert Engine(blocks[0], LiveModel(als, "1", "als")).runs_inline
    assert not Engine(blocks[0], LiveModel(als, "1", "als"), index="exact").runs_inline  # a flat scan
    assert Engine(blocks[0], LiveModel(als, "1", "als"), index="hnsw").runs_inline  # sub-millisecond search
    monkeypatch.setattr(Engine, "INLINE_MAX_ITEMS", blocks[0].n_items - 1)  # a catalog too big to score inline
    assert not Engine(blocks[0], LiveModel(als, "1", "als")).runs_inline


@pytest.mark.parametrize("filters", [Filters(), Filters(genre="GENRE1"), Filters(year_min=1992, year_max=1993),
                                     Filters(exclude=("3", "5"))])
def test_indexed_engine_answers_like_the_dense_one(blocks, als, filters):
    dense = Engine(blocks[0], LiveModel(als, "1", "als"))
    indexed = Engine(blocks[0], LiveModel(als, "1", "als"), index="exact")
    for user in ("0", "3", "17", "39"):
        a = dense.recommend(user_id=user, k=5, filters=filters)
        b = indexed.recommend(user_id=user, k=5, filters=filters)
        assert a.item_ids == b.item_ids and a.item_ids  # user 17 has only 1 unseen genre1 item
        np.testing.assert_allclose(a.scores, b.scores, rtol=1e-4, atol=1e-5)
    a = dense.recommend(history=["10", "11", "12"], k=4, filters=filters)
    b = indexed.recommend(history=["10", "11", "12"], k=4, filters=filters)
    assert a.item_ids == b.item_ids


def test_cold_start_popularity_matches_the_dense_popularity_model(blocks, als):
    ds = blocks[0]
    # skew the counts so the order is not just the index order
    counts = np.arange(ds.n_items, dtype=np.float32) % 7
    engine = Engine(ds, LiveModel(als, "1", "als"))
    engine.popularity.counts_ = counts
    engine._pop_order = np.argsort(-counts, kind="stable")
    engine._pop_rank[engine._pop_order] = np.arange(ds.n_items)
    pop = Popularity().fit(ds)
    pop.counts_ = counts
    for filters in (Filters(), Filters(genre="genre2"), Filters(exclude=("6", "13"))):
        got = engine.recommend(user_id="nobody", k=6, filters=filters)
        assert got.cold_start
        allow = engine._allow(filters.genre, filters.year_min, filters.year_max)
        hidden = [engine.item_index(i) for i in filters.exclude]
        excl = sp.csr_matrix((np.ones(len(hidden)), ([0] * len(hidden), hidden)), shape=(1, ds.n_items)) \
            if hidden else None
        ids, scores = pop.recommend(histories=[[]], k=6, exclude=excl, candidates=allow)
        assert got.indices == ids[0].tolist() and got.scores == scores[0].tolist()


def test_item_info_and_filters_from_column_arrays(blocks, als):
    ds = blocks[0]
    engine = Engine(ds, LiveModel(als, "1", "als"))
    assert engine.item_info(17) == {"id": "17", "title": "Movie 17", "genres": ["genre1"], "year": 1991}
    np.testing.assert_array_equal(engine._allow("Genre3", None, None), np.arange(30, 40))
    np.testing.assert_array_equal(engine._allow("genre0", 1990, 1991), np.arange(0, 10))
    assert engine._allow("no-such-genre", None, None).size == 0
    assert engine._allow(None, None, None) is None


def test_api_with_an_index(blocks, tmp_path):
    from fastapi.testclient import TestClient

    from recstrata.serving.app import create_app
    from recstrata.serving.settings import ServingSettings
    from recstrata.serving.state import build_state

    settings = ServingSettings(dataset="unused", model="als", model_params=ALS_SMALL, index="exact",
                               runs_dir=tmp_path / "runs", state_dir=tmp_path / "state", llm_backend=None)
    with TestClient(create_app(settings, state=build_state(settings, dataset=blocks[0], backend=None))) as client:
        body = client.get("/v1/users/3/recommendations", params={"k": 1}).json()
        assert body["items"][0]["id"] == "3" and body["model_version"] == "als/1"
        body = client.get("/v1/users/3/recommendations", params={"k": 5, "genre": "genre1"}).json()
        assert len(body["items"]) == 5 and all(i["genres"] == ["genre1"] for i in body["items"])
        assert isinstance(client.app.state.recstrata.engine.live.model, VectorRetriever)


def test_a_repeated_filter_reuses_the_index_bitmap(blocks, als):
    engine = Engine(blocks[0], LiveModel(als, "1", "als"), index="exact")
    first = engine.recommend(user_id="3", k=5, filters=Filters(genre="GENRE1"))
    for _ in range(2):
        assert engine.recommend(user_id="3", k=5, filters=Filters(genre="GENRE1")).indices == first.indices
    assert len(engine.live.model.index_._allow_cache_) == 1
