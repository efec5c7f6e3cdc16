"""recstrata.llm: the one way recstrata talks to language models.

    from recstrata.llm import get_backend, UsageLedger

    ledger = UsageLedger()
    with get_backend("smollm2", ledger=ledger) as llm:
        reply = llm.generate("Describe Toy Story in one sentence.", max_tokens=40, deadline=5.0)
        tags = llm.generate(prompt, schema=ItemTags).parsed   # validated pydantic object

Backends: llama.cpp on local GGUF files (SmolLM2-135M-Instruct, Gemma-3-270M, any .gguf), any
OpenAI-compatible HTTP server, and a scripted mock. Names resolve lazily, so ``import recstrata.llm``
imports neither llama_cpp nor httpx.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    # interface (base)
    "LLMBackend",
    "Message",
    "Usage",
    "Completion",
    "PromptMode",
    "FinishReason",
    "render_transcript",
    "schema_instruction",
    # accounting
    "Price",
    "UsageRecord",
    "UsageSummary",
    "UsageLedger",
    # settings
    "LLMSettings",
    "HTTPSettings",
    # backends
    "LlamaCppBackend",
    "OpenAIHTTPBackend",
    "MockBackend",
    "MockCall",
    # registry
    "get_backend",
    "available_backends",
    "BackendInfo",
]

_WHERE = {
    "LLMBackend": "base",
    "Message": "base",
    "Usage": "base",
    "Completion": "base",
    "PromptMode": "base",
    "FinishReason": "base",
    "render_transcript": "base",
    "schema_instruction": "base",
    "Price": "usage",
    "UsageRecord": "usage",
    "UsageSummary": "usage",
    "UsageLedger": "usage",
    "LLMSettings": "settings",
    "HTTPSettings": "settings",
    "LlamaCppBackend": "llamacpp",
    "OpenAIHTTPBackend": "openai_http",
    "MockBackend": "mock",
    "MockCall": "mock",
    "get_backend": "registry",
    "available_backends": "registry",
    "BackendInfo": "registry",
}

if TYPE_CHECKING:  # pragma: no cover
    from recstrata.llm.base import (
        Completion,
        FinishReason,
        LLMBackend,
        Message,
        PromptMode,
        Usage,
        render_transcript,
        schema_instruction,
    )
    from recstrata.llm.llamacpp import LlamaCppBackend
    from recstrata.llm.mock import MockBackend, MockCall
    from recstrata.llm.openai_http import OpenAIHTTPBackend
    from recstrata.llm.registry import BackendInfo, available_backends, get_backend
    from recstrata.llm.settings import HTTPSettings, LLMSettings
    from recstrata.llm.usage import Price, UsageLedger, UsageRecord, UsageSummary


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'recstrata.llm' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"recstrata.llm.{module}"), name)
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
