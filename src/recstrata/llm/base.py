"""The one interface every LLM call in recstrata goes through.

    backend = get_backend("smollm2")
    out = backend.generate([Message("user", "Tag this movie: ...")], max_tokens=64, schema=Tags)
    out.parsed      # a validated ``Tags`` instance (constrained decoding where the backend can)
    out.usage, out.latency_s, out.cost

A backend implements ``_complete``; ``generate`` adds the contract around it: argument checks,
the deadline, schema validation, and accounting of every call (failures included).
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from recstrata.errors import ConfigError, LLMError, LLMOutputError, LLMTimeoutError
from recstrata.llm.usage import Price, Usage, UsageLedger

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True)
class Completion:
    text: str
    parsed: Any
    usage: Usage
    latency_s: float
    cost: float
    backend: str
    model: str
    finish_reason: str


@dataclass(frozen=True)
class Request:
    """What a backend's ``_complete`` receives (already validated)."""

    messages: tuple[Message, ...]
    max_tokens: int
    temperature: float
    json_schema: dict | None
    stop: tuple[str, ...]
    deadline: float | None  # absolute time.monotonic() by which the call must be done
    seed: int | None


@dataclass(frozen=True)
class RawCompletion:
    text: str
    usage: Usage
    finish_reason: str = "stop"


def schema_of(schema: type[BaseModel] | dict | None) -> dict | None:
    if schema is None:
        return None
    if isinstance(schema, dict):
        return schema
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return schema.model_json_schema()
    raise ConfigError(f"schema must be a pydantic model class or a JSON-schema dict, got {schema!r}")


def parse_output(text: str, schema: type[BaseModel] | dict | None) -> Any:
    """Validate ``text`` against ``schema``; raise ``LLMOutputError`` with what was wrong."""
    if schema is None:
        return None
    try:
        # strict=False tolerates raw control characters inside strings, a common model quirk
        data = json.loads(text, strict=False)
    except ValueError as exc:
        raise LLMOutputError(f"output is not valid JSON ({exc}): {text[:200]!r}") from exc
    if isinstance(schema, dict):
        required = schema.get("required", [])
        if not isinstance(data, dict) or any(k not in data for k in required):
            raise LLMOutputError(f"output lacks required fields {required}: {text[:200]!r}")
        return data
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise LLMOutputError(f"output does not match {schema.__name__}: {exc.errors()[:3]}") from exc


class LLMBackend(ABC):
    """Base class of every backend."""

    #: short backend kind, e.g. "llama.cpp", "openai", "mock"
    kind: str = "base"

    def __init__(self, *, model: str, price: Price | None = None, ledger: UsageLedger | None = None) -> None:
        self.model = model
        self.price = price or Price()
        self.ledger = ledger or UsageLedger()

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.model}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r})"

    def generate(
        self,
        messages: Sequence[Message] | str,
        *,
        max_tokens: int = 128,
        temperature: float = 0.0,
        schema: type[BaseModel] | dict | None = None,
        stop: Sequence[str] | None = None,
        deadline: float | None = None,
        seed: int | None = None,
    ) -> Completion:
        """Generate a reply. ``deadline`` is a budget in seconds for this call; when it runs out the
        call raises ``LLMTimeoutError`` (never a silently truncated answer)."""
        if isinstance(messages, str):
            messages = [Message("user", messages)]
        messages = tuple(m if isinstance(m, Message) else Message(**m) for m in messages)
        if not messages:
            raise ConfigError("generate() needs at least one message")
        if max_tokens <= 0:
            raise ConfigError(f"max_tokens must be positive, got {max_tokens}")
        if deadline is not None and deadline <= 0:
            raise LLMTimeoutError(f"{self.name}: deadline of {deadline}s leaves no time to call the model")
        start = time.monotonic()
        request = Request(
            messages=messages,
            max_tokens=max_tokens,
            temperature=temperature,
            json_schema=schema_of(schema),
            stop=tuple(stop or ()),
            deadline=None if deadline is None else start + deadline,
            seed=seed,
        )
        try:
            raw = self._complete(request)
            if request.deadline is not None and time.monotonic() > request.deadline:
                raise LLMTimeoutError(f"{self.name}: answered after the {deadline:.3f}s deadline")
            parsed = parse_output(raw.text, schema)
        except LLMError:
            self.ledger.record(self.name, Usage(), time.monotonic() - start, 0.0, ok=False)
            raise
        latency = time.monotonic() - start
        cost = self.price.cost(raw.usage)
        self.ledger.record(self.name, raw.usage, latency, cost)
        return Completion(
            text=raw.text,
            parsed=parsed,
            usage=raw.usage,
            latency_s=latency,
            cost=cost,
            backend=self.kind,
            model=self.model,
            finish_reason=raw.finish_reason,
        )

    @abstractmethod
    def _complete(self, request: Request) -> RawCompletion:
        """Run the model. Raise LLMUnavailableError / LLMTimeoutError / LLMOutputError on failure."""

    def close(self) -> None:
        """Release resources (model memory, HTTP connections)."""

    def __enter__(self) -> LLMBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
