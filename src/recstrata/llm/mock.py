"""A scripted test double at the backend interface.

Replies are queued with :meth:`MockBackend.enqueue` and handed out in order; each call is recorded
in :attr:`MockBackend.calls`. The reply goes through the same validation and accounting as a real
backend's (``LLMBackend.generate``), so tests of callers exercise the real contract::

    llm = MockBackend()
    llm.enqueue('{"tags": ["noir"], "summary": "A detective story."}')
    llm.enqueue(LLMTimeoutError("simulated"))          # raised by the next call
    llm.enqueue("not json")                           # garbage: a schema call raises LLMOutputError
    llm.enqueue("slow reply", latency=0.5)            # sleeps; a 0.1 s deadline raises LLMTimeoutError
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from recstrata.errors import LLMError
from recstrata.llm.base import LLMBackend, Message, RawReply, Request
from recstrata.llm.usage import Price, UsageLedger

__all__ = ["MockBackend", "MockCall"]


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
