"""The online path without HTTP: what a request gets when the model has nothing to go on."""

from __future__ import annotations

import pandas as pd
import pytest

from recstrata.retrieval.registry import make_model
from recstrata.serving.engine import Engine, Filters, LiveModel


def with_unseen_items(ds, n: int):
    """``ds`` with ``n`` more catalog items that nobody interacted with (ids "new-0", ...)."""
    from recstrata.data.loaders._build import build_dataset

    inter = ds.interactions
    extra = pd.DataFrame({"item_id": [f"new-{i}" for i in range(n)], "title": "New", "genres": [("genre0",)] * n,
                          "year": 2000})
    return build_dataset("blocks+new", users=ds.user_ids.to_external(inter.user),
                         items=ds.item_ids.to_external(inter.item), ratings=inter.weight, timestamps=inter.timestamp,
                         item_table=pd.concat([ds.items, extra], ignore_index=True))


def test_a_session_of_items_nobody_interacted_with_gets_the_flagged_popularity_answer(blocks):
    ds = with_unseen_items(blocks[0], 3)
    engine = Engine(ds, LiveModel(make_model("ease", reg=1.0).fit(ds), "1", "ease"))
    popular = engine.recommend(history=[], k=4)
    assert popular.cold_start and popular.model_version == "pop"
    got = engine.recommend(history=["new-0", "new-1"], k=4, filters=Filters(exclude=(popular.item_ids[0],)))
    assert got.cold_start and got.model_version == "pop" and got.sources == [["pop"]] * 4
    assert got.item_ids == popular.item_ids[1:] + [engine.recommend(history=[], k=5).item_ids[4]]
    assert all(s > 0 for s in got.scores)
    warm = engine.recommend(history=["new-0", "12"], k=4)  # one item with signal: the model answers
    assert not warm.cold_start and warm.model_version == "ease/1"
    # a model that scores such a session (as a two-tower model places unseen items by their text;
    # popularity stands in for it here) keeps answering it
    engine.swap(LiveModel(make_model("pop").fit(ds), "2", "pop"))
    placed = engine.recommend(history=["new-0", "new-1"], k=4)
    assert not placed.cold_start and placed.model_version == "pop/2"


@pytest.mark.parametrize("name, params", [("ease", {"reg": 1.0}), ("itemknn", {}), ("rp3beta", {})])
def test_a_filter_leaving_only_zero_scored_items_keeps_a_warm_request_warm(blocks, name, params):
    # user 3 and the session [1, 2] live in block 0 (genre0): every genre1/genre2 item scores 0 for them
    engine = Engine(blocks[0], LiveModel(make_model(name, **params).fit(blocks[0]), "1", name))
    for got in (engine.recommend(user_id="3", k=3, filters=Filters(genre="genre1")),
                engine.recommend(history=["1", "2"], k=3, filters=Filters(genre="genre2"))):
        assert not got.cold_start and got.model_version == f"{name}/1" and got.sources == [[name]] * 3
        assert got.scores == [0.0] * 3


def test_the_genre_index_is_built_with_the_engine_not_by_a_request(blocks):
    engine = Engine(blocks[0], LiveModel(make_model("ease", reg=1.0).fit(blocks[0]), "1", "ease"))
    engine._genres = None  # a request that walked the catalog's genres now (on the event loop) would fail
    assert engine.genres() == {"genre0": 10, "genre1": 10, "genre2": 10, "genre3": 10}
    assert engine.recommend(history=["1", "2"], k=3, filters=Filters(genre="GENRE2")).item_ids == ["20", "21", "22"]


def test_start_up_warms_the_explanations_llm_up_once_in_the_background(blocks, tmp_path):
    from tests_support import good_sentence

    from recstrata.llm.mock import MockBackend
    from recstrata.serving.settings import ServingSettings
    from recstrata.serving.state import build_state

    for warm, calls in ((True, 1), (False, 0)):
        backend = MockBackend(default=good_sentence("Movie 0"))
        settings = ServingSettings(dataset="unused", model="pop", runs_dir=tmp_path / f"runs{warm}",
                                   state_dir=tmp_path / f"state{warm}", llm_backend=None, warm_llm=warm)
        state = build_state(settings, dataset=blocks[0], backend=backend)
        try:
            if warm:  # in the background: start-up does not wait for it
                state.explainer._warming.join(10)
                assert state.explainer.llm_state == "ready"
            assert len(backend.calls) == calls
            if calls:  # shaped like a request's call: the explanation schema
                assert backend.calls[0].schema is not None
        finally:
            state.close()


def test_an_unknown_index_kind_fails_before_anything_is_loaded_or_fitted(tmp_path):
    from recstrata.errors import ConfigError
    from recstrata.serving.settings import ServingSettings
    from recstrata.serving.state import build_state

    settings = ServingSettings(dataset="no-such-dataset", model="als", runs_dir=tmp_path / "runs",
                               state_dir=tmp_path / "state", llm_backend=None, index="bogus")
    with pytest.raises(ConfigError, match="unknown index kind 'bogus'"):
        build_state(settings)
    assert not (tmp_path / "runs").exists()


def test_start_up_survives_a_local_llm_that_cannot_run(blocks, tmp_path, monkeypatch):
    """llama-cpp-python missing (a base install): the warm-up and explanations degrade to templates
    instead of failing start-up or answering 500."""
    import sys

    from recstrata.errors import LLMUnavailableError
    from recstrata.llm.llamacpp import LlamaCppBackend
    from recstrata.serving.settings import ServingSettings
    from recstrata.serving.state import build_state

    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # "import llama_cpp" raises ImportError
    backend = LlamaCppBackend(tmp_path / "model.gguf")
    with pytest.raises(LLMUnavailableError, match="llama-cpp-python"):
        backend.generate("hi", max_tokens=1)
    settings = ServingSettings(dataset="unused", model="pop", runs_dir=tmp_path / "runs", state_dir=tmp_path / "state",
                               llm_backend=None, warm_llm=True)
    state = build_state(settings, dataset=blocks[0], backend=backend)
    try:
        state.explainer._warming.join(10)
        out, _ = state.explainer.explain(state.engine.live.model, "3", [0, 1], [2], deadline_s=2.0)
        assert out[0].source == "template"
    finally:
        state.close()
