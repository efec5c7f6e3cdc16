"""The HTTP API on the block dataset: known answers, filters, events, auth, limits, erasure."""

from __future__ import annotations




def recs(client, user, **params):
    r = client.get(f"/v1/users/{user}/recommendations", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_known_user_gets_the_missing_block_item(client):
    # user 3 of block 0 has seen items 0-9 except 3 (see make_blocks)
    body = recs(client, "3", k=1)
    assert body["items"][0]["id"] == "3" and not body["cold_start"]
    assert body["model_version"] == "ease/1" and body["items"][0]["sources"] == ["ease"]


def test_unknown_user_gets_a_flagged_popularity_answer(client):
    body = recs(client, "stranger", k=3)
    assert body["cold_start"] and body["model_version"] == "pop" and len(body["items"]) == 3


def test_filters_apply_inside_retrieval(client):
    # genre1 = items 10-19; user 3 (block 0) would never get them first without the filter
    body = recs(client, "3", k=5, genre="genre1")
    assert len(body["items"]) == 5 and all(i["genres"] == ["genre1"] for i in body["items"])
    body = recs(client, "3", k=10, year_min=1992, year_max=1992)
    assert len(body["items"]) == 10 and all(i["year"] == 1992 for i in body["items"])
    body = recs(client, "3", k=1, exclude=["3"])
    assert body["items"][0]["id"] != "3"


def test_query_parameters_are_strict(client):
    r = client.get("/v1/users/3/recommendations", params={"k": 5, "colour": "red"})
    assert r.status_code == 422 and "colour" in r.text  # unknown parameter: rejected, not ignored
    r = client.get("/v1/users/3/recommendations", params={"k": 5, "exclude": ["3", "bad id!"]})
    assert r.status_code == 422 and "exclude" in r.text
    spec = client.get("/openapi.json").json()["paths"]["/v1/users/{user_id}/recommendations"]["get"]
    assert {p["name"] for p in spec["parameters"]} == {"user_id", "k", "genre", "year_min", "year_max", "exclude", "_"}


def test_get_routes_take_and_ignore_a_cache_buster(client):
    # jQuery's cache: false appends _=<timestamp>; the answer is the one without it
    for path in ("/v1/users/3/recommendations", "/v1/items/12/similar"):
        r = client.get(path, params={"k": 3, "_": 1700000000123})
        assert r.status_code == 200 and r.json()["items"] == client.get(path, params={"k": 3}).json()["items"]


def test_session_endpoint_uses_recent_items(client):
    r = client.post("/v1/recommendations", json={"recent_items": ["10", "11", "12"], "k": 2})
    assert r.status_code == 200
    assert all(10 <= int(i["id"]) < 20 for i in r.json()["items"])


def test_event_changes_the_next_answer_and_replays_are_idempotent(client):
    assert recs(client, "3", k=1)["items"][0]["id"] == "3"
    ev = {"idempotency_key": "e-1", "user_id": "3", "item_id": "3", "type": "click"}
    r = client.post("/v1/events", json=ev, headers={"X-API-Key": "writer"})
    assert r.json() == {"accepted": True, "duplicate": False}
    assert recs(client, "3", k=1)["items"][0]["id"] != "3"  # now seen: excluded at once
    r = client.post("/v1/events", json=ev, headers={"X-API-Key": "writer"})
    assert r.json() == {"accepted": True, "duplicate": True}
    state = client.app.state.recstrata
    assert [e.idempotency_key for e in state.events.user_events("3")] == ["e-1"]


def test_new_user_events_make_a_warm_user(client):
    for i, item in enumerate(["20", "21", "22"]):
        client.post("/v1/events", json={"idempotency_key": f"n{i}", "user_id": "newbie", "item_id": item,
                                        "type": "view"}, headers={"X-API-Key": "writer"})
    body = recs(client, "newbie", k=3)
    assert not body["cold_start"] and all(20 <= int(i["id"]) < 30 for i in body["items"])


def test_events_need_a_key_with_the_scope_and_are_rate_limited(make_client):
    client = make_client(rate_per_second=0.5, rate_burst=2)
    ev = {"idempotency_key": "x", "user_id": "1", "item_id": "1", "type": "view"}
    assert client.post("/v1/events", json=ev).status_code == 401
    assert client.post("/v1/events", json=ev, headers={"X-API-Key": "nope"}).status_code == 401
    assert client.delete("/v1/users/1", headers={"X-API-Key": "writer"}).status_code == 403
    codes = [client.post("/v1/events", json={**ev, "idempotency_key": f"k{i}"},
                         headers={"X-API-Key": "writer"}) for i in range(3)]
    assert [c.status_code for c in codes] == [200, 200, 429]
    assert int(codes[-1].headers["Retry-After"]) >= 1


def test_malformed_requests_are_422_not_500(client):
    assert client.get("/v1/users/1/recommendations", params={"k": 0}).status_code == 422
    assert client.get("/v1/users/1/recommendations", params={"k": 10_000}).status_code == 422
    assert client.get("/v1/users/bad%20id/recommendations").status_code == 422
    assert client.post("/v1/recommendations", json={"recent_items": [], "surprise": 1}).status_code == 422
    assert client.post("/v1/recommendations", json={"recent_items": ["no-such-item"]}).status_code == 404
    ev = {"idempotency_key": "z", "user_id": "1", "item_id": "999", "type": "view"}
    r = client.post("/v1/events", json=ev, headers={"X-API-Key": "writer"})
    assert r.status_code == 404 and "unknown item id" in r.text
    assert client.post("/v1/events", json={**ev, "item_id": "1", "type": "like"},
                       headers={"X-API-Key": "writer"}).status_code == 422
    assert client.get("/v1/items/999/similar").status_code == 404


def test_similar_items_come_from_the_same_block(client):
    r = client.get("/v1/items/12/similar", params={"k": 3}).json()
    assert all(10 <= int(i["id"]) < 20 and i["id"] != "12" for i in r["items"])


def test_erasure_removes_events_history_and_cached_explanations(client):
    ev = {"idempotency_key": "del-1", "user_id": "3", "item_id": "3", "type": "click"}
    client.post("/v1/events", json=ev, headers={"X-API-Key": "writer"})
    client.post("/v1/explanations", json={"user_id": "3", "item_ids": ["5"]})
    state = client.app.state.recstrata
    assert state.explainer.cache.count("3") == 1
    assert client.delete("/v1/users/3", headers={"X-API-Key": "admin"}).status_code == 204
    assert state.events.user_events("3") == [] and state.explainer.cache.count("3") == 0
    body = recs(client, "3", k=1)
    assert body["cold_start"]  # training history, live history and derived state are gone
    assert "3" in state.events.erased_users()
    # the user comes back: only what they do after the erasure counts, never the old training history
    client.post("/v1/events", json={**ev, "idempotency_key": "del-2", "item_id": "12"},
                headers={"X-API-Key": "writer"})
    assert state.engine.history("3") == [12]
    assert [e.item_id for e in state.events.all_events() if e.user_id == "3"] == ["12"]


def test_health_ready_metrics(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["model_version"] == "ease/1"
    recs(client, "1")
    text = client.get("/metrics").text
    assert 'recstrata_request_seconds_count{method="GET",route="/v1/users/{user_id}/recommendations"} 1.0' in text
    assert "recstrata_explanation_cache_hit_ratio" in text


def test_hot_reload_swaps_the_published_model(client):
    from recstrata.retrieval.popularity import Popularity

    state = client.app.state.recstrata
    version = state.store.publish(Popularity().fit(state.dataset))
    assert client.post("/v1/admin/reload", headers={"X-API-Key": "writer"}).status_code == 403
    r = client.post("/v1/admin/reload", headers={"X-API-Key": "admin"})
    assert r.json()["model_version"] == f"ease/{version}"
    assert recs(client, "3")["model_version"] == f"ease/{version}"


def test_shadow_mode_compares_off_the_response_path(make_client):
    client = make_client(shadow_model="itemknn", shadow_fraction=1.0)
    for u in range(10):
        recs(client, str(u), k=5)
    state = client.app.state.recstrata
    state.shadow.drain()
    summary = client.get("/v1/admin/shadow", headers={"X-API-Key": "admin"}).json()
    assert summary["enabled"] and summary["compared"] == 10
    assert 0.0 <= summary["mean_overlap_at_k"] <= 1.0 and summary["shadow_p50_ms"] > 0
