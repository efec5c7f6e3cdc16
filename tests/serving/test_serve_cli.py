"""``recstrata serve`` hands uvicorn the configured event loop (asyncio unless settings say otherwise).

uvicorn itself is replaced at its entry point (``uvicorn.run``): nothing binds a port here.
"""

from __future__ import annotations

import pydantic
import pytest
from typer.testing import CliRunner

from recstrata.config import get_settings
from recstrata.serving.settings import ServingSettings


@pytest.fixture
def uvicorn_calls(monkeypatch):
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append(kwargs))
    get_settings.cache_clear()  # settings are read from the environment once per process
    yield calls
    get_settings.cache_clear()


def _serve(*args: str):
    from recstrata.cli import _register, app

    _register()
    return CliRunner().invoke(app, ["serve", "--llm", "none", *args])


def test_serve_runs_on_the_asyncio_loop_by_default(uvicorn_calls, monkeypatch):
    monkeypatch.delenv("RECSTRATA_SERVING__EVENT_LOOP", raising=False)
    result = _serve("--port", "8123")
    assert result.exit_code == 0, result.output
    [kwargs] = uvicorn_calls
    # uvloop accepts one connection per loop iteration: new connections queue behind inline scoring
    assert kwargs["loop"] == "asyncio"
    assert kwargs["port"] == 8123


def test_the_event_loop_comes_from_settings(uvicorn_calls, monkeypatch):
    monkeypatch.setenv("RECSTRATA_SERVING__EVENT_LOOP", "uvloop")
    result = _serve()
    assert result.exit_code == 0, result.output
    assert [c["loop"] for c in uvicorn_calls] == ["uvloop"]


def test_an_unknown_event_loop_is_rejected_with_the_choices():
    with pytest.raises(pydantic.ValidationError, match="'asyncio', 'uvloop' or 'auto'"):
        ServingSettings(event_loop="trio")


def test_the_event_loop_option_overrides_settings_and_is_checked(uvicorn_calls, monkeypatch):
    monkeypatch.setenv("RECSTRATA_SERVING__EVENT_LOOP", "uvloop")
    result = _serve("--event-loop", "asyncio")
    assert result.exit_code == 0, result.output
    assert [c["loop"] for c in uvicorn_calls] == ["asyncio"]
    bad = _serve("--event-loop", "trio")
    assert bad.exit_code == 2 and "event_loop" in bad.output
    assert len(uvicorn_calls) == 1  # nothing started for the bad value
