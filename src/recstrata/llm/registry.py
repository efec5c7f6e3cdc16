"""``get_backend(spec)``: one place that turns a name into a configured backend."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from recstrata.errors import ConfigError, LLMUnavailableError, RecstrataError
from recstrata.llm.base import LLMBackend
from recstrata.llm.settings import LLMSettings
from recstrata.llm.usage import Price, UsageLedger


def get_backend(
    spec: str | None = None,
    settings: LLMSettings | None = None,
    *,
    cache_dir: Path | None = None,
    ledger: UsageLedger | None = None,
) -> LLMBackend:
    """``smollm2`` (default), ``gemma3-270m``, ``mock``, ``openai:<base_url>`` or a ``.gguf`` path."""
    settings = settings or LLMSettings()
    spec = spec or settings.backend
    price = Price(settings.price_input_per_million, settings.price_output_per_million)
    common = dict(price=price, ledger=ledger)
    if spec == "mock":
        from recstrata.llm.mock import MockBackend

        return MockBackend(**common)
    if spec.startswith("openai:"):
        from recstrata.llm.openai_http import OpenAIHTTPBackend

        key = settings.api_key.get_secret_value() if settings.api_key else None
        return OpenAIHTTPBackend(spec.removeprefix("openai:"), model=settings.model, api_key=key,
                                 timeout=settings.timeout_s, max_retries=settings.max_retries, **common)
    from recstrata.llm import models
    from recstrata.llm.llamacpp import LlamaCppBackend

    local = dict(n_threads=settings.n_threads, n_ctx=settings.n_ctx, **common)
    if spec == "smollm2":
        return LlamaCppBackend(models.smollm2_path(), model="smollm2", chat=True, **local)
    if spec == "gemma3-270m":
        if cache_dir is None:
            from recstrata.config import get_settings

            cache_dir = get_settings().cache_dir
        return LlamaCppBackend(models.gemma3_path(cache_dir), model="gemma3-270m", chat=False, **local)
    if spec.endswith(".gguf"):
        return LlamaCppBackend(Path(spec), **local)
    raise ConfigError(f"unknown LLM backend {spec!r}: use smollm2, gemma3-270m, mock, openai:<url> or a .gguf path")


@dataclass(frozen=True)
class BackendInfo:
    name: str
    available: bool
    detail: str


def available_backends() -> list[BackendInfo]:
    """What can run offline here, and why not when it can't."""
    from recstrata.llm import models

    out = []
    for name, locate in (("smollm2", models.smollm2_path), ("gemma3-270m", lambda: models._dist_file(models.GEMMA3.package, "SHA256SUMS"))):
        try:
            path = locate()
            import importlib.util

            if importlib.util.find_spec("llama_cpp") is None:
                raise LLMUnavailableError("llama-cpp-python is not installed: pip install 'recstrata[llm]'")
            out.append(BackendInfo(name, True, f"{models.LOCAL_MODELS[name].description}; {path}"))
        except RecstrataError as exc:
            out.append(BackendInfo(name, False, str(exc)))
    out.append(BackendInfo("mock", True, "test double (replies from a queue)"))
    out.append(BackendInfo("openai:<base_url>", True, "any OpenAI-compatible server (needs it running)"))
    return out
