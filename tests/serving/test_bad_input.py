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


def test_a_422_shows_a_short_repr_of_the_rejected_value_not_the_input(client):
    r = client.post("/v1/recommendations", json={"genre": "x" * 100_000})
    assert r.status_code == 422
    (error,) = r.json()["detail"]
    assert error["loc"] == ["body", "genre"] and error["input"].startswith("'xxx") and len(r.content) < 1000
