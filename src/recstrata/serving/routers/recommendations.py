"""Recommendations for known users, anonymous sessions, and similar items."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from starlette.concurrency import run_in_threadpool

from recstrata.errors import DataError
from recstrata.retrieval._params import did_you_mean
from recstrata.serving.deps import get_state, invalid
from recstrata.serving.engine import Filters, RecResult
from recstrata.serving.schemas import (ID_PATTERN, NOT_FOUND, TOO_LARGE, Filtered, RecItem, RecQuery, RecResponse,
                                      SessionRequest, SimilarQuery, SimilarResponse)
from recstrata.serving.state import AppState

router = APIRouter(prefix="/v1", tags=["recommendations"])


def _items(state: AppState, result: RecResult) -> list[RecItem]:
    info = state.engine.item_info
    return [RecItem(**info(i), score=s, sources=src) for i, s, src in zip(result.indices, result.scores, result.sources)]


def _filters(state: AppState, q: Filtered, where: str) -> Filters:
    """The request's filters; 422 for filters that cannot match (an unknown genre, an empty year range),
    so an empty answer always means that no unseen item passes them."""
    if q.year_min is not None and q.year_max is not None and q.year_min > q.year_max:
        raise invalid((where, "year_min"), f"year_min {q.year_min} is after year_max {q.year_max}, so no year "
                                           "matches: swap them", q.year_min, "year_range")
    if q.genre is not None and q.genre.lower() not in (genres := state.engine.genres()):
        some = ", ".join(list(genres)[:8]) + (", ..." if len(genres) > 8 else "")
        raise invalid((where, "genre"), f"unknown genre {q.genre!r}{did_you_mean(q.genre.lower(), genres)}: the "
                                        f"catalog's {len(genres)} genres (any case) include {some or 'none'}",
                      q.genre, "unknown_genre")
    return Filters(q.genre, q.year_min, q.year_max, tuple(q.exclude))


def _respond(state: AppState, result: RecResult, user_id: str | None, k: int) -> RecResponse:
    if state.shadow is not None and not result.cold_start:
        state.shadow.offer(state.engine.history_of(result), result.indices, result.latency_ms, k)
    return RecResponse(user_id=user_id, items=_items(state, result), model_version=result.model_version,
                       cold_start=result.cold_start, latency_ms=result.latency_ms)


# Scoring a user is ~0.3 ms of numpy for catalogs scored densely, and a graph/partition index search
# about as much: cheaper inline on the event loop than a thread-pool hop (which also fights over the
# GIL). Slower work (a flat scan of millions of items: Engine.runs_inline is False) goes to the
# thread pool so it never blocks the loop;
# endpoints that are always slow (explanations) are plain sync functions.
@router.get("/users/{user_id}/recommendations", response_model=RecResponse, responses=NOT_FOUND)
async def user_recommendations(
    q: Annotated[RecQuery, Query()],
    user_id: str = Path(min_length=1, max_length=128, pattern=ID_PATTERN),
    state: AppState = Depends(get_state),
) -> RecResponse:
    engine = state.engine
    k = q.k
    call = dict(user_id=user_id, k=min(k, state.settings.max_k), filters=_filters(state, q, "query"))
    try:
        result = engine.recommend(**call) if engine.runs_inline else await run_in_threadpool(engine.recommend, **call)
    except DataError as exc:
        raise HTTPException(404, str(exc)) from exc
    return _respond(state, result, user_id, k)


@router.post("/recommendations", response_model=RecResponse, responses={**NOT_FOUND, **TOO_LARGE})
def session_recommendations(body: SessionRequest, state: AppState = Depends(get_state)) -> RecResponse:
    try:
        result = state.engine.recommend(history=body.recent_items, k=min(body.k, state.settings.max_k),
                                        filters=_filters(state, body, "body"))
    except DataError as exc:
        raise HTTPException(404, str(exc)) from exc
    return _respond(state, result, None, body.k)


@router.get("/items/{item_id}/similar", response_model=SimilarResponse, responses=NOT_FOUND)
def similar_items(
    q: Annotated[SimilarQuery, Query()],
    item_id: str = Path(min_length=1, max_length=128, pattern=ID_PATTERN),
    state: AppState = Depends(get_state),
) -> SimilarResponse:
    try:
        ids, scores, source = state.engine.similar(item_id, q.k)
    except DataError as exc:
        raise HTTPException(404, str(exc)) from exc
    items = [RecItem(**state.engine.item_info(state.engine.item_index(i)), score=s, sources=[source])
             for i, s in zip(ids, scores)]
    return SimilarResponse(item_id=item_id, items=items)
