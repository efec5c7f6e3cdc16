"""A server on the block dataset with a mock LLM, built in-process (no network)."""

from __future__ import annotations

import pytest

from recstrata.llm.mock import MockBackend


from tests_support import good_sentence


@pytest.fixture
def make_client(blocks, tmp_path):
    from fastapi.testclient import TestClient

    from recstrata.serving.app import create_app
    from recstrata.serving.settings import ServingSettings
    from recstrata.serving.state import build_state

    clients = []

    def make(backend=None, **overrides):
        settings = ServingSettings(**{
            "dataset": "unused", "model": "ease", "model_params": {"reg": 1.0}, "runs_dir": tmp_path / "runs",
            "state_dir": tmp_path / "state",
            "api_keys": {"writer": ["events:write"], "admin": ["admin", "users:erase", "events:write"]},
            "llm_backend": None, "warm_llm": False, **overrides,
        })
        state = build_state(settings, dataset=blocks[0], backend=backend)
        client = TestClient(create_app(settings, state=state))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def client(make_client):
    return make_client(MockBackend(default=good_sentence()))
