"""What recstrata's SQLite stores share: opening a file in WAL mode, one write transaction, and
advice for an ``sqlite3.Error`` chosen by its SQLite error name (not one text for every failure).

Used by the enrichment store and the serving event store; each wraps failures in its own error.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path


def open_wal(
    path: Path,
    *,
    synchronous: str,
    migrate: Callable[[sqlite3.Connection], None],
    timeout: float = 5.0,
    **connect: object,
) -> sqlite3.Connection:
    """A connection in autocommit mode (writes open explicit transactions) on a WAL journal, with
    ``migrate(connection)`` run on it; closed again if any of that fails.

    ``timeout`` (seconds) is how long a write waits for another connection's lock; it is set
    before the journal mode, whose first switch to WAL needs that lock too. ``synchronous`` is
    FULL (a commit is on disk) or NORMAL (durable at checkpoints, never corrupt)."""
    db = sqlite3.connect(path, timeout=timeout, isolation_level=None, **connect)
    try:
        _switch_to_wal(db, timeout)
        db.execute(f"PRAGMA synchronous={synchronous}")
        migrate(db)
    except BaseException:
        db.close()
        raise
    return db


def _switch_to_wal(db: sqlite3.Connection, timeout: float) -> None:
    """PRAGMA journal_mode=WAL, retried for up to ``timeout`` seconds: when two connections switch a
    new file at once, SQLite answers one of them "database is locked" at once, without waiting out
    its busy timeout (seen in ~1 of 70 side-by-side openings of a new store)."""
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorname", "").split("_")[:2] != ["SQLITE", "BUSY"] \
                    or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction (BEGIN IMMEDIATE: a second process on the file waits). An error rolls
    it back and propagates as it is: SQLite may have rolled back already (a full disk does), so a
    failing ROLLBACK is ignored, never reported in place of the real error."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        raise


_BUSY = "another process is writing {path}: wait for it to finish or stop it, then re-run"
_ACCESS = ("check that {path} and its folder exist and that this user may read and write them "
           "(or pass another path), then re-run")
_REMEDIES = {
    "SQLITE_BUSY": _BUSY,
    "SQLITE_LOCKED": _BUSY,
    "SQLITE_READONLY": _ACCESS,
    "SQLITE_CANTOPEN": _ACCESS,
    "SQLITE_PERM": _ACCESS,
    "SQLITE_FULL": "the disk holding {path} is full: free space on it, then re-run",
}


def remedy(exc: sqlite3.Error, path: Path, *, damaged: str) -> str:
    """What to do about ``exc`` raised on the database at ``path``. ``damaged`` is the caller's advice
    for a file that is not its kind of database or is corrupt (SQLITE_NOTADB, SQLITE_CORRUPT)."""
    name = getattr(exc, "sqlite_errorname", None) or ""
    base = "_".join(name.split("_")[:2])  # extended codes (SQLITE_READONLY_DBMOVED) advise as their base
    if base in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
        return damaged
    template = _REMEDIES.get(base, "check {path} and the disk it is on, then re-run")
    return template.format(path=path)
