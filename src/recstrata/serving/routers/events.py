"""Feedback events: durable, idempotent, and visible in the user's next recommendation."""

from __future__ import annotations

import logging
import sqlite3

from fastapi import APIRouter, Depends, HTTPException

from recstrata.data.dataset import Dataset
from recstrata.errors import ConflictError, DataError
from recstrata.serving.deps import get_state, invalid, require_scope
from recstrata.serving.events import Event
from recstrata.serving.schemas import AUTH, NOT_FOUND, TOO_LARGE, ErrorOut, EventAck, EventIn
from recstrata.serving.settings import ServingSettings
from recstrata.serving.state import AppState

router = APIRouter(prefix="/v1", tags=["events"])
log = logging.getLogger("recstrata.serving")


@router.post("/events", response_model=EventAck, status_code=200, responses={
    **NOT_FOUND, **AUTH, **TOO_LARGE,
    409: {"model": ErrorOut, "description": "the idempotency key was used for another event"},
    503: {"model": ErrorOut, "description": "the event store could not write (e.g. a full disk): nothing was stored, "
                                            "retry with the same idempotency key"}})
def post_event(body: EventIn, state: AppState = Depends(get_state),
               _key: str = Depends(require_scope("events:write"))) -> EventAck:
    check_value(body, rating_scale(state.settings, state.dataset))
    try:
        state.engine.item_index(body.item_id)  # validate before acknowledging
    except DataError as exc:
        raise HTTPException(404, str(exc)) from exc
    event = Event(body.idempotency_key, body.user_id, body.item_id, body.type, body.value, body.timestamp)
    try:
        stored = state.events.append(event)  # on disk (WAL, synchronous=FULL) before we answer
    except ConflictError as exc:
        raise HTTPException(409, str(exc)) from exc
    except sqlite3.OperationalError as exc:  # rolled back: nothing stored
        log.error("event store write failed: %s", exc)
        raise HTTPException(503, f"the event was not stored: the event store failed ({exc}); retry it later with "
                                 "the same idempotency key") from exc
    if stored:
        state.engine.add_event(body.user_id, body.item_id)
    state.metrics.events.labels(body.type, str(not stored).lower()).inc()
    return EventAck(accepted=True, duplicate=not stored)


def rating_scale(settings: ServingSettings, dataset: Dataset) -> tuple[float, float] | None:
    """The scale ratings are checked against: the setting, else the one the dataset's loader declares
    (a range merely observed in the data is no rule), else None: any finite value."""
    if settings.rating_scale is not None:
        return settings.rating_scale
    return dataset.rating_scale if dataset.meta.get("rating_scale_declared") else None


def check_value(body: EventIn, scale: tuple[float, float] | None) -> None:
    """A rating is on the served rating scale (which the static schema cannot know)."""
    if body.type == "rating" and scale is not None and not scale[0] <= body.value <= scale[1]:
        raise invalid(("body", "value"), f"rating {body.value:g} is outside the rating scale {scale[0]:g} to "
                                         f"{scale[1]:g} (setting rating_scale, else the dataset's): send it on "
                                         "that scale", body.value, "rating_scale")
