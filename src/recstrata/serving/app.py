"""The FastAPI app factory: ``create_app(settings)``; models load in the lifespan, never at import."""

from __future__ import annotations

import time
from contextlib import asynccontextmanager

from recstrata._optional import require
from recstrata.serving.settings import ServingSettings


def create_app(settings: ServingSettings | None = None, *, state=None):
    """Build the app. ``state`` (an ``AppState``) may be injected by tests; otherwise it is built
    from ``settings`` when the app starts."""
    fastapi = require("fastapi", extra="serve", purpose="the HTTP server")

    from recstrata.serving.routers import admin, events, explanations, recommendations
    from recstrata.serving.state import build_state

    settings = settings or ServingSettings()

    @asynccontextmanager
    async def lifespan(app):
        app.state.recstrata = state if state is not None else build_state(settings)
        try:
            yield
        finally:
            app.state.recstrata.close()

    # responses have response models: FastAPI serialises them straight to JSON bytes with pydantic-core
    app = fastapi.FastAPI(title="recstrata", version="0.1.0", lifespan=lifespan)

    @app.middleware("http")
    async def observe(request, call_next):
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics = getattr(request.app.state, "recstrata", None)
        if metrics is not None:
            metrics.metrics.latency.labels(path, request.method).observe(time.perf_counter() - start)
            metrics.metrics.requests.labels(path, str(response.status_code)).inc()
        return response

    for module in (recommendations, events, explanations, admin):
        app.include_router(module.router)
    return app
