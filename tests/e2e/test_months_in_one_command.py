"""`--months A..B` end to end: two months of one department, real kernels and publishers.

Each month of the range is published as its own run would publish it (manifest of that month,
one ledger run per month); running the range again finds both months up to date.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from helpers.engine import run as engine_run
from helpers.engine.inputs import Department
from helpers.engine.ledger import Ledger

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("engine")]

FIXTURES = Path(__file__).parent / "fixtures"


class OneDepartment:
    def departments(self, on=None):
        return [Department("health", "Health", "Health")]

    def data_range(self):
        return dt.date(2024, 7, 1), dt.date(2025, 6, 1)

    def applies_to(self, rule, month=None):
        return {"health"}

    def slice_checksum(self, department):
        return f"v1-{department}"


def test_two_months_in_one_command_publish_each_month(tmp_path, capsys):
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    shutil.copy(FIXTURES / "ok.ipynb", nbdir / "ok.ipynb")
    suite = tmp_path / "params" / "suite.yaml"
    suite.parent.mkdir()
    suite.write_text(
        "families:\n  ok:\n    title: Ok report\n    notebook: ok.ipynb\n    scope: department\n"
        "    parameters:\n      department: {type: department, default: health}\n"
        '      month: {type: month, default: "2025-03"}\n'
        "formats: [html]\nsettings:\n  timeout_seconds: 60\n  jobs: 1\n"
    )
    outputs = tmp_path / "outputs"
    argv = ["--months", "2025-02..2025-03", "--suite", str(suite), "--notebooks-dir", str(nbdir)]
    argv += ["--outputs", str(outputs)]

    assert engine_run.cli(argv, facts=OneDepartment()) == 0
    err = capsys.readouterr().err
    assert "months 2025-02..2025-03: 2 months, 2 all published" in err
    for month in ("2025-02", "2025-03"):
        manifest = json.loads((outputs / month / "manifest.json").read_text())
        assert manifest["month"] == month
        assert [(j["id"], j["status"], j["params"]["month"]) for j in manifest["jobs"]] == [
            ("health/ok", "done", month)
        ]
        assert (outputs / month / "health" / "ok.html").is_file()
        assert (outputs / month / "index.html").is_file()
    led = Ledger(outputs / "ledger.duckdb")
    runs = led.runs()
    assert sorted(r["month"] for r in runs) == ["2025-02", "2025-03"]  # one run per month
    assert all(r["status"] == "ok" and r["n_done"] == 1 for r in runs)
    # one worker (and its warm kernel) served the whole range: no second start per month
    workers = {j["worker"] for r in runs for j in led.jobs(r["run_id"])}
    assert len(workers) == 1, workers
    # the two months' reports differ (each was given its own month), so two cache entries
    keys = {
        json.loads((outputs / m / "manifest.json").read_text())["jobs"][0]["key"]
        for m in ("2025-02", "2025-03")
    }
    assert len(keys) == 2

    # the same range again: both months up to date, nothing executed, no new ledger run
    assert engine_run.cli(argv, facts=OneDepartment()) == 0
    err = capsys.readouterr().err
    assert "2025-02: up to date" in err and "2025-03: up to date" in err
    assert len(Ledger(outputs / "ledger.duckdb").runs()) == 2
