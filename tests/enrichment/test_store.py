from __future__ import annotations

import sqlite3

import pytest
from tests_support import MigrationsAfterBarrier, errors_of_side_by_side

from recstrata.enrichment import store as store_mod
from recstrata.enrichment.store import MIGRATIONS, EnrichmentStore, result_key
from recstrata.errors import ArtifactError


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


def test_a_file_that_is_not_a_store_is_refused_by_name_and_left_as_it_was(tmp_path):
    path = tmp_path / "enrich.db"
    path.write_bytes(b"these are not the bytes of an SQLite file\n" * 200)
    before = path.read_bytes()
    with pytest.raises(ArtifactError, match=r"enrich\.db cannot be opened.*not a database.*move it aside") as info:
        EnrichmentStore(path)
    assert info.value.__cause__.sqlite_errorname == "SQLITE_NOTADB"
    assert path.read_bytes() == before


def test_a_path_sqlite_cannot_open_is_reported_as_a_path_problem(tmp_path):
    (tmp_path / "enrich.db").mkdir()  # a folder where the file should be
    with pytest.raises(ArtifactError, match=r"enrich\.db cannot be opened.*check that .*enrich\.db and its folder"):
        EnrichmentStore(tmp_path / "enrich.db")


def _writer_holding_the_lock(path):
    """Another connection (as another process would) in the middle of a write transaction on ``path``."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("PRAGMA journal_mode=WAL")
    other.execute("BEGIN IMMEDIATE")
    return other


def test_a_store_another_process_is_migrating_is_reported_as_busy_not_as_damaged(tmp_path):
    path = tmp_path / "enrich.db"
    other = _writer_holding_the_lock(path)  # e.g. a parallel worker migrating a large store
    with pytest.raises(ArtifactError, match=r"another process is writing .*enrich\.db: wait for it") as info:
        EnrichmentStore(path, timeout=0.05)
    assert "move it aside" not in str(info.value)
    other.execute("ROLLBACK")
    other.close()
    with EnrichmentStore(path) as s:  # the writer gone, the store opens
        assert s.migrations() == [name for name, _ in MIGRATIONS]


def test_a_write_blocked_by_another_writer_says_so_and_the_store_stays_usable(tmp_path):
    path = tmp_path / "enrich.db"
    with EnrichmentStore(path, timeout=0.05) as s:
        other = _writer_holding_the_lock(path)
        with pytest.raises(ArtifactError, match=r"enrich\.db \(database is locked\): another process is writing"):
            s.put(key="k", job="items", model="m", version="v", input_text="a", subject="1", output={"x": 1})
        other.execute("ROLLBACK")
        other.close()
        s.put(key="k", job="items", model="m", version="v", input_text="a", subject="1", output={"x": 1})
        assert s.done_keys(["k"]) == {"k"}


def test_two_connections_opening_a_new_store_at_once_apply_each_migration_once(tmp_path, monkeypatch):
    # two threads, each with its own connection, as two processes (e.g. parallel workers) would open it
    monkeypatch.setattr(store_mod, "MIGRATIONS", MigrationsAfterBarrier(MIGRATIONS))
    assert errors_of_side_by_side(lambda: EnrichmentStore(tmp_path / "new.db").close()) == []
    monkeypatch.undo()
    with EnrichmentStore(tmp_path / "new.db") as s:
        assert s.migrations() == [name for name, _ in MIGRATIONS]


def test_a_full_disk_stops_the_writer_with_its_real_cause_and_keeps_what_was_stored(store):
    store.put(key="k0", job="items", model="m", version="v", input_text="a", subject="0", output={"x": 1})
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count={pages + 1}")  # the file may not grow: a full disk
    with pytest.raises(ArtifactError, match=r"enrich\.db \(database or disk is full\): the disk .* is full.*re-run"):
        for i in range(1, 50):
            store.put(key=f"k{i}", job="items", model="m", version="v", input_text="a", subject=str(i),
                      output={"x": "y" * 4000})
    assert store.get("k0").output == {"x": 1}
    assert store.count("items") < 50 and store.done_keys(["k0"]) == {"k0"}


def test_a_store_migrated_with_the_withdrawn_m003_still_opens_and_works(tmp_path):
    # m003_results_subject was on this branch for a while, then withdrawn: a store it migrated keeps
    # its index and its _migrations row, and the code without it must open and use that store
    path = tmp_path / "m003.db"
    with EnrichmentStore(path) as s:
        s.put(key="k1", job="items", model="m", version="v", input_text="a", subject="1", output={"x": 1})
        s._db.execute("CREATE INDEX results_subject ON results (job, subject, created)")
        s._db.execute("INSERT INTO _migrations VALUES ('m003_results_subject', 0)")
    with EnrichmentStore(path) as s:
        assert s.migrations() == [*(name for name, _ in MIGRATIONS), "m003_results_subject"]
        s.put(key="k2", job="items", model="m", version="v", input_text="b", subject="2", output={"x": 2})
        assert [r.output for r in s.records("items")] == [{"x": 1}, {"x": 2}]
        assert s.done_keys(["k1", "k2", "k3"]) == {"k1", "k2"}
