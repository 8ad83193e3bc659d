"""Benchmark: a mapping CSV of N rows against catalogs of N TikTok and N store SKUs (SQLite).

    python bench/csv_import.py [--rows 1000000]

Prepares a database with the schema migrated and the catalogs written directly, writes the CSV,
then, in a fresh process, runs the dashboard's own check (dry run) and apply end to end and
measures it against the `sqlite3` command line's `.import` of the same file into a bare table.
Prints the times, the ratio and the importer's peak memory, and adds them to bench/results.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

TARGETS = {"seconds": 15.0, "ratio": 4.0, "peak_rss_mb": 300.0}


def prepare(workdir: Path, database: common.Database, rows: int) -> Path:
    """A migrated database holding one account with `rows` links, a store with `rows` variants,
    and a CSV linking each TikTok SKU to its store SKU (every 50th with a pack quantity)."""
    common.migrated_app()
    common.write_catalog(database, rows)
    csv_path = workdir / "mappings.csv"
    with csv_path.open("w", newline="") as out:
        out.write("Seller SKU,Store SKU,Quantity\r\n")
        out.writelines(
            f"TT-{i:07d},ST-{i:07d},{2 if i % 50 == 0 else 1}\r\n" for i in range(1, rows + 1)
        )
    return csv_path


def run_import(workdir: Path, csv_path: Path) -> None:
    """In its own process: the dashboard's check and apply, as the jobs run them."""
    common.use_instance(workdir)
    from webapp import create_app
    from webapp.accounts.models import MarketplaceAccount
    from webapp.csvio.mappings import (
        apply_mapping_import,
        check_mapping_import,
        create_mapping_import,
    )
    from webapp.extensions import db
    from webapp.jobs.models import JobKind
    from webapp.jobs.services import record_job_run

    app = create_app()
    with app.app_context():
        account = db.session.get(MarketplaceAccount, 1)
        started = time.perf_counter()
        mapping_import = create_mapping_import(
            db.session, account, filename=csv_path.name, stored_name="", size=0, actor=None
        )
        check = check_mapping_import(db.session, mapping_import, csv_path, max_rows=10**7)
        checked = time.perf_counter()
        batch = record_job_run(
            db.session, kind=JobKind.MAPPING_APPLY, organization_id=1, account_id=1, actor=None
        )
        result = apply_mapping_import(db.session, mapping_import, actor=None, batch=batch)
        done = time.perf_counter()
    print(
        json.dumps(
            {
                "check_seconds": round(checked - started, 2),
                "apply_seconds": round(done - checked, 2),
                "seconds": round(done - started, 2),
                "check": check,
                "result": result,
            }
        )
    )


def bare_import(workdir: Path, database: common.Database, csv_path: Path) -> float:
    """The baseline: the file into a bare table by the database's own bulk load (the `sqlite3`
    command line's `.import`, or PostgreSQL's COPY from the client, as psql's \\copy does)."""
    if not database.postgres:
        return sqlite_cli_import(workdir, csv_path)
    connection = database.connect()
    try:
        started = time.perf_counter()
        with connection, connection.cursor() as cursor, csv_path.open("rb") as source:
            cursor.execute("CREATE TABLE bench_mappings (seller_sku text, store_sku text, n text)")
            with cursor.copy("COPY bench_mappings FROM STDIN (FORMAT csv, HEADER)") as copy:
                while chunk := source.read(1 << 20):
                    copy.write(chunk)
        return time.perf_counter() - started
    finally:
        connection.close()


def sqlite_cli_import(workdir: Path, csv_path: Path) -> float:
    database = workdir / "baseline.db"
    database.unlink(missing_ok=True)
    started = time.perf_counter()
    subprocess.run(
        ["sqlite3", str(database), ".mode csv", f".import {csv_path} mappings"], check=True
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--run", metavar="WORKDIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        run_import(Path(args.run), Path(args.run) / "mappings.csv")
        return
    workdir = Path(tempfile.mkdtemp(prefix="skubridge-bench-"))
    common.use_instance(workdir)
    try:
        with common.Database(workdir) as database:
            if not database.postgres and shutil.which("sqlite3") is None:
                sys.exit("The baseline needs the sqlite3 command line: apt-get install sqlite3")
            print(f"Preparing {args.rows:,} links, store SKUs and CSV rows ({database.dialect})…")
            csv_path = prepare(workdir, database, args.rows)
            baseline = bare_import(workdir, database, csv_path)
            measured, peak_mb = common.run_measured(__file__, workdir, "The import failed")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    figures = {
        "rows": args.rows,
        "seconds": measured["seconds"],
        "check_seconds": measured["check_seconds"],
        "apply_seconds": measured["apply_seconds"],
        "peak_rss_mb": round(peak_mb, 1),
        "result": measured["result"],
    }
    ratio = round(measured["seconds"] / baseline, 2)
    passed = (
        figures["seconds"] <= TARGETS["seconds"]
        and ratio <= TARGETS["ratio"]
        and figures["peak_rss_mb"] <= TARGETS["peak_rss_mb"]
    )
    common.record_result(
        "mapping_csv_ingest",
        figures=figures,
        baseline={"bare_bulk_load_seconds": round(baseline, 2)},
        ratio=ratio,
        target=TARGETS | {"at_rows": 1_000_000},
        passed=passed,
        at_target_size=args.rows >= 1_000_000,
    )
    verdict = ("PASS" if passed else "FAIL") if args.rows >= 1_000_000 else "no verdict"
    print(
        f"mapping CSV ingest: {figures['seconds']} s for {args.rows:,} rows "
        f"(check {figures['check_seconds']} s, apply {figures['apply_seconds']} s); "
        f"bare bulk load {baseline:.2f} s; ratio {ratio}; peak RSS {figures['peak_rss_mb']} MB; "
        f"{verdict} (targets {TARGETS} at 1,000,000 rows)"
    )


if __name__ == "__main__":
    main()
