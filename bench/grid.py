"""Benchmark: the linking grid and inline link / unlink on an account of N links (SQLite).

    python bench/grid.py [--links 1000000] [--requests 200]

Writes a database of N TikTok SKUs, N store SKUs and N links in every state (bench/common.py),
logs in as the bench owner, and times whole requests in-process through the app's test client,
as a browser's htmx would send them: the grid's first page of a status tab, a page deep into it,
a search, the tab counts alone, and inline link and unlink of a row (the row partial and the
tab counts it carries included). The baseline is a request for a static file in the same run:
what any request costs before the dashboard's own work. Two results go into
bench/results.json: `grid_page` and `inline_link_unlink`.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

TARGETS_MS = {"grid_p95": 50.0, "tab_counts_p95": 50.0, "inline_p95": 25.0}
DEEP_PAGE_FACTOR = 1.5  # a deep page may cost at most this many times the first one
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|"X-CSRFToken": "([^"]+)"')


WARM_UP = 3


def timed(samples: int, request: Callable[[int], object]) -> list[float]:
    """Milliseconds of `samples` calls of `request(n)`, after WARM_UP untimed ones (n counts
    on through both, so each call may take a row of its own)."""
    times = []
    for n in range(WARM_UP + samples):
        started = time.perf_counter()
        request(n)
        if n >= WARM_UP:
            times.append((time.perf_counter() - started) * 1000)
    return times


def summary(times: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(common.percentile(times, 0.5), 2),
        "p95_ms": round(common.percentile(times, 0.95), 2),
        "max_ms": round(max(times), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--links", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="skubridge-bench-grid-"))
    common.use_instance(workdir)
    try:
        with common.Database(workdir) as database:
            app = common.migrated_app()
            print(f"Writing {args.links:,} links in every state ({database.dialect})…", flush=True)
            common.write_catalog(database, args.links, link_states=True)
            figures = measure(app, args.links, args.requests)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report(args.links, figures)


def measure(app, links: int, samples: int) -> dict[str, dict[str, float]]:
    from webapp.extensions import db
    from webapp.linking.grid import status_counts

    client = app.test_client()
    login = client.get("/login").get_data(as_text=True)
    token = next(group for group in CSRF.search(login).groups() if group)
    answer = client.post(
        "/login",
        data={"email": common.BENCH_EMAIL, "password": common.BENCH_PASSWORD, "csrf_token": token},
    )
    assert answer.status_code == 302, "the bench user could not log in"
    page = client.get("/").get_data(as_text=True)
    token = next(group for group in CSRF.search(page).groups() if group)
    htmx = {"HX-Request": "true", "HX-Target": "linking-grid", "X-CSRFToken": token}

    def get(url: str) -> Callable[[int], object]:
        def request(_: int) -> None:
            response = client.get(url, headers=htmx)
            assert response.status_code == 200, (url, response.status_code)

        return request

    deep = links - links // 10  # a cursor nine tenths of the way through the tab
    figures = {
        "static_file": summary(timed(samples, get("/static/app.css"))),
        "tab_first_page": summary(timed(samples, get("/?status=linked"))),
        # The All tab: the first page a user sees.
        "all_tab_first_page": summary(timed(samples, get("/"))),
        "all_tab_deep_page": summary(timed(samples, get(f"/?after={deep}"))),
        # The Map failed tab also counts its rows by failure kind, for its filter.
        "failed_tab_first_page": summary(timed(samples, get("/?status=failed"))),
        "tab_deep_page": summary(timed(samples, get(f"/?status=linked&after={deep}"))),
        "search": summary(timed(samples, lambda n: get(f"/?q=TT-{(n * 7919) % links + 1:07d}")(n))),
    }
    with app.app_context():
        figures["tab_counts"] = summary(timed(samples, lambda _: status_counts(db.session, 1)))

    # Inline edits on Not Linked rows (digits 6-8 of STATE_OF_DIGIT): link to the store SKU
    # of the same number, then unlink again (each link's version goes 1 → 2 → 3).
    rows = list(range(7, links + 1, 10))[: WARM_UP + samples]

    def link(n: int) -> None:
        i = rows[n]
        response = client.post(
            f"/links/{i}", data={"version": "1", "store_sku_id": str(i), "quantity": "1"},
            headers=htmx,
        )  # fmt: skip
        assert response.status_code == 200, (response.status_code, i)

    def unlink(n: int) -> None:
        i = rows[n]
        response = client.post(f"/links/{i}/unlink", data={"version": "2"}, headers=htmx)
        assert response.status_code == 200, (response.status_code, i)

    figures["inline_link"] = summary(timed(samples, link))
    figures["inline_unlink"] = summary(timed(samples, unlink))
    return figures


def report(links: int, figures: dict[str, dict[str, float]]) -> None:
    baseline = {"static_file_p95_ms": figures["static_file"]["p95_ms"]}
    pages = (
        "tab_first_page",
        "all_tab_first_page",
        "failed_tab_first_page",
        "tab_deep_page",
        "all_tab_deep_page",
        "search",
    )
    grid_p95 = max(figures[k]["p95_ms"] for k in pages)
    deep_ratio = round(figures["tab_deep_page"]["p95_ms"] / figures["tab_first_page"]["p95_ms"], 2)
    full_size = links >= 1_000_000
    grid_passed = (
        grid_p95 <= TARGETS_MS["grid_p95"]
        and figures["tab_counts"]["p95_ms"] <= TARGETS_MS["tab_counts_p95"]
        and deep_ratio <= DEEP_PAGE_FACTOR
    )
    common.record_result(
        "grid_page",
        figures={"links": links, "deep_page_vs_first": deep_ratio}
        | {k: figures[k] for k in (*pages, "tab_counts")},
        baseline=baseline,
        ratio=round(grid_p95 / baseline["static_file_p95_ms"], 1),
        target={
            "p95_ms": TARGETS_MS["grid_p95"],
            "tab_counts_p95_ms": TARGETS_MS["tab_counts_p95"],
            "deep_page_vs_first": DEEP_PAGE_FACTOR,
            "at_links": 1_000_000,
        },
        passed=grid_passed,
        at_target_size=full_size,
    )
    inline_p95 = max(figures["inline_link"]["p95_ms"], figures["inline_unlink"]["p95_ms"])
    common.record_result(
        "inline_link_unlink",
        figures={"links": links} | {k: figures[k] for k in ("inline_link", "inline_unlink")},
        baseline=baseline,
        ratio=round(inline_p95 / baseline["static_file_p95_ms"], 1),
        target={"p95_ms": TARGETS_MS["inline_p95"], "at_links": 1_000_000},
        passed=inline_p95 <= TARGETS_MS["inline_p95"],
        at_target_size=full_size,
    )


if __name__ == "__main__":
    main()
