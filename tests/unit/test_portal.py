"""Portal pages: month index (province first, departments x families) and the months list."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest
from bs4 import BeautifulSoup

from helpers.publish import portal

INJECT = "<script>alert(1)</script>"


def report(family, title, scope="department", dept=None, name=None, area=None, status="done", **kw):
    return {
        "family": family,
        "family_title": title,
        "scope": scope,
        "department": dept,
        "department_name": name,
        "priority_area": area,
        "status": status,
        "error": kw.get("error"),
        "html": kw.get("html", f"{dept or 'province'}/{family}.html"),
        "pdf": kw.get("pdf", f"{dept or 'province'}/{family}.pdf"),
        "headline": kw.get("headline", {}),
    }


REPORTS = [
    report(
        "pse_province",
        "Public sector entities (province)",
        scope="province",
        headline={"at_risk": 3, "entities": 12},
    ),
    report("province_overview", "Province overview", scope="province"),
    report(
        "budget_execution",
        "Budget execution",
        dept="health",
        name="Health",
        area="Health",
        headline={"utilisation": 0.61, "benchmark": 0.75},
    ),
    report(
        "stocktake",
        "Delivery stocktake",
        dept="health",
        name="Health",
        area="Health",
        status="cached",
        headline={"on_track": 4, "targets": 6},
    ),
    report(
        "budget_execution",
        "Budget execution",
        dept="education",
        name=f"Elementary & Secondary Education {INJECT}",
        area="Education",
        status="failed",
        error="ValueError: bad <data> in budget_monthly " + "x" * 600,
        html=None,
        pdf=None,
    ),
    report(
        "citizen_survey",
        "Citizen perception survey",
        dept="education",
        name=f"Elementary & Secondary Education {INJECT}",
        area="Education",
        headline={"satisfaction": 0.58},
    ),
]
MANIFEST = {"run_at": "2025-04-02T10:31:00+00:00", "commit": "0123456789abcdef", "dirty": True}


@pytest.fixture()
def page(tmp_path):
    path = portal.write_month_index(tmp_path / "2025-03", "2025-03", REPORTS, MANIFEST)
    assert path == tmp_path / "2025-03" / "index.html"
    return path.read_text()


@pytest.mark.parametrize(
    ("headline", "text", "tone"),
    [
        ({"utilisation": 0.61, "benchmark": 0.75}, "61% of BE vs 75%", "watch"),  # gap -0.14
        ({"utilisation": 0.50, "benchmark": 0.75}, "50% of BE vs 75%", "bad"),  # gap -0.25
        ({"utilisation": 0.72, "benchmark": 0.75}, "72% of BE vs 75%", "good"),  # gap -0.03
        ({"on_track": 4, "targets": 6}, "4 of 6 on track", "watch"),  # 0.67
        ({"on_track": 6, "targets": 6}, "6 of 6 on track", "good"),
        ({"on_track": 1, "targets": 6}, "1 of 6 on track", "bad"),
        ({"satisfaction": 0.58}, "58% satisfied", "watch"),
        ({"satisfaction": 0.81}, "81% satisfied", "good"),
        ({"at_risk": 3, "entities": 12}, "3 of 12 at risk", "watch"),  # 0.25
        ({"at_risk": 0, "entities": 12}, "0 of 12 at risk", "good"),
        ({"at_risk": 6, "entities": 12}, "6 of 12 at risk", "bad"),
    ],
)
def test_headline_badge(headline, text, tone):
    badge = portal.headline_badge(headline)
    assert (badge.text, badge.tone) == (text, tone)


@pytest.mark.parametrize(
    "headline",
    [
        None,
        {},
        {"utilisation": None, "benchmark": 0.75},
        {"satisfaction": float("nan")},
        {"satisfaction": True},
        {"on_track": 1, "targets": 0},
        {"satisfaction": "58%"},
    ],
)
def test_headline_badge_missing(headline):
    assert portal.headline_badge(headline) is None


def test_province_reports_first_overview_first(page):
    prov = page.index('id="province"')
    dept = page.index('id="departments"')
    assert prov < dept
    assert page.index("Province overview") < page.index("Public sector entities (province)") < dept
    assert 'href="province/province_overview.html"' in page
    assert "3 of 12 at risk" in page


def test_department_rows_and_cells(page):
    rows = re.findall(
        r"<tr data-area=\"([^\"]*)\" data-name=\"([^\"]*)\"[^>]*>(.*?)</tr>", page, re.S
    )
    assert [r[0] for r in rows] == ["Education", "Health"]  # sorted by department name
    edu, health = rows[0][2], rows[1][2]
    assert "61% of BE vs 75%" in health and "kp-tone-watch" in health
    assert "4 of 6 on track" in health and "kp-status-cached" in health
    assert (
        'href="health/budget_execution.html"' in health
        and 'href="health/budget_execution.pdf"' in health
    )
    assert "58% satisfied" in edu
    assert "kp-status-failed" in edu
    assert "ValueError: bad &lt;data&gt; in budget_monthly" in edu
    assert "x" * 400 not in edu  # error excerpt is shortened
    assert "education/budget_execution.html" not in edu  # failed: no links
    # families as columns, not applicable cells marked
    head = re.search(r"<thead>(.*?)</thead>", page.split('id="departments"')[1], re.S).group(1)
    assert re.findall(r'<th scope="col">([^<]*)</th>', head) == [
        "Department",
        "Priority area",
        "Budget execution",
        "Delivery stocktake",
        "Citizen perception survey",
    ]
    assert edu.count('class="kp-na"') == 1 and health.count('class="kp-na"') == 1


def test_everything_escaped(page):
    assert INJECT not in page
    assert "Elementary &amp; Secondary Education &lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_filter_controls_and_script_hash(page):
    assert '<option value="Education">Education</option>' in page
    assert '<option value="Health">Health</option>' in page
    assert 'id="kp-search"' in page
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert scripts == [portal.FILTER_SCRIPT]
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    assert "default-src 'none'" in policy
    assert f"script-src 'sha256-{digest}'" in policy
    script_src = re.search(r"script-src ([^;]*)", policy).group(1)
    assert script_src == f"'sha256-{digest}'"  # only this script, no 'unsafe-inline'


def test_self_contained(page):
    assert "<script src" not in page
    assert not re.search(r"""\b(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert 'href="../index.html"' in page


def test_run_facts(page):
    assert "2025-04-02 10:31" in page
    assert "0123456789 (uncommitted changes)" in page
    facts = dict(re.findall(r"<dt>([^<]*)</dt><dd>([^<]*)</dd>", page))
    assert facts["Reports"] == "6" and facts["Done"] == "4"
    assert facts["From cache"] == "1" and facts["Failed"] == "1"


def test_not_rebuilt_report_is_listed_without_links():
    stale = dict(
        report("budget_execution", "Budget execution", dept="health", name="Health", area="Health",
               status="not_rebuilt", html=None, pdf=None),
        note="out of date (code or data changed); the next full run rebuilds it",
    )  # fmt: skip
    page = portal.render_month_index("2025-03", [stale], {})
    row = page[page.index("<td") : page.index("</tr>", page.index("<td"))]
    assert "not rebuilt" in row and "the next full run rebuilds it" in row
    assert "<a " not in row  # nothing to open: the stale report is not published
    facts = dict(re.findall(r"<dt>([^<]*)</dt><dd>([^<]*)</dd>", page))
    assert facts["Not rebuilt"] == "1" and facts["Done"] == "0"


@pytest.mark.parametrize(
    "bad",
    [
        "https://evil.example/x.html",
        "javascript:alert(1)",
        "/etc/passwd",
        "../x.html",
        "C:\\x.html",
    ],
)
def test_links_must_be_relative(bad):
    with pytest.raises(ValueError, match="relative"):
        portal.safe_href(bad)


def test_link_quoting():
    assert portal.safe_href("health dept/budget#1.html") == "health%20dept/budget%231.html"
    assert portal.safe_href(None) is None


def test_invalid_reports_rejected(tmp_path):
    with pytest.raises(ValueError, match="status"):
        portal.write_month_index(tmp_path, "2025-03", [report("b", "B", dept="h", status="ok")], {})
    with pytest.raises(ValueError, match="no department"):
        portal.write_month_index(tmp_path, "2025-03", [report("b", "B")], {})
    with pytest.raises(ValueError, match="two b reports"):
        portal.write_month_index(tmp_path, "2025-03", [report("b", "B", dept="h")] * 2, {})


def test_empty_month(tmp_path):
    text = portal.write_month_index(tmp_path, "2025-03", [], {}).read_text()
    assert "No reports were produced" in text and "<script" not in text


def _month(root, name, manifest, index=True):
    d = root / name
    d.mkdir()
    if manifest is not None:
        (d / "manifest.json").write_text(
            manifest if isinstance(manifest, str) else json.dumps(manifest)
        )
    if index:
        (d / "index.html").write_text("x")


def test_root_index(tmp_path):
    _month(
        tmp_path,
        "2025-01",
        {
            "run_at": "2025-02-03T08:00:00",
            "reports": [{"status": "done"}, {"status": "done"}, {"status": "failed"}],
        },
    )
    _month(
        tmp_path,
        "2025-03",
        {"finished_at": "2025-04-02T10:31:00", "counts": {"done": 5, "cached": 2, "failed": 0}},
    )
    _month(tmp_path, "2025-02", None)  # no manifest: not published
    _month(tmp_path, "notes", {"run_at": "x"})
    _month(tmp_path, "2024-12", "{broken")
    text = portal.write_root_index(tmp_path).read_text()
    assert (tmp_path / "index.html").is_file()
    order = [
        m for m in ("March 2025", "February 2025", "January 2025", "December 2024") if m in text
    ]
    assert order == ["March 2025", "January 2025", "December 2024"]
    assert text.index("March 2025") < text.index("January 2025") < text.index("December 2024")
    assert 'href="2025-03/index.html"' in text and 'href="2025-01/index.html"' in text
    assert "notes" not in text
    assert "manifest unreadable" in text
    rows = re.findall(r"<tr><th scope=\"row\">(.*?)</tr>", text, re.S)
    cells = [re.findall(r"<td[^>]*>([^<]*)</td>", r) for r in rows[:2]]
    assert cells[0] == ["2025-04-02 10:31", "7", "5", "2", "0"]
    assert cells[1] == ["2025-02-03 08:00", "3", "2", "0", "1"]


def test_root_index_empty(tmp_path):
    assert "No months have been published" in portal.write_root_index(tmp_path / "out").read_text()


def test_families_without_data_are_listed_as_not_provided():
    reports = [report("province_overview", "Province overview", scope="province")]
    manifest = {
        "not_provided": [
            {"family": "stocktake", "title": "Delivery stocktake"},
            {"family": "citizen_survey", "title": "Citizen perception survey"},
        ]
    }
    page = portal.render_month_index("2025-03", reports, manifest)
    text = " ".join(BeautifulSoup(page, "html.parser").get_text(" ").split())
    assert "Not provided: Delivery stocktake, Citizen perception survey" in text
    assert "Failed 0" in text  # counted apart from failures
    assert "not provided" not in portal.render_month_index("2025-03", reports, {}).lower()
