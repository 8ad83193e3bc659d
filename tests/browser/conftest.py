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
