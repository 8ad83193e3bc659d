"""Browser tests: the real app served over loopback HTTP, driven by headless Debian Chromium
through Playwright. Every test here is marked `browser`; without a chromium executable they are
all skipped, and the end of the run says why."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.builders import PASSWORD, import_shop, make_user

SKIP_REASON = "Browser tests skipped: Debian's chromium is not installed (apt-get install chromium)"
CHROMIUM_ARGS = [
    "--no-sandbox",  # the suite runs as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium phones home, and the network here is closed.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000
HERE = Path(__file__).parent
AXE_URL = "/static/vendor/axe.min.js"  # vendored axe-core; its version is in axe-core.LICENSE
# axe-core's rules for WCAG 2.0, 2.1 and 2.2 at levels A and AA, the level the accessibility laws
# point to; 2.2 AA adds the 24 px target size, which matters to the tablet users we design for.
# Plus its best practices: one main landmark, a first-level heading, headings in order, every
# part of the page in a landmark; WCAG does not ask for these, but without them a screen-reader
# user is lost. Not AAA (7:1 contrast and more, beyond what we promise), and not the rules
# tagged experimental (their results change from one release to the next). No rule is disabled.
AXE_RULE_SETS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
SCREENSHOTS = pytest.StashKey[list[Path]]()


def chromium_path() -> str | None:
    return shutil.which("chromium")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = chromium_path() is None
    for item in items:
        if HERE not in item.path.parents:
            continue
        item.add_marker(pytest.mark.browser)
        if missing:
            item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config):
    """Say it last, after the short summary, just above the final counts."""
    result = yield
    skipped = terminalreporter.stats.get("skipped", [])
    if any(SKIP_REASON in str(report.longrepr) for report in skipped):
        terminalreporter.write_line(SKIP_REASON, yellow=True, bold=True)
    for path in config.stash.get(SCREENSHOTS, []):
        terminalreporter.write_line(f"Browser screenshot: {path}")
    return result


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def live_server(app) -> Iterator[str]:
    """The session app served by a threaded werkzeug server on a free loopback port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def page(browser, live_server):
    """A fresh browser tab on the live server. Whatever the test does, nothing in it may be
    refused by the Content Security Policy (Chromium reports each refusal in the console)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    yield page
    context.close()
    assert not refused, f"the Content Security Policy refused: {refused}"


@pytest.fixture
def logged_in(page) -> Callable[..., object]:
    """Log in through the real login form; returns the page, now on where login lands."""

    def login(email: str, password: str = PASSWORD):
        from playwright.sync_api import expect

        page.goto("/login")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("button", name="Log out")).to_be_visible()
        # The page is shown before its deferred scripts have run: htmx is listening only once
        # the load event has fired, and a change made before that would go unheard.
        page.wait_for_load_state("load")
        return page

    return login


DUPLICATE_IDS = """() => {
  const ids = [...document.querySelectorAll("[id]")].map(el => el.id);
  return [...new Set(ids.filter((id, i) => ids.indexOf(id) !== i))];
}"""


def axe_violations_message(where: str, violations: list[dict]) -> str:
    """axe-core's violations as a reader wants them: each rule, its impact, what it asks for,
    and every element that breaks it (its selector, its HTML and axe's hint)."""
    lines = [f"{len(violations)} accessibility rule(s) broken on {where}:"]
    for violation in violations:
        lines.append(
            f"- {violation['id']} ({violation['impact']}): {violation['help']} "
            f"[{violation['helpUrl'].split('?')[0]}]"
        )
        for node in violation["nodes"]:
            lines.append(f"    at {' '.join(map(str, node['target']))}")
            lines.append(f"       {node['html'][:300]}")
            summary = node.get("failureSummary", "").replace("\n", " ")
            if summary:
                lines.append(f"       {summary[:400]}")
    return "\n".join(lines)


@pytest.fixture
def check_accessibility(page) -> Callable[[str], None]:
    """Check the page as it is now with axe-core (AXE_RULE_SETS) and fail on any violation,
    whatever its impact. axe is loaded from our static files by URL: the Content Security
    Policy refuses an inline script, and the `page` fixture fails a test on any refusal.
    The page is read as by a user who asks for reduced motion: a toast then goes without a
    fade, so no check meets one half faded out (half its contrast) by chance."""
    page.emulate_media(reduced_motion="reduce")

    def check(state: str) -> None:
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.add_script_tag(url=AXE_URL)
        results = page.evaluate(
            """ruleSets => axe.run(document, {
                runOnly: {type: "tag", values: ruleSets}, resultTypes: ["violations"]})""",
            AXE_RULE_SETS,
        )
        where = f"{state} at {page.viewport_size['width']} px ({page.url})"
        if results["violations"]:
            pytest.fail(axe_violations_message(where, results["violations"]))
        # axe retired its duplicate-id rules with WCAG 2.2 (which dropped 4.1.1 Parsing); an id
        # twice still breaks a label's `for`, an ARIA reference and an htmx target.
        twice = page.evaluate(DUPLICATE_IDS)
        assert not twice, f"ids used more than once on {where}: {twice}"

    return check


@pytest.fixture
def oauth_to_live_server(sandbox, live_server) -> Iterator[str]:
    """Send the sandbox's consent page back to the live server, and put it back afterwards."""
    before = sandbox.settings.redirect_uri
    sandbox.settings.redirect_uri = live_server + "/accounts/tiktok/callback"
    yield sandbox.settings.redirect_uri
    sandbox.settings.redirect_uri = before


@pytest.fixture
def save_screenshot(page, tmp_path, request) -> Callable[[str], Path]:
    """Save a full-page screenshot outside the repo; its path is printed at the end of the run."""

    def save(name: str) -> Path:
        path = tmp_path / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        request.config.stash.setdefault(SCREENSHOTS, []).append(path)
        print(f"screenshot: {path}")
        return path

    return save


@pytest.fixture
def owner(app_ctx):
    return make_user()


@pytest.fixture
def shop(owner, run_jobs):
    """The first sandbox shop, imported, linked to a Magento store whose catalog is read."""
    _, account = import_shop(owner, run_jobs)
    return account
