from __future__ import annotations

import sqlite3

from recstrata.enrichment.store import MIGRATIONS, EnrichmentStore, result_key


def test_migrations_apply_once_and_wal(tmp_path):
    path = tmp_path / "s.db"
    with EnrichmentStore(path) as s:
        assert s.migrations() == [name for name, _ in MIGRATIONS]
    with EnrichmentStore(path) as s:  # reopening does not re-run (a re-run would fail: tables exist)
        assert s.migrations() == [name for name, _ in MIGRATIONS]
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_key_changes_with_each_part():
    base = result_key("items", "m", "v1", "Toy Story")
    assert base == result_key("items", "m", "v1", "Toy Story")
    others = {result_key("users", "m", "v1", "Toy Story"), result_key("items", "m2", "v1", "Toy Story"),
              result_key("items", "m", "v2", "Toy Story"), result_key("items", "m", "v1", "Toy Story 2")}
    assert base not in others and len(others) == 4


def test_put_get_done_usage(store):
    k = result_key("items", "m", "v1", "a")
    assert store.done_keys([k]) == set()
    store.put(key=k, job="items", model="m", version="v1", input_text="a", subject="1",
              output={"tags": ["x"]}, tokens_in=10, tokens_out=5, seconds=0.5, cost=0.01)
    assert store.done_keys([k, "other"]) == {k}
    rec = store.get(k)
    assert rec.output == {"tags": ["x"]} and rec.subject == "1" and rec.tokens_in == 10
    store.put(key=k, job="items", model="m", version="v1", input_text="a", subject="1", output={"tags": ["y"]})
    assert store.count("items") == 1  # a re-put replaces, never duplicates
    assert store.usage("items")["results"] == 1


def test_failures_are_logged_not_stored(store):
    store.log_failure(key="k", job="items", subject="3", reason="schema", detail="bad")
    assert store.count() == 0
    assert store.failures("items") == [("3", "schema", "bad")]
