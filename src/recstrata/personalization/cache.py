"""Persistent explanation cache (SQLite, WAL), keyed by (item, grounding facts, model, prompt
version) and tagged with the user so erasure can remove a user's entries."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS explanations (
    key TEXT NOT NULL,
    user_id TEXT NOT NULL,
    sentence TEXT NOT NULL,
    PRIMARY KEY (key, user_id)
)
"""


class ExplanationCache:
    def __init__(self, path: str | Path | None = None) -> None:
        target = ":memory:" if path is None else str(path)
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(SCHEMA)
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT sentence FROM explanations WHERE key=? LIMIT 1", (key,)).fetchone()
            if row:
                self.hits += 1
            else:
                self.misses += 1
        return row[0] if row else None

    def put(self, key: str, user_id: str, sentence: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO explanations(key, user_id, sentence) VALUES (?,?,?)",
                             (key, user_id, sentence))

    def erase_user(self, user_id: str) -> int:
        with self._lock:
            return self._db.execute("DELETE FROM explanations WHERE user_id=?", (user_id,)).rowcount

    def count(self, user_id: str | None = None) -> int:
        with self._lock:
            if user_id is None:
                return self._db.execute("SELECT COUNT(*) FROM explanations").fetchone()[0]
            return self._db.execute("SELECT COUNT(*) FROM explanations WHERE user_id=?", (user_id,)).fetchone()[0]
