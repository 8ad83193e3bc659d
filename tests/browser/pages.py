"""What browser tests look for on our pages, in one place."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page

MARKER = "window.__skuBridgeMarker"


def set_marker(page: Page) -> None:
    """A variable on window: it survives htmx swaps and is gone after any full page load."""
    page.evaluate(f"{MARKER} = 'still here'")


def assert_no_reload(page: Page) -> None:
    assert page.evaluate(MARKER) == "still here", "the page was reloaded"


def tab(page: Page, label: str) -> Locator:
    """A status tab of the linking grid, e.g. tab(page, "Mapped")."""
    return page.get_by_role("navigation", name="Status").get_by_role(
        "link", name=re.compile(rf"^{label} \d+$")
    )
