"""Benchmark: auto-map of N unlinked TikTok SKUs against a store catalog of N SKUs (SQLite).

    python bench/automap.py [--rows 1000000]

The store SKUs are the seller SKUs written three ways, by row number: most the same
(`TT-0000001`, the exact rule), some in another case and without separators (`tt0000002`, the
normalized rule), and one in twenty with no counterpart (`ZZ-…`, unmatched: marked Map
failed with its reason). In a fresh process the dashboard builds the preview the owner sees,
then applies it as the auto-map job does; the baseline, measured in the same run, is one bare
SQL join-insert of the exact rule's pairs (`INSERT … SELECT` links ⋈ TikTok SKUs ⋈ store SKUs).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

TARGETS = {"preview_seconds": 3.0, "apply_seconds": 8.0, "apply_ratio": 3.0}


def store_sku(i: int) -> str:
    if i % 20 == 0:
        return f"ZZ-{i:07d}"
    if i % 5 == 0:
        return f"tt{i:07d}"
    return f"TT-{i:07d}"


def expected(rows: int) -> dict[str, int]:
    unmatched = rows // 20
    normalized = rows // 5 - unmatched
    return {"exact": rows - normalized - unmatched, "normalized": normalized, "failed": unmatched}


def baseline_join_insert(database: common.Database) -> float:
    """The exact rule as one bare statement: every Not Linked row's pair with the store SKU
    spelled the same, inserted into a table of its own."""
    connection = database.connect()
    try:
        started = time.perf_counter()
        connection.execute("CREATE TABLE bench_pairs (link_id INTEGER, store_sku_id INTEGER)")
        connection.execute(
            "INSERT INTO bench_pairs SELECT links.id, store_skus.id FROM links"
            " JOIN marketplace_skus ON marketplace_skus.id = links.marketplace_sku_id"
            " JOIN store_skus ON store_skus.store_id = 1"
            " AND store_skus.sku = marketplace_skus.seller_sku"
            " WHERE links.account_id = 1 AND links.state IN ('not_linked', 'failed')"
        )
        connection.commit()
        seconds = time.perf_counter() - started
        connection.execute("DROP TABLE bench_pairs")
        connection.commit()
    finally:
        connection.close()
    return seconds


def run_automap(workdir: Path) -> None:
    """In its own process: the preview as the page builds it, then the job's apply."""
    common.use_instance(workdir)
    from webapp import create_app
    from webapp.accounts.models import MarketplaceAccount
    from webapp.extensions import db
    from webapp.jobs.models import JobKind
    from webapp.jobs.services import record_job_run
    from webapp.linking.automap import apply_automap, preview_automap

    app = create_app()
    with app.app_context():
        account = db.session.get(MarketplaceAccount, 1)
        started = time.perf_counter()
        preview = preview_automap(db.session, account)
        previewed = time.perf_counter()
        db.session.rollback()
        batch = record_job_run(
            db.session, kind=JobKind.AUTOMAP, organization_id=1, account_id=1, actor=None
        )
        db.session.commit()
        applied_from = time.perf_counter()
        result = apply_automap(
            db.session, account, excluded_link_ids=set(), actor=None, batch=batch, progress=None
        )
        done = time.perf_counter()
    print(
        json.dumps(
            {
                "preview_seconds": round(previewed - started, 2),
                "apply_seconds": round(done - applied_from, 2),
                "preview": {
                    "by_rule": {rule.value: n for rule, n in preview.by_rule.items()},
                    "unmatched": preview.unmatched,
                },
                "result": {key: result[key] for key in ("mapped", "failed", "by_rule")},
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--run", metavar="WORKDIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        run_automap(Path(args.run))
        return
    workdir = Path(tempfile.mkdtemp(prefix="skubridge-bench-automap-"))
    common.use_instance(workdir)
    try:
        with common.Database(workdir) as database:
            print(
                f"Writing {args.rows:,} unlinked TikTok SKUs and store SKUs ({database.dialect})…"
            )
            common.migrated_app()
            common.write_catalog(database, args.rows, store_sku=store_sku)
            baseline = baseline_join_insert(database)
            measured, peak_mb = common.run_measured(__file__, workdir, "Auto-map failed")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    want = expected(args.rows)
    result = measured["result"]
    correct = (
        result["by_rule"]["exact"] == want["exact"]
        and result["by_rule"]["normalized"] == want["normalized"]
        and result["failed"] == want["failed"]
        and measured["preview"]["by_rule"]["exact"] == want["exact"]
    )
    if not correct:
        sys.exit(f"Auto-map did not map what it should: expected {want}, got {measured}")
    ratio = round(measured["apply_seconds"] / baseline, 2)
    figures = {
        "rows": args.rows,
        "preview_seconds": measured["preview_seconds"],
        "apply_seconds": measured["apply_seconds"],
        "peak_rss_mb": round(peak_mb, 1),
        "mapped": result["mapped"],
        "failed": result["failed"],
    }
    passed = (
        figures["preview_seconds"] <= TARGETS["preview_seconds"]
        and figures["apply_seconds"] <= TARGETS["apply_seconds"]
        and ratio <= TARGETS["apply_ratio"]
    )
    at_size = args.rows >= 1_000_000
    common.record_result(
        "automap",
        figures=figures,
        baseline={"exact_join_insert_seconds": round(baseline, 2)},
        ratio=ratio,
        target=TARGETS | {"at_rows": 1_000_000},
        passed=passed,
        at_target_size=at_size,
    )
    verdict = ("PASS" if passed else "FAIL") if at_size else "no verdict"
    print(
        f"auto-map of {args.rows:,} rows: preview {figures['preview_seconds']} s, apply "
        f"{figures['apply_seconds']} s; bare exact join-insert {baseline:.2f} s; ratio {ratio}; "
        f"peak RSS {figures['peak_rss_mb']} MB; {verdict} (targets {TARGETS} at 1,000,000 rows)"
    )


if __name__ == "__main__":
    main()
