"""Durable event store on SQLite (WAL, synchronous=FULL): an acknowledged event is on disk.

Numbered migrations; a unique idempotency key makes a retried POST a no-op (and the key reused
for a different event a ``ConflictError``, never a silent drop); erasure deletes a
user's events and records the erasure, so the server and retraining forget everything known about
the user before it (their training history too); events the user sends afterwards are new data.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from recstrata._sqlite import open_wal, transaction
from recstrata.errors import ConfigError, ConflictError

MIGRATIONS = [
    # 1: events with idempotency
    """
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        idempotency_key TEXT NOT NULL UNIQUE,
        user_id TEXT NOT NULL,
        item_id TEXT NOT NULL,
        type TEXT NOT NULL,
        value REAL,
        ts REAL NOT NULL
    );
    CREATE INDEX events_user ON events(user_id, seq);
    """,
    # 2: erasures (right to be forgotten), consulted by exports for retraining
    """
    CREATE TABLE erasures (user_id TEXT PRIMARY KEY, ts REAL NOT NULL);
    """,
]


def _migrate(db: sqlite3.Connection) -> None:
    if db.execute("PRAGMA user_version").fetchone()[0] >= len(MIGRATIONS):
        return  # up to date: no write lock taken
    with transaction(db):
        # read again under the write lock: another process opening the same new store may have
        # migrated it since
        version = db.execute("PRAGMA user_version").fetchone()[0]
        for number, sql in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in filter(str.strip, sql.split(";")):  # executescript would commit early
                db.execute(statement)
            db.execute(f"PRAGMA user_version={number}")


COLUMNS = "idempotency_key, user_id, item_id, type, value, ts"  # in Event's field order


@dataclass(frozen=True)
class Event:
    idempotency_key: str
    user_id: str
    item_id: str
    type: str
    value: float | None
    ts: float | None  # unix seconds; None = now (``append`` stamps it), stored events always have one

    def differences(self, stored: Event) -> list[str]:
        """The fields in which this event is not ``stored``; the time counts only when this one gives it."""
        pairs = [("user_id", self.user_id, stored.user_id), ("item_id", self.item_id, stored.item_id),
                 ("type", self.type, stored.type), ("value", self.value, stored.value)]
        if self.ts is not None:
            pairs.append(("timestamp", self.ts, stored.ts))
        return [name for name, mine, theirs in pairs if mine != theirs]


class EventStore:
    """Thread-safe; one connection guarded by a lock (SQLite serialises writers anyway)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = open_wal(self.path, synchronous="FULL", migrate=_migrate, check_same_thread=False)

    @classmethod
    def open_readonly(cls, path: str | Path) -> EventStore:
        """An existing store, read-only (e.g. for a retraining export while the server runs): a file
        that is not a recstrata event store is refused with ``ConfigError``, never written to."""
        self = cls.__new__(cls)
        self.path, self._lock = Path(path), threading.Lock()
        hint = "pass the server's event store (<state_dir>/events.sqlite)"
        if not self.path.is_file():
            raise ConfigError(f"{self.path} does not exist: {hint}")
        try:
            self._db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"{self.path} is not a recstrata event store ({exc}): {hint}") from exc
        if version != len(MIGRATIONS) or not {"events", "erasures"} <= tables:
            self._db.close()
            raise ConfigError(f"{self.path} is not a recstrata event store of this version (schema {version}, "
                              f"tables {sorted(tables)}): {hint}")
        return self

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (see ``recstrata._sqlite.transaction``) under this store's lock."""
        with self._lock, transaction(self._db) as db:
            yield db

    def append(self, event: Event) -> bool:
        """Store the event durably; False if this very event is stored under its idempotency key
        already (a retry: nothing written); ``ConflictError`` if the key was used for another event."""
        ts = time.time() if event.ts is None else event.ts
        # one transaction, so a second process on the file cannot insert or erase in between
        with self._transaction() as db:
            cur = db.execute(
                f"INSERT OR IGNORE INTO events({COLUMNS}) VALUES (?,?,?,?,?,?)",
                (event.idempotency_key, event.user_id, event.item_id, event.type, event.value, ts),
            )
            stored = None if cur.rowcount == 1 else db.execute(
                f"SELECT {COLUMNS} FROM events WHERE idempotency_key=?", (event.idempotency_key,)).fetchone()
        if stored is None:
            return True
        differs = event.differences(Event(*stored))
        if differs:
            raise ConflictError(f"idempotency key {event.idempotency_key!r} was already used for another event "
                                f"(it differs in {', '.join(differs)}): send each event with a fresh key, and "
                                "repeat a key only to retry the very same event")
        return False

    def user_events(self, user_id: str) -> list[Event]:
        with self._lock:
            rows = self._db.execute(f"SELECT {COLUMNS} FROM events WHERE user_id=? ORDER BY seq", (user_id,)).fetchall()
        return [Event(*r) for r in rows]

    def all_events(self) -> Iterator[Event]:
        with self._lock:
            rows = self._db.execute(f"SELECT {COLUMNS} FROM events ORDER BY seq").fetchall()
        return (Event(*r) for r in rows)

    def export(self, implicit_weight: float = 1.0) -> tuple[list[str], list[str], list[float], list[float]]:
        """Every stored event of users not erased, for retraining: (user ids, item ids, weights,
        unix timestamps). A rating keeps its value; other events (view, click, purchase, or a
        rating without a value) weigh ``implicit_weight`` (e.g. the top of the rating scale)."""
        users, items, weights, stamps = [], [], [], []
        for ev in self.all_events():
            users.append(ev.user_id)
            items.append(ev.item_id)
            weights.append(ev.value if ev.type == "rating" and ev.value is not None else implicit_weight)
            stamps.append(ev.ts)
        return users, items, weights, stamps

    def keys(self) -> set[str]:
        with self._lock:
            return {r[0] for r in self._db.execute("SELECT idempotency_key FROM events")}

    def erase(self, user_id: str) -> int:
        with self._transaction() as db:
            n = db.execute("DELETE FROM events WHERE user_id=?", (user_id,)).rowcount
            db.execute("INSERT OR REPLACE INTO erasures(user_id, ts) VALUES (?, ?)", (user_id, time.time()))
        return n

    def erased_users(self) -> set[str]:
        with self._lock:
            return {r[0] for r in self._db.execute("SELECT user_id FROM erasures")}

    def close(self) -> None:
        with self._lock:
            self._db.close()
