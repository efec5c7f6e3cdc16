"""Request and response models: strict (unknown fields rejected, bounds declared), so the
OpenAPI spec is the contract."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from pydantic_core import PydanticCustomError

ID_PATTERN = r"^[A-Za-z0-9._:\-]+$"
Id = Field(min_length=1, max_length=128, pattern=ID_PATTERN)
ItemId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=ID_PATTERN)]


class ErrorOut(BaseModel):
    detail: str


#: documented error answers, so the OpenAPI spec covers every status a client can see
NOT_FOUND = {404: {"model": ErrorOut, "description": "an item or user id that the catalog does not know"}}
AUTH = {401: {"model": ErrorOut, "description": "missing or unknown API key"},
        403: {"model": ErrorOut, "description": "the key lacks the scope"},
        429: {"model": ErrorOut, "description": "rate limited; see Retry-After"}}
#: on every POST route, the ones without a body too (Content-Length is checked before the route is known)
TOO_LARGE = {413: {"model": ErrorOut, "description": "the body is larger than the server's max_body_bytes"}}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _json_number(value: object) -> object:
    # a JSON body's numbers are JSON numbers: pydantic's lax mode would take true as 1 and "5" as 5, and
    # its strict mode refuses 5.0, which JSON Schema counts as an integer
    if isinstance(value, (bool, str)):
        raise PydanticCustomError("number_type", "Input should be a JSON number, not {kind}",
                                  {"kind": type(value).__name__})
    return value


def json_numbers(*fields: str):
    """Validator for a body model: ``fields`` must come as JSON numbers (query parameters come as text)."""
    return field_validator(*fields, mode="before")(_json_number)


class RecItem(BaseModel):
    id: str
    title: str | None
    genres: list[str]
    year: int | None
    score: float
    sources: list[str]


class RecResponse(BaseModel):
    user_id: str | None
    items: list[RecItem]
    model_version: str
    cold_start: bool
    latency_ms: float


class Filtered(Strict):
    """How many items, and which: shared by both recommendation requests."""

    k: int = Field(10, ge=1, le=100)
    genre: str | None = Field(None, min_length=1, max_length=64)
    year_min: int | None = Field(None, ge=1800, le=2200)
    year_max: int | None = Field(None, ge=1800, le=2200)
    exclude: list[ItemId] = Field(default_factory=list, max_length=200)


#: jQuery's ``cache: false`` appends ``_=<timestamp>`` to a GET so no cache answers it: taken and ignored
#: by both GET recommendation routes, which refuse every other unknown parameter
CacheBuster = Field(None, alias="_", max_length=64,
                    description="ignored: a cache-buster such as jQuery's `_=<timestamp>` (unknown parameters are 422)")


class RecQuery(Filtered):
    """Query parameters of ``GET /v1/users/{id}/recommendations`` (one model: one validation call per request)."""

    cache_buster: str | None = CacheBuster


class SessionRequest(Filtered):
    """An anonymous session: recent item ids (oldest first) and filters."""

    recent_items: list[ItemId] = Field(default_factory=list, max_length=200)

    _json_numbers = json_numbers("k", "year_min", "year_max")


class SimilarQuery(Strict):
    """Query parameters of ``GET /v1/items/{id}/similar``."""

    k: int = Field(10, ge=1, le=100)
    cache_buster: str | None = CacheBuster


#: Unicode categories a key may not hold: controls, invisible format characters (U+00AD, U+200B,
#: U+2060, ...), surrogates, private use, unassigned code points (U+FFFF), line/paragraph separators
UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
#: what the schema states of that (JSON Schema regexes have no portable Unicode categories): no C0 or C1
#: control character, at least one that is not a space; the server checks the categories (printable_key)
_CONTROL = r"\x00-\x1f\x7f-\x9f"
_SPACE = r"\x20\xa0\u1680\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff"
KEY_PATTERN = rf"^[^{_CONTROL}]*[^{_CONTROL}{_SPACE}][^{_CONTROL}]*$"


def _printable_key(key: str) -> str:
    if key.isspace() or any(unicodedata.category(c) in UNPRINTABLE for c in key):
        raise PydanticCustomError("printable_key", "an idempotency key is printable text, not blank, without control "
                                  "or invisible characters (e.g. a UUID): send a fresh one per event")
    return key


class EventIn(Strict):
    # the schema says that a rating carries a value (OpenAPI 3.1 is JSON Schema: if / then)
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "if": {"properties": {"type": {"const": "rating"}}},
        "then": {"properties": {"value": {"type": "number"}}, "required": ["value"]},
    })

    idempotency_key: Annotated[str, AfterValidator(_printable_key)] = Field(
        min_length=1, max_length=128, json_schema_extra={"pattern": KEY_PATTERN},
        description="one per event: printable, not blank (e.g. a UUID; no control, invisible, private-use or "
                    "unassigned character); a retry repeats it with the identical event")
    user_id: str = Id
    item_id: str = Id
    type: Literal["view", "click", "rating", "purchase"]
    value: float | None = Field(
        None, ge=-1e6, le=1e6, allow_inf_nan=False,
        description="rating: required; on the server's rating scale when it has one (setting rating_scale, or "
                    "declared by the dataset: 0.5 to 5 for ml-latest-small, 1 to 5 for ml-100k; else any "
                    "number is taken), since `recstrata train --events` weighs the interaction by it: send it "
                    "on the training data's scale. view, click, purchase: optional (e.g. seconds watched, a "
                    "quantity), not used for training")
    timestamp: float | None = Field(
        None, ge=0, le=1e11, allow_inf_nan=False,
        description="when it happened, in unix seconds (UTC; milliseconds are over the bound): taken as sent, so "
                    "0 is 1970-01-01 and sorts first when `recstrata train --events` orders a user's history. "
                    "Left out when the time is not known: the server stamps the time it receives the event")

    _json_numbers = json_numbers("value", "timestamp")

    @model_validator(mode="after")
    def _rating_has_a_value(self) -> EventIn:
        if self.type == "rating" and self.value is None:
            raise ValueError("a rating needs a value: send the rating as value, or send the event as a view, "
                             "click or purchase")
        return self


class EventAck(BaseModel):
    accepted: bool
    duplicate: bool


class ExplainRequest(Strict):
    user_id: str = Id
    item_ids: list[ItemId] = Field(min_length=1, max_length=5)


class ExplanationOut(BaseModel):
    item_id: str
    sentence: str
    source: Literal["llm", "template", "cache"]
    grounding: dict
    rejected: str | None


class ExplainResponse(BaseModel):
    user_id: str
    explanations: list[ExplanationOut]
    degraded: bool
    latency_ms: float


class SimilarResponse(BaseModel):
    item_id: str
    items: list[RecItem]


class ShadowSummary(BaseModel):
    enabled: bool
    model: str | None
    fraction: float
    compared: int = Field(description="comparisons made since start-up")
    dropped: int
    window: int = Field(0, description="comparisons the means and percentiles below cover (the most recent)")
    mean_overlap_at_k: float | None
    mean_spearman: float | None = Field(
        description="rank correlation of the shared items, averaged over the window's comparisons that share >= 2")
    live_p50_ms: float | None
    shadow_p50_ms: float | None
    live_p99_ms: float | None
    shadow_p99_ms: float | None
