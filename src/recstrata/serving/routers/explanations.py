"""Layer-3 explanations for at most 5 of a user's items, under the configured deadline."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, HTTPException

from recstrata.errors import DataError
from recstrata.serving.deps import get_state
from recstrata.serving.schemas import NOT_FOUND, TOO_LARGE, ExplainRequest, ExplainResponse, ExplanationOut
from recstrata.serving.state import AppState

router = APIRouter(prefix="/v1", tags=["explanations"])


@router.post("/explanations", response_model=ExplainResponse, responses={**NOT_FOUND, **TOO_LARGE})
def explain(body: ExplainRequest, state: AppState = Depends(get_state)) -> ExplainResponse:
    start = time.perf_counter()
    try:
        items = [state.engine.item_index(i) for i in body.item_ids]
    except DataError as exc:
        raise HTTPException(404, str(exc)) from exc
    history = state.engine.history(body.user_id) or []
    before = state.explainer.backend.ledger.total() if state.explainer.backend else None
    out, degraded = state.explainer.explain(state.engine.live.model, body.user_id, history[-200:], items,
                                            state.settings.explanation_deadline_s)
    m = state.metrics
    for e in out:
        m.explanations.labels(e.source).inc()
    if degraded:
        m.degraded.labels("explanations").inc()
    if before is not None:
        after = state.explainer.backend.ledger.total()
        m.llm_tokens.labels("in").inc(after.prompt_tokens - before.prompt_tokens)
        m.llm_tokens.labels("out").inc(after.completion_tokens - before.completion_tokens)
        m.llm_cost.inc(after.cost - before.cost)
    return ExplainResponse(
        user_id=body.user_id,
        explanations=[ExplanationOut(item_id=e.item_id, sentence=e.sentence, source=e.source,
                                     grounding=e.grounding.facts(), rejected=e.rejected) for e in out],
        degraded=degraded,
        latency_ms=(time.perf_counter() - start) * 1000,
    )
