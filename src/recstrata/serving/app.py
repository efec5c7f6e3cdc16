"""The FastAPI app factory: ``create_app(settings)``; models load in the lifespan, never at import."""

from __future__ import annotations

import gc
import math
import reprlib
import time
from contextlib import asynccontextmanager

from recstrata._optional import require
from recstrata.serving.settings import ServingSettings


def create_app(settings: ServingSettings | None = None, *, state=None):
    """Build the app. ``state`` (an ``AppState``) may be injected by tests; otherwise it is built
    from ``settings`` when the app starts."""
    fastapi = require("fastapi", extra="serve", purpose="the HTTP server")

    from fastapi.exceptions import RequestValidationError

    from recstrata.serving.routers import admin, events, explanations, recommendations
    from recstrata.serving.state import build_state

    settings = settings or ServingSettings()

    @asynccontextmanager
    async def lifespan(app):
        app.state.recstrata = state if state is not None else build_state(settings)
        # start-up built many long-lived objects (catalog, model, indexes): move them out of the
        # collector's sight so full collections don't stall requests (tail latency)
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            app.state.recstrata.close()

    # responses have response models: FastAPI serialises them straight to JSON bytes with pydantic-core
    app = fastapi.FastAPI(title="recstrata", version="0.1.0", lifespan=lifespan)

    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(ObserveMiddleware)
    for module in (recommendations, events, explanations, admin):
        app.include_router(module.router)
    return app


#: a rejected value is shown as it came when JSON can carry it, cut short (it may be megabytes);
#: what JSON cannot encode (NaN, Infinity, lone surrogates, Python objects) as a short repr
_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60
MAX_ERRORS, MAX_TEXT, MAX_ITEMS, MAX_DEPTH = 20, 100, 4, 2


def _safe(text: str, limit: int = 200) -> str:
    """``text`` cut to ``limit`` characters, lone surrogates escaped (UTF-8 refuses them)."""
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _shown(value: object, depth: int = 0) -> object:
    """``value`` as a 422 shows it: JSON values unchanged, long strings and containers cut (a cut
    container ends with "..."), the rest as a short repr."""
    if value is None or isinstance(value, bool) or (isinstance(value, int) and abs(value) < 10**18):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, str):
        return _safe(value, MAX_TEXT)
    if isinstance(value, (list, tuple, dict)) and depth < MAX_DEPTH:
        more = ["..."] if len(value) > MAX_ITEMS else []
        if isinstance(value, dict):
            shown = {_safe(str(k), 64): _shown(v, depth + 1) for k, v in list(value.items())[:MAX_ITEMS]}
            return shown | ({"...": f"{len(value) - MAX_ITEMS} more"} if more else {})
        return [_shown(v, depth + 1) for v in value[:MAX_ITEMS]] + more
    return _safe(_REPR.repr(value), MAX_TEXT)


async def validation_error(request, exc):
    """422 with loc / msg / type, the rejected value (``input``, cut short) and the constraint's
    context (``ctx``, e.g. ``{"le": 100}``) per error: FastAPI's documented ``HTTPValidationError``
    shape, at most ``MAX_ERRORS`` errors, never the whole input."""
    from fastapi.responses import JSONResponse

    errors = exc.errors()
    detail = []
    for err in errors[:MAX_ERRORS]:
        shown = {"loc": [p if isinstance(p, int) else _safe(str(p), 64) for p in err.get("loc", ())],
                 "msg": _safe(str(err.get("msg", ""))), "type": _safe(str(err.get("type", "")), 64),
                 "input": _shown(err.get("input"))}
        # a context value that is no JSON value (the ValueError of a custom check) is in msg already
        ctx = {k: _shown(v) for k, v in (err.get("ctx") or {}).items()
               if v is None or isinstance(v, (bool, int, float, str, list, tuple, dict))}
        detail.append(shown | ({"ctx": ctx} if ctx else {}))
    if len(errors) > MAX_ERRORS:
        detail.append({"loc": [], "msg": f"{len(errors) - MAX_ERRORS} more errors not shown: fix the ones above "
                       "first", "type": "too_many_errors", "input": ""})
    return JSONResponse({"detail": detail}, status_code=422)


class BodyLimitMiddleware:
    """413 for a POST body over ``max_bytes``: at once when Content-Length says so (nothing is
    read), else as soon as the chunks read add up to more (nothing is parsed). A body on any other
    method is ignored, never read (no GET or DELETE route takes one), so it is not refused either."""

    def __init__(self, app, max_bytes: int) -> None:
        from fastapi import HTTPException
        from fastapi.responses import JSONResponse

        self.app, self.max_bytes = app, max_bytes
        self._http_exception, self._json_response = HTTPException, JSONResponse  # imported once, not per POST

    def message(self) -> str:
        return (f"the request body is larger than {self.max_bytes} bytes, the limit (setting max_body_bytes, "
                f"RECSTRATA_SERVING__MAX_BODY_BYTES): send less per request")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            await self._json_response({"detail": self.message()}, status_code=413)(scope, receive, send)
            return
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:  # FastAPI re-raises an HTTPException met while reading the body
                raise self._http_exception(413, self.message())
            return message

        await self.app(scope, counted, send)


class ObserveMiddleware:
    """Pure ASGI middleware (no per-request task like BaseHTTPMiddleware): latency and status per route."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            state = getattr(scope.get("app").state, "recstrata", None) if scope.get("app") else None
            if state is not None:
                path = getattr(scope.get("route"), "path", "unmatched")
                state.metrics.latency.labels(path, scope["method"]).observe(time.perf_counter() - start)
                state.metrics.requests.labels(path, str(status[0])).inc()
