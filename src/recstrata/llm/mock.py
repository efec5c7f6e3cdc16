"""A scripted test double at the backend interface.

Replies are queued with :meth:`MockBackend.enqueue` and handed out in order; each call is recorded
in :attr:`MockBackend.calls`. The reply goes through the same validation and accounting as a real
backend's (``LLMBackend.generate``), so tests of callers exercise the real contract::

    llm = MockBackend()
    llm.enqueue('{"tags": ["noir"], "summary": "A detective story."}')
    llm.enqueue(LLMTimeoutError("simulated"))          # raised by the next call
    llm.enqueue("not json")                           # garbage: a schema call raises LLMOutputError
    llm.enqueue("slow reply", latency=0.5)            # sleeps; a 0.1 s deadline raises LLMTimeoutError

``MockBackend(default=dry_run)`` (what ``get_backend("mock")`` builds for the command line) answers
a structured call with the smallest reply its JSON schema accepts (:func:`schema_example`): an
offline dry run of a job, end to end, with placeholder answers.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from recstrata.errors import LLMError
from recstrata.llm.base import LLMBackend, Message, RawReply, Request
from recstrata.llm.usage import Price, UsageLedger

__all__ = ["MockBackend", "MockCall", "dry_run", "schema_example"]


@dataclass(frozen=True)
class MockCall:
    messages: tuple[Message, ...]
    schema: dict[str, Any] | None
    max_tokens: int
    temperature: float
    stop: tuple[str, ...]
    deadline_s: float | None
    seed: int | None


@dataclass(frozen=True)
class _Scripted:
    reply: str | BaseException | Callable[[Request], str]
    latency: float


def _count(text: str) -> int:
    """A stand-in tokenizer: whitespace-separated words (deterministic, model-free)."""
    return len(text.split())


class MockBackend(LLMBackend):
    """Scripted replies. With an empty queue it answers ``default`` (a text or a function of the
    request; raises LLMError if ``default`` is None), after ``latency`` seconds.

    Token counts are whitespace word counts; ``max_tokens`` cuts the reply to that many words and
    sets ``finish_reason="length"``, as a real model would.
    """

    kind = "mock"

    def __init__(
        self,
        default: str | Callable[[Request], str] | None = "mock reply",
        *,
        latency: float = 0.0,
        model_id: str = "mock-1",
        ledger: UsageLedger | None = None,
        price: Price | None = None,
    ) -> None:
        super().__init__(ledger=ledger, price=price)
        self.default = default
        self.latency = latency
        self.model_id = model_id
        self.calls: list[MockCall] = []
        self._queue: deque[_Scripted] = deque()
        self._lock = threading.Lock()

    @property
    def model(self) -> str:
        return self.model_id

    def enqueue(
        self, reply: str | BaseException | Callable[[Request], str], *, latency: float = 0.0
    ) -> MockBackend:
        """Queue a reply text, an exception to raise, or a function of the request giving the text."""
        with self._lock:
            self._queue.append(_Scripted(reply, latency))
        return self

    def _complete(self, request: Request) -> RawReply:
        with self._lock:
            self.calls.append(
                MockCall(
                    messages=request.messages,
                    schema=request.contract.json_schema if request.contract else None,
                    max_tokens=request.max_tokens,
                    temperature=request.temperature,
                    stop=request.stop,
                    deadline_s=request.remaining(),
                    seed=request.seed,
                )
            )
            scripted = self._queue.popleft() if self._queue else None
        if scripted is None:
            if self.default is None:
                raise LLMError("MockBackend has no reply queued; call enqueue() before generate()")
            scripted = _Scripted(self.default, self.latency)
        if scripted.latency:
            remaining = request.remaining()
            if remaining is not None and remaining < scripted.latency:
                time.sleep(max(remaining, 0.0))  # a real model would stop at the deadline
                return RawReply("", _prompt_tokens(request), 0, "deadline")
            time.sleep(scripted.latency)
        reply = scripted.reply
        if isinstance(reply, BaseException):
            raise reply
        text = reply(request) if callable(reply) else reply
        for s in request.stop:
            if s and s in text:
                text = text[: text.index(s)]
        words = text.split()
        finish = "stop"
        if len(words) > request.max_tokens:
            text, finish = " ".join(words[: request.max_tokens]), "length"
        return RawReply(text, _prompt_tokens(request), _count(text), finish)


def _prompt_tokens(request: Request) -> int:
    return sum(_count(m.content) for m in request.messages)


def dry_run(request: Request) -> str:
    """A placeholder answer: for a structured call the compact JSON of :func:`schema_example`, which
    passes the contract; ``"mock reply"`` otherwise."""
    if request.contract is None:
        return "mock reply"
    return json.dumps(schema_example(request.contract.json_schema), separators=(",", ":"))


def schema_example(schema: dict[str, Any], _root: dict[str, Any] | None = None, _index: int = 0) -> Any:
    """The smallest value a JSON schema (as pydantic writes them) accepts: each required property,
    ``minItems`` items, the first ``enum`` value, the lower bound of a number, a string of
    ``minLength`` (``"mock"`` when that is shorter). ``pattern`` and ``format`` are not followed."""
    root = schema if _root is None else _root
    if "$ref" in schema:  # "#/$defs/Name"
        target: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return schema_example(target, root, _index)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][_index % len(schema["enum"])]
    for key in ("allOf", "anyOf", "oneOf"):
        if schema.get(key):
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return schema_example(options[0], root, _index)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: schema_example(props.get(name, {}), root) for name in schema.get("required", [])}
    if kind == "array":
        n = max(int(schema.get("minItems", 0)), 0)
        return [schema_example(schema.get("items", {}), root, i) for i in range(n)]
    if kind in ("integer", "number"):
        step = 1 if kind == "integer" else 1e-6
        low, high = schema.get("minimum"), schema.get("maximum")
        if "exclusiveMinimum" in schema:
            low = schema["exclusiveMinimum"] + step
        if "exclusiveMaximum" in schema:
            high = schema["exclusiveMaximum"] - step
        value = min(0 if low is None else low, float("inf") if high is None else high)
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    word = f"mock{_index or ''}"  # distinct items in an array of strings
    n = max(int(schema.get("minLength", 0)), len(word))
    return (word * (n // len(word) + 1))[: min(n, schema.get("maxLength", n))]
