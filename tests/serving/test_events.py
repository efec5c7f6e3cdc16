"""Feedback events: an idempotency key names one event; reusing it for another is refused, never dropped."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from tests_support import MigrationsAfterBarrier, errors_of_side_by_side

from recstrata.errors import ConflictError
from recstrata.serving.events import Event, EventStore

WRITER = {"X-API-Key": "writer"}


def post(client, **event):
    return client.post("/v1/events", json={"idempotency_key": "e-1", "user_id": "3", "item_id": "3", "type": "click",
                                           **event}, headers=WRITER)


def test_a_key_reused_for_another_event_is_a_409_and_the_first_event_stays(client):
    assert post(client, timestamp=0).json() == {"accepted": True, "duplicate": False}
    state = client.app.state.recstrata
    history = state.engine.history("3")
    for change in ({"item_id": "5"}, {"user_id": "4"}, {"type": "purchase"}, {"type": "rating", "value": 1.0},
                   {"timestamp": 1.0}):
        r = post(client, **{"timestamp": 0, **change})
        assert r.status_code == 409, change
        assert "idempotency key 'e-1' was already used for another event" in r.json()["detail"]
        assert "fresh key" in r.json()["detail"]
    assert post(client, timestamp=0).json() == {"accepted": True, "duplicate": True}  # a retry
    assert post(client).json() == {"accepted": True, "duplicate": True}  # a retry that leaves the time out
    (stored,) = state.events.all_events()
    assert stored == Event("e-1", "3", "3", "click", None, 0.0)  # timestamp 0 is kept, not taken for "now"
    assert state.engine.history("3") == history


def test_concurrent_posts_of_one_key_store_exactly_one_event(tmp_path):
    # two connections to one file, as two server processes would have; 8 writers race on one key
    # (the UNIQUE key alone makes this exactly once; the next test is what the transaction is for)
    stores = [EventStore(tmp_path / "events.sqlite") for _ in range(2)]
    items = ["1", "2", "1", "2", "1", "2", "1", "2"]
    barrier, outcomes = threading.Barrier(len(items)), [None] * len(items)

    def send(i):
        barrier.wait()
        try:
            outcomes[i] = stores[i % 2].append(Event("k", "u", items[i], "click", None, 5.0))
        except ConflictError:
            outcomes[i] = "conflict"

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(items))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (stored,) = stores[0].all_events()
    assert outcomes.count(True) == 1
    for item, outcome in zip(items, outcomes):  # the winner's twins are retries, the others conflicts
        assert outcome in (True, False) if item == stored.item_id else outcome == "conflict"
    for store in stores:
        store.close()


class Interleaved:
    """A connection that runs ``hook`` right after the statement starting with ``prefix``."""

    def __init__(self, db, prefix: str, hook) -> None:
        self.db, self.prefix, self.hook = db, prefix, hook

    def execute(self, sql: str, *args):
        cursor = self.db.execute(sql, *args)
        if sql.startswith(self.prefix):
            self.hook()
        return cursor


def test_an_erasure_from_another_process_cannot_land_between_the_insert_and_the_read_back(tmp_path):
    writer, eraser = (EventStore(tmp_path / "events.sqlite") for _ in range(2))
    writer.append(Event("k", "u", "1", "click", None, 1.0))
    erasing = threading.Thread(target=eraser.erase, args=("u",))

    def erase_meanwhile():  # the retry's INSERT was ignored (the key is taken); the other process erases now
        erasing.start()
        erasing.join(timeout=0.5)  # done at once unless the write transaction holds it off until COMMIT
        assert erasing.is_alive()

    writer._db = Interleaved(writer._db, "INSERT OR IGNORE", erase_meanwhile)
    assert writer.append(Event("k", "u", "1", "click", None, 1.0)) is False  # a retry, read back before the erasure
    erasing.join()
    assert eraser.user_events("u") == [] and eraser.erased_users() == {"u"}
    eraser.close()
    writer._db = writer._db.db
    writer.close()


def test_a_conflict_names_the_fields_that_differ(tmp_path):
    store = EventStore(tmp_path / "events.sqlite")
    store.append(Event("k", "u", "1", "rating", 4.0, None))
    with pytest.raises(ConflictError, match=r"differs in item_id, value\)"):
        store.append(Event("k", "u", "2", "rating", 5.0, None))
    store.close()


def fill_up(store: EventStore) -> None:
    """Let the store's database grow by no page from now on (a full disk, as SQLite sees it)."""
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count={pages}")


def test_a_full_database_raises_its_own_error_and_the_store_stays_usable(tmp_path):
    store = EventStore(tmp_path / "events.sqlite")
    store.append(Event("k", "u", "1", "click", None, 1.0))
    fill_up(store)
    for write in (lambda i: store.append(Event(f"k{i}-{'x' * 100}", "u" * 100, "1", "click", None, 1.0)),
                  lambda i: store.erase(f"v{i}-{'x' * 100}")):  # an erasure is recorded: it needs space too
        with pytest.raises(sqlite3.OperationalError, match="full"):  # not "cannot commit - no transaction"
            for i in range(1000):
                write(i)
    store._db.execute("PRAGMA max_page_count=1000000")  # space again: the store goes on where it was
    assert store.append(Event("next", "u", "1", "click", None, 2.0)) is True
    assert store.erase("u") >= 2 and store.user_events("u") == []
    store.close()


def test_an_event_the_full_store_cannot_take_is_a_503_and_can_be_retried(client):
    store = client.app.state.recstrata.events
    fill_up(store)
    for i in range(1000):
        r = post(client, idempotency_key=f"k{i}-{'x' * 100}", user_id="u" * 100)
        if r.status_code != 200:
            break
    assert r.status_code == 503, r.text
    assert r.json()["detail"].startswith("the event was not stored: the event store failed (database or disk is full)")
    store._db.execute("PRAGMA max_page_count=1000000")
    assert post(client, idempotency_key=f"k{i}-{'x' * 100}", user_id="u" * 100).json()["duplicate"] is False


def test_two_connections_opening_a_new_store_at_once_migrate_it_once(tmp_path, monkeypatch):
    from recstrata.serving import events as events_mod

    monkeypatch.setattr(events_mod, "MIGRATIONS", MigrationsAfterBarrier(events_mod.MIGRATIONS))
    assert errors_of_side_by_side(lambda: EventStore(tmp_path / "events.sqlite").close()) == []
    monkeypatch.undo()
    store = EventStore(tmp_path / "events.sqlite")
    assert store.append(Event("k1", "u1", "i1", "view", None, 1.0))
    assert store._db.execute("PRAGMA user_version").fetchone()[0] == len(events_mod.MIGRATIONS)
    store.close()
