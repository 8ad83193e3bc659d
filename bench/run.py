"""The benchmark suite: every scenario at a size, then one table of what was measured.

    python bench/run.py [--size small|full] [--only grid,sync_push]
    DATABASE_URL=postgresql://… python bench/run.py --only csv_import,automap,grid

With DATABASE_URL naming a PostgreSQL server, the scenarios that use a database of their own
make one on that server for the run (and drop it after); their results are kept as
`<result>@postgresql`.

Each scenario runs in a process of its own (the dashboard reads its instance folder when it
is imported) and adds its result to bench/results.json; the table is printed from there.
`small` is a quick look (under a minute or two); `full` is what the targets speak of.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from common import result_name  # bench/ is on the path: this script is in it

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results.json"

# scenario: (script, arguments for small, arguments for full, the results it writes)
SCENARIOS = {
    "csv_import": (
        "csv_import.py",
        ["--rows", "50000"],
        ["--rows", "1000000"],
        ["mapping_csv_ingest"],
    ),
    "automap": (
        "automap.py",
        ["--rows", "20000"],
        ["--rows", "1000000"],
        ["automap"],
    ),
    "grid": (
        "grid.py",
        ["--links", "20000", "--requests", "50"],
        ["--links", "1000000", "--requests", "200"],
        ["grid_page", "inline_link_unlink"],
    ),
    "import_sandbox": (
        "import_sandbox.py",
        ["--skus", "5000", "--products", "1000"],
        ["--skus", "100000", "--products", "20000"],
        ["import_from_sandbox"],
    ),
    "web_load": (
        "web_load.py",
        ["--links", "20000", "--clients", "10", "--seconds", "10"],
        ["--links", "1000000", "--clients", "50", "--seconds", "60"],
        ["web_under_load"],
    ),
    "sync_push": (
        "sync_push.py",
        ["--skus", "2000", "--products", "400", "--rate", "100"],
        ["--skus", "100000", "--products", "20000", "--rate", "50"],
        ["sync_push"],
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("small", "full"), default="full")
    parser.add_argument(
        "--only", default="", help="comma-separated scenarios: " + ", ".join(SCENARIOS)
    )
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()] or list(SCENARIOS)
    unknown = [name for name in chosen if name not in SCENARIOS]
    if unknown:
        sys.exit(f"No such scenario: {', '.join(unknown)} (there are {', '.join(SCENARIOS)})")
    failed = []
    for name in chosen:
        script, small, full, _ = SCENARIOS[name]
        print(f"== {name} ({args.size})", flush=True)
        command = [sys.executable, str(BENCH / script), *(small if args.size == "small" else full)]
        if subprocess.run(command).returncode:
            failed.append(name)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    print_table(results, [result_name(key) for name in chosen for key in SCENARIOS[name][3]])
    if failed:
        sys.exit(f"These scenarios did not run to the end: {', '.join(failed)}")


def print_table(results: dict, keys: list[str]) -> None:
    print(f"\n{'result':<22} {'ratio':>8}  {'pass':<5} figures and target")
    for key in keys:
        entry = results.get(key)
        if entry is None:
            print(f"{key:<22} {'—':>8}  {'—':<5} not measured")
            continue
        ratio = "—" if entry.get("ratio") is None else f"{entry['ratio']:g}"
        verdict = {True: "yes", False: "no", None: "—"}[entry["pass"]]  # —: a small run
        print(f"{key:<22} {ratio:>8}  {verdict:<5} {_headline(entry['figures'])}")
        print(f"{'':<38}target {json.dumps(entry['target'])}")
    print(f"\nAll figures: {RESULTS} (—: a run smaller than the targets speak of)")


def _headline(figures: dict) -> str:
    parts = []
    for name, value in figures.items():
        if isinstance(value, dict) and "p95_ms" in value:
            parts.append(f"{name} p95 {value['p95_ms']} ms")
        elif isinstance(value, int | float):
            parts.append(f"{name} {value:,}" if isinstance(value, int) else f"{name} {value}")
    return "; ".join(parts)


if __name__ == "__main__":
    main()
