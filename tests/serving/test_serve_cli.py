"""``recstrata serve``: the configured event loop, and bad options refused before anything starts.

uvicorn itself is replaced at its entry point (``uvicorn.run``): nothing binds a port here. The app
state is built before uvicorn starts (so a bad dataset, model or index is one clean message); tests
that are not about it replace ``build_state`` too.
"""

from __future__ import annotations

import pydantic
import pytest
from typer.testing import CliRunner

from recstrata.config import get_settings
from recstrata.serving.settings import ServingSettings


@pytest.fixture
def uvicorn_calls(monkeypatch, tmp_path):
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append(kwargs))
    monkeypatch.setenv("RECSTRATA_SERVING__RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("RECSTRATA_SERVING__STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("RECSTRATA_SERVING__API_KEYS", raising=False)
    get_settings.cache_clear()  # settings are read from the environment once per process
    yield calls
    get_settings.cache_clear()


@pytest.fixture
def built(monkeypatch, blocks):
    """``build_state`` replaced: the settings it was called with (no data loaded from them; the state
    is the block catalog with popularity, enough for the printed examples)."""
    from types import SimpleNamespace

    import recstrata.serving.state
    from recstrata.retrieval.popularity import Popularity
    from recstrata.serving.engine import Engine, LiveModel

    state = SimpleNamespace(dataset=blocks[0], engine=Engine(blocks[0], LiveModel(Popularity().fit(blocks[0]), "1", "pop")))
    seen = []
    monkeypatch.setattr(recstrata.serving.state, "build_state", lambda settings: seen.append(settings) or state)
    return seen


def _serve(*args: str):
    from recstrata.cli import _register, app

    _register()
    return CliRunner().invoke(app, ["serve", "--llm", "none", *args])


def test_serve_runs_on_the_asyncio_loop_by_default(uvicorn_calls, built, monkeypatch):
    monkeypatch.delenv("RECSTRATA_SERVING__EVENT_LOOP", raising=False)
    result = _serve("--port", "8123")
    assert result.exit_code == 0, result.output
    [kwargs] = uvicorn_calls
    # uvloop accepts one connection per loop iteration: new connections queue behind inline scoring
    assert kwargs["loop"] == "asyncio"
    assert kwargs["port"] == 8123


def test_the_event_loop_comes_from_settings(uvicorn_calls, built, monkeypatch):
    monkeypatch.setenv("RECSTRATA_SERVING__EVENT_LOOP", "uvloop")
    result = _serve()
    assert result.exit_code == 0, result.output
    assert [c["loop"] for c in uvicorn_calls] == ["uvloop"]


def test_an_unknown_event_loop_is_rejected_with_the_choices():
    with pytest.raises(pydantic.ValidationError, match="'asyncio', 'uvloop' or 'auto'"):
        ServingSettings(event_loop="trio")


def test_the_event_loop_option_overrides_settings_and_is_checked(uvicorn_calls, built, monkeypatch):
    monkeypatch.setenv("RECSTRATA_SERVING__EVENT_LOOP", "uvloop")
    result = _serve("--event-loop", "asyncio")
    assert result.exit_code == 0, result.output
    assert [c["loop"] for c in uvicorn_calls] == ["asyncio"]
    bad = _serve("--event-loop", "trio")
    assert bad.exit_code == 2 and "event_loop" in bad.output
    assert len(uvicorn_calls) == 1  # nothing started for the bad value


@pytest.mark.parametrize("args, message", [
    (("--dataset", "ml-1m"), "'ml-1m' is neither a known dataset name"),
    (("--model", "foo"), "nothing is published as 'foo'"),
    (("--index", "bogus"), "unknown index kind 'bogus'"),
])
def test_a_bad_dataset_model_or_index_is_one_clean_error_before_uvicorn_starts(uvicorn_calls, tmp_path, args,
                                                                                message):
    result = _serve("--port", "8123", *args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()) and "Traceback" not in result.output
    assert uvicorn_calls == [] and "development key" not in result.output
    assert not (tmp_path / "runs").exists()  # no model fitted and published for a server that cannot start


@pytest.mark.parametrize("args", [("--port", "0"), ("--port", "70000"), ("--event-loop", "trio")])
def test_a_bad_port_or_loop_is_refused_before_a_key_is_shown_or_anything_built(uvicorn_calls, built, args):
    result = _serve(*args)
    assert result.exit_code == 2 and "invalid serving option" in result.output, result.output
    assert "development key" not in result.output and built == [] and uvicorn_calls == []


def test_the_state_is_built_before_uvicorn_and_handed_to_the_app(uvicorn_calls, built):
    result = _serve("--port", "8123", "--model", "ease")
    assert result.exit_code == 0, result.output
    [settings] = built
    assert (settings.model, settings.port, settings.llm_backend) == ("ease", 8123, None)
    assert len(uvicorn_calls) == 1 and "development key" in result.output


def test_the_printed_commands_are_not_wrapped_in_a_narrow_terminal(uvicorn_calls, built, monkeypatch, blocks):
    from recstrata.cli._common import console

    user = str(blocks[0].user_ids.external[0])
    item = str(blocks[0].item_ids.external[_popularity_top(blocks[0], user)])

    monkeypatch.setattr(console, "width", 80)
    result = _serve("--port", "8123")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    key = next(line for line in lines if line.startswith("  ")).strip()  # the first indented line
    assert ("  curl -X POST http://127.0.0.1:8123/v1/events -H 'X-API-Key: " + key + "' -H 'Content-Type: "
            f"""application/json' -d '{{"idempotency_key": "e1", "user_id": "{user}", "item_id": "{item}", """
            """"type": "click"}'""") in lines
    assert ("""  curl -X POST http://127.0.0.1:8123/v1/explanations -H 'Content-Type: application/json' """
            f"""-d '{{"user_id": "{user}", "item_ids": ["{item}"]}}'""") in lines


def test_the_printed_examples_use_a_real_user_and_an_item_recommended_to_them(uvicorn_calls, built, blocks):
    result = _serve("--port", "8124")
    assert result.exit_code == 0, result.output
    ds = blocks[0]
    user = str(ds.user_ids.external[0])
    pop_top = str(ds.item_ids.external[_popularity_top(ds, user)])
    assert f"/v1/users/{user}/recommendations?k=5" in result.output
    assert f'"user_id": "{user}", "item_ids": ["{pop_top}"]' in result.output


def _popularity_top(ds, user: str) -> int:
    from recstrata.retrieval.popularity import Popularity

    return int(Popularity().fit(ds).recommend([int(ds.user_ids.to_index(user)[0])], k=1)[0][0, 0])


def test_a_port_already_in_use_is_one_message_before_anything_is_loaded(uvicorn_calls, built):
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _serve("--host", "127.0.0.1", "--port", str(port))
    assert result.exit_code != 0 and f"cannot listen on 127.0.0.1:{port}" in result.output
    assert not built and not uvicorn_calls and "development key" not in result.output
