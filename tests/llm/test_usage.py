"""Usage accounting: exact totals under concurrency, per-backend summaries, bounded memory."""

from __future__ import annotations

import threading

import pytest

from recstrata.llm import Price, UsageLedger, UsageRecord


def _rec(backend="b", model="m", p=10, c=5, error=None):
    return UsageRecord(backend, model, p, c, seconds=0.5, cost=Price(input_per_1m=2, output_per_1m=4).cost(p, c),
                       error=error)


def test_price_per_million_tokens():
    assert Price(input_per_1m=0.15, output_per_1m=0.6).cost(1_000_000, 500_000) == pytest.approx(0.45)
    assert Price().cost(123, 456) == 0


def test_totals_and_summaries():
    ledger = UsageLedger()
    ledger.record(_rec("llama.cpp", "smol"))
    ledger.record(_rec("llama.cpp", "gemma", p=20))
    ledger.record(_rec("openai-http", "gpt", c=0, error="LLMTimeoutError"))
    t = ledger.total()
    assert (t.calls, t.failures, t.prompt_tokens, t.completion_tokens) == (3, 1, 40, 10)
    assert t.total_tokens == 50 and t.seconds == pytest.approx(1.5)
    assert t.cost == pytest.approx((40 * 2 + 10 * 4) / 1e6)
    by = ledger.by_backend()
    assert by["llama.cpp"].calls == 2 and by["llama.cpp"].prompt_tokens == 30
    assert by["openai-http"].failures == 1
    assert ledger.by_model()[("llama.cpp", "gemma")].prompt_tokens == 20
    assert "calls=3" in repr(ledger)
    ledger.reset()
    assert ledger.total().calls == 0 and ledger.records() == []


def test_thread_safe_totals_are_exact():
    ledger = UsageLedger(keep=100)
    threads = [threading.Thread(target=lambda: [ledger.record(_rec(p=1, c=2)) for _ in range(1000)]) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    t = ledger.total()
    assert (t.calls, t.prompt_tokens, t.completion_tokens) == (8000, 8000, 16000)
    assert len(ledger.records()) == 100  # only the recent ones are kept; totals stay exact


def test_summaries_are_copies():
    ledger = UsageLedger()
    ledger.record(_rec())
    ledger.total().calls = 99
    assert ledger.total().calls == 1
