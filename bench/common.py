"""What the benchmarks share: a migrated database with synthetic catalogs and links written
directly (seeded, so every run measures the same data), percentiles, and bench/results.json.

The application package reads INSTANCE_DIR when it is imported, so a benchmark calls
`use_instance()` before it imports anything of the dashboard.
"""

from __future__ import annotations

import json
import math
import os
import resource
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results.json"

BENCH_EMAIL = "bench@skubridge.test"
BENCH_PASSWORD = "bench-password-1"
NOW = "2026-01-01 00:00:00"
# Link states of the synthetic rows, by row number modulo 10: a shop part way through linking.
STATE_OF_DIGIT = ["linked"] * 4 + ["mapped"] * 2 + ["not_linked"] * 3 + ["failed"]
FAILURE_REASON = "Store SKU not found: no store product has SKU TT-{i:07d} or its barcode."


def use_instance(workdir: Path) -> None:
    os.environ["INSTANCE_DIR"] = str(workdir)


class Database:
    """Where a benchmark's data lives: SQLite in its instance folder, or, when DATABASE_URL
    names a PostgreSQL server, a database of the benchmark's own on that server, made for the
    run and dropped after it (the database DATABASE_URL names is never touched)."""

    def __init__(self, workdir: Path):
        self.server_url = os.environ.get("DATABASE_URL", "")
        self.postgres = self.server_url.startswith(("postgres://", "postgresql://"))
        self.sqlite_path = workdir / "skubridge.db"
        self.name = f"skubridge_bench_{os.getpid()}"
        self.url = ""

    @property
    def dialect(self) -> str:
        return "postgresql" if self.postgres else "sqlite"

    def __enter__(self) -> Database:
        if self.postgres:
            import psycopg

            with psycopg.connect(self.server_url, autocommit=True) as admin:
                admin.execute(f"CREATE DATABASE {self.name}")
            self.url = urlunsplit(urlsplit(self.server_url)._replace(path=f"/{self.name}"))
            os.environ["DATABASE_URL"] = self.url  # for the app, here and in child processes
        return self

    def __exit__(self, *_: object) -> None:
        if self.postgres:
            import psycopg

            os.environ["DATABASE_URL"] = self.server_url
            with psycopg.connect(self.server_url, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")

    def settle(self, connection) -> None:
        """On PostgreSQL, bring freshly written tables to the state of a catalog imported a
        while ago: vacuumed (hint bits set, the visibility map written) and checkpointed.
        Without it the first thousands of requests after a bulk COPY write those pages
        themselves, alongside autovacuum's first pass, and measure that instead of the
        dashboard. SQLite keeps no such state."""
        if not self.postgres:
            return
        connection.commit()
        connection.autocommit = True
        connection.execute("VACUUM (ANALYZE)")
        connection.execute("CHECKPOINT")

    def connect(self):
        """A plain driver connection (not the app's)."""
        if self.postgres:
            import psycopg

            return psycopg.connect(self.url)
        return sqlite3.connect(self.sqlite_path)

    def insert_rows(self, connection, table: str, columns: Sequence[str], rows) -> None:
        """Many rows at once: COPY on PostgreSQL, executemany on SQLite."""
        names = ", ".join(columns)
        if self.postgres:
            with connection.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        marks = ", ".join("?" * len(columns))
        connection.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)

    def finish_writing(self, connection, tables: Sequence[str]) -> None:
        """What the import jobs do when they finish (webapp.dbutil.refresh_planner_statistics),
        and, on PostgreSQL, the id sequences moved past the ids written here."""
        from webapp.dbutil import planner_statistics_statements

        if not self.postgres:
            for statement in planner_statistics_statements():
                connection.execute(statement)
            return
        for table in tables:
            connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" (SELECT max(id) FROM {table}))"
            )
            connection.execute(f"ANALYZE {table}")


def migrated_app(**overrides: Any):
    """The dashboard's app on the instance folder, its database migrated, with the bench
    user (an owner of organization 1)."""
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.auth.services import create_user
    from webapp.extensions import db
    from webapp.models import UserRole

    app = create_app(**overrides)
    with app.app_context():
        upgrade()
        create_user(
            db.session,
            email=BENCH_EMAIL,
            password=BENCH_PASSWORD,
            role=UserRole.OWNER,
            organization_name="Bench",
        )
        db.session.commit()
    return app


def store_sku_of(i: int) -> str:
    return f"ST-{i:07d}"


def write_catalog(
    database: Database,
    rows: int,
    *,
    link_states: bool = False,
    store_sku: Callable[[int], str] = store_sku_of,
) -> None:
    """One Magento store (id 1) with `rows` variants (`store_sku(i)`: `ST-0000001`…), one
    TikTok Shop account (id 1) with `rows` SKUs `TT-0000001`… (four a product), and a link row
    each. Without `link_states` every link is Not Linked; with them the rows are Linked, Mapped,
    Not Linked and Map failed in the proportions of STATE_OF_DIGIT, targets the store SKU of
    the same number."""
    from webapp.linking.matching import normalize_sku
    from webapp.security import encrypt

    secret = encrypt("bench")  # tokens and credentials are stored encrypted
    connection = database.connect()
    with connection:
        database.insert_rows(
            connection,
            "stores",
            ("id", "organization_id", "platform", "name", "base_url", "credentials",
             "last_check_message", "created_at"),
            [(1, 1, "magento", "Bench store", "https://store.test", encrypt("{}"), "", NOW)],
        )  # fmt: skip
        database.insert_rows(
            connection,
            "marketplace_accounts",
            ("id", "organization_id", "store_id", "shop_id", "shop_cipher", "shop_code", "name",
             "region", "seller_name", "access_token", "refresh_token", "access_token_expires_at",
             "refresh_token_expires_at", "status", "status_reason", "created_at"),
            [(1, 1, 1, "shop", "cipher", "", "Bench shop", "US", "", secret, secret,
              "2099-01-01 00:00:00", "2099-01-01 00:00:00", "active", "", NOW)],
        )  # fmt: skip
        database.insert_rows(
            connection,
            "store_skus",
            ("id", "store_id", "remote_id", "sku", "sku_key", "name", "variant", "is_parent",
             "categories", "tags", "enabled", "updated_at"),
            (
                (i, 1, str(i), sku, normalize_sku(sku), f"Store product {i}", "", False, "[]",
                 "[]", True, NOW)
                for i, sku in ((i, store_sku(i)) for i in range(1, rows + 1))
            ),
        )  # fmt: skip
        database.insert_rows(
            connection,
            "marketplace_skus",
            ("id", "account_id", "product_id", "sku_id", "seller_sku", "sku_key",
             "product_title", "variant", "product_status", "currency", "quantity", "inventory",
             "remote_updated_at", "created_at", "updated_at"),
            (
                (i, 1, str(i // 4), str(10**18 + i), sku, normalize_sku(sku), f"Product {i // 4}",
                 f"Size {i % 4}", "ACTIVATE", "USD", 0, "[]", 0, NOW, NOW)
                for i, sku in ((i, f"TT-{i:07d}") for i in range(1, rows + 1))
            ),
        )  # fmt: skip
        database.insert_rows(
            connection,
            "links",
            ("id", "account_id", "marketplace_sku_id", "store_sku_id", "quantity", "state",
             "failure_reason", "version", "mapped_at", "linked_at", "updated_at"),
            (_link_row(i, link_states) for i in range(1, rows + 1)),
        )  # fmt: skip
        database.finish_writing(connection, ("stores", "marketplace_accounts", "store_skus",
                                             "marketplace_skus", "links"))  # fmt: skip
        database.settle(connection)
    connection.close()


def _link_row(i: int, link_states: bool) -> tuple:
    state = STATE_OF_DIGIT[i % 10] if link_states else "not_linked"
    target = i if state in ("linked", "mapped") else None
    reason = FAILURE_REASON.format(i=i) if state == "failed" else ""
    mapped_at = NOW if target else None
    linked_at = NOW if state == "linked" else None
    return (i, 1, i, target, 1, state, reason, 1, mapped_at, linked_at, NOW)


def run_measured(script: str, workdir: Path, failure: str) -> tuple[dict[str, Any], float]:
    """Run `script --run WORKDIR` in a fresh process (the dashboard reads its instance folder
    when it is imported) and return the JSON its last line prints, with the peak memory (MB)
    of the processes run so far."""
    child = subprocess.run(
        [sys.executable, script, "--run", str(workdir)], capture_output=True, text=True
    )
    if child.returncode:
        sys.exit(f"{failure}:\n{child.stderr}")
    measured = json.loads(child.stdout.strip().splitlines()[-1])
    return measured, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def percentile(samples: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (share 0.95 for p95) of `samples`."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def on_postgres() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


def result_name(name: str) -> str:
    """Results measured on PostgreSQL are kept beside the SQLite ones, not over them."""
    return f"{name}@postgresql" if on_postgres() else name


def record_result(
    name: str,
    *,
    figures: dict[str, Any],
    baseline: dict[str, Any] | None,
    ratio: float | None,
    target: dict[str, Any],
    passed: bool,
    at_target_size: bool = True,
) -> None:
    """Print the scenario's figures and keep them in bench/results.json under `name`. A run
    smaller than the targets speak of gets no verdict (`pass` is null)."""
    name = result_name(name)
    entry = {
        "database": "postgresql" if on_postgres() else "sqlite",
        "figures": figures,
        "baseline": baseline,
        "ratio": ratio,
        "target": target,
        "pass": passed if at_target_size else None,
    }
    print(json.dumps({name: entry}, indent=2))
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[name] = entry
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
