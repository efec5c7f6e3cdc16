"""Malformed requests on the block dataset: each gets a 4xx naming what was wrong, never a 5xx."""

from __future__ import annotations

import pytest

WRITER = {"X-API-Key": "writer"}


def post_raw(client, path: str, raw: bytes, headers: dict | None = None):
    return client.post(path, content=raw, headers={"Content-Type": "application/json", **(headers or {})})


@pytest.mark.parametrize("path, raw, loc", [
    ("/v1/recommendations", b'{"k": NaN}', ["body", "k"]),
    ("/v1/recommendations", b'{"k": 1e400}', ["body", "k"]),
    ("/v1/recommendations", b'{"genre": "\\ud800"}', ["body", "genre"]),
    ("/v1/recommendations", b'{"\\udc80": 1}', ["body"]),  # a key pydantic cannot read
    ("/v1/events", b'{"idempotency_key": "n", "user_id": "1", "item_id": "1", "type": "rating", "value": NaN}',
     ["body", "value"]),
])
def test_input_json_cannot_encode_is_a_422_naming_the_field(client, path, raw, loc):
    r = post_raw(client, path, raw, WRITER)
    assert r.status_code == 422, r.text
    (error,) = r.json()["detail"]
    assert error["loc"] == loc and error["msg"] and error["type"]


def test_a_422_shows_the_rejected_value_cut_short_not_the_input(client):
    r = client.post("/v1/recommendations", json={"genre": "x" * 100_000})
    assert r.status_code == 422
    (error,) = r.json()["detail"]
    assert error["loc"] == ["body", "genre"] and error["input"] == "x" * 97 + "..." and len(r.content) < 1000
    r = client.post("/v1/recommendations", json={"recent_items": [str(i) for i in range(300)]})
    (error,) = r.json()["detail"]
    assert error["input"] == ["0", "1", "2", "3", "..."] and error["ctx"]["max_length"] == 200


@pytest.mark.parametrize("path, raw, shown, ctx", [
    ("/v1/recommendations", b'{"k": 500}', 500, {"le": 100}),  # JSON values come back as they were sent
    ("/v1/recommendations", b'{"k": 2.5}', 2.5, None),
    ("/v1/recommendations", b'{"year_min": null, "exclude": {"a": [1]}}', {"a": [1]}, None),
    ("/v1/recommendations", b'{"k": NaN}', "nan", None),  # what JSON cannot carry comes as a repr
    ("/v1/recommendations", b'{"genre": "\\ud800"}', "\\ud800", None),
    ("/v1/events", b'{"idempotency_key": "r", "user_id": "1", "item_id": "1", "type": "rating"}',
     {"idempotency_key": "r", "user_id": "1", "item_id": "1", "type": "rating"}, None),  # ctx: a ValueError
])
def test_a_422_shows_the_rejected_value_as_json_and_the_constraint(client, path, raw, shown, ctx):
    (error,) = post_raw(client, path, raw, WRITER).json()["detail"]
    assert error["input"] == shown and error.get("ctx") == ctx
    r = client.get("/v1/users/3/recommendations", params={"k": 500})  # a query parameter comes as text
    assert r.json()["detail"][0]["input"] == "500" and r.json()["detail"][0]["ctx"] == {"le": 100}


@pytest.mark.parametrize("key", ["   ", "a\x00b", "tab\there", "\u2028", "\u2060", "\u00ad", "a\uffff", "\ue000",
                                 "\u200b\u200b", "a\u202e"])
def test_an_idempotency_key_is_printable_and_not_blank(client, key):
    r = client.post("/v1/events", json={"idempotency_key": key, "user_id": "1", "item_id": "1", "type": "view"},
                    headers=WRITER)
    assert r.status_code == 422
    (error,) = r.json()["detail"]
    assert error["loc"] == ["body", "idempotency_key"] and "printable text, not blank" in error["msg"]
    assert client.app.state.recstrata.events.user_events("1") == []


@pytest.mark.parametrize("key", ["550e8400-e29b-41d4-a716-446655440000", "clé 1", "🙂", "注文-42"])
def test_a_printable_key_in_any_script_is_taken(client, key):
    r = client.post("/v1/events", json={"idempotency_key": key, "user_id": "1", "item_id": "1", "type": "view"},
                    headers=WRITER)
    assert r.status_code == 200 and r.json()["duplicate"] is False


def test_a_rating_has_a_value(client):
    event = {"idempotency_key": "r", "user_id": "1", "item_id": "1", "type": "rating"}
    r = client.post("/v1/events", json=event, headers=WRITER)
    assert r.status_code == 422
    (error,) = r.json()["detail"]
    assert error["loc"] == ["body"] and "a rating needs a value" in error["msg"]
    assert client.app.state.recstrata.events.user_events("1") == []
    # the blocks are implicit data (every rating 1): that observed 1..1 is no scale, any value is taken
    assert client.post("/v1/events", json={**event, "value": 4.0}, headers=WRITER).json()["duplicate"] is False


def test_a_rating_is_checked_against_the_configured_scale(make_client):
    client = make_client(rating_scale=(1, 5))
    event = {"idempotency_key": "r", "user_id": "1", "item_id": "1", "type": "rating"}
    r = client.post("/v1/events", json={**event, "value": 5.5}, headers=WRITER)
    assert r.status_code == 422
    (error,) = r.json()["detail"]
    assert error["loc"] == ["body", "value"] and error["type"] == "rating_scale"
    assert "rating 5.5 is outside the rating scale 1 to 5 (setting rating_scale, else the dataset's)" in error["msg"]
    assert client.app.state.recstrata.events.user_events("1") == []
    assert client.post("/v1/events", json={**event, "value": 5}, headers=WRITER).json()["duplicate"] is False


def test_the_scale_checked_is_the_setting_else_the_one_a_loader_declares(blocks):
    from pydantic import ValidationError

    from recstrata.data.registry import load_dataset
    from recstrata.serving.routers.events import rating_scale
    from recstrata.serving.settings import ServingSettings

    movielens, default = load_dataset("ml-latest-small"), ServingSettings()
    assert rating_scale(default, movielens) == (0.5, 5.0)  # GroupLens' half stars, declared by the loader
    assert rating_scale(default, blocks[0]) is None and blocks[0].rating_scale == (1.0, 1.0)  # only observed
    assert rating_scale(ServingSettings(rating_scale=(1, 10)), movielens) == (1.0, 10.0)
    for bad in ((5, 1), (1, 1), (0, float("inf"))):
        with pytest.raises(ValidationError, match="is not \\[lowest, highest\\]"):
            ServingSettings(rating_scale=bad)


def test_a_body_over_the_limit_is_a_413_before_it_is_parsed(make_client):
    client = make_client(max_body_bytes=2048)
    event = {"idempotency_key": "big", "user_id": "1", "item_id": "1", "type": "view"}
    r = client.post("/v1/events", json={**event, "pad": "x" * 4096}, headers=WRITER)  # Content-Length says so
    assert r.status_code == 413
    assert "larger than 2048 bytes" in r.json()["detail"] and "max_body_bytes" in r.json()["detail"]

    def chunks():  # no Content-Length: the limit counts what is read
        yield b'{"recent_items": ['
        for _ in range(500):
            yield b'"1", '
        yield b'"1"]}'

    r = client.post("/v1/recommendations", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "larger than 2048 bytes" in r.json()["detail"]
    assert client.app.state.recstrata.events.user_events("1") == []
    assert client.post("/v1/events", json=event, headers=WRITER).status_code == 200  # under the limit


def test_only_a_post_body_is_limited_and_every_post_route_documents_the_413(make_client):
    client = make_client(max_body_bytes=2048)
    big = b"x" * 4096
    r = client.request("GET", "/v1/users/3/recommendations", params={"k": 1}, content=big)  # unread: ignored
    assert r.status_code == 200 and r.json()["items"][0]["id"] == "3"
    assert client.request("DELETE", "/v1/users/5", content=big, headers={"X-API-Key": "admin"}).status_code == 204
    assert client.post("/v1/admin/reload", content=big, headers={"X-API-Key": "admin"}).status_code == 413
    for path, operations in client.get("/openapi.json").json()["paths"].items():
        for method, operation in operations.items():
            assert ("413" in operation["responses"]) == (method == "post"), (method, path)


@pytest.mark.parametrize("field, value", [("k", True), ("k", "5"), ("year_min", "1990")])
def test_json_bodies_take_numbers_as_json_numbers(client, field, value):
    r = client.post("/v1/recommendations", json={"recent_items": ["10"], field: value})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", field]
    assert client.post("/v1/recommendations", json={"recent_items": ["10"], "k": 5.0, "year_min": 1990}).status_code == 200


def test_an_event_value_is_a_json_number(client):
    event = {"idempotency_key": "v", "user_id": "1", "item_id": "1", "type": "view", "value": "5"}
    r = client.post("/v1/events", json=event, headers=WRITER)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "value"]


def test_similar_items_reject_unknown_query_parameters(client):
    r = client.get("/v1/items/12/similar", params={"k": 3, "colour": "red"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "colour"]
    assert len(client.get("/v1/items/12/similar", params={"k": "3"}).json()["items"]) == 3


def test_an_unknown_item_id_names_the_parameter_it_came_in(client):
    r = client.get("/v1/users/3/recommendations", params={"exclude": "nope"})
    assert r.status_code == 404 and r.json()["detail"].startswith("unknown item id 'nope' in exclude:")
    r = client.post("/v1/recommendations", json={"recent_items": ["nope"]})
    assert r.status_code == 404 and r.json()["detail"].startswith("unknown item id 'nope' in recent_items:")


def test_filters_that_cannot_match_are_a_422_naming_the_field(client):
    for params, field, says in [
        ({"genre": "Klingon"}, "genre", "unknown genre 'Klingon': the catalog's 4 genres (any case) include genre0, "),
        ({"genre": "genrr1"}, "genre", "unknown genre 'genrr1' (did you mean 'genre1'?): the catalog's 4 genres"),
        ({"year_min": 2010, "year_max": 1990}, "year_min", "year_min 2010 is after year_max 1990"),
    ]:
        r = client.get("/v1/users/3/recommendations", params=params)
        assert r.status_code == 422
        (error,) = r.json()["detail"]
        assert error["loc"] == ["query", field] and says in error["msg"]
        r = client.post("/v1/recommendations", json={"recent_items": ["10"], **params})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", field]
    # a known genre whose items user 3 has all seen (genre0 = items 0-9; 3 was the one left) answers empty
    client.post("/v1/events", json={"idempotency_key": "e", "user_id": "3", "item_id": "3", "type": "view"},
                headers=WRITER)
    r = client.get("/v1/users/3/recommendations", params={"genre": "GENRE0"})
    assert r.status_code == 200 and r.json()["items"] == []
