"""``recstrata serve``: the HTTP API on the embedded defaults (bundled data, a model fitted or loaded
from runs/, SmolLM2 explanations when available, else templates)."""

from __future__ import annotations

import secrets

import pydantic
import typer

from recstrata.cli import app
from recstrata.cli._common import commands, console, fail
from recstrata.errors import ConfigError, RecstrataError


@app.command("serve")
def serve(
    host: str | None = typer.Option(None, help="bind address (default from settings: 127.0.0.1)"),
    port: int | None = typer.Option(None, help="port (default 8000)"),
    dataset: str | None = typer.Option(None, help="catalog dataset name or path"),
    model: str | None = typer.Option(None, help="model to serve (fitted at start-up if runs/ has none)"),
    llm: str | None = typer.Option(None, help="LLM backend for explanations, or 'none' for templates only"),
    index: str | None = typer.Option(None, help="serve the model through an ANN index (sq8, hnsw, ivf:nprobe=128, ...)"
                                                " for large catalogs; default: dense scoring"),
    access_log: bool = typer.Option(False, help="log every request (Prometheus /metrics has the aggregates)"),
    event_loop: str | None = typer.Option(None, help="asyncio (default), uvloop or auto; see ServingSettings"),
) -> None:
    """Start the recommendation API."""
    import uvicorn

    from recstrata.config import get_settings
    from recstrata.serving.app import create_app
    from recstrata.serving.state import build_state

    settings = get_settings().serving
    updates = {k: v for k, v in {"host": host, "port": port, "dataset": dataset, "model": model,
                                 "index": index, "event_loop": event_loop}.items() if v is not None}
    if llm is not None:
        updates["llm_backend"] = None if llm == "none" else llm
    key = None if settings.api_keys else secrets.token_urlsafe(18)
    if key:  # no keys configured: a development key with every scope, shown once the server can start
        updates["api_keys"] = {key: ["events:write", "admin", "users:erase"]}
    try:  # validated like the environment's values (model_copy alone would not check them)
        settings = type(settings).model_validate({**settings.model_dump(), **updates})
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        raise fail(ConfigError(f"invalid serving option {first['loc'][0]}: {first['msg']}")) from exc
    try:
        _check_port(settings.host, settings.port)
        # built here, not in uvicorn's start-up, so that a bad dataset, model or index is one message
        with console.status(f"loading {settings.dataset} and the {settings.model} model"):
            state = build_state(settings)
    except RecstrataError as exc:
        raise fail(exc) from exc
    user, item = _example_ids(state)
    if key:
        commands("[yellow]no API keys configured (RECSTRATA_SERVING__API_KEYS); a development key for this run:[/]",
                 key)
    base = f"http://{settings.host}:{settings.port}"
    console.print(f"serving {settings.dataset} with {settings.model} on {base}  (docs: {base}/docs)")
    commands("try:",
             f"curl '{base}/v1/users/{user}/recommendations?k=5'",
             f"curl -X POST {base}/v1/events -H 'X-API-Key: {key or '<your key>'}' "
             "-H 'Content-Type: application/json' "
             f"""-d '{{"idempotency_key": "e1", "user_id": "{user}", "item_id": "{item}", "type": "click"}}'""",
             f"curl -X POST {base}/v1/explanations -H 'Content-Type: application/json' "
             f"""-d '{{"user_id": "{user}", "item_ids": ["{item}"]}}'""")
    # one process: the model, overlay and event store live in it (scale out with more replicas)
    uvicorn.run(create_app(settings, state=state), host=settings.host, port=settings.port,
                loop=settings.event_loop, log_level="info", access_log=access_log)


def _check_port(host: str, port: int) -> None:
    """Fail before loading anything (and before a key or banner is printed) when the port is taken;
    bound as uvicorn binds it (SO_REUSEADDR: a port in TIME_WAIT is free, a listening one is not)."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror}): another server may hold it; "
                              "choose another with --port") from None


def _example_ids(state) -> tuple[str, str]:
    """A real user of the served catalog and the first item recommended to them, for the printed
    examples (a user's own catalog need not have a user or item "1")."""
    ds = state.dataset
    if not ds.n_users:
        return "1", str(ds.item_ids.external[0])
    user = str(ds.user_ids.external[0])
    top = state.engine.recommend(user_id=user, k=1).indices
    return user, str(ds.item_ids.external[top[0] if top else 0])
