"""Fault injection shared by every emulated platform.

Each sandbox app gets one `FaultInjector`. Its knobs change at run time through
`POST /__sandbox__/faults` (JSON: any of error_rate, rate_limit_rate, latency_ms, seed) so tests and
demos can make a platform slow, flaky or throttled without restarting it; `GET /__sandbox__/stats`
counts what it served. Each platform decides what an injected error or 429 looks like on its wire.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass

from flask import Flask, Response, jsonify, request

CONTROL_PREFIX = "/__sandbox__/"


@dataclass
class FaultKnobs:
    error_rate: float = 0.0  # share of calls answered with the platform's server error
    rate_limit_rate: float = 0.0  # share of calls answered with the platform's rate-limit error
    latency_ms: int = 0  # added to every call


class FaultInjector:
    def __init__(self, seed: int = 0):
        self.knobs = FaultKnobs()
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.stats: Counter[str] = Counter()

    def configure(self, **knobs: float) -> FaultKnobs:
        with self._lock:
            if "seed" in knobs:
                self._random.seed(knobs.pop("seed"))
            for name, value in knobs.items():
                if not hasattr(self.knobs, name):
                    raise ValueError(f"unknown fault knob {name!r}")
                setattr(self.knobs, name, type(getattr(self.knobs, name))(value))
            return self.knobs

    def reset(self) -> None:
        with self._lock:
            self.knobs = FaultKnobs()
            self.stats.clear()

    def draw(self) -> str | None:
        """Decide this call's fate: None (serve it), "error" or "rate_limit"."""
        with self._lock:
            roll = self._random.random()
            if roll < self.knobs.rate_limit_rate:
                return "rate_limit"
            if roll < self.knobs.rate_limit_rate + self.knobs.error_rate:
                return "error"
            return None

    def install(
        self,
        app: Flask,
        *,
        on_error: Callable[[], Response],
        on_rate_limit: Callable[[], Response],
        exempt: Callable[[str], bool] = lambda path: False,
    ) -> None:
        """Register the control endpoints and a before_request hook on `app`."""

        @app.before_request
        def inject_faults() -> Response | None:
            if request.path.startswith(CONTROL_PREFIX) or exempt(request.path):
                return None
            self.stats["requests"] += 1
            if self.knobs.latency_ms:
                time.sleep(self.knobs.latency_ms / 1000)
            fate = self.draw()
            if fate == "rate_limit":
                self.stats["rate_limited"] += 1
                return on_rate_limit()
            if fate == "error":
                self.stats["errors"] += 1
                return on_error()
            return None

        @app.post(CONTROL_PREFIX + "faults")
        def set_faults() -> Response:
            try:
                knobs = self.configure(**(request.get_json(force=True) or {}))
            except (TypeError, ValueError) as error:
                return Response(str(error), status=400)
            return jsonify(asdict(knobs))

        @app.post(CONTROL_PREFIX + "reset")
        def reset_faults() -> Response:
            self.reset()
            return jsonify(asdict(self.knobs))

        @app.get(CONTROL_PREFIX + "stats")
        def fault_stats() -> Response:
            return jsonify({**self.stats, "knobs": asdict(self.knobs)})
