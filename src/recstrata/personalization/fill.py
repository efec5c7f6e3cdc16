"""Progressive explanations: what a request had to answer with a template (no time left before
its deadline) is explained off the request path, so the next request for the same item and facts
gets the LLM sentence from the cache.

One daemon thread works a bounded queue (full = dropped and counted, never blocking a request),
one entry per cache key. It only starts a call when no request is using the LLM, so background
work does not steal a request's deadline; a user erased while their item is in flight gets nothing
written back.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("recstrata.personalization")


class BackgroundFill:
    def __init__(self, work: Callable[[Any], str | None], store: Callable[[str, str, str], None], *,
                 busy: Callable[[], bool], capacity: int = 256, idle_poll_s: float = 0.02) -> None:
        """``work(grounding)`` returns an accepted sentence or None; ``store(key, user_id, sentence)``
        caches it; ``busy()`` says whether a request is using the LLM right now."""
        self._work, self._store, self._busy, self._poll = work, store, busy, idle_poll_s
        self._queue: queue.Queue = queue.Queue(capacity)
        self._pending: dict[str, str] = {}  # cache key -> user id
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.filled = self.dropped = self.failed = 0

    def offer(self, key: str, user_id: str, grounding: Any) -> bool:
        """Queue ``grounding`` for explanation under ``key``; False when already queued or full."""
        with self._lock:
            if key in self._pending:
                return False
            try:
                self._queue.put_nowait((key, user_id, grounding))
            except queue.Full:
                self.dropped += 1
                return False
            self._pending[key] = user_id
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="explain-fill", daemon=True)
                self._thread.start()
        return True

    def erase_user(self, user_id: str) -> None:
        """Forget the user's queued items; an in-flight one is not written back."""
        with self._lock:  # an emptied owner means: skip when taken, do not write back when in flight
            for key in [k for k, u in self._pending.items() if u == user_id]:
                self._pending[key] = ""

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def join(self, timeout: float) -> bool:
        """Wait until the queue is worked off (tests, benchmarks); True if it was."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.pending() == 0:
                return True
            time.sleep(0.01)
        return self.pending() == 0

    def close(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                key, user_id, grounding = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                with self._lock:
                    skip = not self._pending.get(key)
                if not skip:
                    while self._busy() and not self._stop.is_set():  # requests first
                        time.sleep(self._poll)
                    try:
                        sentence = self._work(grounding)
                    except Exception:  # never let one bad item stop the worker
                        log.exception("background explanation failed")
                        sentence = None
                    with self._lock:
                        if sentence is None:
                            self.failed += 1
                        elif self._pending.get(key):
                            self._store(key, user_id, sentence)
                            self.filled += 1
            finally:
                with self._lock:
                    self._pending.pop(key, None)
