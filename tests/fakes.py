"""Stand-ins the adapter tests hand to an adapter instead of the real clock and limiter."""

from __future__ import annotations

import time


class FakeSleep:
    """Records the delays the adapter asks for instead of sleeping; can run a hook on each."""

    def __init__(self, on_sleep=None):
        self.delays: list[float] = []
        self.on_sleep = on_sleep

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if self.on_sleep:
            self.on_sleep()


class RecordingLimiter:
    """A `RateLimiter` of one process that records what the adapter told it. It lets every
    call through, or with `hold` holds calls back for as long as it was paused."""

    def __init__(self, *, hold: bool = False):
        self.hold = hold
        self.acquired = 0
        self.pauses: list[float] = []
        self.paused_until = 0.0

    def acquire(self) -> None:
        self.acquired += 1
        if self.hold:
            time.sleep(max(0.0, self.paused_until - time.monotonic()))

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)
