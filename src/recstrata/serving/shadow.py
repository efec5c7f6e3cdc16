"""Shadow mode: a candidate model answers a share of live requests off the response path.

Requests are sampled and handed to a bounded queue (dropped, and counted, if it is full, so the
live path never waits); a worker thread runs the candidate and records overlap@k, the Spearman
correlation of the ranks of items both lists share, and both latencies. The summary covers the
last ``window`` comparisons (memory stays bounded on a long-running server) plus running totals.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass
class _Job:
    history: list[int]
    live_ids: list[int]
    live_ms: float
    k: int


def spearman_shared(a: list[int], b: list[int]) -> float | None:
    shared = [x for x in a if x in set(b)]
    if len(shared) < 2:
        return None
    ra = np.array([a.index(x) for x in shared], float)
    rb = np.array([b.index(x) for x in shared], float)
    ra, rb = np.argsort(np.argsort(ra)), np.argsort(np.argsort(rb))
    d = ra - rb
    n = len(shared)
    return float(1 - 6 * (d**2).sum() / (n * (n**2 - 1)))


class Shadow:
    def __init__(self, model, name: str, fraction: float, max_queue: int = 256, seed: int = 0,
                 window: int = 10_000) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1 comparison, got {window}")
        self.model, self.name, self.fraction = model, name, fraction
        self._queue: queue.Queue[_Job | None] = queue.Queue(max_queue)
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.overlaps: deque[float] = deque(maxlen=window)
        self.spearmans: deque[float] = deque(maxlen=window)
        self.live_ms: deque[float] = deque(maxlen=window)
        self.shadow_ms: deque[float] = deque(maxlen=window)
        self.compared = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="shadow", daemon=True)
        self._thread.start()

    def offer(self, history: list[int], live_ids: list[int], live_ms: float, k: int) -> None:
        if self.fraction <= 0 or self._rng.random() >= self.fraction:
            return
        try:
            self._queue.put_nowait(_Job(history, live_ids, live_ms, k))
        except queue.Full:
            with self._lock:
                self.dropped += 1

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            start = time.perf_counter()
            try:
                ids, _ = self.model.recommend(histories=[job.history], k=job.k)
            except Exception:  # noqa: BLE001 - a failing candidate must never affect serving
                with self._lock:
                    self.dropped += 1
                continue
            ms = (time.perf_counter() - start) * 1000
            shadow = [int(x) for x in ids[0] if x >= 0]
            overlap = len(set(shadow) & set(job.live_ids)) / max(job.k, 1)
            rho = spearman_shared(job.live_ids, shadow)
            with self._lock:
                self.compared += 1
                self.overlaps.append(overlap)
                if rho is not None:
                    self.spearmans.append(rho)
                self.live_ms.append(job.live_ms)
                self.shadow_ms.append(ms)

    def drain(self, timeout: float = 5.0) -> None:
        """Wait until queued comparisons are done (tests, shutdown)."""
        end = time.monotonic() + timeout
        while not self._queue.empty() and time.monotonic() < end:
            time.sleep(0.01)
        time.sleep(0.05)

    def close(self) -> None:
        self._queue.put(None)

    def summary(self) -> dict:
        with self._lock:
            def pct(xs, q):
                return float(np.percentile(xs, q)) if xs else None

            return {
                "enabled": True, "model": self.name, "fraction": self.fraction, "compared": self.compared,
                "dropped": self.dropped, "window": len(self.overlaps),
                "mean_overlap_at_k": float(np.mean(self.overlaps)) if self.overlaps else None,
                "mean_spearman": float(np.mean(self.spearmans)) if self.spearmans else None,
                "live_p50_ms": pct(self.live_ms, 50), "shadow_p50_ms": pct(self.shadow_ms, 50),
                "live_p99_ms": pct(self.live_ms, 99), "shadow_p99_ms": pct(self.shadow_ms, 99),
            }
