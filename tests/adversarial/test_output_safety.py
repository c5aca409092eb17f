"""Output safety: hostile text from the data renders as text, published outputs disclose no
respondent data, and published pages make no network request.

The month comes from the real engine, notebooks and publishers run on a warehouse whose
department, district, target, comment and action texts are hostile (``hostile_month`` in
conftest.py), so what is checked is what a reader would get.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib
import nbformat
import pandas as pd
import pytest
from adv_support import HOSTILE, HOSTILE_DEPT, HOSTILE_DISTRICT, MONTH
from bs4 import BeautifulSoup

from helpers.publish import disclosure, portal
from helpers.publish import html as html_pub
from helpers.publish import pdf as pdf_pub

matplotlib.use("Agg")
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("adversarial-hostile")]

CHROMIUM = Path("/usr/bin/chromium")


def _soup(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def _text(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


def _squash(s: str) -> str:
    """No whitespace at all: PDF text breaks lines anywhere inside a table cell."""
    return re.sub(r"\s+", "", s)


def _pdf_text(path: Path) -> str:
    return _squash(" ".join(disclosure.pdf_text_pages(path)))


def test_hostile_month_is_published_and_every_report_ran(hostile_month):
    assert hostile_month["status"] == 0
    manifest = json.loads((hostile_month["month"] / "manifest.json").read_text())
    ran = {j["id"]: j["status"] for j in manifest["jobs"]}
    assert ran == {
        "health/stocktake": "done",
        "health/citizen_survey": "done",
        "local-government/stocktake": "done",
        "local-government/citizen_survey": "done",
    }


def test_hostile_text_is_text_in_html(hostile_month):
    month = hostile_month["month"]
    for page in sorted(month.rglob("*.html")):
        soup = _soup(page)
        scripts = soup.find_all("script")
        if page.name == "index.html":  # the portal's own filter script, allowed by its hash
            assert [s.string for s in scripts] == [portal.FILTER_SCRIPT], page
        else:
            assert scripts == [], page
        assert soup.find("img", attrs={"onerror": True}) is None, page
        assert not soup.find_all(attrs={"src": re.compile(r"^(?!data:)")}), page
    stocktake = _soup(month / "health" / "stocktake.html")
    text = _text(stocktake.get_text(" "))
    assert _text(HOSTILE_DEPT) in text
    for prefix in ("Target", "Action"):  # (no report shows ratings.comment)
        assert _text(f"{prefix} {HOSTILE}") in text, prefix
    survey = _text(_soup(month / "health" / "citizen_survey.html").get_text(" "))
    assert _text(HOSTILE_DISTRICT) in survey
    index = _text(_soup(month / "index.html").get_text(" "))
    assert _text(HOSTILE_DEPT) in index


def test_hostile_text_is_text_in_pdf(hostile_month):
    month = hostile_month["month"]
    stocktake = _pdf_text(month / "health" / "stocktake.pdf")
    # Typst specials (#, $, @, <, *, _, \, ], `) and HTML arrive as the literal characters.
    assert _squash(HOSTILE_DEPT) in stocktake
    assert _squash(f"Action {HOSTILE}") in stocktake
    assert _squash(f"Target {HOSTILE}") in stocktake
    survey = _pdf_text(month / "health" / "citizen_survey.pdf")
    assert _squash(HOSTILE_DISTRICT) in survey


def test_full_month_outputs_pass_the_disclosure_scan(hostile_month):
    month = hostile_month["month"]
    manifest = json.loads((month / "manifest.json").read_text())
    min_n = disclosure.min_n_by_file(manifest)
    assert min_n["health/citizen_survey.html"] == 30
    files = disclosure.month_files(month)
    kinds = {p.suffix for p in files}
    assert kinds == {".html", ".pdf", ".ipynb", ".json"}
    assert disclosure.scan_month(month, min_n_for=min_n) == []
    # The small sample leaves most districts below min_n: the suppression rule was exercised
    # (the scan would have flagged any such row that still showed a figure).
    survey = _soup(month / "health" / "citizen_survey.html")
    statuses = [td.get_text(strip=True) for td in survey.find_all("td")]
    assert statuses.count("suppressed (n<30)") >= 5
    # No respondent id of the warehouse appears next to its PSU anywhere.
    import duckdb

    con = duckdb.connect(str(hostile_month["warehouse"]), read_only=True)
    psus = [r[0] for r in con.execute("SELECT DISTINCT psu FROM survey_respondents").fetchall()]
    con.close()
    published = " ".join(
        p.read_text(encoding="utf-8", errors="replace") for p in files if p.suffix != ".pdf"
    )
    assert psus and not [p for p in psus if p in published]


def test_executed_notebooks_hold_no_respondent_rows(hostile_month):
    for path in hostile_month["month"].rglob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                plain = (out.get("data") or {}).get("text/plain", "")
                assert "respondent_id" not in plain and "psu" not in plain.split(), path


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"headless Chromium not at {CHROMIUM}")
def test_published_pages_make_no_network_request_and_run_no_data_script(hostile_month):
    from playwright.sync_api import sync_playwright

    month = hostile_month["month"]
    pages = [
        month / "index.html",
        month / "health" / "stocktake.html",
        month / "health" / "citizen_survey.html",
    ]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            for path in pages:
                page = browser.new_page()
                requests: list[str] = []
                dialogs: list[str] = []
                page.on("request", lambda r, requests=requests: requests.append(r.url))
                page.on(
                    "dialog", lambda d, dialogs=dialogs: (dialogs.append(d.message), d.dismiss())
                )
                page.goto(path.resolve().as_uri(), wait_until="load")
                page.wait_for_timeout(300)
                others = [u for u in requests if u != path.resolve().as_uri()]
                assert not [u for u in others if not u.startswith("data:")], (path, others)
                assert dialogs == [], path
                page.close()
        finally:
            browser.close()


@pytest.mark.parametrize("kit", ["svgplot", "matplotlib"])
def test_hostile_chart_and_table_text_render_in_html_and_pdf(tmp_path, kit):
    """Without a kernel: display objects with hostile text (incl. a chart title and category
    labels with mathtext specials) through the real HTML and PDF publishers, with a chart of
    the report kit (svgplot, SVG text) and of matplotlib (PNG)."""
    import matplotlib.pyplot as plt

    from helpers.present import figure, heading, key_messages, note, report_meta, svgplot, table

    df = pd.DataFrame({"District": [HOSTILE_DISTRICT, "Swat"], "Amount": [1.5, 2.0]})
    fig, ax = svgplot.subplots() if kit == "svgplot" else plt.subplots()
    ax.barh(df["District"], df["Amount"])
    ax.set_title(f"Spending {HOSTILE}")
    ax.set_xlabel("Amount (PKR million)")
    objects = [
        report_meta("Hostile", HOSTILE_DEPT, MONTH, "2025-03-31", family="hostile"),
        key_messages([f"Message {HOSTILE}"]),
        heading(f"Section {HOSTILE}"),
        table(df, caption=f"Caption {HOSTILE}", units="PKR million"),
        note(f"Note {HOSTILE}"),
        figure(fig, alt=f"Chart {HOSTILE}"),
    ]
    nb = nbformat.v4.new_notebook()
    for obj in objects:
        data = obj._repr_mimebundle_()
        cell = nbformat.v4.new_code_cell("")
        cell.outputs = [nbformat.v4.new_output("display_data", data=data)]
        nb.cells.append(cell)
    page = html_pub.render_html(nb, {})
    soup = BeautifulSoup(page, "html.parser")
    assert soup.find_all("script") == []
    text = _text(soup.get_text(" "))
    for prefix in ("Message", "Section", "Caption", "Note"):
        assert _text(f"{prefix} {HOSTILE}") in text, prefix
    assert soup.find("img", alt=f"Chart {HOSTILE}") is not None
    out = pdf_pub.render_pdf(nb, {}, tmp_path / "hostile.pdf", html=page)
    pdf = _pdf_text(out)
    for prefix in ("Message", "Section", "Caption", "Note"):
        assert _squash(f"{prefix} {HOSTILE}") in pdf, prefix
    assert _squash(HOSTILE_DISTRICT) in pdf
    if kit == "svgplot":  # the chart's own text is text in the SVG and in the PDF
        svg = objects[-1].data.decode("utf-8")
        assert "<script" not in svg.lower() and f"Spending {HOSTILE}" not in svg  # escaped
        assert _squash(f"Spending {HOSTILE}") in pdf
