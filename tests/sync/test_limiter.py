"""The shared rate limiter, on the real Redis: the rate holds across limiter objects (workers)
and a pause stops everyone."""

from __future__ import annotations

from webapp.jobs.queue import redis_connection
from webapp.sync.limiter import RedisRateLimiter


def test_the_rate_holds_for_everyone_sharing_a_name(app_ctx):
    first = RedisRateLimiter(redis_connection(), "test:shared", rate=50)
    second = RedisRateLimiter(redis_connection(), "test:shared", rate=50)
    for _ in range(10):
        first.acquire()
        second.acquire()
    # 20 calls at 50 a second with a burst of 1: 19 intervals of 20 ms had to be waited for.
    assert first.waited + second.waited >= 19 / 50 * 0.9


def test_separate_names_do_not_wait_for_each_other(app_ctx):
    for name in ("test:a", "test:b"):
        limiter = RedisRateLimiter(redis_connection(), name, rate=50)
        limiter.acquire()
        assert limiter.waited == 0


def test_a_pause_makes_every_caller_wait(app_ctx):
    told = RedisRateLimiter(redis_connection(), "test:paused", rate=1000)
    other = RedisRateLimiter(redis_connection(), "test:paused", rate=1000)
    told.pause(0.3)
    other.acquire()
    assert other.waited >= 0.25
