"""Budget reports on real annual data: World Bank BOOST Pakistan (approved vs executed) and the
federal budget books, loaded through the federal profile's shipped mappings alone.

Skips with a reason when ../shared/real-data is absent. Hand checks are sums of the source CSV's
component lines read with the csv module (the lines the mapping keeps: wages, goods and
services, capital, roads maintenance and subsidies; not the totals or their parts), not with
the mapping code. BOOST `year` 2021 = FY 2020-21 (the year the fiscal year ends).
"""

from __future__ import annotations

import csv
import math
import re
import shutil
from pathlib import Path

import pytest

from helpers import budget, paths, profile
from helpers.data import ingest

REAL = paths.ROOT.parent / "shared" / "real-data"
if not REAL.is_dir():
    REAL = Path("/work/shared/real-data")

DROP = re.compile(r"^Spending in (judiciary|roads)$|basic wages|allowances|basic services")
SECTORS = {"Health": "national-health-services", "Infrastructure": "communications"}


def _need(*parts: str) -> Path:
    p = REAL.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"real data not available: {p} (see ../shared/real-data/README.md)")
    return p


def _hand(src: Path) -> dict[tuple[str, int], tuple[float, float]]:
    """(department, BOOST year) -> (approved, executed) in PKR million, summed by hand."""
    out: dict = {}
    with src.open(encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            if r["country_code"] != "PAK" or r["sector"] not in SECTORS:
                continue
            if DROP.search(r["budget_line"]):
                continue
            key = (SECTORS[r["sector"]], int(float(r["year"])))
            a, e = out.get(key, (0.0, 0.0))
            out[key] = (a + float(r["approved_value"]) / 1e6, e + float(r["executed_value"]) / 1e6)
    return out


@pytest.fixture(scope="module")
def boost(tmp_path_factory):
    src = _need("boost", "boost_budget_execution_pakistan.csv")
    books = _need("pk_federal_budget")
    root = tmp_path_factory.mktemp("boost")
    raw = root / "raw"
    raw.mkdir()
    shutil.copy(src, raw / src.name)
    for f in ("budget_2023_24.xlsx", "budget_2024_25.xlsx"):
        shutil.copy(books / f, raw / f)
    wh_path = root / "warehouse.duckdb"
    with profile.use("federal"):
        code = ingest.run(raw, wh_path, log=lambda *a, **k: None)
    assert code == 0
    import duckdb

    con = duckdb.connect(str(wh_path), read_only=True)
    try:
        info = dict(con.execute("SELECT key, value FROM load_info").fetchall())
        alloc = con.execute("SELECT * FROM budget_allocations").df()
        monthly = con.execute("SELECT * FROM budget_monthly").df()
        notes = con.execute("SELECT * FROM data_notes").df()
    finally:
        con.close()
    return {
        "info": info,
        "alloc": alloc,
        "monthly": monthly,
        "notes": notes,
        "hand": _hand(src),
        "books": books,
    }


def _report(boost, dept: str, month: str):
    with profile.use("federal"):
        f = budget.frequency_of(boost["info"])
        return f, budget.execution_report(
            boost["alloc"], boost["monthly"], dept, month, frequency=f
        )


def test_boost_is_loaded_as_annual(boost):
    assert boost["info"]["budget.frequency"] == "annual"


@pytest.mark.parametrize("dept", sorted(SECTORS.values()))
def test_closed_year_shows_executed_against_approved(boost, dept):
    approved, executed = boost["hand"][(dept, 2021)]
    f, r = _report(boost, dept, "2021-06")
    assert f == "annual"
    assert r.year_complete
    assert r.total["budget_estimate"] == pytest.approx(approved, rel=1e-9)
    assert r.total["expenditure"] == pytest.approx(executed, rel=1e-9)
    assert r.total["util_be"] == pytest.approx(executed / approved, rel=1e-9)
    assert r.projection.point == pytest.approx(executed, rel=1e-9)  # the outturn
    with profile.use("federal"):
        from helpers.present import budget as view

        first = view.key_message_sentences(r, dept)[0]
    assert f"spent {executed / approved:.0%} of its approved budget" in first
    assert "FY 2020-21" in first


def test_inside_a_year_there_is_no_within_year_projection(boost):
    f, r = _report(boost, "national-health-services", "2021-03")
    assert r.as_of is None and math.isnan(r.benchmark)
    assert math.isnan(r.projection.point)  # not executed x 12 / months
    head = budget.headline_values(r)
    assert head["utilisation"] is None and head["projection_low"] is None
    approved, executed = boost["hand"][("national-health-services", 2020)]
    with profile.use("federal"):
        from helpers.present import budget as view

        msgs = view.key_message_sentences(r, "Health")
    assert (
        f"In FY 2019-20, the latest year with executed figures, Health spent {executed / approved:.0%}"
        in msgs[0]
    )
    assert any("no within-year projection" in m for m in msgs)


def test_budget_books_year_without_executed_figures(boost):
    # FY 2024-25: budget estimates from the 2024-25 book, no executed amount in any source
    f, r = _report(boost, "national-health-services", "2024-07")
    assert math.isnan(r.total["util_be"]) and r.total["budget_estimate"] > 0
    assert not r.year_complete and math.isnan(r.projection.point)


def test_plausibility_notes_reach_the_departments_report(boost):
    """The budget book 2023-24 gives National Health Services' current-fund grants and
    subsidies (A05) for 2022-23 as 3,633 million, against a median of 146 million over its
    other years: flagged at load, under that department, pointing at the line's first source
    row, and worded for its report's data notes (without the loader's folders)."""
    import pandas as pd

    from helpers.present.display import load_notes

    notes = boost["notes"]
    nhs = notes[notes["department"] == "national-health-services"]
    assert len(nhs) == 1
    note = nhs.iloc[0]
    assert note["rule"] == "line over 10x its median over the years"
    # by hand: the source rows of that line, summed (PKR -> PKR million)
    src = pd.read_excel(boost["books"] / "budget_2023_24.xlsx")
    rows = src[
        src["ministry_name"].str.contains("NATIONAL HEALTH SERVICES", na=False)
        & src["ID6_name"].str.startswith("GRANTS, SUBSIDIES", na=False)
        & src["fund"].str.startswith("Current", na=False)
    ]
    assert float(note["value"].split()[0]) == pytest.approx(
        rows["budget_2022"].sum() / 1e6, abs=0.01
    )
    assert int(note["row"]) == int(rows.index[0]) + 2  # spreadsheet row: header is row 1
    (shown,) = load_notes(nhs)
    assert f"budget_2023_24.xlsx row {int(note['row'])}" in shown.plain
    assert "/" not in shown.plain.split("supplier:")[1].split(" row ")[0]
    assert shown.html.startswith('<p class="kp-warning">')


def test_annual_tables_show_no_releases_the_source_does_not_have(boost):
    """BOOST has approved and executed amounts only; its mapping gives no releases, so the
    warehouse holds them blank (never the executed amount, which published releases equal to
    spending and "100% of releases") and the report carries no release figures."""
    assert (
        boost["monthly"]["release"].isna().all() and boost["monthly"]["expenditure"].notna().all()
    )
    _, r = _report(boost, "communications", "2019-06")
    assert not r.releases and math.isnan(r.total["releases"])  # unknown, not zero
    with profile.use("federal"):
        from helpers.present import budget as view

        tables = [view.figures_table(r), view.position_table(r), view.object_class_table(r)]
        notes = " ".join(n.plain for n in view.data_notes(r))
        chart = view.components_chart(r)
    svg = chart.data.decode("utf-8") if isinstance(chart.data, bytes) else chart.data
    assert chart.mime == "image/svg+xml" and "% of budget estimate" in svg
    assert "releases" not in svg  # one bar per component: executed / BE
    assert "Flag rules" in notes and "releases" not in notes  # no rule on absent releases
    figures = tables[0].data.iloc[:, 0].tolist()
    assert "Executed / BE (outturn)" in figures and "Budget estimate (BE)" in figures
    for t in tables:
        shown = [str(c) for c in t.data.columns] + [str(v) for v in t.data.iloc[:, 0]]
        assert not [s for s in shown if "releas" in s.lower()], t.data
    # the figures the hand sums check are still there (FY 2018-19, PKR million)
    approved, executed = boost["hand"][("communications", 2019)]
    util = tables[0].data.set_index(tables[0].data.columns[0]).iloc[:, 1]
    assert util["Executed / BE (outturn)"] == pytest.approx(executed / approved, rel=1e-9)
