"""What browser tests look for on our pages, in one place."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

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


def expect_preview_counts(panel: Locator, preview) -> None:
    """The Auto-map preview shows each rule's count, the refusals' and the first refusal's
    reason, as `preview` (webapp.linking.automap.preview_automap) has them."""
    counts = panel.get_by_role("list", name="Matches by rule")
    for rule, count in preview.by_rule.items():
        expect(counts).to_contain_text(f"{rule.label} {count}")
    expect(counts).to_contain_text(f"Ambiguous {preview.ambiguous_total}")
    expect(counts).to_contain_text(f"Unmatched {preview.unmatched}")
    expect(panel.get_by_text(preview.ambiguous[0].reason).first).to_be_visible()
