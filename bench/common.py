"""What the benchmarks share: a migrated database with synthetic catalogs and links written
directly (seeded, so every run measures the same data), percentiles, and bench/results.json.

The application package reads INSTANCE_DIR when it is imported, so a benchmark calls
`use_instance()` before it imports anything of the dashboard.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

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
    database: Path,
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
    from webapp.dbutil import planner_statistics_statements
    from webapp.linking.matching import normalize_sku
    from webapp.security import encrypt

    secret = encrypt("bench")  # tokens and credentials are stored encrypted
    connection = sqlite3.connect(database)
    with connection:
        connection.execute(
            "INSERT INTO stores (id, organization_id, platform, name, base_url, credentials,"
            " last_check_message, created_at) VALUES (1, 1, 'magento', 'Bench store',"
            " 'https://store.test', ?, '', ?)",
            (encrypt("{}"), NOW),
        )
        connection.execute(
            "INSERT INTO marketplace_accounts (id, organization_id, store_id, shop_id, shop_cipher,"
            " shop_code, name, region, seller_name, access_token, refresh_token,"
            " access_token_expires_at, refresh_token_expires_at, status, status_reason, created_at)"
            " VALUES (1, 1, 1, 'shop', 'cipher', '', 'Bench shop', 'US', '', ?, ?, ?, ?,"
            " 'active', '', ?)",
            (secret, secret, "2099-01-01 00:00:00", "2099-01-01 00:00:00", NOW),
        )
        connection.executemany(
            "INSERT INTO store_skus (id, store_id, remote_id, sku, sku_key, name, variant,"
            " is_parent, categories, tags, enabled, updated_at)"
            " VALUES (?, 1, ?, ?, ?, ?, '', 0, '[]', '[]', 1, ?)",
            (
                (i, str(i), sku, normalize_sku(sku), f"Store product {i}", NOW)
                for i, sku in ((i, store_sku(i)) for i in range(1, rows + 1))
            ),
        )
        connection.executemany(
            "INSERT INTO marketplace_skus (id, account_id, product_id, sku_id, seller_sku,"
            " sku_key, product_title, variant, product_status, currency, quantity, inventory,"
            " remote_updated_at, created_at, updated_at)"
            " VALUES (?, 1, ?, ?, ?, ?, ?, ?, 'ACTIVATE', 'USD', 0, '[]', 0, ?, ?)",
            (
                (i, str(i // 4), str(10**18 + i), sku, normalize_sku(sku), f"Product {i // 4}",
                 f"Size {i % 4}", NOW, NOW)
                for i, sku in ((i, f"TT-{i:07d}") for i in range(1, rows + 1))
            ),
        )  # fmt: skip
        connection.executemany(
            "INSERT INTO links (id, account_id, marketplace_sku_id, store_sku_id, quantity, state,"
            " failure_reason, version, mapped_at, linked_at, updated_at)"
            " VALUES (?, 1, ?, ?, 1, ?, ?, 1, ?, ?, ?)",
            (_link_row(i, link_states) for i in range(1, rows + 1)),
        )
        # What the import jobs do when they finish (webapp.dbutil.refresh_planner_statistics).
        for statement in planner_statistics_statements():
            connection.execute(statement)
    connection.close()


def _link_row(i: int, link_states: bool) -> tuple:
    state = STATE_OF_DIGIT[i % 10] if link_states else "not_linked"
    target = i if state in ("linked", "mapped") else None
    reason = FAILURE_REASON.format(i=i) if state == "failed" else ""
    mapped_at = NOW if target else None
    linked_at = NOW if state == "linked" else None
    return (i, i, target, state, reason, mapped_at, linked_at, NOW)


def percentile(samples: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (share 0.95 for p95) of `samples`."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


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
    entry = {
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
