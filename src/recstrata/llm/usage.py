"""Accounting of every LLM call: tokens in/out, seconds, cost at a configurable price."""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Price:
    """Price in currency units per one million tokens (0 for local models unless you cost the CPU)."""

    input_per_million: float = 0.0
    output_per_million: float = 0.0

    def cost(self, usage: Usage) -> float:
        return (usage.prompt_tokens * self.input_per_million + usage.completion_tokens * self.output_per_million) / 1e6


@dataclass
class _Totals:
    calls: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    cost: float = 0.0


@dataclass
class UsageLedger:
    """Thread-safe running totals per backend/model. Share one ledger to account a whole run."""

    _totals: dict[str, _Totals] = field(default_factory=lambda: defaultdict(_Totals))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, key: str, usage: Usage, seconds: float, cost: float, ok: bool = True) -> None:
        with self._lock:
            t = self._totals[key]
            t.calls += 1
            t.failures += 0 if ok else 1
            t.prompt_tokens += usage.prompt_tokens
            t.completion_tokens += usage.completion_tokens
            t.seconds += seconds
            t.cost += cost

    def summary(self) -> dict[str, dict[str, float]]:
        with self._lock:
            return {k: dict(vars(v)) for k, v in self._totals.items()}

    def total(self) -> dict[str, float]:
        out = dict(vars(_Totals()))
        for row in self.summary().values():
            for k, v in row.items():
                out[k] += v
        return out
