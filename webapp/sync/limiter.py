"""A rate limiter shared by every worker: a token bucket in Redis per TikTok Shop account and
per store, so the allowed rate holds however many workers push at once.

The bucket's arithmetic runs in one Lua script on Redis's own clock, so two workers can never
both take the last token. When a platform says "slow down" (`pause`), the whole account or
store waits, not only the worker that was told.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from redis import Redis

# KEYS[1] bucket hash; ARGV: rate per second, burst. Returns 0 when a token was taken, else the
# seconds to wait (as a string: Lua numbers reach Python as integers).
_TAKE = """
local now = redis.call('TIME')
local now_s = tonumber(now[1]) + tonumber(now[2]) / 1000000
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at', 'paused_until')
local paused_until = tonumber(state[3]) or 0
if paused_until > now_s then
  return tostring(paused_until - now_s)
end
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now_s
tokens = math.min(burst, tokens + (now_s - at) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now_s)
redis.call('EXPIRE', KEYS[1], 3600)
return tostring(wait)
"""

# KEYS[1] bucket hash; ARGV[1] seconds. The pause only ever grows.
_PAUSE = """
local now = redis.call('TIME')
local until_s = tonumber(now[1]) + tonumber(now[2]) / 1000000 + tonumber(ARGV[1])
local current = tonumber(redis.call('HGET', KEYS[1], 'paused_until')) or 0
if until_s > current then
  redis.call('HSET', KEYS[1], 'paused_until', until_s, 'tokens', 0)
end
redis.call('EXPIRE', KEYS[1], 3600)
return tostring(until_s)
"""


class RedisRateLimiter:
    """`rate` calls a second on average, at most `burst` at once, for everyone using `name`."""

    def __init__(
        self,
        redis: Redis,
        name: str,
        *,
        rate: float,
        burst: int = 1,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if rate <= 0:
            raise ValueError("A rate limiter needs a rate above 0")
        self.key = f"skubridge:limiter:{name}"
        self.rate = rate
        self.burst = max(burst, 1)
        self.sleep = sleep
        self._take = redis.register_script(_TAKE)
        self._pause = redis.register_script(_PAUSE)
        self.waited = 0.0  # seconds this limiter made its caller wait, for reports

    def acquire(self) -> None:
        while True:
            wait = float(self._take(keys=[self.key], args=[self.rate, self.burst]))
            if wait <= 0:
                return
            self.waited += wait
            self.sleep(wait)

    def pause(self, seconds: float) -> None:
        self._pause(keys=[self.key], args=[max(seconds, 0.0)])
