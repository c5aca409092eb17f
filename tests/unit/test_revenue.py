"""The optional revenue input (the revenue book, PEFA PI-3): validation, load, sample, mapping
and the PI-3 lines of the budget report's PEFA section."""

from __future__ import annotations

import shutil

import duckdb
import pandas as pd
import pytest
import yaml

from helpers import budget, profile
from helpers.data import ingest, sample
from helpers.data import warehouse as wh
from helpers.data.calendar import fiscal_year
from helpers.data.registry import load_registry
from helpers.present import budget as view

HEADER = "department,fiscal_year,category,budget_estimate,actual\n"


def _rows(db, sql):
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


# ------------------------------------------------------------------------------- validation


def test_bad_revenue_rows_are_all_reported_in_one_pass(small_raw_copy, tmp_path, capsys):
    (small_raw_copy / "revenue.csv").write_text(
        HEADER
        + "health,2024-25,Hospital receipts,1200,1100\n"  # row 2: good
        + "ministry-of-magic,2024-25,Spells,10,5\n"  # row 3: unknown department
        + "health,2024-25,Fees,-5,1\n"  # row 4: negative budget
        + "health,2024-25,Hospital receipts,5,5\n"  # row 5: same key as row 2
        + "health,2024/25,Fines,1,1\n"  # row 6: not a fiscal year
        + "health,2024-25,1200,1,1\n"  # row 7: an amount in the category column
        + 'health,2024-25,Licences,1,"1,234.5"\n'  # row 8: thousands separator
        + "health,2024-25,Permits,3,-2\n",  # row 9: negative actual
        encoding="utf-8",
    )
    wh_path = tmp_path / "wh.duckdb"
    code = ingest.cli(["--data-dir", str(small_raw_copy), "--warehouse", str(wh_path)])
    err = capsys.readouterr().err
    assert code == 1
    for line in (
        "revenue.csv row 3, column department: unknown department (not in the registry) "
        "('ministry-of-magic')",
        "revenue.csv row 4, column budget_estimate: negative amount (-5",
        "revenue.csv row 5, column category: duplicate key (department, fiscal_year, category)",
        "revenue.csv row 6, column fiscal_year: not a fiscal year",
        "revenue.csv row 7, column category: category is a number",
        "revenue.csv row 8, column actual: thousands separator",
        "revenue.csv row 9, column actual: negative amount (-2",
    ):
        assert line in err, (line, err)
    assert "revenue.csv row 2" not in err
    assert "Traceback" not in err
    assert not wh_path.exists()


def test_revenue_without_the_budget_is_refused(small_raw_copy, tmp_path, capsys):
    # The revenue book is one of the budget inputs: alone it lacks budget_allocations.
    for p in small_raw_copy.glob("budget_*.csv"):
        p.unlink()
    code = ingest.cli(["--data-dir", str(small_raw_copy), "--warehouse", str(tmp_path / "w")])
    err = capsys.readouterr().err
    assert code == 1
    assert "budget_allocations.csv: missing input file (the budget inputs need it" in err


# ------------------------------------------------------------------------------------- load


def test_revenue_loads_and_reads_back(small_raw_copy, tmp_path, monkeypatch):
    (small_raw_copy / "revenue.csv").write_text(
        HEADER
        + "health,2023-24,Hospital receipts,1200,1100.5\n"
        + "health,2024-25,Hospital receipts,1300,\n"  # not closed: blank actual
        + "zakat-ushr,2024-25,Zakat,40,38\n",
        encoding="utf-8",
    )
    target = tmp_path / "wh.duckdb"
    assert ingest.run(small_raw_copy, target, log=lambda *a, **k: None) == 0
    assert _rows(target, "SELECT * FROM revenue ORDER BY ALL") == [
        ("health", "2023-24", "Hospital receipts", 1200.0, 1100.5),
        ("health", "2024-25", "Hospital receipts", 1300.0, None),
        ("zakat-ushr", "2024-25", "Zakat", 40.0, 38.0),
    ]
    info = dict(_rows(target, "SELECT key, value FROM load_info"))
    assert info["revenue.fiscal_years"] == "2023-24..2024-25"
    assert info["schema_version"] == ingest.SCHEMA_VERSION
    monkeypatch.setenv("KP_WAREHOUSE", str(target))
    assert len(wh.revenue()) == 3
    assert wh.revenue(department="zakat-ushr")["category"].tolist() == ["Zakat"]
    assert wh.revenue(department="local-government").empty  # provided, none collected


def test_without_the_revenue_file_nothing_changes_and_pi3_is_not_provided(
    small_raw_copy, tmp_path, monkeypatch
):
    (small_raw_copy / "revenue.csv").unlink(missing_ok=True)
    target = tmp_path / "wh.duckdb"
    assert ingest.run(small_raw_copy, target, log=lambda *a, **k: None) == 0
    assert _rows(target, "SELECT count(*) FROM revenue") == [(0,)]
    info = dict(_rows(target, "SELECT key, value FROM load_info"))
    assert "revenue.fiscal_years" not in info
    assert "budget" in info["inputs"].split(",")
    monkeypatch.setenv("KP_WAREHOUSE", str(target))
    assert wh.revenue() is None and wh.revenue(department="health") is None


# ----------------------------------------------------------------------------------- sample


def test_kp_sample_revenue_book_is_plausible():
    opts = sample.SampleOptions(seed=3, respondents=10)
    book = sample.revenue(load_registry(), opts)
    years = opts.fiscal_years  # 2022-23 .. 2025-26
    assert sorted(set(book["fiscal_year"])) == years
    # every line in every year once; the year in progress has no actual, closed years have
    assert not book.duplicated(["department", "fiscal_year", "category"]).any()
    assert book.loc[book["fiscal_year"] == years[-1], "actual"].isna().all()
    assert book.loc[book["fiscal_year"] != years[-1], "actual"].notna().all()
    assert set(book["department"]) <= set(load_registry().slugs)
    assert {"finance", "excise-taxation", "board-of-revenue"} <= set(book["department"])
    # federal transfers dominate a KP revenue book (well over half of the budgeted receipts)
    first = book.loc[book["fiscal_year"] == years[0]]
    share = first.loc[first["department"] == "finance", "budget_estimate"].sum()
    assert share / first["budget_estimate"].sum() > 0.6
    # a profile whose sample section has no revenue lines gives no rows
    with profile.use(profile.load("punjab")):
        assert sample.revenue(load_registry(), opts).empty


def test_the_small_sample_writes_a_revenue_file_that_loads(kp_small_raw, kp_small_warehouse):
    raw = pd.read_csv(kp_small_raw / "revenue.csv")
    assert set(raw["department"]) == {"health"}  # the only collecting one of the three
    assert _rows(kp_small_warehouse, "SELECT count(*) FROM revenue") == [(len(raw),)]


# ---------------------------------------------------------------------------------- mapping


def test_a_receipts_book_export_maps_onto_the_revenue_input(small_raw_copy, tmp_path):
    # A "Budget Estimates of Receipts" layout: one row per head, BE and actual per year in
    # columns, amounts in rupees, collecting departments by name.
    (small_raw_copy / "revenue.csv").unlink(missing_ok=True)
    (small_raw_copy / "receipts_book.csv").write_text(
        "Receipt head,Collected by,BE 2023-24,Actual 2023-24,BE 2024-25\n"
        "Hospital receipts,Health,1200000000,1100000000,1300000000\n",
        encoding="utf-8",
    )
    doc = {
        "source": {"file": "receipts_book.csv"},
        "produces": "revenue",
        "frequency": "annual",
        "columns": {"category": "Receipt head", "department": "Collected by"},
        "values": {"department": {"registry": "departments"}},
        "wide": [
            {
                "constants": {"fiscal_year": "2023-24"},
                "columns": {"budget_estimate": "BE 2023-24", "actual": "Actual 2023-24"},
            },
            {"constants": {"fiscal_year": "2024-25"}, "columns": {"budget_estimate": "BE 2024-25"}},
        ],
        "scale": {"budget_estimate": 1.0e-6, "actual": 1.0e-6},
    }
    folder = tmp_path / "profiles" / "kp"
    shutil.copytree(profile.profiles_dir() / "kp", folder)
    shutil.rmtree(folder / "mappings", ignore_errors=True)
    (folder / "mappings").mkdir()
    (folder / "mappings" / "receipts.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    prof = profile.parse(yaml.safe_load((folder / "profile.yaml").read_text()), folder, "kp")
    target = tmp_path / "wh.duckdb"
    with profile.use(prof):
        assert ingest.run(small_raw_copy, target, log=lambda *a, **k: None) == 0
    assert _rows(target, "SELECT * FROM revenue ORDER BY fiscal_year") == [
        ("health", "2023-24", "Hospital receipts", 1200.0, 1100.0),
        ("health", "2024-25", "Hospital receipts", 1300.0, None),
    ]


# ----------------------------------------------------------------------------------- report


def _book(department: str) -> pd.DataFrame:
    # Budget 60 + 40 every year; actuals (57, 40), (54, 30), (68, 46): outturns 97%, 84%,
    # 114% -> PI-3.1 C; variances 2.4 / 97 = 2.5%, 7.2 / 84 = 8.6%, 0.8 / 114 = 0.7% -> A.
    actual = {"2022-23": (57.0, 40.0), "2023-24": (54.0, 30.0), "2024-25": (68.0, 46.0)}
    return pd.DataFrame(
        [
            {
                "department": department,
                "fiscal_year": fy,
                "category": cat,
                "budget_estimate": be,
                "actual": a,
            }
            for fy, pair in actual.items()
            for cat, be, a in zip(
                ("Motor vehicle tax", "Property tax"), (60.0, 40.0), pair, strict=True
            )
        ]
    )


def _alloc_and_monthly(department: str):
    alloc = pd.DataFrame(
        [
            {
                "department": department,
                "fiscal_year": fy,
                "fund": "current",
                "object_class": "A01",
                "budget_estimate": 120.0,
                "revised_estimate": None,
                "revised_month": None,
            }
            for fy in ("2022-23", "2023-24", "2024-25", "2025-26")
        ]
    )
    months = pd.date_range("2022-07-01", "2025-09-01", freq="MS")
    monthly = pd.DataFrame(
        {
            "department": department,
            "fiscal_year": [fiscal_year(m) for m in months],
            "month": months,
            "fund": "current",
            "object_class": "A01",
            "release": 10.0,
            "expenditure": 10.0,
        }
    )
    return alloc, monthly


def _html(items) -> str:
    return " ".join(getattr(x, "plain", "") + " " + x.html for x in items)


@pytest.mark.parametrize("with_book", [True, False])
def test_budget_report_pefa_section_shows_the_pi3_line(with_book):
    alloc, monthly = _alloc_and_monthly("excise-taxation")
    report = budget.execution_report(
        alloc,
        monthly,
        "excise-taxation",
        "2025-09",
        revenue=_book("excise-taxation") if with_book else None,
    )
    # what the notebook's PEFA cell displays
    shown = _html([view.pefa_table(report.pefa), *view.pefa_notes(report.pefa)])
    if with_book:
        caption = "PEFA revenue outturn (receipts this department collects): PI-3.1 score C"
        assert caption + ", PI-3.2 score A" in shown
        for figure in ("97.0%", "84.0%", "114.0%", "2.5%", "8.6%", "0.7%"):
            assert figure in shown, figure
        assert "Largest over-realisation in 2024-25: Motor vehicle tax" in shown
    else:
        assert "PI-3 (revenue outturn) not assessed: revenue not provided" in shown
        assert "PEFA revenue outturn" not in shown
    # PI-1 is the same either way (revenue does not touch the expenditure scores)
    assert report.pefa.pi1 == "A"


def test_overview_pefa_part_shows_the_province_pi3(monkeypatch):
    from helpers.analysis.budget import PefaResult

    pefa = PefaResult(years=pd.DataFrame(), pi1=None, pi2=None, note="", pi2_dimension="PI-2.1")
    budget.with_revenue(pefa, pd.concat([_book("excise-taxation"), _book("finance")]), "2025-09")
    shown = _html(view.pefa_notes(pefa))
    # two departments with the same two categories: one book of 120 + 80 a year, same ratios
    assert "PEFA revenue outturn (provincial revenue): PI-3.1 score C, PI-3.2 score A" in shown
    assert "200.0" in shown and "168.0" in shown  # 2023-24: budget 200, actual 2 x 84
