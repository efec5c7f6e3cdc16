"""A published blended Pipeline served by the API: provenance per item, filters inside retrieval."""

from __future__ import annotations

import numpy as np
import pytest

from recstrata.ranking.pipeline import Pipeline
from recstrata.retrieval.ease import EASE
from recstrata.retrieval.itemknn import ItemKNN
from recstrata.retrieval.popularity import Popularity
from recstrata.serving.engine import Engine, Filters, LiveModel
from recstrata.serving.modelstore import ModelStore


@pytest.fixture(scope="module")
def pipe(blocks):
    return Pipeline({"ease": EASE(reg=1.0), "itemknn": ItemKNN(k=20), "pop": Popularity()}, n_per_source=15,
                    ranker=None).fit(blocks[0])


def test_engine_reports_which_sources_proposed_each_item(blocks, pipe):
    engine = Engine(blocks[0], LiveModel(pipe, "1", "blend"))
    res = engine.recommend(user_id="3", k=8)
    out = pipe.recommend_explained(users=[3], k=8)
    assert res.indices == out.ids[0].tolist()
    np.testing.assert_allclose(res.scores, out.scores[0], rtol=1e-6)
    assert res.sources == [out.sources_of(0, j) for j in range(8)]
    assert all(src and set(src) <= {"ease", "itemknn", "pop"} for src in res.sources)
    assert any(len(src) > 1 for src in res.sources)  # merged: an item several sources proposed is listed once


def test_filters_reach_every_source_of_the_pipeline(blocks, pipe):
    engine = Engine(blocks[0], LiveModel(pipe, "1", "blend"))
    allowed = set(engine._allow("GENRE1", None, None).tolist())
    res = engine.recommend(user_id="3", k=5, filters=Filters(genre="GENRE1"))
    assert len(res.indices) == 5 and set(res.indices) <= allowed


def test_a_published_pipeline_is_served_with_provenance_and_similar_items(blocks, pipe, tmp_path, make_client):
    ModelStore(tmp_path / "runs", "blend").publish(pipe)
    client = make_client(model="blend")
    body = client.get("/v1/users/3/recommendations", params={"k": 5}).json()
    assert body["model_version"] == "blend/1"
    assert [it["id"] for it in body["items"]] == \
        [str(blocks[0].item_ids.external[i]) for i in pipe.recommend(users=[3], k=5)[0][0]]
    assert all(set(it["sources"]) <= {"ease", "itemknn", "pop"} and it["sources"] for it in body["items"])
    similar = client.get(f"/v1/items/{body['items'][0]['id']}/similar", params={"k": 3})
    assert similar.status_code == 200 and len(similar.json()["items"]) == 3
    # answered by the pipeline's first source that finds similar items, and named as such
    ids, _, source = pipe.similar_items_explained([blocks[0].item_ids.to_index(body["items"][0]["id"])[0]], k=3)
    assert source == "ease" and all(it["sources"] == ["ease"] for it in similar.json()["items"])
    assert [it["id"] for it in similar.json()["items"]] == [str(blocks[0].item_ids.external[i]) for i in ids[0]]
