"""Fault injection shared by every emulated platform.

Each sandbox app gets one `FaultInjector`. Its knobs change at run time through
`POST /__sandbox__/faults` (JSON: any of the `FaultKnobs` fields, and `seed`) so tests and demos can
make a platform slow, flaky or throttled without restarting it; `GET /__sandbox__/stats` counts
what it served. Each platform decides what an injected error or 429 looks like on its wire, and
whether its tokens can expire mid-run.

The faults a call can meet, each with its own share of calls:

- an error: the platform's server error, the call not run;
- a rate limit: the platform's 429 (or its own code), the call not run;
- a timeout: the call runs, then the answer is held `timeout_ms` before it goes out, so a client
  with a shorter read timeout gives up on a call that did happen (a write must be safe to send
  again, or be checked before it is);
- a truncated answer: the call runs and the client gets the first half of its body;
- a token expiry: the platform's "access token expired" answer, after which every access token
  issued so far stays expired (the platform says whether and how; the others ignore it).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass

from flask import Flask, Response, g, jsonify, request

CONTROL_PREFIX = "/__sandbox__/"


@dataclass
class FaultKnobs:
    error_rate: float = 0.0  # share of calls answered with the platform's server error
    rate_limit_rate: float = 0.0  # share of calls answered with the platform's rate-limit error
    timeout_rate: float = 0.0  # share of calls run but answered only after `timeout_ms`
    truncate_rate: float = 0.0  # share of calls run and answered with half their body
    token_expiry_rate: float = 0.0  # share of calls at which the access tokens expire
    latency_ms: int = 0  # added to every call
    timeout_ms: int = 5000  # how long a timed-out call's answer is held


# The fates a call may draw, in the order their shares are stacked.
FATES = ("rate_limit", "error", "timeout", "truncate", "token_expiry")


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
        """Decide this call's fate: None (serve it) or one of `FATES`."""
        with self._lock:
            roll = self._random.random()
            for fate in FATES:
                share = getattr(self.knobs, f"{fate}_rate")
                if roll < share:
                    return fate
                roll -= share
            return None

    def install(
        self,
        app: Flask,
        *,
        on_error: Callable[[], Response],
        on_rate_limit: Callable[[], Response],
        on_token_expiry: Callable[[], Response | None] = lambda: None,
        exempt: Callable[[str], bool] = lambda path: False,
    ) -> None:
        """Register the control endpoints and the hooks that inject faults on `app`.
        `on_token_expiry` expires the platform's access tokens and answers as the platform
        does, or returns None where a call carries no token (the call is then served)."""

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
            if fate == "token_expiry":
                refusal = on_token_expiry()
                if refusal is not None:
                    self.stats["tokens_expired"] += 1
                return refusal
            g.sandbox_fault = fate
            return None

        @app.after_request
        def spoil_answer(response: Response) -> Response:
            fate = g.pop("sandbox_fault", None)
            if fate == "truncate" and not response.is_streamed:
                self.stats["truncated"] += 1
                body = response.get_data()
                response.set_data(body[: len(body) // 2])
            elif fate == "timeout":
                self.stats["timed_out"] += 1
                time.sleep(self.knobs.timeout_ms / 1000)
            return response

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
