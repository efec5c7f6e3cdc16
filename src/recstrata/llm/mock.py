"""A test double at the backend interface: enqueue replies, inspect what it was asked."""

from __future__ import annotations

import threading
import time
from collections import deque

from recstrata.errors import LLMUnavailableError
from recstrata.llm.base import LLMBackend, RawCompletion, Request
from recstrata.llm.usage import Usage


class MockBackend(LLMBackend):
    """Replies come from a queue: strings are returned as model text, exceptions are raised.

    ``delay`` simulates latency (it honours the request deadline like a real backend would
    not: the base class turns a late answer into ``LLMTimeoutError``). ``default`` answers when
    the queue is empty; without one an empty queue is an error, so tests notice extra calls.
    """

    kind = "mock"

    def __init__(self, replies=(), *, default: str | None = None, delay: float = 0.0, model: str = "mock", **kw):
        super().__init__(model=model, **kw)
        self.replies: deque = deque(replies)
        self.default = default
        self.delay = delay
        self.requests: list[Request] = []
        self._lock = threading.Lock()

    def enqueue(self, *replies: str | BaseException) -> MockBackend:
        with self._lock:
            self.replies.extend(replies)
        return self

    def _complete(self, request: Request) -> RawCompletion:
        with self._lock:
            self.requests.append(request)
            reply = self.replies.popleft() if self.replies else self.default
        if self.delay:
            time.sleep(self.delay)
        if reply is None:
            raise LLMUnavailableError("MockBackend has no reply queued: enqueue() one or set default=")
        if isinstance(reply, BaseException):
            raise reply
        prompt_tokens = sum(len(m.content.split()) for m in request.messages)
        completion = reply.split()[: request.max_tokens]
        text = reply if len(reply.split()) <= request.max_tokens else " ".join(completion)
        finish = "stop" if len(reply.split()) <= request.max_tokens else "length"
        return RawCompletion(text=text, usage=Usage(prompt_tokens, len(completion)), finish_reason=finish)
