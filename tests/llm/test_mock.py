"""The mock backend: scripted replies, recorded calls, simulated failures, same contract as real ones."""

from __future__ import annotations

import pytest
from llm_support import ItemTags

from recstrata.errors import ConfigError, LLMError, LLMOutputError, LLMTimeoutError
from recstrata.llm import Message, MockBackend, Price, UsageLedger


def test_replies_come_out_in_order_and_calls_are_recorded():
    llm = MockBackend(default=None).enqueue("first").enqueue("second")
    assert llm.generate("a b c").text == "first"
    c = llm.generate([Message("system", "be brief"), {"role": "user", "content": "hi"}],
                     max_tokens=7, temperature=0.5, stop=["\n"], seed=3, deadline=10)
    assert c.text == "second"
    first, second = llm.calls
    assert first.messages == (Message("user", "a b c"),) and first.schema is None
    assert second.messages == (Message("system", "be brief"), Message("user", "hi"))
    assert (second.max_tokens, second.temperature, second.stop, second.seed) == (7, 0.5, ("\n",), 3)
    assert 9 < second.deadline_s <= 10


def test_word_counts_are_the_token_counts():
    c = MockBackend().enqueue("one two three").generate("a b c d")
    assert (c.usage.prompt_tokens, c.usage.completion_tokens) == (4, 3)


def test_empty_queue_without_default_raises():
    with pytest.raises(LLMError, match="enqueue"):
        MockBackend(default=None).generate("hi")


def test_schema_reply_is_validated():
    llm = MockBackend().enqueue('{"tags": ["noir"], "summary": "A detective story."}').enqueue("not json at all")
    assert llm.generate("tag it", schema=ItemTags).parsed == ItemTags(tags=["noir"], summary="A detective story.")
    assert llm.calls[0].schema == ItemTags.model_json_schema()
    with pytest.raises(LLMOutputError, match="ItemTags"):
        llm.generate("tag it", schema=ItemTags)


def test_schema_violation_of_constraints_is_an_output_error():
    llm = MockBackend().enqueue('{"tags": ["a", "b", "c", "d"], "summary": "x"}')  # 4 > max 3 tags
    with pytest.raises(LLMOutputError):
        llm.generate("tag it", schema=ItemTags)


def test_enqueued_exception_is_raised_and_recorded():
    ledger = UsageLedger()
    llm = MockBackend(ledger=ledger).enqueue(LLMTimeoutError("simulated"))
    with pytest.raises(LLMTimeoutError, match="simulated"):
        llm.generate("hi")
    assert ledger.total().failures == 1


def test_a_failed_call_carries_what_it_spent_without_a_ledger():
    price = Price(input_per_1m=1_000_000, output_per_1m=2_000_000)
    llm = MockBackend(price=price).enqueue("not json at all").enqueue("one two three", latency=0.2)
    llm.enqueue('{"tags": ["noir"], "summary": "A detective story told slowly."}').enqueue(LLMError("down"))
    assert llm.ledger is None
    with pytest.raises(LLMOutputError) as broke:  # the model answered: its tokens are paid
        llm.generate("tag it please", schema=ItemTags)
    spent = broke.value.usage
    assert (spent.prompt_tokens, spent.completion_tokens, spent.error) == (3, 4, "LLMOutputError")
    assert spent.cost == pytest.approx(3 * 1 + 4 * 2)
    with pytest.raises(LLMTimeoutError) as late:
        llm.generate("a b", deadline=0.05)
    assert (late.value.usage.prompt_tokens, late.value.usage.error) == (2, "LLMTimeoutError")
    with pytest.raises(LLMOutputError, match="max_tokens=3") as cut:  # re-raised with advice, usage kept
        llm.generate("tag it", schema=ItemTags, max_tokens=3)
    assert (cut.value.usage.prompt_tokens, cut.value.usage.completion_tokens) == (2, 3)
    with pytest.raises(LLMError, match="down") as failed:  # the backend raised: no tokens known
        llm.generate("hi")
    assert (failed.value.usage.prompt_tokens, failed.value.usage.cost, failed.value.usage.error) == (0, 0.0, "LLMError")
    assert LLMError("raised by no call").usage is None


def test_simulated_latency_against_deadline():
    llm = MockBackend().enqueue("slow", latency=5.0)
    with pytest.raises(LLMTimeoutError):
        llm.generate("hi", deadline=0.05)
    assert MockBackend().enqueue("quick", latency=0.01).generate("hi", deadline=1.0).text == "quick"


def test_max_tokens_and_stop_are_applied():
    c = MockBackend().enqueue("one two three four five").generate("hi", max_tokens=2)
    assert (c.text, c.finish_reason) == ("one two", "length")
    assert MockBackend().enqueue("keep this\nUser: not this").generate("hi", stop="\nUser:").text == "keep this"


def test_reply_function_sees_the_request():
    llm = MockBackend(default=lambda req: req.messages[-1].content.upper())
    assert llm.generate("shout").text == "SHOUT"


def test_cost_uses_the_price():
    llm = MockBackend(price=Price(input_per_1m=1_000_000, output_per_1m=2_000_000)).enqueue("x y")
    assert llm.generate("a b c").cost == pytest.approx(3 * 1 + 2 * 2)


@pytest.mark.parametrize("kwargs", [{"max_tokens": 0}, {"temperature": -1}, {"deadline": 0}, {"deadline": -1}])
def test_bad_arguments_are_config_errors(kwargs):
    with pytest.raises(ConfigError):
        MockBackend().generate("hi", **kwargs)


def test_bad_messages_are_config_errors():
    with pytest.raises(ConfigError):
        MockBackend().generate([])
    with pytest.raises(ConfigError):
        MockBackend().generate([{"text": "no role"}])
    with pytest.raises(ConfigError):
        Message("robot", "hi")  # type: ignore[arg-type]


def test_context_manager_closes():
    with MockBackend() as llm:
        assert llm.generate("hi").text


def test_the_dry_run_default_answers_any_schema_with_a_valid_placeholder():
    from pydantic import BaseModel, Field

    from recstrata.llm.mock import dry_run

    class Nested(BaseModel):
        score: float = Field(gt=0, lt=1)
        flag: bool

    class Reply(BaseModel):
        names: list[str] = Field(min_length=3, max_length=3)
        code: str = Field(min_length=10, max_length=12)
        count: int = Field(ge=5)
        inner: Nested
        maybe: Nested | None

    llm = MockBackend(dry_run)
    parsed = llm.generate("anything", schema=ItemTags).parsed
    assert isinstance(parsed, ItemTags)
    reply = llm.generate("anything", schema=Reply).parsed
    assert len(set(reply.names)) == 3 and reply.count == 5 and 0 < reply.inner.score < 1
    dict_schema = {"type": "object", "required": ["k"], "properties": {"k": {"enum": ["a", "b"]}}}
    assert llm.generate("anything", schema=dict_schema).parsed == {"k": "a"}
    assert llm.generate("no schema").text == "mock reply"
