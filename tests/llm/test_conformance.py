"""One contract, every backend: the mock always; SmolLM2 via llama.cpp and via a local HTTP server
(``integration``). Each test uses few, short generations so the real-model runs stay quick."""

from __future__ import annotations

import time

import pytest
from llm_support import ItemTags

from recstrata.errors import LLMTimeoutError
from recstrata.llm import Completion, Message, schema_instruction

ITEMS = [
    "Toy Story (1995): a cowboy doll feels threatened when a space ranger toy arrives.",
    "Heat (1995): a detective hunts a crew of professional bank robbers in Los Angeles.",
    "Jumanji (1995): children find a magical board game that releases jungle dangers.",
    "Sense and Sensibility (1995): two sisters face love and money in Georgian England.",
    "GoldenEye (1995): James Bond stops a stolen satellite weapon from destroying London.",
]


def _tag_messages(item: str) -> list[Message]:
    return [
        Message("system", f"You tag movies with short genre tags. {schema_instruction(ItemTags)}"),
        Message("user", item),
    ]


def test_plain_generation_returns_text_and_usage(backend):
    c = backend.generate("Describe the movie Toy Story in one sentence.", max_tokens=24)
    assert isinstance(c, Completion)
    assert c.text.strip()
    assert c.parsed is None
    assert c.usage.prompt_tokens > 0
    assert 0 < c.usage.completion_tokens <= 24
    assert c.finish_reason in ("stop", "length")
    assert c.backend == backend.name and c.model == backend.model
    assert c.latency_s > 0 and c.cost >= 0
    (rec,) = backend.ledger.records()
    assert (rec.prompt_tokens, rec.completion_tokens, rec.error) == (
        c.usage.prompt_tokens, c.usage.completion_tokens, None,
    )


def test_schema_generation_always_parses(backend):
    replies = [backend.generate(_tag_messages(item), schema=ItemTags, max_tokens=96) for item in ITEMS]
    assert all(isinstance(c.parsed, ItemTags) for c in replies)  # 5 of 5
    for c in replies:
        assert len(c.parsed.tags) <= 3 and len(c.parsed.summary) <= 40
        assert ItemTags.model_validate_json(c.text) == c.parsed


def test_dict_schema_returns_dict(backend):
    schema = ItemTags.model_json_schema()
    c = backend.generate(_tag_messages(ITEMS[0]), schema=schema, max_tokens=96)
    assert isinstance(c.parsed, dict) and set(c.parsed) == {"tags", "summary"}


def test_ledger_totals_equal_sum_of_calls(backend):
    calls = [
        backend.generate("Name a movie genre.", max_tokens=8),
        backend.generate(_tag_messages(ITEMS[1]), schema=ItemTags, max_tokens=96),
        backend.generate("Say yes.", max_tokens=4),
    ]
    total = backend.ledger.total()
    assert total.calls == 3 and total.failures == 0
    assert total.prompt_tokens == sum(c.usage.prompt_tokens for c in calls)
    assert total.completion_tokens == sum(c.usage.completion_tokens for c in calls)
    assert total.seconds == pytest.approx(sum(c.latency_s for c in calls), rel=0.05, abs=0.05)
    assert backend.ledger.by_backend()[backend.name].calls == 3


def test_tiny_deadline_is_honoured(backend):
    start = time.monotonic()
    with pytest.raises(LLMTimeoutError):
        backend.generate("Write a long story about a dragon.", max_tokens=16, deadline=0.01)
    # prefill cannot be interrupted, so allow some slack, but never the whole generation
    assert time.monotonic() - start < 5.0
    (rec,) = backend.ledger.records()
    assert rec.error == "LLMTimeoutError"


def test_max_tokens_is_respected(backend):
    c = backend.generate("Count from one to one hundred in words, separated by commas.", max_tokens=5)
    assert c.usage.completion_tokens <= 5
    assert c.finish_reason == "length"
