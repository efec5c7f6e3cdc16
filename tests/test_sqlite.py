"""The SQLite pieces the enrichment store and the serving event store share (``recstrata._sqlite``)."""

from __future__ import annotations

import sqlite3
import time

import pytest


class _FlakyWal:
    """A connection double whose WAL switch answers with ``errors`` first (SQLite error names)."""

    def __init__(self, errors):
        self.errors, self.calls = list(errors), 0

    def execute(self, sql):
        self.calls += 1
        if self.errors:
            exc = sqlite3.OperationalError("database is locked")
            exc.sqlite_errorname = self.errors.pop(0)
            raise exc


def test_the_switch_to_wal_is_retried_on_busy_only_and_within_its_timeout():
    from recstrata._sqlite import _switch_to_wal

    db = _FlakyWal(["SQLITE_BUSY", "SQLITE_BUSY_RECOVERY", "SQLITE_BUSY"])
    _switch_to_wal(db, timeout=5.0)
    assert db.calls == 4
    db = _FlakyWal(["SQLITE_IOERR"])  # not a lock: raised at once
    with pytest.raises(sqlite3.OperationalError):
        _switch_to_wal(db, timeout=5.0)
    assert db.calls == 1
    db = _FlakyWal(["SQLITE_BUSY"] * 1000)  # busy for good: given up once the timeout is spent
    start = time.monotonic()
    with pytest.raises(sqlite3.OperationalError):
        _switch_to_wal(db, timeout=0.2)
    assert time.monotonic() - start < 1.0 and 2 <= db.calls < 20
