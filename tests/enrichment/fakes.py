"""``MockBackend`` scripted per prompt: the reply is a function of the last user message.

A test decides per item what the "model" says; every call (messages, schema) is recorded by the
mock. ``fail_after=N`` raises ``KeyboardInterrupt`` on call N + 1: a kill in the middle of a run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from recstrata.errors import RecstrataError
from recstrata.llm.mock import MockBackend


class ScriptedBackend(MockBackend):
    def __init__(self, reply: Callable[[str], Any], *, fail_after: int | None = None) -> None:
        def answer(request) -> str:
            if fail_after is not None and len(self.calls) > fail_after:
                raise KeyboardInterrupt("simulated kill")
            value = reply(request.messages[-1].content)
            return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))

        super().__init__(answer, model_id="scripted-1")

    @property
    def prompts(self) -> list[tuple]:
        return [c.messages for c in self.calls]

    @property
    def schemas(self) -> list[Any]:
        return [c.schema for c in self.calls]

    @property
    def user_prompts(self) -> list[str]:
        return [c.messages[-1].content for c in self.calls]

    @property
    def system_prompts(self) -> list[str]:
        return [c.messages[0].content for c in self.calls]

    @property
    def all_prompt_text(self) -> str:
        return "\n".join(m.content for c in self.calls for m in c.messages)


def item_reply(user_prompt: str) -> dict:
    """A valid answer (closed vocabulary) that puts a tag derived from the item's first word."""
    inner = user_prompt.split("<item>", 1)[1].split("</item>", 1)[0]
    word = inner.split()[0].lower().strip(";,.()") or "x"
    tag = {"alien": "alien", "copper": "heist", "dune": "space"}.get(word, "drama")
    return {"tags": [tag, "drama"], "mood": "light", "audience": "adults", "summary": f"About {word} things."}


def scripted_items() -> ScriptedBackend:
    """A picklable backend factory (for worker processes): valid item answers for every item."""
    return ScriptedBackend(item_reply)


def unavailable_backend() -> ScriptedBackend:
    from recstrata.errors import LLMUnavailableError

    raise LLMUnavailableError("model server is down (simulated)")


def backend_missing_its_package() -> ScriptedBackend:
    from recstrata.errors import MissingDependencyError

    raise MissingDependencyError("llama_cpp", "llm", "the GGUF backend")


class TwoPartError(RecstrataError):
    """An error whose ``__init__`` takes two arguments (pickle's default would call it with one)."""

    def __init__(self, what: str, why: str) -> None:
        super().__init__(f"{what}: {why}")


def backend_raising_a_two_part_error() -> ScriptedBackend:
    raise TwoPartError("the backend", "cannot start (simulated)")


def backend_raising_an_unpicklable_error() -> ScriptedBackend:
    exc = RecstrataError("the backend cannot start (simulated)")
    exc.handle = lambda: None  # an attribute pickle cannot carry
    raise exc
