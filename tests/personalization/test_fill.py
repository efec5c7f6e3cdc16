"""Progressive explanations: template now, LLM sentence in the cache for the next request."""

from __future__ import annotations

import json
import threading
import time

from recstrata.llm.mock import MockBackend
from recstrata.personalization.explain import Explainer
from recstrata.personalization.fill import BackgroundFill
from recstrata.retrieval.ease import EASE


def echo(request) -> str:
    """A healthy LLM: one sentence naming the first grounding fact it was given."""
    content = request.messages[-1].content
    facts = json.loads(content[len("<facts>"): -len("</facts>")])
    if facts["because"]:
        return json.dumps({"sentence": f"Because you watched {facts['because'][0]}, you may like this one."})
    return json.dumps({"sentence": f"Because of your history, you may like {facts['movie']}."})


def test_items_past_the_deadline_are_explained_in_the_background_for_the_next_request(blocks):
    ds = blocks[0]
    model = EASE(reg=1.0).fit(ds)
    backend = MockBackend(default=echo, latency=0.6)
    explainer = Explainer(ds, backend)
    history = ds.histories()[3].tolist()
    items = [int(i) for i in model.recommend(users=[3], k=3)[0][0]]
    first, degraded = explainer.explain(model, "3", history, items, deadline_s=1.0)
    # one call fits the deadline; the other two would not: templates now, queued for the background
    assert [e.source for e in first] == ["llm", "template", "template"] and not degraded
    assert [e.rejected for e in first[1:]] == ["deadline", "deadline"]
    assert explainer.fill.join(timeout=10)
    assert explainer.fill.filled == 2 and len(backend.calls) == 3
    again, _ = explainer.explain(model, "3", history, items, deadline_s=1.0)
    assert [e.source for e in again] == ["cache"] * 3
    assert again[1].sentence.startswith("Because") and again[1].sentence != first[1].sentence
    explainer.close()


def test_background_work_waits_while_a_request_uses_the_llm_and_dedups_keys():
    busy = threading.Event()
    busy.set()
    stored = {}
    fill = BackgroundFill(lambda g: f"sentence {g}", lambda k, u, s: stored.__setitem__(k, s), busy=busy.is_set)
    assert fill.offer("k1", "u1", 1) and not fill.offer("k1", "u1", 1)  # one entry per cache key
    time.sleep(0.2)
    assert stored == {}  # a request holds the LLM: nothing ran
    busy.clear()
    assert fill.join(timeout=5) and stored == {"k1": "sentence 1"}
    fill.close()


def test_an_erased_user_gets_nothing_written_back():
    release, started = threading.Event(), threading.Event()
    stored = {}

    def slow(g):
        started.set()
        release.wait(5)
        return "sentence"

    fill = BackgroundFill(slow, lambda k, u, s: stored.__setitem__(k, s), busy=lambda: False)
    fill.offer("k1", "u1", 1)
    fill.offer("k2", "u1", 2)
    assert started.wait(5)
    fill.erase_user("u1")  # k1 is in flight, k2 still queued
    release.set()
    assert fill.join(timeout=5) and stored == {}
    fill.close()


def test_a_full_queue_drops_and_counts_instead_of_blocking():
    gate = threading.Event()
    fill = BackgroundFill(lambda g: gate.wait(5) and "s", lambda *a: None, busy=lambda: False, capacity=1)
    results = [fill.offer(f"k{i}", "u", i) for i in range(5)]
    assert results[0] and fill.dropped >= 1 and not all(results)
    gate.set()
    assert fill.join(timeout=5)
    fill.close()
