"""Real public exports loaded through shipped mapping files alone (../shared/real-data/).

Each test skips with a reason when the folder is absent. Hand checks are computed from the
source file with plain openpyxl/csv sums, not with the mapping code.
"""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import duckdb
import pytest

from helpers import paths, profile
from helpers.data import ingest

REAL = paths.ROOT.parent / "shared" / "real-data"
if not REAL.is_dir():
    REAL = Path("/work/shared/real-data")


def _need(*parts: str) -> Path:
    p = REAL.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"real data not available: {p} (see ../shared/real-data/README.md)")
    return p


def _norm(v) -> str:
    return re.sub(r"[^0-9a-z]+", "", str(v).lower())


def _load(prof: str, raw: Path, wh: Path, capsys) -> tuple[int, str]:
    with profile.use(prof):
        code = ingest.run(raw, wh, log=lambda *a, **k: print(*a))
    cap = capsys.readouterr()
    return code, cap.out + cap.err


def _q(wh: Path, sql: str):
    con = duckdb.connect(str(wh), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _hand_totals(xlsx: Path, columns: list[str]) -> dict[tuple[str, str], float]:
    """{(normalised ministry, column): PKR} summed by hand as the mapping says: no
    consolidated-fund rows, no rows without an object name, exact repeats counted once."""
    import openpyxl

    wb = openpyxl.load_workbook(xlsx, read_only=True, data_only=True)
    rows = list(wb.worksheets[0].iter_rows(values_only=True))
    wb.close()
    head = {c: i for i, c in enumerate(rows[0])}
    seen, out = set(), {}
    for r in rows[1:]:
        if r[head["fund"]] == "Consolidated fund" or not str(r[head["ID6_name"]] or "").strip():
            continue
        if r in seen:
            continue
        seen.add(r)
        for c in columns:
            key = (_norm(r[head["ministry_name"]]), c)
            out[key] = out.get(key, 0.0) + float(r[head[c]] or 0)
    return out


def test_federal_budget_books(tmp_path, capsys):
    src = _need("pk_federal_budget")
    raw = tmp_path / "raw"
    raw.mkdir()
    for f in ("budget_2023_24.xlsx", "budget_2024_25.xlsx"):
        shutil.copy(src / f, raw / f)
    # the books alone: budget estimates without spending (no budget_monthly file needed)
    wh = tmp_path / "wh.duckdb"
    code, out = _load("federal", raw, wh, capsys)
    assert code == 0, out
    assert _q(wh, "SELECT count(*) FROM budget_monthly") == [(0,)]
    assert _q(wh, "SELECT value FROM load_info WHERE key = 'budget.frequency'") == [("annual",)]
    assert _q(wh, "SELECT DISTINCT fiscal_year FROM budget_allocations ORDER BY 1") == [
        ("2022-23",),
        ("2023-24",),
        ("2024-25",),
    ]
    hand = _hand_totals(
        src / "budget_2024_25.xlsx", ["budget_2023", "budget_2023_revised", "budget_2024"]
    )
    for slug, ministry in [
        ("defence", "MINISTRY OF DEFENCE"),
        ("railways", "MINISTRY OF RAILWAYS"),
        ("foreign-affairs", "MINISTRY OF FOREIGN AFFAIRS"),
        ("interior", "MINISTRY OF INTERIOR"),
    ]:
        got = dict(
            ((fy, "be"), be)
            for fy, be, _ in _q(
                wh,
                f"SELECT fiscal_year, sum(budget_estimate), sum(revised_estimate) FROM budget_allocations WHERE department = '{slug}' GROUP BY 1",
            )
        ) | dict(
            ((fy, "re"), re_)
            for fy, _, re_ in _q(
                wh,
                f"SELECT fiscal_year, sum(budget_estimate), sum(revised_estimate) FROM budget_allocations WHERE department = '{slug}' GROUP BY 1",
            )
        )
        m = _norm(ministry)
        assert got[("2024-25", "be")] == pytest.approx(hand[(m, "budget_2024")] / 1e6, rel=1e-9)
        assert got[("2023-24", "be")] == pytest.approx(hand[(m, "budget_2023")] / 1e6, rel=1e-9)
        assert got[("2023-24", "re")] == pytest.approx(
            hand[(m, "budget_2023_revised")] / 1e6, rel=1e-9
        )
    # by hand: Ministry of Defence budget estimate 2024-25 = PKR 2,148,140.911 million
    assert hand[(_norm("MINISTRY OF DEFENCE"), "budget_2024")] / 1e6 == pytest.approx(2148140.911)
    info = dict(_q(wh, "SELECT key, value FROM load_info"))
    assert info["budget.frequency"] == "annual"
    assert info["frequency.budget_allocations"] == "annual"
    # duplicate rows: dropped and listed as data notes, citing the source row
    notes = _q(wh, "SELECT file, row, rule, value FROM data_notes WHERE rule LIKE 'exact repeat%'")
    assert notes and all(r[1] is not None for r in notes)
    assert any(
        r[0].endswith("budget_2024_25.xlsx") and r[1] == 2997 and r[3] == "row 2384" for r in notes
    )


def test_boost_pakistan_approved_and_executed(tmp_path, capsys):
    src = _need("boost", "boost_budget_execution_pakistan.csv")
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy(src, raw / src.name)
    wh = tmp_path / "wh.duckdb"
    code, out = _load("federal", raw, wh, capsys)
    assert code == 0, out
    info = dict(_q(wh, "SELECT key, value FROM load_info"))
    assert info["budget.frequency"] == "annual"
    # by hand from the CSV: education wages 2016 (fiscal year 2015-16), approved and executed
    with open(src, newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh)]
    row = next(
        r
        for r in rows
        if r["year"] == "2016.0" and r["budget_line"] == "Spending in wages in education"
    )
    be = _q(
        wh,
        "SELECT budget_estimate FROM budget_allocations WHERE department = 'federal-education' AND fiscal_year = '2015-16' AND object_class = 'A01'",
    )
    ex = _q(
        wh,
        "SELECT month, expenditure FROM budget_monthly WHERE department = 'federal-education' AND object_class = 'A01' AND fiscal_year = '2015-16'",
    )
    assert be[0][0] == pytest.approx(float(row["approved_value"]) / 1e6)
    assert str(ex[0][0]) == "2016-06-01"
    assert ex[0][1] == pytest.approx(float(row["executed_value"]) / 1e6)
    assert _q(wh, "SELECT count(*) FROM budget_allocations") == [(121,)]  # 11 lines x 11 years


ENROLMENT = "Net school enrollment, primary school, 6-10 years old (% net)"
UNMATCHED = {"Chitral", "Kohistan"}  # split since 2018: no single P-code (listed as notes)


def _enrolment_target(tmp_path: Path, capsys, unit: str, extra: dict[str, str] | None = None):
    """The Data4Pakistan file with one KP enrolment target loaded into a warehouse; returns
    (warehouse, the raw file's KP rows with the indicator)."""
    src = _need("pak_district_indicators", "pakistan_indicators.csv")
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy(src, raw / src.name)
    extra = extra or {}
    head = "".join(f",{k}" for k in extra)
    vals = "".join(f",{v}" for v in extra.values())
    (raw / "targets.csv").write_text(
        "target_id,department,title,unit,direction,baseline,baseline_month,target_value,"
        f"target_month,owner,has_districts{head}\n"
        "kp-net-primary-enrolment,elementary-secondary-education,Net primary enrolment,"
        f"{unit},up,50,2004-06,80,2024-06,Secretary E&SE,yes{vals}\n"
    )
    (raw / "target_trajectory.csv").write_text(
        "target_id,month,planned\nkp-net-primary-enrolment,2014-06,60\n"
        "kp-net-primary-enrolment,2024-06,80\n"
    )
    wh = tmp_path / "wh.duckdb"
    code, out = _load("kp", raw, wh, capsys)
    assert code == 0, out
    with open(src, newline="", encoding="latin-1") as fh:
        kp = [
            r for r in csv.DictReader(fh) if r["Province"] == "Khyber Pakhtunkhwa" and r[ENROLMENT]
        ]
    return wh, kp


def test_kp_district_indicators_as_target_actuals(tmp_path, capsys):
    wh, kp = _enrolment_target(tmp_path, capsys, "% of children 6-10")
    col = ENROLMENT
    expected = [r for r in kp if r["District"] not in UNMATCHED]
    assert _q(wh, "SELECT count(*) FROM target_actuals") == [(len(expected),)]
    # by hand: Dera Ismail Khan (renamed D. I. Khan, PK509, through the explicit map) in 2014
    row = next(r for r in kp if r["District"] == "Dera Ismail Khan" and r["Year"] == "2014")
    got = _q(
        wh,
        "SELECT actual FROM target_actuals WHERE district_pcode = 'PK509' AND month = DATE '2014-06-01'",
    )
    assert got[0][0] == pytest.approx(float(row[col]))
    notes = {r[0] for r in _q(wh, "SELECT value FROM data_notes")}
    assert any("Chitral" in n for n in notes) and any("Kohistan" in n for n in notes)


def test_kp_district_indicators_publish_a_stocktake_report(tmp_path, capsys):
    """The Data4Pakistan districts as an annual target whose department-wide value is the
    unweighted mean of the districts (targets.district_rollup): the published stocktake
    report's latest actual (2014, the file's last year with the indicator; reported in June
    2019, inside KP's registry) is that mean, computed here from the raw file."""
    from bs4 import BeautifulSoup

    from helpers.engine import run as engine_run

    wh, kp = _enrolment_target(
        tmp_path, capsys, "%", {"frequency": "annual", "district_rollup": "mean"}
    )
    rows = [r for r in kp if r["Year"] == "2014" and r["District"] not in UNMATCHED]
    mean = sum(float(r[ENROLMENT]) for r in rows) / len(rows)
    with profile.use("kp"):
        code = engine_run.cli(
            ["--month", "2019-06", "--warehouse", str(wh), "--outputs", str(tmp_path / "out"),
             "--jobs", "1"]
        )  # fmt: skip
    assert code == 0
    html = tmp_path / "out" / "2019-06" / "elementary-secondary-education" / "stocktake.html"
    text = BeautifulSoup(html.read_text(encoding="utf-8"), "html.parser").get_text(" ")
    assert "no data" not in text.split("Key messages")[1].split("Data notes")[0].lower()
    assert f"{mean:.1f}%" in text, (mean, len(rows))
    assert "the unweighted mean of the districts reporting in it" in text
