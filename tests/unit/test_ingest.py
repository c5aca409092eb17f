"""Ingestion: builds every table from the small sample, refuses bad input cleanly and atomically."""

from __future__ import annotations

import hashlib
import shutil

import duckdb
import numpy as np
import openpyxl
import pandas as pd
import pyreadstat
import pytest

from helpers.data import ingest, sample, schemas, validate
from helpers.data.registry import load_registry

TABLES = [
    "departments",
    "districts",
    "entities",
    "survey_services",
    "budget_allocations",
    "budget_monthly",
    "targets",
    "target_trajectory",
    "target_actuals",
    "milestones",
    "ratings",
    "actions",
    "survey_respondents",
    "survey_ratings",
    "pse_returns",
    "load_info",
    "source_files",
]


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _count(wh, sql):
    con = duckdb.connect(str(wh), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


# ------------------------------------------------------------------------------- good input


def test_builds_all_tables_with_sane_counts(kp_small_warehouse, kp_small_raw):
    wh = kp_small_warehouse
    names = {r[0] for r in _count(wh, "SELECT table_name FROM information_schema.tables")}
    assert set(TABLES) <= names
    assert _count(wh, "SELECT count(DISTINCT slug) FROM departments") == [(33,)]
    assert _count(wh, "SELECT count(*) FROM districts") == [(35,)]
    assert _count(wh, "SELECT count(DISTINCT department) FROM budget_monthly") == [(3,)]
    raw = pd.read_csv(kp_small_raw / "budget_monthly.csv")
    assert _count(wh, "SELECT count(*) FROM budget_monthly") == [(len(raw),)]
    # the two survey waves, respondents as in the raw files, 9 (don't know) loaded as NULL
    for wave in ("2024-12", "2025-06"):
        df, _ = pyreadstat.read_sav(str(kp_small_raw / f"survey_{wave}.sav"))
        got = _count(
            wh,
            f"SELECT count(*), count(*) - count(overall_satisfaction) FROM "
            f"survey_respondents WHERE wave = DATE '{wave}-01'",
        )
        expected_null = int(
            (df["overall_satisfaction"] == 9).sum() + df["overall_satisfaction"].isna().sum()
        )
        assert got == [(len(df), expected_null)]
        used = int(sum(df[f"used_{s}"].sum() for s in sample.SERVICE_USE))
        assert _count(wh, f"SELECT count(*) FROM survey_ratings WHERE wave = DATE '{wave}-01'") == [
            (used,)
        ]
    assert _count(wh, "SELECT max(overall_satisfaction) FROM survey_respondents") == [(5,)]
    info = dict(_count(wh, "SELECT key, value FROM load_info"))
    assert info["data_as_of"] == "2025-06-01" and info["first_month"] == "2024-07-01"
    assert _count(wh, "SELECT count(*) FROM source_files WHERE file LIKE 'survey_%'") == [(2,)]


def test_second_run_is_noop_and_rebuild_gives_identical_data(kp_small_raw, tmp_path, capsys):
    wh = tmp_path / "wh.duckdb"
    assert ingest.cli(["--data-dir", str(kp_small_raw), "--warehouse", str(wh)]) == 0
    before = _sha(wh)
    assert ingest.cli(["--data-dir", str(kp_small_raw), "--warehouse", str(wh)]) == 0
    assert "up to date" in capsys.readouterr().out
    assert _sha(wh) == before
    wh2 = tmp_path / "wh2.duckdb"
    assert ingest.cli(["--data-dir", str(kp_small_raw), "--warehouse", str(wh2), "--force"]) == 0
    for t in TABLES:
        if t == "load_info":
            continue
        q = f'SELECT * FROM "{t}" ORDER BY ALL'
        assert _count(wh, q) == _count(wh2, q), t


def test_data_dir_env_points_elsewhere(small_raw_copy, tmp_path, monkeypatch):
    other = tmp_path / "elsewhere"
    small_raw_copy.rename(other)
    monkeypatch.setenv("DATA_DIR", str(other))
    wh = tmp_path / "wh.duckdb"
    assert ingest.cli(["--warehouse", str(wh)]) == 0
    files = {r[0] for r in _count(wh, "SELECT file FROM source_files")}
    assert "budget_monthly.csv" in files


def test_default_empty_dir_generates_sample(tmp_path, monkeypatch):
    empty = tmp_path / "raw"
    empty.mkdir()
    monkeypatch.delenv("DATA_DIR", raising=False)
    monkeypatch.setattr(ingest, "default_data_dir", lambda: empty)
    original = sample.write_sample
    monkeypatch.setattr(
        sample, "write_sample", lambda out: original(out, sample.SampleOptions.small())
    )
    assert ingest.cli(["--warehouse", str(tmp_path / "wh.duckdb")]) == 0
    assert (empty / "budget_monthly.csv").is_file()


def test_utf8_bom_is_accepted(small_raw_copy, tmp_path):
    p = small_raw_copy / "targets.csv"
    p.write_bytes(b"\xef\xbb\xbf" + p.read_bytes())
    assert (
        ingest.cli(["--data-dir", str(small_raw_copy), "--warehouse", str(tmp_path / "w.duckdb")])
        == 0
    )


# -------------------------------------------------------------------------------- bad input


def _edit_csv(d, name, fn):
    p = d / name
    df = pd.read_csv(p, dtype=str, keep_default_na=False)
    df = fn(df)
    df.to_csv(p, index=False)


def _set(name, row, col, value):
    """Edit one cell; ``row`` is the file row (header = row 1)."""

    def edit(d):
        def fn(df):
            df.loc[row - 2, col] = value
            return df

        _edit_csv(d, name, fn)

    return edit


def _sav_set(case, col, value):
    def edit(d):
        p = d / "survey_2024-12.sav"
        df, _ = pyreadstat.read_sav(str(p))
        df.loc[case - 1, col] = value
        pyreadstat.write_sav(df, str(p))

    return edit


def _drop_column(d):
    _edit_csv(d, "budget_monthly.csv", lambda df: df.drop(columns=["expenditure"]))


def _latin1(d):
    p = d / "targets.csv"
    lines = p.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace(",", ",Caf\u00e9 ", 1)  # file row 4
    p.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))


def _duplicate(d):
    _edit_csv(d, "budget_monthly.csv", lambda df: pd.concat([df, df.iloc[[4]]], ignore_index=True))


def _truncate_xlsx(d):
    p = d / "pse_returns.xlsx"
    p.write_bytes(p.read_bytes()[:3000])


def _xlsx_entity(d):
    p = d / "pse_returns.xlsx"
    wb = openpyxl.load_workbook(p)
    wb.worksheets[0]["A3"] = "PSE-999"
    wb.save(p)


def _header_only(d):
    p = d / "ratings.csv"
    p.write_text(p.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")


CASES = {
    "missing column": (_drop_column, "budget_monthly.csv: missing column 'expenditure'"),
    "wrong type": (
        _set("budget_monthly.csv", 2, "expenditure", "abc"),
        "budget_monthly.csv row 2, column expenditure: not a number ('abc')",
    ),
    "thousands separator": (
        _set("budget_monthly.csv", 3, "release", "1,234.5"),
        "budget_monthly.csv row 3, column release: thousands separator",
    ),
    "latin-1": (_latin1, "targets.csv row 4: not UTF-8"),
    "empty file": (lambda d: (d / "actions.csv").write_bytes(b""), "actions.csv: file is empty"),
    "duplicate key": (
        _duplicate,
        "column object_class: duplicate key (department, month, fund, object_class)",
    ),
    "unknown department": (
        _set("budget_allocations.csv", 2, "department", "ministry-of-magic"),
        "budget_allocations.csv row 2, column department: unknown department (not in the registry) ('ministry-of-magic')",
    ),
    "negative amount": (
        _set("budget_monthly.csv", 5, "expenditure", "-12.5"),
        "budget_monthly.csv row 5, column expenditure: negative amount without reversal flag (-12.5)",
    ),
    "month out of range": (
        _set("budget_monthly.csv", 6, "month", "2031-01"),
        "budget_monthly.csv row 6, column month: month out of range",
    ),
    "year zero": (
        _set("budget_monthly.csv", 4, "month", "0000-01"),
        "budget_monthly.csv row 4, column month: month out of range",
    ),
    "not a month": (
        _set("target_actuals.csv", 2, "month", "2024-13"),
        "target_actuals.csv row 2, column month: not a month (YYYY-MM) ('2024-13')",
    ),
    "unknown district": (
        _set("target_actuals.csv", 3, "district_pcode", "PK999"),
        "target_actuals.csv row 3, column district_pcode: unknown district",
    ),
    "unknown target": (
        _set("milestones.csv", 2, "target_id", "health-t99"),
        "milestones.csv row 2, column target_id: unknown target_id (not in targets)",
    ),
    "unknown rating": (
        _set("ratings.csv", 2, "rating", "Blue"),
        "ratings.csv row 2, column rating: unknown rating",
    ),
    "likert 7": (
        _sav_set(3, "overall_satisfaction", 7.0),
        "survey_2024-12.sav case 3, column overall_satisfaction: Likert code not in 1-5 or 9 (don't know) (7)",
    ),
    "missing weight": (
        _sav_set(4, "weight", np.nan),
        "survey_2024-12.sav case 4, column weight: missing value",
    ),
    "negative weight": (
        _sav_set(5, "weight", -1.0),
        "survey_2024-12.sav case 5, column weight: weight not positive",
    ),
    "truncated xlsx": (
        _truncate_xlsx,
        "pse_returns.xlsx: cannot read the Excel workbook (truncated or corrupt?",
    ),
    "unknown entity (xlsx)": (
        _xlsx_entity,
        "pse_returns.xlsx row 3, column entity_id: unknown entity",
    ),
    "release blank on one row": (
        _set("budget_monthly.csv", 3, "release", ""),
        "budget_monthly.csv row 3, column release: blank while other rows of the file give "
        "releases",
    ),
    "missing file": (
        lambda d: (d / "targets.csv").unlink(),
        "targets.csv: missing input file (the stocktake inputs need it",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_rejected_and_warehouse_unchanged(
    case, small_raw_copy, kp_small_warehouse, tmp_path, capsys
):
    edit, expected = CASES[case]
    wh = tmp_path / "warehouse.duckdb"
    shutil.copy(kp_small_warehouse, wh)
    before = _sha(wh)
    edit(small_raw_copy)
    code = ingest.cli(["--data-dir", str(small_raw_copy), "--warehouse", str(wh)])
    err = capsys.readouterr().err
    assert code == 1
    assert expected in err, err
    assert "Traceback" not in err
    assert _sha(wh) == before
    assert not list(tmp_path.glob(".warehouse.duckdb.*"))  # no temp file left behind


def test_rejected_rows_written_with_reason(small_raw_copy, tmp_path, capsys):
    _set("budget_monthly.csv", 5, "expenditure", "-12.5")(small_raw_copy)
    wh = tmp_path / "wh.duckdb"
    assert ingest.cli(["--data-dir", str(small_raw_copy), "--warehouse", str(wh)]) == 1
    capsys.readouterr()
    assert not wh.exists()
    rej = pd.read_csv(tmp_path / "rejected" / "budget_monthly.csv")
    assert rej["row"].tolist() == [5]
    assert rej["reason"].tolist() == ["expenditure: negative amount without reversal flag"]


# ----------------------------------------------------------------- schemas on tiny frames


def _check(stem, rows, ctx=None):
    spec = schemas.SPECS[stem]
    frame = pd.DataFrame(rows, columns=spec.columns, index=range(2, 2 + len(rows)))
    probs = schemas.failures(schemas.format_schema(spec), frame, spec.key)
    typed = schemas.parse_frame(spec, frame.loc[~frame.index.isin({p.index for p in probs})])
    ctx = ctx or schemas.Context(
        departments=frozenset({"health"}), fiscal_years=frozenset({"2024-25"})
    )
    probs += schemas.failures(schemas.content_schema(spec, ctx), typed, spec.key)
    return typed, [(p.index, p.column, p.rule) for p in probs]


def test_reversal_flag_allows_negative_amount():
    rows = [
        ["health", "2024-07", "current", "A03", "10", "-2.5", "1"],
        ["health", "2024-08", "current", "A03", "10", "-2.5", "0"],
        ["health", "2024-09", "current", "A03", "10", "4", None],
    ]
    typed, probs = _check("budget_monthly", rows)
    assert probs == [(3, "expenditure", "negative amount without reversal flag")]
    assert typed.loc[2, "expenditure"] == -2.5 and typed.loc[4, "expenditure"] == 4.0


def test_plain_numbers_parse_and_separators_are_rejected():
    rows = [
        ["health", "2024-07", "current", "A01", "1234.5", "1e3", "no"],
        ["health", "2024-08", "current", "A01", "1,234.5", "7", "no"],
    ]
    typed, probs = _check("budget_monthly", rows)
    assert typed.loc[2, "release"] == 1234.5 and typed.loc[2, "expenditure"] == 1000.0
    assert probs == [
        (3, "release", "thousands separator in number (export plain numbers, e.g. 1234.5)")
    ]


def test_releases_blank_on_every_row_are_a_source_without_releases():
    rows = [
        ["health", "2024-07", "current", "A01", None, "10", "0"],
        ["health", "2024-08", "current", "A01", None, "12", "0"],
    ]
    typed, probs = _check("budget_monthly", rows)
    assert probs == []
    assert typed["release"].isna().all() and typed["expenditure"].tolist() == [10.0, 12.0]


def test_releases_blank_on_some_rows_only_are_refused_row_by_row():
    # a blank among given releases is a gap in the file, not "no releases": never read as 0
    rows = [
        ["health", "2024-07", "current", "A01", "5", "10", "0"],
        ["health", "2024-08", "current", "A01", None, "12", "0"],
        ["health", "2024-09", "current", "A01", "6", "11", "0"],
        ["health", "2024-10", "current", "A01", None, "9", "0"],
    ]
    _, probs = _check("budget_monthly", rows)
    rule = "blank while other rows of the file give releases (give every row's, or none)"
    assert probs == [(3, "release", rule), (5, "release", rule)]


def test_month_outside_fiscal_years_of_allocations():
    rows = [["health", "2025-07", "current", "A01", "1", "1", "0"]]
    _, probs = _check("budget_monthly", rows)
    assert (2, "month", "month out of range (2024-07..2025-06, the data's fiscal years)") in probs


def test_survey_dont_know_becomes_null():
    services = ("bhu",)
    spec = schemas.survey_spec(services)
    row = [1, "PK528", "p1", 2.0, 100.0, "female", "18-29", "urban", 9, 1, 4, 9, 3, 2, 5, 1]
    frame = pd.DataFrame([row], columns=spec.columns, index=[1])
    typed = schemas.parse_frame(spec, frame)
    resp, rat = validate._survey_tables(pd.Timestamp("2024-12-01"), typed, list(services))
    assert resp["overall_satisfaction"].isna().all()
    assert rat.iloc[0][["satisfaction", "staff_behaviour", "waiting_time"]].tolist() == [
        4,
        pd.NA,
        3,
    ]


def test_registry_loaded_once_for_context():
    ctx = validate._ctx(load_registry())
    assert "health" in ctx.departments and "PK528" in ctx.districts


# -------------------------------------------------------------- families stand alone (profiles)


def _connect(wh):
    import duckdb

    return duckdb.connect(str(wh), read_only=True)


def test_header_only_optional_file_loads_as_no_rows(small_raw_copy, tmp_path):
    """A header-only ratings file is a delivery unit that has not rated yet: zero ratings."""
    _header_only(small_raw_copy)
    wh = tmp_path / "wh.duckdb"
    assert ingest.run(small_raw_copy, wh, log=lambda *a, **k: None) == 0
    con = _connect(wh)
    assert con.execute("SELECT count(*) FROM ratings").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM targets").fetchone()[0] > 0


def test_budget_monthly_without_a_release_column_loads_releases_as_unknown(
    small_raw_copy, tmp_path
):
    """A finance department whose system keeps no releases leaves the column out: the rows
    load with releases blank (unknown, never zero) and every report shows none."""
    _edit_csv(small_raw_copy, "budget_monthly.csv", lambda df: df.drop(columns=["release"]))
    wh = tmp_path / "wh.duckdb"
    assert ingest.run(small_raw_copy, wh, log=lambda *a, **k: None) == 0
    con = _connect(wh)
    n, given, spent = con.execute(
        "SELECT count(*), count(release), sum(expenditure) FROM budget_monthly"
    ).fetchone()
    raw = pd.read_csv(small_raw_copy / "budget_monthly.csv")
    assert (n, given) == (len(raw), 0) and spent == pytest.approx(raw["expenditure"].sum())


def test_budget_files_alone_load_and_other_families_are_not_provided(small_raw_copy, tmp_path):
    """A government that hands over only its budget files: no other family's file is required,
    and the warehouse records which input groups it holds and their own months."""
    for p in small_raw_copy.iterdir():
        if not p.name.startswith("budget_"):
            p.unlink()
    wh = tmp_path / "wh.duckdb"
    lines = []
    assert (
        ingest.run(small_raw_copy, wh, log=lambda *a, **k: lines.append(" ".join(map(str, a)))) == 0
    )
    con = _connect(wh)
    info = dict(con.execute("SELECT key, value FROM load_info").fetchall())
    months = con.execute("SELECT min(month), max(month) FROM budget_monthly").fetchone()
    assert info["inputs"] == "budget"
    assert info["months.budget"] == f"{months[0]:%Y-%m-%d}..{months[1]:%Y-%m-%d}"
    assert info["profile"] == "kp"
    for table in ("targets", "pse_returns", "survey_respondents", "ratings"):
        assert con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0
    assert any("not provided: stocktake, pse, contracts, survey" in line for line in lines)


def test_stocktake_alone_takes_its_months_from_its_own_data(small_raw_copy, tmp_path):
    """Without budget files, the stocktake's months are not checked against a budget year."""
    for p in small_raw_copy.iterdir():
        if p.stem not in {"targets", "target_trajectory", "target_actuals"}:
            p.unlink()
    wh = tmp_path / "wh.duckdb"
    assert ingest.run(small_raw_copy, wh, log=lambda *a, **k: None) == 0
    info = dict(_connect(wh).execute("SELECT key, value FROM load_info").fetchall())
    assert info["inputs"] == "stocktake"
    assert info["data_as_of"] == info["months.stocktake"].split("..")[1]


def test_a_folder_without_any_input_is_refused(tmp_path, capsys):
    empty = tmp_path / "in"
    empty.mkdir()
    (empty / "notes.txt").write_text("nothing here")
    assert ingest.cli(["--data-dir", str(empty), "--warehouse", str(tmp_path / "w.duckdb")]) == 1
    assert "no input data" in capsys.readouterr().err


def test_unknown_profile_exits_2_listing_the_known_ones(tmp_path, capsys):
    code = ingest.cli(["--profile", "atlantis", "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1
    assert "unknown profile 'atlantis'" in err and "kp" in err


def test_make_data_and_a_report_run_never_overlap(small_raw_copy, tmp_path, capsys):
    """A load under a run's shared lock is refused (exit 3) and leaves the warehouse as it was;
    a run while a load holds the lock is refused before it plans anything."""
    from helpers.data import warehouse_lock
    from helpers.engine import run as engine_run

    wh = tmp_path / "wh.duckdb"
    assert ingest.run(small_raw_copy, wh, log=lambda *a, **k: None) == 0
    before = wh.stat().st_mtime_ns
    lines = []
    with warehouse_lock.hold(wh, shared=True):  # a report run is reading it
        code = ingest.run(small_raw_copy, wh, force=True, log=lambda *a, **k: lines.append(a))
    assert code == 3 and wh.stat().st_mtime_ns == before
    assert "busy: a report run or another `make data` is using it" in str(lines)
    capsys.readouterr()
    with warehouse_lock.hold(wh, shared=False):  # make data is rebuilding it
        code = engine_run.cli(["--month", "2024-09", "--warehouse", str(wh), "--outputs",
                               str(tmp_path / "out")])  # fmt: skip
    assert code == 3
    assert "busy: `make data` is rebuilding it" in capsys.readouterr().err
    assert not (tmp_path / "out" / "2024-09").exists()


def test_unchanged_inputs_are_up_to_date_from_any_working_directory(
    small_raw_copy, tmp_path, monkeypatch
):
    wh = tmp_path / "wh.duckdb"
    assert ingest.run(small_raw_copy, wh, log=lambda *a, **k: None) == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    lines = []
    assert (
        ingest.run(small_raw_copy, wh, log=lambda *a, **k: lines.append(" ".join(map(str, a)))) == 0
    )
    assert any("is up to date" in line for line in lines), lines
