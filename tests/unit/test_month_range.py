"""`make reports MONTHS=A..B`: the range is parsed, and refused before any month runs.

No kernel starts here: every refusal happens while the range is planned. Running a range
end to end is in tests/e2e/test_months_in_one_command.py.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from helpers.engine import run as engine_run
from helpers.engine.inputs import Department
from helpers.engine.params import ParamError

FIXTURES = Path(__file__).resolve().parents[1] / "e2e" / "fixtures"


def test_a_range_lists_every_month_from_first_to_last_across_the_year_end():
    assert engine_run.parse_month_range("2024-11..2025-02") == [
        "2024-11",
        "2024-12",
        "2025-01",
        "2025-02",
    ]


def test_a_fiscal_year_is_twelve_months_july_to_june():
    months = engine_run.parse_month_range("2024-07..2025-06")
    assert len(months) == 12
    assert (months[0], months[5], months[6], months[-1]) == (
        "2024-07",
        "2024-12",
        "2025-01",
        "2025-06",
    )


def test_a_single_month_is_a_range_of_one():
    assert engine_run.parse_month_range("2025-03") == ["2025-03"]
    assert engine_run.parse_month_range("2025-03..2025-03") == ["2025-03"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2025-06..2024-07", "the first month is after the last"),
        ("2024-7..2025-06", "YYYY-MM..YYYY-MM"),
        ("2024-07..2025-13", "YYYY-MM..YYYY-MM"),
        ("2024-07..", "YYYY-MM..YYYY-MM"),
        ("..2025-06", "YYYY-MM..YYYY-MM"),
        ("2024-07..2025-01..2025-06", "YYYY-MM..YYYY-MM"),
        ("2024-07:2025-06", "YYYY-MM..YYYY-MM"),
        ("2015-01..2025-01", "121 months; at most 120"),
    ],
)
def test_a_malformed_range_is_refused(text, message):
    with pytest.raises(ParamError, match=message):
        engine_run.parse_month_range(text)


class Registry:
    """Health throughout; 'tourism' created on 2025-03-01. Data 2024-07 .. 2025-06."""

    def departments(self, on=None):
        out = [Department("health", "Health", "Health")]
        if on is None or on >= dt.date(2025, 3, 1):
            out.append(Department("tourism", "Tourism", "Other"))
        return out

    def data_range(self):
        return dt.date(2024, 7, 1), dt.date(2025, 6, 1)

    def applies_to(self, rule, month=None):
        return {"health", "tourism"}

    def slice_checksum(self, department):
        return f"v1-{department}"


@pytest.fixture
def sandbox(tmp_path):
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
    base = ["--suite", str(suite), "--notebooks-dir", str(nbdir), "--outputs", str(outputs)]
    base += ["--warehouse", str(tmp_path / "warehouse.duckdb")]
    return base, outputs


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--months", "2025-04..2025-01"], "the first month is after the last"),
        (["--months", "2025-1..2025-04"], "YYYY-MM..YYYY-MM"),
        (["--month", "2025-01", "--months", "2025-01..2025-02"], "--month or --months"),
        # 2025-01..2025-05 are in the data, 2025-07 is not: nothing runs, not even 2025-05
        (["--months", "2025-05..2025-07"], "month 2025-07 is outside the data's range"),
        # tourism exists from March: the January and February runs would be refused, so the
        # whole range is refused before March runs
        (["--months", "2025-01..2025-04", "--dept", "tourism"], "unknown department 'tourism'"),
    ],
)
def test_a_bad_range_exits_2_with_one_line_and_writes_nothing(sandbox, capsys, extra, message):
    base, outputs = sandbox
    assert engine_run.cli(base + extra, facts=Registry()) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error: ") and message in err[0], err
    assert not outputs.exists()


def test_a_range_dry_run_plans_each_month(sandbox, capsys):
    base, outputs = sandbox
    assert engine_run.cli(base + ["--months", "2025-02..2025-03", "--plan"], facts=Registry()) == 0
    out = capsys.readouterr().out
    # February: health only (tourism not created yet); March: both departments
    assert "plan for 2025-02: 1 jobs" in out
    assert "plan for 2025-03: 2 jobs" in out
    assert out.index("plan for 2025-02") < out.index("plan for 2025-03")
    assert not (outputs / "2025-02").exists() and not (outputs / "2025-03").exists()
