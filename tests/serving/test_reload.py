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
