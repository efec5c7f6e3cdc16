"""Hot reload refuses what it cannot serve (409) and keeps serving the old model."""

from __future__ import annotations

import pytest

ADMIN = {"X-API-Key": "admin"}


def assert_refused(client, *says):
    r = client.post("/v1/admin/reload", headers=ADMIN)
    assert r.status_code == 409, r.text
    assert r.json()["detail"].startswith("reload refused, still serving the old model") and all(
        s in r.json()["detail"] for s in says)
    body = client.get("/v1/users/3/recommendations", params={"k": 1}).json()
    assert body["model_version"] == "ease/1" and body["items"][0]["id"] == "3"


@pytest.mark.parametrize("pointer, says", [("{not json", "is not valid JSON"), ("", "is empty"),
                                           ("{}", "names no version"), ('{"version": 2}', "version 2"),
                                           ('{"version": "../../x/ease/1"}', "positive integer")])
def test_a_corrupt_pointer_is_refused(client, pointer, says):
    state = client.app.state.recstrata
    state.store.pointer.write_text(pointer)
    assert_refused(client, "CURRENT", says)


def fitted_on(ds):
    from recstrata.retrieval.registry import make_model

    return make_model("ease", reg=1.0).fit(ds)


def head(ds, *, users: int | None = None, items: int | None = None):
    """The dataset's first ``users`` users and ``items`` items (default: all), and their interactions."""
    from recstrata.data.loaders._build import build_dataset

    inter = ds.interactions
    rows = (inter.user < (users or ds.n_users)) & (inter.item < (items or ds.n_items))
    return build_dataset("head", users=ds.user_ids.to_external(inter.user[rows]),
                         items=ds.item_ids.to_external(inter.item[rows]), ratings=inter.weight[rows],
                         timestamps=inter.timestamp[rows], item_table=ds.items.iloc[:items])


def test_a_model_for_another_catalog_is_refused(client):
    state = client.app.state.recstrata
    state.store.publish(fitted_on(head(state.dataset, items=20)))  # the served catalog has 40 items
    assert_refused(client, "model ease/2 was built for 20 items", "'blocks' has 40")
    state.store.publish(fitted_on(head(state.dataset, users=20)))  # all 40 items, 20 of the 40 users
    assert_refused(client, "model ease/3 knows 20 users, fewer than the 40")
    r = client.post("/v1/explanations", json={"user_id": "3", "item_ids": ["5"]})
    assert r.status_code == 200


def test_a_model_retrained_with_new_users_is_served(client):
    from recstrata.data.events import with_events

    state = client.app.state.recstrata
    extended, _ = with_events(state.dataset, ["newbie"], ["3"], [1.0], [0.0])  # 41 users, the same items
    state.store.publish(fitted_on(extended))
    assert client.post("/v1/admin/reload", headers=ADMIN).json() == {"model_version": "ease/2"}


def test_start_up_refuses_a_model_for_another_catalog(blocks, tmp_path):
    from recstrata.errors import ArtifactError
    from recstrata.serving.modelstore import ModelStore
    from recstrata.serving.settings import ServingSettings
    from recstrata.serving.state import build_state

    ModelStore(tmp_path / "runs", "ease").publish(fitted_on(head(blocks[0], items=20)))
    settings = ServingSettings(dataset="unused", model="ease", runs_dir=tmp_path / "runs",
                               state_dir=tmp_path / "state", llm_backend=None)
    with pytest.raises(ArtifactError, match="model ease/1 was built for 20 items, but the served dataset 'blocks'"):
        build_state(settings, dataset=blocks[0], backend=None)


def test_a_model_for_a_same_size_catalog_of_other_items_is_refused(client):
    """Sizes match, item ids do not: the model's index i would name another item."""
    from recstrata.data.loaders._build import build_dataset

    state = client.app.state.recstrata
    ds, inter = state.dataset, state.dataset.interactions
    renamed = build_dataset("renamed", users=ds.user_ids.to_external(inter.user),
                            items=["x" + str(i) for i in ds.item_ids.to_external(inter.item)],
                            ratings=inter.weight, timestamps=inter.timestamp,
                            item_table=ds.items.assign(item_id=["x" + str(i) for i in ds.items["item_id"]]))
    assert (renamed.n_users, renamed.n_items) == (ds.n_users, ds.n_items)
    state.store.publish(fitted_on(renamed))
    assert_refused(client, "model ease/2 was built for another catalog", "'blocks'")


def test_the_catalog_fingerprint_survives_save_and_load_of_every_format(blocks, tmp_path):
    from recstrata.ranking.pipeline import Pipeline
    from recstrata.retrieval.base import Recommender
    from recstrata.retrieval.registry import make_model
    from recstrata.retrieval.vector import VectorRetriever

    ds = blocks[0]
    ease = fitted_on(ds)
    ann = VectorRetriever.wrap(make_model("als", factors=8, iterations=2).fit(ds), index="exact")
    pipe = Pipeline({"ease": fitted_on(ds)}, n_per_source=5).fit(ds, fit_sources=False)
    for name, model in (("ease", ease), ("ann", ann), ("pipe", pipe)):
        assert model.catalog_ == ds.catalog_fingerprint
        model.save(tmp_path / name)
        loaded = (Pipeline if name == "pipe" else Recommender).load(tmp_path / name)
        assert loaded.catalog_ == ds.catalog_fingerprint, name
