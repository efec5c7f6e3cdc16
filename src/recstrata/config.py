"""Typed settings (pydantic-settings), read from ``RECSTRATA_*`` environment variables or a ``.env`` file.

Read once at the edge (CLI, server start-up) and passed down; library code never reads the
environment itself. Defaults run offline on one machine.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from recstrata.llm.settings import LLMSettings
from recstrata.serving.settings import ServingSettings


def _default_cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("recstrata"))


class EvaluationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ks: list[int] = Field(default_factory=lambda: [10, 20], description="cut-offs reported")
    selection_metric: str = Field("ndcg@10", description="validation metric used to pick hyper-parameters")
    seed: int = 2020


class Settings(BaseSettings):
    """All recstrata settings. Nested fields use ``__`` in env names, e.g. ``RECSTRATA_EVALUATION__SEED``."""

    model_config = SettingsConfigDict(
        env_prefix="RECSTRATA_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    cache_dir: Path = Field(default_factory=_default_cache_dir, description="downloads and derived data")
    runs_dir: Path = Field(Path("runs"), description="artefact store: runs/<name>/<version>/")
    threads: int = Field(0, ge=0, description="CPU threads for numeric libraries; 0 = all cores")
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    serving: ServingSettings = Field(default_factory=ServingSettings)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests override by calling ``get_settings.cache_clear()``)."""
    return Settings()
