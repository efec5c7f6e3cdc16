"""Typed LLM settings (part of ``recstrata.config.Settings`` as ``llm``; env ``RECSTRATA_LLM__*``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class LLMSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: str = Field("smollm2", description="smollm2 | gemma3-270m | mock | openai:<base_url> | path/to/model.gguf")
    model: str = Field("default", description="model name sent to an OpenAI-compatible server")
    api_key: SecretStr | None = Field(None, description="API key for an OpenAI-compatible server (never logged)")
    n_threads: int = Field(2, ge=1, description="llama.cpp threads")
    n_ctx: int = Field(2048, ge=256)
    timeout_s: float = Field(30.0, gt=0)
    max_retries: int = Field(2, ge=0, le=10)
    price_input_per_million: float = Field(0.0, ge=0)
    price_output_per_million: float = Field(0.0, ge=0)
