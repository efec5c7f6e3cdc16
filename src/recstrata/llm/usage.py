"""Cost and usage accounting: every LLM call, successful or not, is recorded in a ledger.

Backends take an optional :class:`UsageLedger`; one ledger can be shared by many backends and threads.
Totals are kept exactly; only the most recent ``keep`` individual records are retained, so a ledger
attached to a long batch job does not grow without bound.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Price", "UsageRecord", "UsageSummary", "UsageLedger"]


class Price(BaseModel):
    """Price in currency units (say USD) per one million tokens. Local models default to 0."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_per_1m: float = Field(0.0, ge=0)
    output_per_1m: float = Field(0.0, ge=0)

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_1m + completion_tokens * self.output_per_1m) / 1e6


@dataclass(frozen=True)
class UsageRecord:
    """One call. ``error`` is the exception class name when the call failed (tokens may then be 0)."""

    backend: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    cost: float
    error: str | None = None
    at: float = field(default_factory=time.time)


@dataclass
class UsageSummary:
    calls: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    cost: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, rec: UsageRecord) -> None:
        self.calls += 1
        self.failures += rec.error is not None
        self.prompt_tokens += rec.prompt_tokens
        self.completion_tokens += rec.completion_tokens
        self.seconds += rec.seconds
        self.cost += rec.cost


class UsageLedger:
    """Thread-safe record of LLM calls with running totals, per backend and per (backend, model)."""

    def __init__(self, keep: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._recent: deque[UsageRecord] = deque(maxlen=keep)
        self._total = UsageSummary()
        self._by_model: dict[tuple[str, str], UsageSummary] = {}

    def record(self, rec: UsageRecord) -> None:
        with self._lock:
            self._recent.append(rec)
            self._total.add(rec)
            self._by_model.setdefault((rec.backend, rec.model), UsageSummary()).add(rec)

    def records(self) -> list[UsageRecord]:
        """The most recent records (at most ``keep``), oldest first."""
        with self._lock:
            return list(self._recent)

    def total(self) -> UsageSummary:
        with self._lock:
            return UsageSummary(**vars(self._total))

    def by_model(self) -> dict[tuple[str, str], UsageSummary]:
        with self._lock:
            return {key: UsageSummary(**vars(s)) for key, s in self._by_model.items()}

    def by_backend(self) -> dict[str, UsageSummary]:
        out: dict[str, UsageSummary] = {}
        for (backend, _), summary in self.by_model().items():
            agg = out.setdefault(backend, UsageSummary())
            for name, value in vars(summary).items():
                setattr(agg, name, getattr(agg, name) + value)
        return out

    def reset(self) -> None:
        with self._lock:
            self._recent.clear()
            self._total = UsageSummary()
            self._by_model.clear()

    def __repr__(self) -> str:
        t = self.total()
        return (
            f"UsageLedger(calls={t.calls}, failures={t.failures}, prompt_tokens={t.prompt_tokens}, "
            f"completion_tokens={t.completion_tokens}, seconds={t.seconds:.2f}, cost={t.cost:.6f})"
        )
