"""A scripted stand-in for an ``LLMBackend`` (same ``generate`` signature and ``Completion`` fields).

Replies come from a function of the prompt, so a test decides per item what the "model" says,
and every prompt is recorded for inspection.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from recstrata.errors import LLMOutputError


class ScriptedBackend:
    model = "scripted-model"
    name = "scripted"

    def __init__(self, reply: Callable[[str], Any], *, fail_after: int | None = None) -> None:
        self.reply = reply
        self.fail_after = fail_after  # raise KeyboardInterrupt on call number fail_after + 1
        self.prompts: list[list[dict[str, str]]] = []
        self.schemas: list[Any] = []

    def generate(self, messages, *, max_tokens=256, temperature=0.0, schema=None, stop=None, deadline=None):
        if self.fail_after is not None and len(self.prompts) >= self.fail_after:
            raise KeyboardInterrupt("simulated kill")
        self.prompts.append(messages)
        self.schemas.append(schema)
        user = messages[-1]["content"]
        value = self.reply(user)
        text = value if isinstance(value, str) else json.dumps(value)
        parsed = None
        if schema is not None:  # a real backend validates constrained output the same way
            try:
                parsed = schema.model_validate_json(text)
            except Exception as exc:
                raise LLMOutputError(f"not valid {schema.__name__}: {exc}") from exc
        return SimpleNamespace(text=text, parsed=parsed,
                               usage=SimpleNamespace(prompt_tokens=len(user.split()), completion_tokens=len(text) // 4),
                               latency_s=0.001, cost=0.0, backend=self.name, model=self.model, finish_reason="stop")

    @property
    def user_prompts(self) -> list[str]:
        return [m[-1]["content"] for m in self.prompts]

    @property
    def all_prompt_text(self) -> str:
        return "\n".join(m["content"] for msgs in self.prompts for m in msgs)


def item_reply(user_prompt: str) -> dict:
    """A valid ItemAttributes answer that echoes the item's first title word as a tag."""
    inner = user_prompt.split("<item>", 1)[1].split("</item>", 1)[0]
    word = inner.split()[0].lower().strip(";,.()") or "x"
    return {"tags": [word, "drama"], "mood": "calm", "audience": "adults", "summary": f"About {word} things."}
