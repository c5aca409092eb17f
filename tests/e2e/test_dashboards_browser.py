"""The dashboards opened from disk in headless Chromium (playwright on /usr/bin/chromium).

One small set of hand-written published months (tests/fixtures/dash_fixture.py) is built once
per module. Checks what a reader gets: filters and sorting work (mouse and keyboard), a chart
draws and shows a tooltip on hover, its table view opens, nothing but the site's own files is
requested, no console error (CSP violations included), and the pages screenshot with content.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import dash_fixture as fx
from browser import ARGS, CHROMIUM, MARKS

pytestmark = MARKS


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    return fx.publish(tmp_path_factory.mktemp("outputs"))


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture
def open_page(site, browser):
    """open_page(relative path) -> (page, seen); checks at teardown that nothing but the
    site's own files was requested and nothing was logged as an error."""
    opened = []

    def _open(rel: str, width: int = 1280):
        page = browser.new_page(viewport={"width": width, "height": 1000})
        seen = {"requests": [], "errors": []}
        page.on("request", lambda r: seen["requests"].append(r.url))
        page.on("console", lambda m: m.type == "error" and seen["errors"].append(m.text))
        page.on("pageerror", lambda e: seen["errors"].append(str(e)))
        page.goto((site / rel).as_uri())
        opened.append((page, seen))
        return page, seen

    yield _open
    root = site.as_uri()
    for page, seen in opened:
        assert seen["errors"] == []
        outside = [u for u in seen["requests"] if not u.startswith(root + "/")]
        assert outside == []
        page.close()


def _visible_names(page, table: str) -> list[str]:
    return page.eval_on_selector_all(
        f"#{table} tbody tr:not([hidden]) th", "els => els.map(e => e.innerText.trim())"
    )


def test_departments_filter_and_sort(open_page):
    page, _ = open_page("dashboards/index.html")
    assert page.locator("h2#latest").inner_text() == "What changed in March 2025"
    assert _visible_names(page, "kp-depts") == ["Elementary & Secondary Education", "Health"]
    assert page.locator(".kp-count").first.inner_text() == "2 of 2 departments shown"

    page.select_option("#kp-depts-area", "Health")
    assert _visible_names(page, "kp-depts") == ["Health"]
    assert page.locator(".kp-count").first.inner_text() == "1 of 2 departments shown"
    page.select_option("#kp-depts-area", "")
    page.fill("#kp-depts-q", "second")
    assert _visible_names(page, "kp-depts") == ["Elementary & Secondary Education"]
    page.fill("#kp-depts-q", "")

    header = page.locator("#kp-depts th", has_text="Utilisation")
    header.locator("button").click()
    assert header.get_attribute("aria-sort") == "ascending"
    assert _visible_names(page, "kp-depts") == ["Elementary & Secondary Education", "Health"]
    header.locator("button").focus()  # keyboard: Enter on the focused header sorts again
    page.keyboard.press("Enter")
    assert header.get_attribute("aria-sort") == "descending"
    assert _visible_names(page, "kp-depts") == ["Health", "Elementary & Secondary Education"]


def test_chart_tooltip_table_view_and_screenshot(open_page, tmp_path):
    from PIL import Image

    page, _ = open_page("dashboards/department/health.html")
    chart = page.locator("figure.kp-chart").first
    chart.locator(".kp-chart-canvas svg").wait_for()
    point = chart.locator("g.mark-symbol path").first
    point.hover()
    tooltip = page.locator("#vg-tooltip-element")
    tooltip.wait_for(state="visible", timeout=5000)
    assert "Jan 2025" in tooltip.inner_text() or "2025" in tooltip.inner_text()
    assert "Share of budget estimate" in tooltip.inner_text()

    chart.locator(".kp-chart-canvas").focus()  # keyboard: Enter opens the table view
    page.keyboard.press("Enter")
    assert chart.locator("details.kp-chart-table").evaluate("d => d.open") is True
    table = chart.locator("details.kp-chart-table table")
    assert table.is_visible()
    assert table.locator("tbody tr").count() == 3
    assert table.locator("tbody tr").first.inner_text().split("\t")[:3] == [
        "January 2025",
        "52%",
        "58%",
    ]

    shot = Image.open(io.BytesIO(chart.screenshot())).convert("RGB")
    assert shot.width > 400 and shot.height > 200
    colours = shot.getcolors(maxcolors=1 << 16) or []
    assert len(colours) > 20  # lines, axes and labels drawn, not a blank box
    full = Image.open(io.BytesIO(page.screenshot(path=str(tmp_path / "department.png"))))
    assert full.size == (1280, 1000)


def test_entities_drill_down(open_page):
    page, _ = open_page("dashboards/entities.html")
    assert _visible_names(page, "kp-entities") == ["Health Foundation", "Textbook Board"]
    page.check("#kp-entities-late")
    assert _visible_names(page, "kp-entities") == ["Textbook Board"]
    page.uncheck("#kp-entities-late")
    page.select_option("#kp-entities-dept", "Health")
    assert _visible_names(page, "kp-entities") == ["Health Foundation"]
    page.select_option("#kp-entities-dept", "")
    page.select_option("#kp-entities-type", "board")
    assert _visible_names(page, "kp-entities") == ["Textbook Board"]
    page.select_option("#kp-entities-type", "")
    page.click("text=Health Foundation")
    page.wait_for_load_state("load")
    assert page.url.endswith("/dashboards/entity/PSE-1.html")
    page.locator(".kp-chart-canvas svg").first.wait_for()
    rows = page.locator("#quarters + div table tbody tr")
    assert rows.count() == 2  # the quarter before, from the report's trend window, and the latest


def test_league_table_by_month(open_page):
    page, _ = open_page("dashboards/province.html")
    page.locator(".kp-chart-canvas svg").first.wait_for()
    assert page.locator("#kp-league tbody tr:not([hidden])").count() == 2
    page.select_option("#kp-league-month", "2025-01")
    rows = page.locator("#kp-league tbody tr:not([hidden])")
    assert rows.count() == 2
    assert all(m == "2025-01" for m in rows.evaluate_all("rs => rs.map(r => r.dataset.month)"))
    page.locator("#kp-league th", has_text="Against benchmark").locator("button").click()
    assert _visible_names(page, "kp-league")[0] == "Elementary & Secondary Education"


def test_month_index_shows_what_changed(open_page):
    page, _ = open_page("2025-02/index.html")
    section = page.locator("section[aria-labelledby=changed]")
    assert "What changed since January 2025" in section.inner_text()
    section.locator("summary", has_text="Targets gone off track").click()
    assert section.locator("text=Immunised children: off track (was on track)").is_visible()
    page.click("text=Dashboards: history across months")
    page.wait_for_load_state("load")
    assert page.url.endswith("/dashboards/index.html")
