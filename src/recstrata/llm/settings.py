"""Typed LLM settings. Meant to be nested in :class:`recstrata.config.Settings` as ``llm``.

With that wiring, environment variables look like ``RECSTRATA_LLM__BACKEND=gemma3-270m`` or
``RECSTRATA_LLM__HTTP__BASE_URL=http://127.0.0.1:8000/v1``. The HTTP API key is either given directly
(``RECSTRATA_LLM__HTTP__API_KEY``, kept as a secret) or read at the edge from the environment variable
*named* by ``api_key_env``; it is never logged or shown in a repr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from recstrata.llm.usage import Price

__all__ = ["HTTPSettings", "LLMSettings"]


class HTTPSettings(BaseModel):
    """An OpenAI-compatible server (vLLM, Ollama, llama.cpp server, hosted APIs)."""

    model_config = ConfigDict(extra="forbid")

    base_url: str | None = Field(None, description="e.g. http://127.0.0.1:8000/v1; None = not configured")
    model: str = Field("default", description="model name the server expects")
    timeout_s: float = Field(30.0, gt=0, description="per-request timeout")
    max_retries: int = Field(3, ge=0, le=10, description="retries on connect errors, 429 and 5xx")
    backoff_base_s: float = Field(0.5, ge=0, description="first retry waits about this long, then doubles")
    backoff_max_s: float = Field(8.0, ge=0, description="cap of a single wait")
    api_key: SecretStr | None = Field(None, description="takes precedence over api_key_env")
    api_key_env: str | None = Field("OPENAI_API_KEY", description="name of the env var holding the key")
    structured_output: Literal["json_schema", "json_object", "none"] = Field(
        "json_schema",
        description=(
            "how a schema is sent: OpenAI/vLLM 'json_schema'; llama.cpp server 'json_object' (+schema); "
            "'none' = prompt only (the reply is still validated)"
        ),
    )
    prompt_mode: Literal["chat", "completion"] = "chat"


class LLMSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: str = Field(
        "smollm2",
        description="'smollm2', 'gemma3-270m', 'mock', 'openai:<base_url>', 'openai' or a .gguf path",
    )
    n_threads: int = Field(2, ge=1, description="llama.cpp CPU threads")
    n_ctx: int = Field(2048, ge=256, description="llama.cpp context length in tokens")
    model_dir: Path | None = Field(
        None, description="where assembled GGUF files are cached; None = <user cache>/recstrata/models"
    )
    verify_sha256: bool = Field(True, description="hash model files before loading (about 0.5 s per 250 MB)")
    prices: dict[str, Price] = Field(
        default_factory=dict,
        description="price per 1M tokens, keyed by registry name ('smollm2', 'openai') or backend kind",
    )
    http: HTTPSettings = Field(default_factory=HTTPSettings)

    def resolved_model_dir(self) -> Path:
        if self.model_dir is not None:
            return self.model_dir
        import platformdirs

        return Path(platformdirs.user_cache_dir("recstrata")) / "models"
