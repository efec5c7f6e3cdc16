"""The explainer's circuit breaker guards against a failing backend, not against rejected content."""

from __future__ import annotations

import json
import time

import pytest

from tests_support import good_sentence

from recstrata.errors import LLMUnavailableError
from recstrata.llm.breaker import CircuitBreaker
from recstrata.llm.mock import MockBackend
from recstrata.personalization.explain import Explainer
from recstrata.retrieval.ease import EASE

INVENTED = json.dumps({"sentence": "You will love this because it is like Movie 35 here."})  # not grounded


@pytest.fixture(scope="module")
def ease(blocks):
    return EASE(reg=1.0).fit(blocks[0])


def explain(explainer, model, items, deadline_s=5.0):
    history = explainer.dataset.histories()[3].tolist()
    return explainer.explain(model, "3", history, items, deadline_s=deadline_s)


def test_rejected_sentences_fall_back_per_item_and_leave_the_breaker_closed(blocks, ease):
    backend = MockBackend(default=INVENTED)
    explainer = Explainer(blocks[0], backend, breaker=CircuitBreaker(failures=2), background=False)
    out, degraded = explain(explainer, ease, [1, 2, 3, 4, 5])
    assert [e.source for e in out] == ["template"] * 5 and degraded
    assert all("not in the grounding" in e.rejected for e in out)
    assert len(backend.calls) == 5 and explainer.breaker.state == "closed"  # every item was asked
    backend.default = good_sentence("Movie 0")
    out, _ = explain(explainer, ease, [6])
    assert out[0].source == "llm"


def test_a_probe_answered_with_a_rejected_sentence_closes_the_breaker(blocks, ease):
    now = [0.0]
    breaker = CircuitBreaker(failures=1, cooldown_s=10, clock=lambda: now[0])
    backend = MockBackend(default=None).enqueue(LLMUnavailableError("down")).enqueue(INVENTED)
    explainer = Explainer(blocks[0], backend, breaker=breaker, background=False)
    out, _ = explain(explainer, ease, [1, 2])
    assert [e.rejected for e in out] == ["down", "circuit open"] and breaker.state == "open"
    now[0] = 11  # half-open: the probe is answered in time, though with a sentence the contract rejects
    out, _ = explain(explainer, ease, [4])
    assert "not in the grounding" in out[0].rejected and breaker.state == "closed"


def test_a_background_probe_answered_with_a_rejected_sentence_does_not_stick_half_open(blocks, ease):
    now = [0.0]
    breaker = CircuitBreaker(failures=1, cooldown_s=10, clock=lambda: now[0])
    breaker.failure()
    now[0] = 11
    explainer = Explainer(blocks[0], MockBackend(default=INVENTED), breaker=breaker, background_quiet_s=0)
    out, _ = explain(explainer, ease, [1], deadline_s=0.01)  # no time: explained in the background
    assert out[0].rejected == "deadline" and explainer.fill.join(timeout=10)
    assert explainer.fill.failed == 1 and breaker.state == "closed" and breaker.allow()
    explainer.close()


class LazyBackend(MockBackend):
    """A backend whose first call also loads the model (as llama.cpp loads the GGUF on first use)."""

    def __init__(self, load_s: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.load_s, self.loaded = load_s, False

    def _complete(self, request):
        if not self.loaded:
            time.sleep(self.load_s)
            self.loaded = True
        return super()._complete(request)


def test_warming_up_makes_the_first_request_as_fast_as_the_next(blocks, ease):
    cold = Explainer(blocks[0], LazyBackend(0.6, default=good_sentence("Movie 0")), background=False)
    out, _ = explain(cold, ease, [1], deadline_s=0.4)
    assert out[0].source == "template"  # the model load ate the deadline
    backend = LazyBackend(0.6, default=good_sentence("Movie 0"))
    explainer = Explainer(blocks[0], backend, background=False)
    assert explainer.warm() >= 0.6 and backend.loaded
    out, _ = explain(explainer, ease, [1], deadline_s=0.4)
    assert out[0].source == "llm"
    warm_call, request_call = backend.calls
    # the same system prompt and example first: llama.cpp reuses that prefix of its KV cache
    assert warm_call.messages[:3] == request_call.messages[:3] and warm_call.schema == request_call.schema
    assert explainer.cache.count() == 1  # the warm-up sentence is not cached for anyone


def test_warming_up_without_a_working_backend_is_harmless(blocks):
    assert Explainer(blocks[0], None).warm() is None
    explainer = Explainer(blocks[0], MockBackend(default=None), background=False)
    assert explainer.warm() is None and explainer.breaker.state == "closed"


def test_a_reply_off_its_schema_is_the_models_fault_a_garbage_response_the_servers(blocks, ease):
    from recstrata.errors import LLMOutputError, LLMProtocolError

    cut = MockBackend(default=None)
    for _ in range(4):
        cut.enqueue(LLMOutputError("reply does not match schema: cut at max_tokens"))
    explainer = Explainer(blocks[0], cut, breaker=CircuitBreaker(failures=2), background=False)
    out, degraded = explain(explainer, ease, [1, 2, 3, 4])
    assert degraded and len(cut.calls) == 4 and explainer.breaker.state == "closed"  # every item was asked
    assert all("cut at max_tokens" in e.rejected for e in out)
    garbage = MockBackend(default=None)
    for _ in range(4):
        garbage.enqueue(LLMProtocolError("not an OpenAI-style completion"))
    explainer = Explainer(blocks[0], garbage, breaker=CircuitBreaker(failures=2), background=False)
    out, _ = explain(explainer, ease, [1, 2, 3, 4])
    assert len(garbage.calls) == 2 and explainer.breaker.state == "open"
    assert [e.rejected for e in out][2:] == ["circuit open"] * 2


def test_replies_cut_short_between_timeouts_do_not_keep_a_failing_backend_in_use(blocks, ease):
    from recstrata.errors import LLMOutputError, LLMTimeoutError

    backend = MockBackend(default=None)
    for _ in range(3):
        backend.enqueue(LLMTimeoutError("slow")).enqueue(LLMOutputError("cut at max_tokens"))
    explainer = Explainer(blocks[0], backend, breaker=CircuitBreaker(failures=2), background=False)
    out, _ = explain(explainer, ease, [1, 2, 3, 4, 5, 6])
    # timeout, cut, timeout: two consecutive failures as far as availability goes -> open
    assert len(backend.calls) == 3 and explainer.breaker.state == "open"
    assert [e.rejected for e in out][3:] == ["circuit open"] * 3


def test_sentences_of_the_schemas_full_length_fit_in_max_tokens():
    """The explainer asks for at most ``Sentence``'s 200 characters; its token budget must hold them
    (SmolLM2 spends ~46 tokens on 196 characters of plain English, plus the JSON around them)."""
    from recstrata.personalization.explain import Sentence

    import inspect

    limit = Sentence.model_json_schema()["properties"]["sentence"]["maxLength"]
    budget = inspect.signature(Explainer.__init__).parameters["max_tokens"].default
    assert budget >= limit / 4 + 12  # ~4 characters a token, plus the JSON wrapper and slack
