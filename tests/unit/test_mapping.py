"""Mapping files (helpers.data.mapping) and the one-pass messages of ingest."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
import yaml

from helpers import profile
from helpers.data import ingest, mapping, schemas
from helpers.data.registry import load_registry


def _src(rows, columns, first_row=2):
    df = pd.DataFrame(rows, columns=columns, dtype=object)
    df.index = pd.RangeIndex(first_row, first_row + len(df))
    return df


def _map(doc, tmp_path, name="m.yaml"):
    return mapping.parse(doc, tmp_path / name, schemas.SPECS)


def test_normalise_and_closest():
    assert mapping.normalise("MINISTRY  OF  DEFENCE") == mapping.normalise("Ministry of Defence")
    assert mapping.closest("Ministry of Defense", ["Ministry of Defence", "Finance"]) == [
        "Ministry of Defence"
    ]


def test_wide_to_long_keeps_source_row_and_column(tmp_path):
    m = _map(
        {
            "source": {"file": "b.csv"},
            "produces": "budget_monthly",
            "columns": {"department": "dept", "fund": "fund", "object_class": "obj"},
            "wide": [
                {
                    "constants": {"month": "2024-09"},
                    "columns": {"expenditure": "q1", "release": "q1"},
                },
                {
                    "constants": {"month": "2024-12"},
                    "columns": {"expenditure": "q2", "release": "q2"},
                },
            ],
            "scale": {"expenditure": 0.001, "release": 0.001},
        },
        tmp_path,
    )
    src = _src(
        [["health", "current", "A01", "1000", "abc"]], ["dept", "fund", "obj", "q1", "q2"], 5
    )
    out = mapping.apply(m, src, "b.csv", schemas.SPECS["budget_monthly"])
    assert out.frame["expenditure"].tolist() == ["1.0", "abc"]  # bad cell left as given
    assert out.locate(1, "expenditure") == ("b.csv", "row 5", "q2")
    assert out.locate(0, "month")[2].startswith("month (constant in m.yaml)")


def test_value_maps_ignore_case_and_spacing_and_registry_names(tmp_path):
    m = _map(
        {
            "source": "b.csv",
            "produces": "budget_allocations",
            "columns": {
                "department": ["division", "ministry"],
                "fund": "fund",
                "object_class": "obj",
                "budget_estimate": "be",
            },
            "constants": {"fiscal_year": "2024-25"},
            "values": {
                "department": {
                    "registry": "departments",
                    "map": {"Power Division": "energy-power"},
                },
                "object_class": {
                    "registry": "object_classes",
                    "map": {"EMPLOYEES RELATED EXPENSES": "A01"},
                },
            },
        },
        tmp_path,
    )
    reg = load_registry()
    lookup = mapping.registry_lookup(reg, profile.active().chart)
    name = reg.departments["name"].iloc[0]
    src = _src(
        [
            ["POWER  DIVISION", "x", "current", "employees related expenses", "1"],
            [None, name.upper(), "current", "Operating expenses", "2"],
            ["?", "Ministry of Magic", "current", "A03", "3"],
        ],
        ["division", "ministry", "fund", "obj", "be"],
    )
    out = mapping.apply(m, src, "b.csv", schemas.SPECS["budget_allocations"], lookup)
    assert out.frame["department"].tolist()[:2] == ["energy-power", reg.departments["slug"].iloc[0]]
    assert out.frame["department"].iloc[2] == "?"  # unmatched: left for the validator to name
    assert out.frame["object_class"].tolist() == ["A01", "A03", "A03"]


def test_filters_duplicates_aggregate_and_fill(tmp_path):
    m = _map(
        {
            "source": "b.csv",
            "produces": "budget_allocations",
            "filters": [{"drop": {"column": "fund", "in": ["consolidated  FUND"]}}],
            "drop_duplicate_rows": True,
            "aggregate": "sum",
            "columns": {
                "department": "d",
                "fund": "fund",
                "object_class": "o",
                "budget_estimate": "be",
            },
            "constants": {"fiscal_year": "2024-25"},
            "fill_blank": {"budget_estimate": 0},
        },
        tmp_path,
    )
    src = _src(
        [
            ["health", "current", "A01", "1", "x"],
            ["health", "current", "A01", "1", "x"],  # exact repeat: dropped
            ["health", "current", "A01", "2", "y"],  # same key: summed
            ["health", "Consolidated fund", "A01", "9", "z"],
            ["health", "current", "A03", None, "w"],
        ],
        ["d", "fund", "o", "be", "line"],
    )
    out = mapping.apply(m, src, "b.csv", schemas.SPECS["budget_allocations"])
    assert out.frame["budget_estimate"].tolist() == ["3.0", "0"]
    assert out.rows[0] == [2, 4]
    assert out.locate(0, "budget_estimate")[1].startswith("rows 2, 4 (summed")
    assert [n.rule for n in out.notes] == ["exact repeat of an earlier row: dropped"]
    assert out.filtered == 1


def test_cumulative_to_flows_per_fiscal_year(tmp_path):
    m = _map(
        {
            "source": "b.csv",
            "produces": "budget_monthly",
            "frequency": "quarterly",
            "cumulative": True,
            "columns": {
                "department": "d",
                "fund": "f",
                "object_class": "o",
                "month": "m",
                "release": "r",
                "expenditure": "e",
            },
        },
        tmp_path,
    )
    src = _src(
        [
            ["health", "current", "A01", "2024-09", "10", "5"],
            ["health", "current", "A01", "2024-12", "25", "12"],
            ["health", "current", "A01", "2025-03", "30", "20"],
            ["health", "current", "A01", "2025-09", "7", "4"],  # a new fiscal year starts again
        ],
        ["d", "f", "o", "m", "r", "e"],
    )
    out = mapping.apply(m, src, "b.csv", schemas.SPECS["budget_monthly"])
    assert [float(v) for v in out.frame["expenditure"]] == [5, 7, 8, 4]
    assert [float(v) for v in out.frame["release"]] == [10, 15, 5, 7]


def test_derive_fiscal_year_and_last_month(tmp_path):
    m = _map(
        {
            "source": "b.csv",
            "produces": "budget_monthly",
            "frequency": "annual",
            "columns": {
                "department": "d",
                "fund": "f",
                "object_class": "o",
                "release": "x",
                "expenditure": "x",
            },
            "derive": {"month": {"from": "year", "as": "last_month", "year_is": "end"}},
        },
        tmp_path,
    )
    src = _src([["health", "current", "A01", "2016.0", "1"]], ["d", "f", "o", "year", "x"])
    out = mapping.apply(m, src, "b.csv", schemas.SPECS["budget_monthly"])
    assert out.frame["month"].tolist() == ["2016-06"]


@pytest.mark.parametrize(
    "doc, field",
    [
        ({"source": "a.csv", "produces": "budget_allocations", "colums": {}}, "'colums'"),
        ({"source": "a.csv", "produces": "budget_alocations"}, "'produces'"),
        ({"source": "a.csv", "produces": "targets", "columns": {"nope": "x"}}, "'columns.nope'"),
        ({"source": "a.csv", "produces": "targets", "frequency": "weekly"}, "'frequency'"),
    ],
)
def test_bad_mapping_names_file_and_field(doc, field, tmp_path):
    with pytest.raises(mapping.MappingError, match=field) as exc:
        _map(doc, tmp_path, "bad.yaml")
    assert "bad.yaml" in str(exc.value)


def _kp_mapping_dir(tmp_path, monkeypatch, doc):
    """A copy of the kp profile with one mapping file, active for the test."""
    folder = tmp_path / "profiles" / "kp"
    shutil.copytree(profile.profiles_dir() / "kp", folder)
    shutil.rmtree(folder / "mappings", ignore_errors=True)
    (folder / "mappings").mkdir()
    (folder / "mappings" / "m.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    prof = profile.parse(yaml.safe_load((folder / "profile.yaml").read_text()), folder, "kp")
    return prof


def test_source_lacking_a_mapped_column_exits_2(small_raw_copy, tmp_path, monkeypatch, capsys):
    doc = {
        "source": "src.csv",
        "produces": "budget_allocations",
        "columns": {
            "department": "Dept",
            "fund": "fund",
            "object_class": "obj",
            "budget_estimate": "be",
        },
        "constants": {"fiscal_year": "2024-25"},
    }
    (small_raw_copy / "src.csv").write_text("Dept,fund,obj\nhealth,current,A01\n")
    prof = _kp_mapping_dir(tmp_path, monkeypatch, doc)
    with profile.use(prof):
        code = ingest.run(small_raw_copy, tmp_path / "wh.duckdb", log=lambda *a, **k: print(*a))
    out = capsys.readouterr().out
    assert code == 2
    assert "m.yaml" in out and "'be'" in out


def test_mapped_errors_cite_source_row_and_column(small_raw_copy, tmp_path, monkeypatch, capsys):
    alloc = pd.read_csv(small_raw_copy / "budget_allocations.csv", dtype=str)
    wide = alloc.rename(columns={"department": "Dept", "budget_estimate": "BE"})
    wide.loc[3, "Dept"] = "Helth"
    wide.to_csv(small_raw_copy / "export.csv", index=False)
    doc = {
        "source": "export.csv",
        "produces": "budget_allocations",
        "columns": {
            "department": "Dept",
            "fiscal_year": "fiscal_year",
            "fund": "fund",
            "object_class": "object_class",
            "budget_estimate": "BE",
            "revised_estimate": "revised_estimate",
            "revised_month": "revised_month",
        },
    }
    prof = _kp_mapping_dir(tmp_path, monkeypatch, doc)
    with profile.use(prof):
        code = ingest.run(small_raw_copy, tmp_path / "wh.duckdb", log=lambda *a, **k: print(*a))
    out = capsys.readouterr().out
    assert code == 1
    assert (
        "export.csv row 5, column Dept: unknown department (not in the registry) ('Helth'); closest: 'health'"
        in out
    )
    assert "error: 1 row rejected in 1 file: 1 unknown department" in out


def test_one_pass_counts_and_no_target_cascade(small_raw_copy, tmp_path, capsys):
    # a format error and an unknown department in the same file, and a rejected target
    ba = pd.read_csv(small_raw_copy / "budget_allocations.csv", dtype=str)
    ba.loc[0, "budget_estimate"] = "abc"
    ba.loc[1, "department"] = "ministry-of-magic"
    ba.loc[2, "department"] = "ministry-of-magic"
    ba.to_csv(small_raw_copy / "budget_allocations.csv", index=False)
    t = pd.read_csv(small_raw_copy / "targets.csv", dtype=str)
    t.loc[0, "direction"] = "sideways"
    bad_target = t.loc[0, "target_id"]
    t.to_csv(small_raw_copy / "targets.csv", index=False)
    children = sum(
        int(
            (
                pd.read_csv(small_raw_copy / f"{stem}.csv", dtype=str)["target_id"] == bad_target
            ).sum()
        )
        for stem in ("target_trajectory", "target_actuals", "milestones", "ratings", "actions")
    )
    code = ingest.cli(
        ["--data-dir", str(small_raw_copy), "--warehouse", str(tmp_path / "w.duckdb")]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "2 unknown department" in err and "1 not a number" in err
    assert f"{children:,} target rejected" in err
    assert "unknown target_id" not in err
    assert "unknown department (not in the registry) ('ministry-of-magic'); " in err


def test_plausibility_notes_do_not_fail_the_load(small_raw_copy, tmp_path, capsys):
    ba = pd.read_csv(small_raw_copy / "budget_allocations.csv", dtype=str)
    ba.loc[0, "budget_estimate"] = "2023"
    ba.loc[1, "budget_estimate"] = "20230701"
    ba.to_csv(small_raw_copy / "budget_allocations.csv", index=False)
    wh = tmp_path / "w.duckdb"
    code = ingest.cli(["--data-dir", str(small_raw_copy), "--warehouse", str(wh)])
    out = capsys.readouterr().out
    assert code == 0
    assert "amount looks like a year" in out and "amount looks like a date" in out
    import duckdb

    con = duckdb.connect(str(wh), read_only=True)
    rows = con.execute("SELECT file, row, rule FROM data_notes ORDER BY row").fetchall()
    con.close()
    assert any(r[1] == 2 and "year" in r[2] for r in rows)
    assert any(r[1] == 3 and "date" in r[2] for r in rows)


def test_kp_sample_has_no_notes(kp_small_raw):
    out = ingest.collect(kp_small_raw, load_registry())
    assert out.ok and out.notes == []


def test_json_source_records_and_their_errors(tmp_path):
    """A JSON export read as it is: one row per record, the keys of ``fields_from`` as
    columns, other values dotted; unreadable JSON and a record without the object named are
    refused with the file and where."""
    from helpers.data.ingest import InputError, read_json

    p = tmp_path / "sites.json"
    p.write_text(
        '{"data": [{"center": [73.0, 34.5], "props": {"Site": "A", "Area ": 1.5}},'
        ' {"center": [72.8, 34.7], "props": {"Site": "B", "Area ": 2}}]}'
    )
    df = read_json(p, "sites.json", "data", "props")
    assert list(df.index) == [1, 2]
    assert df.loc[2, "Area"] == "2" and df.loc[1, "Site"] == "A"
    assert df.loc[1, "center.0"] == "73.0" and df.loc[2, "center.1"] == "34.7"
    p.write_text('[{"a": 1},\n {"a": 2,,}]')
    with pytest.raises(InputError, match=r"sites.json line 2: not valid JSON"):
        read_json(p, "sites.json", None, None)
    p.write_text('[{"props": {"a": 1}}, {"other": 2}]')
    with pytest.raises(InputError, match=r"sites.json: record 2: no 'props'"):
        read_json(p, "sites.json", None, "props")
