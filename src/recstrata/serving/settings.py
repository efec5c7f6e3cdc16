"""Typed serving settings (part of ``recstrata.config.Settings`` as ``serving``; env ``RECSTRATA_SERVING__*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

SCOPES = ("events:write", "admin", "users:erase")


class ServingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    event_loop: Literal["asyncio", "uvloop", "auto"] = Field(
        "asyncio", description="uvicorn event loop. asyncio, not uvloop: uvloop's libuv accepts one new "
        "connection per loop iteration, and recommendations are scored on the loop, so under load an "
        "iteration lasts ~1 ms per request in flight and new connections queue for it (up to 0.5 s at 32 "
        "connections on the 1M-item catalog); asyncio accepts the whole backlog at once. See BENCHMARKS.md",
    )
    dataset: str = Field("ml-latest-small", description="dataset name or path the catalog comes from")
    model: str = Field("als", description="model fitted at start-up when runs_dir has no published artefact")
    model_params: dict = Field(default_factory=dict)
    index: str | None = Field(
        None, description="ANN index kind (exact, hnsw, ivf, ivfpq, sq8, fp16, pq4fs, ivfpq4fs; parameters as "
        "'ivf:nprobe=128') the live model is served through; "
        "None = dense scoring of the whole catalog (fine up to ~100k items)",
    )
    runs_dir: Path = Field(Path("runs"), description="artefacts: <runs_dir>/<model>/<version>/ and a CURRENT pointer")
    state_dir: Path = Field(Path("state"), description="SQLite event store and explanation cache")
    api_keys: dict[str, list[str]] = Field(
        default_factory=dict, description="API key -> scopes (events:write, admin, users:erase)"
    )
    rate_per_second: float = Field(50.0, gt=0, description="per-key sustained request rate")
    rate_burst: int = Field(100, ge=1, description="per-key burst")
    max_k: int = Field(100, ge=1, le=1000)
    rating_scale: tuple[float, float] | None = Field(
        None, description="lowest and highest rating POST /v1/events accepts, e.g. [1, 5]; None = the scale the "
        "dataset's loader declares (MovieLens), else any finite value (a scale observed in the data is not "
        "checked: a sample may miss the top star, implicit data rates everything 1)")
    max_body_bytes: int = Field(
        1 << 20, ge=1024, description="largest request body accepted; a larger one is answered 413 unread")
    llm_backend: str | None = Field("smollm2", description="LLM for explanations; None = template only")
    explanation_deadline_s: float = Field(1.5, gt=0, le=30)
    warm_llm: bool = Field(True, description="make one explanation-shaped LLM call at start-up (loads the model "
                           "and caches the shared prompt), so the first request's deadline is not spent on it")
    breaker_failures: int = Field(3, ge=1, description="consecutive LLM failures that open the circuit")
    breaker_cooldown_s: float = Field(30.0, gt=0)
    shadow_model: str | None = Field(
        None, description="candidate run in shadow on a share of requests: a published name ('als' = its current "
        "version, 'als/3' = version 3 in runs_dir) or a model name fitted at start-up")
    shadow_fraction: float = Field(0.0, ge=0, le=1)

    @field_validator("rating_scale")
    @classmethod
    def _a_scale(cls, scale: tuple[float, float] | None) -> tuple[float, float] | None:
        if scale is not None and not -1e6 <= scale[0] < scale[1] <= 1e6:
            raise ValueError(f"rating_scale {list(scale)} is not [lowest, highest] with lowest < highest, both "
                             "finite and within ±1e6 (what an event's value may be): e.g. [1, 5]")
        return scale

    def scopes_of(self, key: str | None) -> set[str] | None:
        import secrets

        if not key:
            return None
        for known, scopes in self.api_keys.items():
            if secrets.compare_digest(known.encode(), key.encode()):
                return set(scopes)
        return None


def redact(settings: ServingSettings) -> dict:
    """Settings as a dict with API keys hidden (for logs and /v1/admin)."""
    data = settings.model_dump(mode="json")
    data["api_keys"] = {f"key-{i}": scopes for i, scopes in enumerate(settings.api_keys.values())}
    return data


__all__ = ["SCOPES", "SecretStr", "ServingSettings", "redact"]
