"""The one LLM interface of recstrata: messages in, a :class:`Completion` out, every call accounted.

Backends implement only :meth:`LLMBackend._complete`, which turns a prepared :class:`Request` into a
:class:`RawReply`. The shared :meth:`LLMBackend.generate` does the rest identically for every backend:
argument checks, the deadline clock, schema validation and usage accounting.

Deadline semantics (the same for every backend): ``deadline`` is a budget in seconds for the whole
call, measured from the moment ``generate`` is entered (waiting for a busy local model counts). If
the budget runs out before the reply is complete, ``generate`` raises :class:`LLMTimeoutError`; it
never returns half an answer. Rationale: the callers (layer-3 explanations, reranking) degrade to a
no-LLM output on failure, and a truncated sentence or JSON document is worse than none. The call
is still recorded in the ledger with the tokens that were spent.

Prompt modes: ``"chat"`` hands the messages to the model's chat template (instruction-tuned models);
``"completion"`` renders them into a plain-text transcript with :func:`render_transcript` (base models
with no chat template, such as Gemma-3-270M here): a system message becomes a preamble, earlier
user/assistant pairs become few-shot examples, and generation continues after ``"Assistant:"``.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pydantic

from recstrata.errors import ConfigError, LLMError, LLMTimeoutError
from recstrata.llm._schema import OutputContract
from recstrata.llm.usage import Price, UsageLedger, UsageRecord

__all__ = [
    "Role",
    "PromptMode",
    "FinishReason",
    "Message",
    "Usage",
    "Completion",
    "Request",
    "RawReply",
    "LLMBackend",
    "render_transcript",
    "schema_instruction",
]

Role = Literal["system", "user", "assistant"]
PromptMode = Literal["chat", "completion"]
FinishReason = Literal["stop", "length", "deadline"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str

    def __post_init__(self) -> None:
        if self.role not in ("system", "user", "assistant"):
            raise ConfigError(f"message role must be system, user or assistant, got {self.role!r}")


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Completion:
    """The reply. ``parsed`` is the validated pydantic object (or dict) when a schema was given."""

    text: str
    parsed: Any
    usage: Usage
    latency_s: float
    cost: float
    backend: str
    model: str
    finish_reason: FinishReason


@dataclass(frozen=True)
class Request:
    """A validated call, as a backend sees it. ``deadline_at`` is on the ``time.monotonic`` clock."""

    messages: tuple[Message, ...]
    max_tokens: int
    temperature: float
    contract: OutputContract | None
    stop: tuple[str, ...]
    deadline_at: float | None
    seed: int | None

    def remaining(self) -> float | None:
        """Seconds left before the deadline (may be negative), or None without a deadline."""
        return None if self.deadline_at is None else self.deadline_at - time.monotonic()

    def expired(self) -> bool:
        return self.deadline_at is not None and time.monotonic() >= self.deadline_at


@dataclass(frozen=True)
class RawReply:
    """What a backend returns before validation and accounting."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: FinishReason
    extra: dict[str, Any] = field(default_factory=dict)


def _as_messages(messages: Sequence[Message | Mapping[str, str]] | str) -> tuple[Message, ...]:
    if isinstance(messages, str):
        return (Message("user", messages),)
    out = []
    for m in messages:
        if isinstance(m, Message):
            out.append(m)
        elif isinstance(m, Mapping) and "role" in m and "content" in m:
            out.append(Message(m["role"], m["content"]))  # type: ignore[arg-type]
        else:
            raise ConfigError(f"messages must be Message objects or {{'role', 'content'}} dicts, got {m!r}")
    if not out:
        raise ConfigError("messages is empty; pass at least one user message or a prompt string")
    return tuple(out)


def render_transcript(messages: Sequence[Message]) -> str:
    """Plain-text rendering of a conversation for base models (``prompt_mode="completion"``).

    A trailing assistant message is left open so the model continues it (useful to prefill ``{``).
    """
    parts: list[str] = []
    for m in messages:
        if m.role == "system":
            parts.append(m.content.strip() + "\n\n")
        elif m.role == "user":
            parts.append(f"User: {m.content.strip()}\n")
        else:
            parts.append(f"Assistant: {m.content.strip()}\n")
    if messages[-1].role == "assistant":
        parts[-1] = parts[-1].rstrip("\n")
    else:
        parts.append("Assistant:")
    return "".join(parts)


# Stop strings that end a turn in the plain-text transcript.
TRANSCRIPT_STOPS: tuple[str, ...] = ("\nUser:", "\n\nUser:")


def schema_instruction(schema: type[pydantic.BaseModel] | dict) -> str:
    """A sentence to put in the prompt asking for JSON with the schema's keys (helps small models)."""
    contract = OutputContract.from_schema(schema)
    assert contract is not None
    props = contract.json_schema.get("properties", {})
    keys = ", ".join(f'"{k}" ({v.get("type", "value")})' for k, v in props.items())
    return f"Answer with one JSON object only, with the keys {keys}."


class LLMBackend(abc.ABC):
    """Base class of every backend. Subclasses implement ``_complete`` (and ``close`` if they hold resources).

    ``__init__`` of subclasses only stores parameters; models and connections open lazily on first use.
    """

    kind: str = "llm"

    def __init__(self, *, ledger: UsageLedger | None = None, price: Price | None = None) -> None:
        self.ledger = ledger
        self.price = price or Price()

    # --- identity -----------------------------------------------------------------
    @property
    def name(self) -> str:
        """Backend name used in accounting, e.g. ``"llama.cpp"``, ``"openai-http"``, ``"mock"``."""
        return self.kind

    @property
    @abc.abstractmethod
    def model(self) -> str:
        """Model identifier, e.g. ``"SmolLM2-135M-Instruct.Q4_1"``."""

    # --- the call -----------------------------------------------------------------
    def generate(
        self,
        messages: Sequence[Message | Mapping[str, str]] | str,
        *,
        max_tokens: int = 128,
        temperature: float = 0.0,
        schema: type[pydantic.BaseModel] | dict | None = None,
        stop: str | Sequence[str] | None = None,
        deadline: float | None = None,
        seed: int | None = None,
    ) -> Completion:
        """Generate a reply. See the module docstring for deadline and prompt-mode semantics.

        Raises LLMTimeoutError (deadline), LLMOutputError (reply breaks ``schema``),
        LLMUnavailableError (model missing / server unreachable), LLMError (other backend failures).
        The error's ``usage`` is the :class:`UsageRecord` of the failed call (tokens, seconds, cost):
        a caller accounts for what the call spent without a ledger.
        """
        start = time.monotonic()
        if max_tokens < 1:
            raise ConfigError(f"max_tokens must be >= 1, got {max_tokens}")
        if temperature < 0:
            raise ConfigError(f"temperature must be >= 0, got {temperature}")
        if deadline is not None and deadline <= 0:
            raise ConfigError(f"deadline is a budget in seconds and must be > 0, got {deadline}")
        request = Request(
            messages=_as_messages(messages),
            max_tokens=int(max_tokens),
            temperature=float(temperature),
            contract=OutputContract.from_schema(schema),
            stop=(stop,) if isinstance(stop, str) else tuple(stop or ()),
            deadline_at=None if deadline is None else start + deadline,
            seed=seed,
        )
        try:
            raw = self._complete(request)
        except LLMError as exc:
            exc.usage = self._record(0, 0, time.monotonic() - start, error=type(exc).__name__)
            raise
        latency = time.monotonic() - start
        cost = self.price.cost(raw.prompt_tokens, raw.completion_tokens)
        if raw.finish_reason == "deadline" or (request.deadline_at is not None and latency > deadline):
            late = LLMTimeoutError(
                f"{self.name}/{self.model} did not finish within the {deadline:g} s deadline "
                f"(took {latency:.3f} s); raise the deadline or lower max_tokens"
            )
            late.usage = self._record(raw.prompt_tokens, raw.completion_tokens, latency, error="LLMTimeoutError")
            raise late
        parsed = None
        if request.contract is not None:
            try:
                parsed = request.contract.parse(raw.text)
            except LLMError as exc:
                spent = self._record(raw.prompt_tokens, raw.completion_tokens, latency, error=type(exc).__name__)
                if raw.finish_reason == "length":
                    cut = type(exc)(f"{exc} (output was cut at max_tokens={max_tokens}; raise it)")
                    cut.usage = spent
                    raise cut from exc
                exc.usage = spent
                raise
        self._record(raw.prompt_tokens, raw.completion_tokens, latency)
        return Completion(
            text=raw.text,
            parsed=parsed,
            usage=Usage(raw.prompt_tokens, raw.completion_tokens),
            latency_s=latency,
            cost=cost,
            backend=self.name,
            model=self.model,
            finish_reason=raw.finish_reason,
        )

    @abc.abstractmethod
    def _complete(self, request: Request) -> RawReply:
        """Run one call. Return ``finish_reason="deadline"`` (or raise LLMTimeoutError) when out of time."""

    def _record(
        self, prompt_tokens: int, completion_tokens: int, seconds: float, error: str | None = None
    ) -> UsageRecord:
        """The usage of one call, put in the ledger if there is one."""
        record = UsageRecord(
            backend=self.name,
            model=self.model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            seconds=seconds,
            cost=self.price.cost(prompt_tokens, completion_tokens),
            error=error,
        )
        if self.ledger is not None:
            self.ledger.record(record)
        return record

    # --- lifecycle ----------------------------------------------------------------
    def close(self) -> None:
        """Release models / connections. Safe to call twice; the backend reopens lazily if used again."""

    def __enter__(self) -> LLMBackend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, model={self.model!r})"
