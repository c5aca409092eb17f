"""Read API of helpers.data.warehouse on the small warehouse."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from helpers.data import ingest, warehouse
from helpers.data.registry import load_registry


def test_departments_dated_and_unknown(use_small_warehouse):
    now = warehouse.departments()
    assert len(now) == 33 and now["slug"].is_monotonic_increasing
    old = warehouse.departments(on="2023-06-01").set_index("slug")
    assert old.loc["sports-culture-tourism", "name"].startswith(
        "Sports, Culture, Tourism, Archaeology"
    )
    assert warehouse.department("sports-culture-tourism")["name"] == "Sports, Culture & Tourism"
    with pytest.raises(warehouse.UnknownDepartment, match="ministry-of-magic"):
        warehouse.department("ministry-of-magic")
    with pytest.raises(KeyError):
        warehouse.budget_monthly("ministry-of-magic")
    assert len(warehouse.districts()) == 35


def test_budget_slices_ordered_with_dates(use_small_warehouse):
    b = warehouse.budget_monthly("health", upto="2024-09")
    assert pd.api.types.is_datetime64_any_dtype(b["month"])
    assert set(b["month"].dt.strftime("%Y-%m")) == {"2024-07", "2024-08", "2024-09"}
    assert b.equals(b.sort_values(["month", "fund", "object_class"]).reset_index(drop=True))
    a = warehouse.budget_allocations("health", "2024-25")
    assert (a["budget_estimate"] > 0).all() and set(a["fund"]) == {"current", "development"}
    assert warehouse.as_of().isoformat() == "2025-06-01"
    assert [d.isoformat() for d in warehouse.data_range()] == ["2024-07-01", "2025-06-01"]


def test_stocktake_survey_pse_slices(use_small_warehouse):
    t = warehouse.targets("health")
    assert len(t) >= 3 and (t["department"] == "health").all()
    assert set(warehouse.trajectory("health")["target_id"]) <= set(t["target_id"])
    assert warehouse.targets("zakat-ushr").empty  # no delivery targets for this department
    assert [w.isoformat() for w in warehouse.survey_waves()] == ["2024-12-01", "2025-06-01"]
    svc = warehouse.survey_services("health")["service"].tolist()
    assert svc == ["bhu", "hospital"]
    f = warehouse.survey_frame("2024-12", svc)
    assert set(f["service"]) == {"bhu", "hospital"} and f["satisfaction"].dtype == "float64"
    assert f["satisfaction"].dropna().between(1, 5).all()
    p = warehouse.pse_returns("health")
    assert (p["department"] == "health").all() and pd.api.types.is_datetime64_any_dtype(
        p["quarter_end"]
    )


def test_connections_are_read_only(use_small_warehouse):
    a = warehouse.connect()
    b = warehouse.connect()  # many readers at once
    try:
        with pytest.raises(duckdb.Error):
            a.execute("CREATE TABLE x (i INTEGER)")
        assert b.execute("SELECT count(*) FROM districts").fetchone() == (35,)
    finally:
        a.close()
        b.close()


def test_slice_checksum_stable_and_local(kp_small_raw, use_small_warehouse, tmp_path, monkeypatch):
    slugs = warehouse.departments()["slug"].tolist()
    sums = {s: warehouse.slice_checksum(s) for s in slugs}
    assert len(set(sums.values())) == 33
    total = warehouse.slice_checksum()
    with pytest.raises(warehouse.UnknownDepartment):
        warehouse.slice_checksum("ministry-of-magic")
    # a rebuild of the same inputs (another file, another loaded_at) gives the same checksums
    out = ingest.collect(kp_small_raw, load_registry())
    same = tmp_path / "same.duckdb"
    ingest.build_warehouse(same, out.tables, out.sources)
    monkeypatch.setenv("KP_WAREHOUSE", str(same))
    assert warehouse.slice_checksum() == total
    assert warehouse.slice_checksum("health") == sums["health"]
    # change one health budget cell: only health (and the total) change
    m = out.tables["budget_monthly"].copy()
    i = m.index[m["department"] == "health"][0]
    m.loc[i, "expenditure"] = m.loc[i, "expenditure"] + 1.0
    changed = tmp_path / "changed.duckdb"
    ingest.build_warehouse(changed, {**out.tables, "budget_monthly": m}, out.sources)
    monkeypatch.setenv("KP_WAREHOUSE", str(changed))
    assert warehouse.slice_checksum("health") != sums["health"]
    assert warehouse.slice_checksum("local-government") == sums["local-government"]
    assert warehouse.slice_checksum() != total


def test_respondent_files_read_once_are_never_stale_or_shared(
    kp_small_raw, use_small_warehouse, tmp_path, monkeypatch
):
    # every survey report of a kernel reads every wave's respondent file: it is read once,
    # but a report that changes its copy changes nobody else's, and a rebuilt warehouse is read
    first = warehouse.survey_respondents("2024-12")
    n = len(first)
    first["weight"] = 0.0
    again = warehouse.survey_respondents("2024-12")
    assert len(again) == n and (again["weight"] > 0).all()
    out = ingest.collect(kp_small_raw, load_registry())
    r = out.tables["survey_respondents"]
    fewer = r.drop(r.index[(r["wave"].astype(str).str.startswith("2024-12"))][:25])
    rebuilt = tmp_path / "rebuilt.duckdb"
    ingest.build_warehouse(rebuilt, {**out.tables, "survey_respondents": fewer}, out.sources)
    monkeypatch.setenv("KP_WAREHOUSE", str(rebuilt))
    assert len(warehouse.survey_respondents("2024-12")) == n - 25


FACTS_SCRIPT = """
import datetime as dt, json, sys
from pathlib import Path
from helpers import paths
from helpers.engine.inputs import Warehouse
from helpers.engine.params import check_parameter_files
facts = Warehouse(Path(sys.argv[1]))
check_parameter_files(paths.PARAMS_DIR)  # scorecard.yaml and pse.yaml, checked before a run
day = dt.date(2025, 3, 31)
out = {
    "departments": [[d.slug, d.name, d.priority_area] for d in facts.departments(day)],
    "range": [d.isoformat() for d in facts.data_range()],
    "targets": sorted(facts.applies_to("departments_with_targets")),
    "checksum": facts.slice_checksum("health"),
    "pandas": "pandas" in sys.modules,
}
print(json.dumps(out))
"""


def test_the_driver_plans_from_the_warehouse_without_pandas(use_small_warehouse):
    # The engine's driver reads the facts it plans a run with (registry, data range, which
    # departments a family applies to, slice checksums) and checks the parameter files without
    # importing pandas (0.3-0.4 s before the first report); the facts are those the DataFrame
    # functions give.
    import json
    import subprocess
    import sys

    got = subprocess.run(
        [sys.executable, "-c", FACTS_SCRIPT, str(use_small_warehouse)],
        capture_output=True,
        text=True,
        check=True,
    )
    facts = json.loads(got.stdout.strip().splitlines()[-1])
    assert facts["pandas"] is False
    reg = warehouse.departments(on=pd.Timestamp("2025-03-31"))
    assert facts["departments"] == [
        [r.slug, r.name, r.priority_area or ""] for r in reg.itertuples()
    ]
    lo, hi = warehouse.data_range()
    assert facts["range"] == [lo.isoformat(), hi.isoformat()]
    assert facts["targets"] == sorted(warehouse.targets()["department"].unique())
    assert facts["checksum"] == warehouse.slice_checksum("health")
