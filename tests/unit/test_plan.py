"""Planning a month (helpers.engine.plan) against a fake warehouse and a tiny suite."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest

from helpers.engine.inputs import Department
from helpers.engine.params import ParamError, load_suite
from helpers.engine.plan import parse_overrides, plan_month, split_list

SUITE = """
families:
  budget:
    notebook: budget.ipynb
    scope: department
    parameters:
      department: {type: department, default: health}
      month: {type: month, default: "2025-03"}
      margin: {type: float, default: 0.1, min: 0.0, max: 0.5}
  stocktake:
    notebook: stocktake.ipynb
    scope: department
    applies_to: departments_with_targets
    parameters:
      department: {type: department, default: health}
      month: {type: month, default: "2025-03"}
  overview:
    notebook: overview.ipynb
    scope: province
    parameters:
      month: {type: month, default: "2025-03"}
formats: [html]
"""


class FakeWarehouse:
    def departments(self, on=None):
        return [
            Department("health", "Health", "Health"),
            Department("energy", "Energy & Power", "Energy"),
            Department("education", "Education", "Education"),
        ]

    def data_range(self):
        return dt.date(2022, 7, 1), dt.date(2026, 6, 1)

    def applies_to(self, rule, month=None):
        assert rule == "departments_with_targets"
        return {"health", "education", "not-in-registry"}

    def slice_checksum(self, department):
        return f"sum-{department}"


@pytest.fixture
def suite(tmp_path):
    p = tmp_path / "suite.yaml"
    p.write_text(textwrap.dedent(SUITE))
    return load_suite(p)


def plan(suite, tmp_path, **kw):
    return plan_month(
        suite, FakeWarehouse(), month=kw.pop("month", "2025-03"), notebooks_dir=tmp_path, **kw
    )


def test_full_plan_departments_x_families_plus_province(suite, tmp_path):
    p = plan(suite, tmp_path)
    ids = [j.id for j in p.jobs]
    # budget: all 3 departments (sorted); stocktake: only those with targets; overview once.
    assert ids == [
        "education/budget",
        "energy/budget",
        "health/budget",
        "education/stocktake",
        "health/stocktake",
        "province/overview",
    ]
    assert p.selected == set(ids)
    job = p.jobs[2]
    assert job.params == {"department": "health", "month": "2025-03", "margin": 0.1}
    assert p.jobs[-1].params == {"month": "2025-03"}
    assert p.jobs[-1].department is None
    assert job.notebook == (tmp_path / "budget.ipynb").resolve()


def test_dept_and_notebook_narrow_the_selection_not_the_plan(suite, tmp_path):
    p = plan(suite, tmp_path, depts=["health,energy"], notebooks=["stocktake.ipynb", "budget"])
    assert len(p.jobs) == 6
    assert p.selected == {"health/budget", "energy/budget", "health/stocktake"}
    p = plan(suite, tmp_path, depts=["province"])
    assert p.selected == {"province/overview"}


def test_overrides_are_typed_and_checked(suite, tmp_path):
    over = parse_overrides(["budget.margin=0.25"], suite)
    p = plan(suite, tmp_path, overrides=over)
    assert {j.params.get("margin") for j in p.jobs if j.family == "budget"} == {0.25}
    with pytest.raises(ParamError, match="above the maximum"):
        plan(suite, tmp_path, overrides=parse_overrides(["margin=0.9"], suite))
    with pytest.raises(ParamError, match="no family declares"):
        parse_overrides(["colour=red"], suite)
    with pytest.raises(ParamError, match="use --month"):
        parse_overrides(["month=2025-04"], suite)
    with pytest.raises(ParamError, match="unknown family"):
        parse_overrides(["nope.margin=0.2"], suite)
    with pytest.raises(ParamError, match="traversal"):
        parse_overrides(["margin=../../x"], suite)


@pytest.mark.parametrize(
    "kw,message",
    [
        ({"month": "2025-3"}, "YYYY-MM"),
        ({"month": "2030-01"}, "outside the data's range"),
        ({"depts": ["police"]}, "unknown department 'police'"),
        ({"depts": ["/etc"]}, "absolute"),
        ({"notebooks": ["secret"]}, "unknown notebook"),
        ({"notebooks": ["overview"], "depts": ["health"]}, "matches no report"),
        # A selection that names nothing must not widen to the whole month.
        ({"depts": ["\r"]}, "names no department"),
        ({"depts": [" , "]}, "names no department"),
        ({"notebooks": [","]}, "names no notebook"),
    ],
)
def test_bad_selection(suite, tmp_path, kw, message):
    with pytest.raises(ParamError, match=message):
        plan(suite, tmp_path, **kw)


def test_split_list():
    assert split_list(" a, b,,c ") == ["a", "b", "c"]
    assert split_list("") == []
    assert split_list(None) == []


class DatedWarehouse(FakeWarehouse):
    """A department that was closed on 1 Jan 2024 (valid_to is exclusive)."""

    def __init__(self):
        self.asked: list[dt.date] = []

    def departments(self, on=None):
        self.asked.append(on)
        closed = [Department("closed", "Closed Department", "Other")]
        return super().departments(on) + (closed if on < dt.date(2024, 1, 1) else [])


def test_the_registry_of_the_report_month_decides_the_departments(suite, tmp_path):
    facts = DatedWarehouse()
    before = plan_month(suite, facts, month="2023-06", notebooks_dir=tmp_path)
    assert "closed/budget" in [j.id for j in before.jobs]
    assert facts.asked[-1] == dt.date(2023, 6, 30)  # valid at the end of the report month
    after = plan_month(suite, facts, month="2025-03", notebooks_dir=tmp_path)
    assert not [j for j in after.jobs if j.department == "closed"]
    with pytest.raises(ParamError, match="not in the registry for 2025-03"):
        plan_month(suite, facts, month="2025-03", notebooks_dir=tmp_path, depts=["closed"])


def test_shipped_notebooks_declare_exactly_their_suite_parameters():
    from helpers import paths
    from helpers.engine.plan import notebook_parameters

    real = load_suite(paths.PARAMS_DIR / "suite.yaml")
    for fam in real.families.values():
        names = notebook_parameters(paths.NOTEBOOKS_DIR / fam.notebook)
        assert sorted(names) == sorted(fam.parameters), fam.name


def test_a_lost_parameters_tag_or_a_broken_notebook_is_refused_before_any_kernel(tmp_path):
    """With the tag gone papermill would add the run's values nowhere: every report would
    show the notebook's default department. Refused with one line, like a bad file."""
    import json
    import shutil

    from helpers import paths
    from helpers.engine.plan import Job, check_notebooks

    real = load_suite(paths.PARAMS_DIR / "suite.yaml")
    nb = tmp_path / "budget_execution.ipynb"
    shutil.copy(paths.NOTEBOOKS_DIR / "budget_execution.ipynb", nb)
    job = Job("budget_execution", "Budget", "department", "finance", "2025-03", nb, {})
    check_notebooks([job], real)  # the shipped notebook passes
    doc = json.loads(nb.read_text())
    doc["cells"][0]["metadata"]["tags"] = []
    nb.write_text(json.dumps(doc))
    with pytest.raises(ParamError, match="0 cells tagged 'parameters'"):
        check_notebooks([job], real)
    doc["cells"][0]["metadata"]["tags"] = ["parameters"]
    doc["cells"][0]["source"] = 'department = "health"\nmonth = "2025-03"\nmargin = 0.1\n'
    nb.write_text(json.dumps(doc))  # underspend_margin renamed: runs could never set it
    with pytest.raises(ParamError, match="assigns margin, which params/suite.yaml does not"):
        check_notebooks([job], real)
    nb.write_bytes(b'{"cells": [\xff')
    with pytest.raises(ParamError, match="is not a readable notebook"):
        check_notebooks([job], real)
    nb.unlink()
    with pytest.raises(ParamError, match="notebook not found"):
        check_notebooks([job], real)


def test_a_family_the_profile_does_not_use_is_not_planned_nor_called_not_provided(suite, tmp_path):
    p = plan(suite, tmp_path, families=["budget", "overview"])
    assert {j.family for j in p.jobs} == {"budget", "overview"}
    assert p.not_used == ["stocktake"]
    assert p.not_provided == []  # readers are told only about families the government uses
    with pytest.raises(ParamError, match="not used by this government"):
        plan(suite, tmp_path, families=["budget", "overview"], notebooks=["stocktake"])
