"""A circuit breaker: after N consecutive failures stop calling a backend for a cool-down, then
let one probe through (half-open); a success closes the circuit again. A reply that came in time but
is unusable (``answered``) neither counts as a failure nor resets the count."""

from __future__ import annotations

import threading
import time


class CircuitBreaker:
    def __init__(self, failures: int = 3, cooldown_s: float = 30.0, clock=time.monotonic) -> None:
        self.threshold = failures
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> str:
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self._opened_at is None:
            return "closed"
        return "half-open" if self._clock() - self._opened_at >= self.cooldown_s else "open"

    def allow(self) -> bool:
        """May we call the backend now? In half-open state only one caller probes."""
        with self._lock:
            state = self._state()
            if state == "closed":
                return True
            if state == "half-open" and not self._probing:
                self._probing = True
                return True
            return False

    def success(self) -> None:
        with self._lock:
            self._failures, self._opened_at, self._probing = 0, None, False

    def answered(self) -> None:
        """The backend answered in time, but with nothing usable (a reply cut short or off its schema):
        not a sign that it is down, nor that it works. A half-open probe ends and closes the circuit
        (the backend is reachable); a closed circuit keeps its count of consecutive failures, so
        such replies between timeouts do not keep a failing backend in use."""
        with self._lock:
            if self._probing:
                self._failures, self._opened_at, self._probing = 0, None, False

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._probing or self._failures >= self.threshold:
                self._opened_at = self._clock()
            self._probing = False
