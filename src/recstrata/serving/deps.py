"""FastAPI dependencies: the app state, API-key scopes and per-key rate limits; ``invalid`` for
422s that need the served catalog to decide."""

from __future__ import annotations

from fastapi import Depends, HTTPException, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.security import APIKeyHeader

from recstrata.serving.state import AppState

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


# async on purpose: FastAPI runs a plain ``def`` dependency in the thread pool, a thread hop per request
async def get_state(request: Request) -> AppState:
    return request.app.state.recstrata


def require_scope(scope: str):
    async def check(key: str | None = Security(api_key_header), state: AppState = Depends(get_state)) -> str:
        scopes = state.settings.scopes_of(key)
        if scopes is None:
            raise HTTPException(401, "missing or unknown API key: send it in the X-API-Key header",
                                headers={"WWW-Authenticate": "APIKey"})
        if scope not in scopes:
            raise HTTPException(403, f"this API key lacks the {scope!r} scope")
        wait = state.limiter.take(key)
        if wait > 0:
            raise HTTPException(429, "rate limit exceeded for this API key",
                                headers={"Retry-After": str(max(1, int(wait + 0.999)))})
        return key

    return check


#: the error types of 422s for input the schema admits: refused for what the server holds (its
#: catalog and settings: ``invalid`` gives these) or by a rule a JSON schema cannot express (a key's
#: Unicode categories, see ``schemas.UNPRINTABLE``)
SEMANTIC_ERRORS = ("rating_scale", "unknown_genre", "year_range", "printable_key")


def invalid(loc: tuple[str, ...], message: str, value: object, type: str) -> RequestValidationError:
    """A 422 for one field (``loc`` e.g. ``("body", "value")``; ``type`` one of ``SEMANTIC_ERRORS``),
    in the shape schema validation answers."""
    return RequestValidationError([{"type": type, "loc": loc, "msg": message, "input": value}])
