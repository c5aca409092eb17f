"""The real report notebooks, run by the real engine on the sample warehouse, at edge months.

`make reports` runs every department for a month (the benchmark and the monthly run cover the
whole set); here a few departments chosen for their data run at the months where reports are
most likely to break:

- 2022-07: the first month of data (no earlier year, no survey wave yet, first quarter of PSE
  returns not due);
- 2024-03: a month that ``zakat-ushr`` never reported (a gap in its budget execution);
- 2026-06: the last month of data, the fiscal year's close.

``health`` has every report family (budget, stocktake, survey, PSE); ``zakat-ushr`` has budget
gaps and few entities. Province reports run once per month.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from pypdf import PdfReader

from helpers import paths
from helpers.engine import run as engine_run

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("reports")]

DEPTS = ("health", "zakat-ushr")
MONTHS = ("2022-07", "2024-03", "2026-06")


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> dict[str, Path]:
    warehouse = paths.ROOT / "data" / "warehouse.duckdb"
    if not warehouse.exists():
        pytest.fail("data/warehouse.duckdb is missing: `make test` builds it with `make data`")
    outputs = tmp_path_factory.mktemp("reports") / "outputs"
    status = {}
    for month in MONTHS:
        argv = [
            "--month",
            month,
            "--outputs",
            str(outputs),
            "--warehouse",
            str(warehouse),
            "--dept",
            ",".join((*DEPTS, "province")),
            "--jobs",
            "2",
        ]
        status[month] = engine_run.cli(argv)
    return {"outputs": outputs, "status": status}


def _text(path: Path) -> str:
    soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
    return " ".join(soup.get_text(" ").split())


TITLES = {
    "budget_execution": "Budget execution",
    "stocktake": "Delivery stocktake",
    "citizen_survey": "Citizen perception survey",
    "pse_oversight": "Public sector entity oversight",
    "province_overview": "Province overview",
    "pse_province": "Public sector entities",
}


@pytest.mark.parametrize("month", MONTHS)
def test_every_report_of_the_month_is_published(published, month):
    assert published["status"][month] == 0, f"{month}: some reports failed"
    month_dir = published["outputs"] / month
    jobs = json.loads((month_dir / "manifest.json").read_text())["jobs"]
    families = {(j["department"] or "province", j["family"]) for j in jobs}
    # Every family runs for health (it has targets, surveyed services and entities); both
    # province reports run once.
    for family in ("budget_execution", "stocktake", "citizen_survey", "pse_oversight"):
        assert ("health", family) in families, (month, family)
    assert ("zakat-ushr", "budget_execution") in families
    assert {("province", "province_overview"), ("province", "pse_province")} <= families
    for j in jobs:
        assert j["status"] == "done", (month, j["id"], j.get("error"))
        text = _text(month_dir / j["files"]["html"])
        assert "Key messages" in text, j["id"]
        assert not re.search(r"Traceback|Error:|\bnan\b|\bNaN\b", text), (j["id"], text[:300])
        first = PdfReader(month_dir / j["files"]["pdf"]).pages[0].extract_text()
        assert TITLES[j["family"]] in " ".join(first.split()), (j["id"], first[:200])


def test_budget_report_names_the_missing_month(published):
    text = _text(published["outputs"] / "2024-03" / "zakat-ushr" / "budget_execution.html")
    assert "Missing months this fiscal year: March 2024" in text
    # The report month itself is missing: the data as-of is the last month received.
    assert "Data as of February 2024" in text


def test_first_month_reports_say_what_is_not_there_yet(published):
    month = published["outputs"] / "2022-07"
    budget = _text(month / "health" / "budget_execution.html")
    assert "July 2022" in budget
    assert "8% time-elapsed benchmark" in budget  # 1/12 of the year
    survey = _text(month / "health" / "citizen_survey.html")
    assert "no citizen survey wave had been fielded by july 2022" in survey.lower()
    # No PSE return is due before the data start: say so, rate nobody, list nobody as missing.
    for path in (month / "health" / "pse_oversight.html", month / "province" / "pse_province.html"):
        pse = _text(path)
        assert "No quarterly return can be assessed for July 2022 yet" in pse
        assert "Missing" not in pse and "High risk" not in pse
    # No target has an actual yet: no scorecard score (not "0 out of 100").
    stocktake = _text(month / "health" / "stocktake.html")
    assert "no scorecard score" in stocktake
    assert "0 out of 100" not in stocktake


def test_year_end_budget_report_has_no_projection_clause(published):
    text = _text(published["outputs"] / "2026-06" / "health" / "budget_execution.html")
    assert "100% time-elapsed benchmark" in text
    assert "at this pace it ends the year" not in text


def _headline(notebook: Path) -> dict:
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "application/vnd.kp.headline+json" in data:
                return data["application/vnd.kp.headline+json"]
    raise AssertionError(f"no headline in {notebook}")


@pytest.mark.parametrize("month", MONTHS)
def test_default_profile_budget_headline_equals_the_definition(published, month):
    """KP (the default profile) keeps its numbers: utilisation = expenditure from the start of
    the fiscal year (July) to the report month / the year's budget estimate, summed in SQL."""
    import duckdb

    from helpers.data.calendar import fiscal_year

    con = duckdb.connect(str(paths.ROOT / "data" / "warehouse.duckdb"), read_only=True)
    fy = fiscal_year(month)
    start = f"{int(fy[:4])}-07-01"  # KP's year starts in July
    spent = con.execute(
        "SELECT sum(expenditure) FROM budget_monthly WHERE department = 'health' "
        "AND month BETWEEN ? AND ?",
        [start, f"{month}-01"],
    ).fetchone()[0]
    budget = con.execute(
        "SELECT sum(budget_estimate) FROM budget_allocations WHERE department = 'health' "
        "AND fiscal_year = ?",
        [fy],
    ).fetchone()[0]
    head = _headline(published["outputs"] / month / "health" / "budget_execution.ipynb")
    assert head["utilisation"] == pytest.approx(spent / budget, abs=1e-4)
    months_elapsed = (int(month[:4]) * 12 + int(month[5:])) - (int(start[:4]) * 12 + 7) + 1
    assert head["benchmark"] == pytest.approx(months_elapsed / 12, abs=1e-4)  # 4 decimals


def test_year_end_reports_show_pi3_from_the_revenue_book(published):
    """PI-3 at the 2026-06 close (three completed years 2022-23 .. 2024-25): the overview's
    PI-3.1 outturns are total actual / total budgeted revenue of the whole revenue book, summed
    in SQL; health's budget report scores its own receipts; zakat-ushr collects none."""
    import duckdb

    con = duckdb.connect(str(paths.ROOT / "data" / "warehouse.duckdb"), read_only=True)
    totals = con.execute(
        "SELECT fiscal_year, sum(actual) / sum(budget_estimate) FROM revenue "
        "WHERE fiscal_year IN ('2022-23', '2023-24', '2024-25') GROUP BY ALL ORDER BY 1"
    ).fetchall()
    con.close()
    assert len(totals) == 3, "the sample revenue book covers the three years"
    month = published["outputs"] / "2026-06"
    overview = _text(month / "province" / "province_overview.html")
    assert "PEFA revenue outturn (provincial revenue): PI-3.1 score" in overview
    for fy, outturn in totals:
        assert f"{fy} " in overview and f"{outturn:.1%}" in overview, (fy, outturn)
    health = _text(month / "health" / "budget_execution.html")
    assert "PEFA revenue outturn (receipts this department collects)" in health
    zakat = _text(month / "zakat-ushr" / "budget_execution.html")
    assert "PI-3 (revenue outturn) not assessed: the revenue book has no receipts" in zakat
