"""Configuration: a few classes reading the environment, with safe defaults for `make run`.

Every setting can be given as an environment variable of the same name.
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("INSTANCE_DIR", BASE_DIR / "instance"))


def database_url(url: str | None) -> str:
    """DATABASE_URL as SQLAlchemy wants it: plain postgres URLs use the psycopg 3 driver."""
    if not url:
        return f"sqlite:///{INSTANCE_DIR / 'skubridge.db'}"
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY")  # None: a key kept in instance/ is made on first run
    # Fernet keys for secrets at rest, comma separated, newest first (MultiFernet rotation).
    FERNET_KEYS = os.environ.get("FERNET_KEYS")
    SQLALCHEMY_DATABASE_URI = database_url(os.environ.get("DATABASE_URL"))
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    RQ_QUEUES = ("imports", "sync", "orders")
    # How often a worker says it is alive while it runs a job. A job whose worker misses two
    # in a row (killed, its machine gone) is shown as interrupted, ready for Retry.
    JOB_HEARTBEAT_SECONDS = env_int("JOB_HEARTBEAT_SECONDS", 5)
    # Logs on stderr: one JSON object a line (json), or plain text for a terminal (text).
    LOG_FORMAT = os.environ.get("LOG_FORMAT", "json")
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")

    # The TikTok Shop app SKU Bridge is registered as. Defaults point at the built-in sandbox.
    TIKTOK_APP_KEY = os.environ.get("TIKTOK_APP_KEY", "sandbox-app-key")
    TIKTOK_APP_SECRET = os.environ.get("TIKTOK_APP_SECRET", "sandbox-app-secret")
    TIKTOK_SERVICE_ID = os.environ.get("TIKTOK_SERVICE_ID", "7300000000000000001")
    TIKTOK_API_BASE_URL = os.environ.get("TIKTOK_API_BASE_URL", "http://127.0.0.1:5001")
    TIKTOK_AUTH_BASE_URL = os.environ.get("TIKTOK_AUTH_BASE_URL", "http://127.0.0.1:5001")
    # Refresh an access token when it has less than this many seconds left.
    TOKEN_REFRESH_MARGIN = env_int("TOKEN_REFRESH_MARGIN", 3600)
    # Every call to a platform's API: how long to wait for its answer, how many tries in all
    # for a call safe to repeat (server errors, rate limits, timeouts, answers cut off), and
    # the first wait between tries (doubled after each, at most 8 s).
    PLATFORM_TIMEOUT_SECONDS = env_float("PLATFORM_TIMEOUT_SECONDS", 30.0)
    PLATFORM_CALL_ATTEMPTS = env_int("PLATFORM_CALL_ATTEMPTS", 4)
    PLATFORM_RETRY_BACKOFF_SECONDS = env_float("PLATFORM_RETRY_BACKOFF_SECONDS", 0.5)

    # Where `make run` points the demo store, and how big the demo catalog is.
    SANDBOX_MAGENTO_URL = os.environ.get("SANDBOX_MAGENTO_URL", "http://127.0.0.1:5002")
    DEMO_TIKTOK_SKUS = env_int("DEMO_TIKTOK_SKUS", 2000)
    DEMO_PRODUCTS = env_int("DEMO_PRODUCTS", 500)

    # Sync: the calls a second SKU Bridge allows itself per TikTok Shop account and per store
    # (shared by every worker), how often the schedule looks for accounts that are due, and
    # how often a push re-sends every value to repair silent failures.
    TIKTOK_CALLS_PER_SECOND = env_float("TIKTOK_CALLS_PER_SECOND", 10.0)
    STORE_CALLS_PER_SECOND = env_float("STORE_CALLS_PER_SECOND", 4.0)
    SYNC_SWEEP_SECONDS = env_int("SYNC_SWEEP_SECONDS", 60)
    SYNC_FULL_RESEND_HOURS = env_int("SYNC_FULL_RESEND_HOURS", 24)

    GRID_PAGE_SIZE = env_int("GRID_PAGE_SIZE", 50)
    # Mapping CSV uploads: the largest request accepted, and the most data rows read.
    MAX_CONTENT_LENGTH = env_int("MAX_UPLOAD_MB", 256) * 1024 * 1024
    MAPPING_MAX_ROWS = env_int("MAPPING_MAX_ROWS", 1_000_000)
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SAMESITE = "Lax"
    # Reverse proxies in front of the dashboard whose X-Forwarded-* headers are believed (the
    # client's address for the login limit, HTTPS for Secure cookies). 0: none, served directly.
    TRUSTED_PROXY_HOPS = env_int("TRUSTED_PROXY_HOPS", 0)
    # Failed logins allowed a minute, from one address and for one email, before the login
    # form refuses further tries for the rest of the minute.
    LOGIN_FAILURES_PER_MINUTE = env_int("LOGIN_FAILURES_PER_MINUTE", 10)
    RATELIMIT_KEY_PREFIX = "skubridge-login"
    RATELIMIT_HEADERS_ENABLED = True
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True  # Redis away: limit in the process meanwhile
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session


class TestConfig(Config):
    TESTING = True
    # The sandboxes do not limit unless a test turns their limit on; the tests that check the
    # limiter set their own rates.
    TIKTOK_CALLS_PER_SECOND = 1000.0
    STORE_CALLS_PER_SECOND = 1000.0
    SECRET_KEY = "test-secret-key"
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "WARNING")  # not a line for every test request
    FERNET_KEYS = "qHBWybXu1TJ4m1G0H5vK1Zq7c8l2x9K5sY0aQ3dU6eM="
    SQLALCHEMY_DATABASE_URI = database_url(os.environ.get("DATABASE_URL") or "sqlite://")
