"""Operations: health, readiness, metrics, shadow summary, hot reload, erasure."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Path, Response
from fastapi.responses import PlainTextResponse

from recstrata.errors import RecstrataError
from recstrata.serving.deps import get_state, require_scope
from recstrata.serving.engine import LiveModel
from recstrata.serving.schemas import AUTH, ID_PATTERN, TOO_LARGE, ErrorOut, ShadowSummary
from recstrata.serving.state import AppState

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(state: AppState = Depends(get_state)) -> dict:
    return {"status": "ready", "model_version": f"{state.engine.live.name}/{state.engine.live.version}",
            "llm": state.explainer.backend.name if state.explainer.backend else None,
            "llm_state": state.explainer.llm_state, "llm_circuit": state.explainer.breaker.state}


@router.get("/metrics", response_class=PlainTextResponse,
            responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}})
def metrics(state: AppState = Depends(get_state)) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST

    cache = state.explainer.cache
    body = state.metrics.render() + (
        f"# HELP recstrata_explanation_cache_hit_ratio explanation cache hit ratio\n"
        f"# TYPE recstrata_explanation_cache_hit_ratio gauge\n"
        f"recstrata_explanation_cache_hit_ratio {cache.hits / max(cache.hits + cache.misses, 1):.6f}\n"
    ).encode()
    return Response(body, media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/admin/shadow", response_model=ShadowSummary, responses=AUTH)
def shadow(state: AppState = Depends(get_state), _key: str = Depends(require_scope("admin"))) -> ShadowSummary:
    if state.shadow is None:
        return ShadowSummary(enabled=False, model=None, fraction=0.0, compared=0, dropped=0, mean_overlap_at_k=None,
                             mean_spearman=None, live_p50_ms=None, shadow_p50_ms=None, live_p99_ms=None,
                             shadow_p99_ms=None)
    return ShadowSummary(**state.shadow.summary())


@router.post("/v1/admin/reload", responses={**AUTH, **TOO_LARGE, 409: {
    "model": ErrorOut, "description": "no loadable version, or one built for another catalog"}})
def reload(state: AppState = Depends(get_state), _key: str = Depends(require_scope("admin"))) -> dict:
    """Load the version the CURRENT pointer names and swap it in; requests in flight keep the old one."""
    try:
        model, version = state.store.load()
        state.engine.swap(LiveModel(model, version, state.store.name))
    except RecstrataError as exc:
        raise HTTPException(409, f"reload refused, still serving the old model: {exc}") from exc
    return {"model_version": f"{state.store.name}/{version}"}


@router.delete("/v1/users/{user_id}", status_code=204, responses=AUTH)
def erase_user(user_id: str = Path(min_length=1, max_length=128, pattern=ID_PATTERN),
               state: AppState = Depends(get_state), _key: str = Depends(require_scope("users:erase"))) -> Response:
    """Erase the user's events, live history, cached explanations and derived vectors."""
    state.events.erase(user_id)
    state.engine.erase(user_id)
    state.explainer.erase_user(user_id)
    return Response(status_code=204)
