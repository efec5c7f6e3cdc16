"""LLM plumbing: one backend interface (llama.cpp, OpenAI-compatible HTTP, a mock), accounting."""

from recstrata.llm.base import Completion, LLMBackend, Message
from recstrata.llm.registry import available_backends, get_backend
from recstrata.llm.usage import Price, Usage, UsageLedger

__all__ = ["Completion", "LLMBackend", "Message", "Price", "Usage", "UsageLedger", "available_backends", "get_backend"]
