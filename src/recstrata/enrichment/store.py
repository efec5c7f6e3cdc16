"""Content-hash keyed store of enrichment results on SQLite (WAL mode, numbered migrations).

A result is keyed by ``job + model + prompt-template version + sha256(input)``: re-running a job
with the same model, template and input finds the key and skips the call; changing any of them
makes new keys, so stale results are never served for new prompts.

Crash safety: each result is written in its own transaction, and only after its output passed
validation; SQLite's journal makes a killed process leave either the whole row or nothing.
Failures are *not* results: they go to an append-only ``failures`` log (with the reason) and the
item is retried by the next run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from recstrata._sqlite import open_wal, remedy, transaction
from recstrata.errors import ArtifactError, ConfigError

_DAMAGED = ("if it is not a recstrata enrichment store or is damaged, move it aside and re-run (the job "
            "starts afresh), or pass another store path")
STATUSES = ("ok", "skipped")  # skipped = deterministic skip (e.g. no usable input): not redone


def _m001_results(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE results (
            key TEXT PRIMARY KEY,
            job TEXT NOT NULL,
            model TEXT NOT NULL,
            version TEXT NOT NULL,
            input_sha TEXT NOT NULL,
            subject TEXT NOT NULL,
            status TEXT NOT NULL,
            output TEXT,
            tokens_in INTEGER NOT NULL DEFAULT 0,
            tokens_out INTEGER NOT NULL DEFAULT 0,
            seconds REAL NOT NULL DEFAULT 0,
            cost REAL NOT NULL DEFAULT 0,
            created REAL NOT NULL
        )"""
    )
    db.execute("CREATE INDEX results_job ON results (job, model, version)")


def _m002_failures(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE failures (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            key TEXT NOT NULL,
            job TEXT NOT NULL,
            subject TEXT NOT NULL,
            reason TEXT NOT NULL,
            detail TEXT,
            created REAL NOT NULL
        )"""
    )
    db.execute("CREATE INDEX failures_job ON failures (job)")


# Append only: a migration, once released, is never edited; new changes get a new name.
MIGRATIONS: list[tuple[str, Callable[[sqlite3.Connection], None]]] = [
    ("m001_results", _m001_results),
    ("m002_failures", _m002_failures),
]


def _migrate(db: sqlite3.Connection) -> None:
    if not db.execute("SELECT 1 FROM sqlite_master WHERE name = '_migrations'").fetchone():
        # a new store: created under the write lock (BEGIN IMMEDIATE waits for it), so a second
        # opener of the same new file waits instead of losing a race to write it
        with transaction(db):
            db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied REAL)")
    done = {r[0] for r in db.execute("SELECT name FROM _migrations")}
    for name, fn in MIGRATIONS:
        if name in done:
            continue
        with transaction(db):
            # looked at again under the write lock: another process opening the same new store (the
            # workers of a parallel job) may have applied it since
            if db.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone():
                continue
            fn(db)
            db.execute("INSERT INTO _migrations VALUES (?, ?)", (name, time.time()))


def input_sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def result_key(job: str, model: str, version: str, text: str) -> str:
    """The content-hash key of one unit of work."""
    return hashlib.sha256("\x1f".join((job, model, version, input_sha(text))).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Record:
    key: str
    job: str
    model: str
    version: str
    subject: str
    status: str
    output: dict | None
    tokens_in: int
    tokens_out: int
    seconds: float
    cost: float


class EnrichmentStore:
    """SQLite-backed result store. One connection per instance; use as a context manager.

    ``timeout`` is how many seconds a write waits while another process writes the file."""

    def __init__(self, path: str | Path, *, timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # NORMAL: a killed job loses at most its last result, and the file is never corrupt
            self._db = open_wal(self.path, synchronous="NORMAL", migrate=_migrate, timeout=timeout)
        except sqlite3.Error as exc:
            raise ArtifactError(f"{self.path} cannot be opened as an enrichment store ({exc}): "
                                f"{remedy(exc, self.path, damaged=_DAMAGED)}") from exc

    # ---- lifecycle ------------------------------------------------------------------------------
    def migrations(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT name FROM _migrations ORDER BY name")]

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> EnrichmentStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        """A write transaction whose SQLite failure (disk full, read-only file, locked too long) stops
        the job with ``ArtifactError``: no later write would succeed, and what is committed is kept."""
        try:
            with transaction(self._db):
                yield
        except sqlite3.Error as exc:
            raise ArtifactError(
                f"cannot write to the enrichment store {self.path} ({exc}): "
                f"{remedy(exc, self.path, damaged=_DAMAGED)}; results stored so far are kept and skipped"
            ) from exc

    # ---- writes ---------------------------------------------------------------------------------
    def put(
        self,
        *,
        key: str,
        job: str,
        model: str,
        version: str,
        input_text: str,
        subject: str,
        output: dict | None,
        status: str = "ok",
        tokens_in: int = 0,
        tokens_out: int = 0,
        seconds: float = 0.0,
        cost: float = 0.0,
    ) -> None:
        """Store one validated result in its own transaction (a re-put of a key replaces it)."""
        if status not in STATUSES:
            raise ConfigError(f"status must be one of {STATUSES}, not {status!r}")
        payload = None if output is None else json.dumps(output, sort_keys=True, ensure_ascii=False)
        with self._write():
            self._db.execute(
                "INSERT OR REPLACE INTO results VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (key, job, model, version, input_sha(input_text), str(subject), status, payload,
                 int(tokens_in), int(tokens_out), float(seconds), float(cost), time.time()),
            )

    def log_failure(self, *, key: str, job: str, subject: str, reason: str, detail: str = "") -> None:
        with self._write():
            self._db.execute(
                "INSERT INTO failures (key, job, subject, reason, detail, created) VALUES (?,?,?,?,?,?)",
                (key, job, str(subject), reason, detail[:2000], time.time()),
            )

    # ---- reads ----------------------------------------------------------------------------------
    def done_keys(self, keys: Iterable[str] | None = None) -> set[str]:
        """Which of ``keys`` (default: all) already have a result."""
        if keys is None:
            return {r[0] for r in self._db.execute("SELECT key FROM results")}
        keys = list(keys)
        found: set[str] = set()
        for start in range(0, len(keys), 500):  # SQLite caps bound parameters per statement
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in self._db.execute(f"SELECT key FROM results WHERE key IN ({marks})", chunk))
        return found

    def get(self, key: str) -> Record | None:
        row = self._db.execute("SELECT * FROM results WHERE key = ?", (key,)).fetchone()
        return None if row is None else _record(row)

    def records(
        self, job: str, *, model: str | None = None, version: str | None = None, status: str | None = "ok"
    ) -> Iterator[Record]:
        """Stored results of ``job`` (optionally one model / template version), oldest first."""
        sql, args = "SELECT * FROM results WHERE job = ?", [job]
        for col, val in (("model", model), ("version", version), ("status", status)):
            if val is not None:
                sql += f" AND {col} = ?"
                args.append(val)
        for row in self._db.execute(sql + " ORDER BY created, key", args):
            yield _record(row)

    def count(self, job: str | None = None) -> int:
        if job is None:
            return self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        return self._db.execute("SELECT COUNT(*) FROM results WHERE job = ?", (job,)).fetchone()[0]

    def failures(self, job: str | None = None) -> list[tuple[str, str, str]]:
        """(subject, reason, detail) of logged failures, oldest first."""
        sql = "SELECT subject, reason, detail FROM failures"
        rows = self._db.execute(sql + (" WHERE job = ? ORDER BY id" if job else " ORDER BY id"),
                                (job,) if job else ())
        return [tuple(r) for r in rows]

    def usage(self, job: str | None = None) -> dict[str, float]:
        """Summed tokens, seconds and cost of the stored results."""
        sql = "SELECT COUNT(*), SUM(tokens_in), SUM(tokens_out), SUM(seconds), SUM(cost) FROM results"
        row = self._db.execute(sql + (" WHERE job = ?" if job else ""), (job,) if job else ()).fetchone()
        n, tin, tout, secs, cost = row
        return {"results": n, "tokens_in": tin or 0, "tokens_out": tout or 0, "seconds": secs or 0.0,
                "cost": cost or 0.0}


def _record(row: tuple) -> Record:
    key, job, model, version, _sha, subject, status, output, tin, tout, secs, cost, _created = row
    return Record(key, job, model, version, subject, status, None if output is None else json.loads(output),
                  tin, tout, secs, cost)
