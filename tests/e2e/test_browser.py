"""A generated portal and report opened from disk in headless Chromium (playwright).

Checks what a reader gets: links work from file://, images load, nothing is fetched from the
network, the page logs no errors (CSP violations included), the filter and search work, and the
key messages are visible.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from helpers.publish import html as html_pub
from helpers.publish import pdf as pdf_pub
from helpers.publish import portal

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import report_fixture as fx
from browser import ARGS, CHROMIUM, MARKS

pytestmark = MARKS


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("outputs")
    month = root / "2025-03"
    nb = fx.executed_notebook()
    page = html_pub.render_html(nb, fx.PROVENANCE)
    reports = []
    for folder, family, title, scope, dept, name, area, headline in [
        ("province", "province_overview", "Province overview", "province", None, None, None, {}),
        (
            "health",
            "budget_execution",
            "Budget execution",
            "department",
            "health",
            "Health",
            "Health",
            {"utilisation": 0.61, "benchmark": 0.75},
        ),
        (
            "education",
            "budget_execution",
            "Budget execution",
            "department",
            "education",
            "Elementary & Secondary Education",
            "Education",
            {"utilisation": 0.4, "benchmark": 0.75},
        ),
    ]:
        (month / folder).mkdir(parents=True, exist_ok=True)
        (month / folder / f"{family}.html").write_text(page, encoding="utf-8")
        pdf_pub.render_pdf(nb, fx.PROVENANCE, month / folder / f"{family}.pdf", html=page)
        reports.append(
            {
                "family": family,
                "family_title": title,
                "scope": scope,
                "department": dept,
                "department_name": name,
                "priority_area": area,
                "status": "done",
                "error": None,
                "html": f"{folder}/{family}.html",
                "pdf": f"{folder}/{family}.pdf",
                "headline": headline,
            }
        )
    (month / "manifest.json").write_text('{"run_at": "2025-04-02T10:31:00", "reports": []}')
    portal.write_month_index(month, "2025-03", reports, {"run_at": "2025-04-02T10:31:00"})
    portal.write_root_index(root)
    return root


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def _watch(page):
    seen = {"requests": [], "errors": []}
    page.on("request", lambda r: seen["requests"].append(r.url))
    page.on("console", lambda m: m.type == "error" and seen["errors"].append(m.text))
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    return seen


def test_portal_to_report(site, browser):
    page = browser.new_page()
    seen = _watch(page)
    page.goto((site / "index.html").as_uri())
    page.click("text=March 2025")
    page.wait_for_load_state("load")
    assert page.url.endswith("/2025-03/index.html")
    rows = page.locator("tr[data-area]")
    assert rows.count() == 2

    # filter and search (inline script allowed by its CSP hash)
    page.select_option("#kp-area", "Education")
    assert page.locator("tr[data-area]:visible").count() == 1
    assert page.locator("#kp-count").inner_text() == "1 of 2 departments shown"
    page.select_option("#kp-area", "")
    page.fill("#kp-search", "heal")
    assert page.locator("tr[data-area]:visible").count() == 1
    assert page.locator("tr[data-area]:visible th").inner_text() == "Health"
    page.fill("#kp-search", "")

    page.click("#dept-health a.kp-link-html")
    page.wait_for_load_state("load")
    assert page.url.endswith("/2025-03/health/budget_execution.html")
    assert page.locator(".key-messages").is_visible()
    assert "Spending reached 61%" in page.locator(".key-messages").inner_text()
    images = page.eval_on_selector_all("img", "els => els.map(e => [e.complete, e.naturalWidth])")
    assert images and all(done and width > 0 for done, width in images)
    assert page.locator("text=alert(1)").count() >= 1  # shown as text, not executed

    assert seen["errors"] == []
    bad = [u for u in seen["requests"] if not u.startswith(("file://", "data:"))]
    assert bad == []
    page.close()


def test_report_has_no_console_errors_and_prints_a4(site, browser):
    page = browser.new_page()
    seen = _watch(page)
    page.goto((site / "2025-03" / "province" / "province_overview.html").as_uri())
    assert page.locator("h1").inner_text() == "Budget execution"
    toc = page.locator("nav.kp-toc a")
    assert toc.count() == 5
    pdf = page.pdf(format="A4")  # the print stylesheet works in the browser too
    assert pdf.startswith(b"%PDF")
    assert seen["errors"] == []
    assert all(u.startswith(("file://", "data:")) for u in seen["requests"])
    page.close()
