"""What recstrata's SQLite stores share: opening a file in WAL mode and one write transaction.

Used by the enrichment store and the serving event store; each wraps failures in its own error.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path


def open_wal(path: Path, *, synchronous: str, timeout: float = 5.0, **connect: object) -> sqlite3.Connection:
    """A connection in autocommit mode (writes open explicit transactions) on a WAL journal.

    ``timeout`` (seconds) is how long a write waits for another connection's lock; it is set
    before the journal mode, whose first switch to WAL needs that lock too. ``synchronous`` is
    FULL (a commit is on disk) or NORMAL (durable at checkpoints, never corrupt)."""
    db = sqlite3.connect(path, timeout=timeout, isolation_level=None, **connect)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous}")
    except BaseException:
        db.close()
        raise
    return db


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
