"""Suite parsing and parameter validation (helpers.engine.params): tiny hand-written suites."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest

from helpers.engine.params import (
    ParamError,
    ParamSpec,
    check_safe_string,
    coerce_value,
    load_suite,
    parse_assignment,
)

SUITE = """
families:
  budget:
    title: Budget execution
    notebook: budget.ipynb
    scope: department
    parameters:
      department: {type: department, default: health}
      month: {type: month, default: "2025-03"}
      margin: {type: float, default: 0.1, min: 0.0, max: 0.5}
      min_n: {type: int, default: 30, min: 10, max: 1000}
  overview:
    title: Overview
    notebook: overview.ipynb
    scope: province
    parameters:
      month: {type: month, default: "2025-03"}
formats: [html, pdf]
settings:
  timeout_seconds: 120
  isolation: fresh
  recycle_after: 5
  jobs: 3
"""

RANGE = (dt.date(2022, 7, 1), dt.date(2026, 6, 1))


def write(tmp_path, text):
    p = tmp_path / "suite.yaml"
    p.write_text(textwrap.dedent(text))
    return p


def test_load_suite_reads_families_formats_settings(tmp_path):
    suite = load_suite(write(tmp_path, SUITE))
    assert list(suite.families) == ["budget", "overview"]
    assert suite.families["overview"].scope == "province"
    assert suite.families["budget"].parameters["margin"] == ParamSpec(
        "margin", "float", 0.1, 0.0, 0.5
    )
    assert suite.formats == ("html", "pdf")
    s = suite.settings
    assert (s.timeout_seconds, s.isolation, s.recycle_after, s.jobs) == (120.0, "fresh", 5, 3)


def test_jobs_auto_means_none(tmp_path):
    suite = load_suite(write(tmp_path, SUITE.replace("jobs: 3", "jobs: auto")))
    assert suite.settings.jobs is None


@pytest.mark.parametrize(
    "old,new,message",
    [
        ("notebook: budget.ipynb", "notebook: ../evil.ipynb", "file name"),
        ("notebook: budget.ipynb", "notebook: budget.py", "ending .ipynb"),
        ("scope: province", "scope: county", "scope"),
        ("type: float", "type: decimal", "unknown type"),
        ("isolation: fresh", "isolation: lukewarm", "isolation"),
        ("formats: [html, pdf]", "formats: [html, docx]", "unknown formats"),
        ("recycle_after: 5", "recycle_after: 5\n  colour: blue", "unknown settings"),
    ],
)
def test_bad_suite_declarations_are_rejected(tmp_path, old, new, message):
    assert old in SUITE
    with pytest.raises(ParamError, match=message):
        load_suite(write(tmp_path, SUITE.replace(old, new)))


def test_province_family_must_not_take_a_department(tmp_path):
    text = SUITE.replace(
        '      month: {type: month, default: "2025-03"}\nformats',
        '      month: {type: month, default: "2025-03"}\n      department: {type: department, default: x}\nformats',
    )
    with pytest.raises(ParamError, match="scope province"):
        load_suite(write(tmp_path, text))


def test_family_selector_accepts_family_or_notebook_name(tmp_path):
    suite = load_suite(write(tmp_path, SUITE))
    assert suite.family_by_selector("budget").name == "budget"
    assert suite.family_by_selector("overview.ipynb").name == "overview"
    assert suite.family_by_selector("overview").name == "overview"
    with pytest.raises(ParamError, match="unknown notebook"):
        suite.family_by_selector("other")
    with pytest.raises(ParamError, match="traversal"):
        suite.family_by_selector("../budget")


@pytest.mark.parametrize(
    "value,message",
    [
        ("/etc/passwd", "absolute"),
        ("~/x", "absolute"),
        ("C:\\x", "absolute"),
        ("a/../../b", "traversal"),
        ("..", "traversal"),
        ("a\x00b", "NUL"),
        ("a\nb", "control"),
    ],
)
def test_unsafe_strings(value, message):
    with pytest.raises(ParamError, match=message):
        check_safe_string("x", value)


def test_safe_string_passes():
    check_safe_string("x", "health-2025_03.v1")


def test_coerce_types_and_bounds():
    f = ParamSpec("margin", "float", 0.1, 0.0, 0.5)
    assert coerce_value(f, "0.25") == 0.25
    assert coerce_value(f, 0.5) == 0.5
    with pytest.raises(ParamError, match="above the maximum"):
        coerce_value(f, "0.51")
    with pytest.raises(ParamError, match="must be a number"):
        coerce_value(f, "lots")
    with pytest.raises(ParamError, match="finite"):
        coerce_value(f, "nan")
    i = ParamSpec("min_n", "int", 30, 10, 1000)
    assert coerce_value(i, "12") == 12
    with pytest.raises(ParamError, match="integer"):
        coerce_value(i, "12.5")
    with pytest.raises(ParamError, match="integer"):
        coerce_value(i, True)
    with pytest.raises(ParamError, match="below the minimum"):
        coerce_value(i, 9)
    b = ParamSpec("flag", "bool", False)
    assert coerce_value(b, "yes") is True
    with pytest.raises(ParamError):
        coerce_value(b, "maybe")


def test_month_format_and_range():
    m = ParamSpec("month", "month", "2025-03")
    assert coerce_value(m, "2022-07", month_range=RANGE) == "2022-07"
    assert coerce_value(m, "2026-06", month_range=RANGE) == "2026-06"
    with pytest.raises(ParamError, match="outside the data's range 2022-07..2026-06"):
        coerce_value(m, "2026-07", month_range=RANGE)
    for bad in ("2025-13", "2025-3", "March", "2025-03-01"):
        with pytest.raises(ParamError, match="YYYY-MM"):
            coerce_value(m, bad, month_range=RANGE)


def test_department_must_be_in_registry():
    d = ParamSpec("department", "department", "health")
    assert coerce_value(d, "health", departments={"health", "energy"}) == "health"
    with pytest.raises(ParamError, match="unknown department 'police'"):
        coerce_value(d, "police", departments={"health"})
    with pytest.raises(ParamError, match="traversal"):
        coerce_value(d, "../health", departments={"health"})


def test_parse_assignment():
    assert parse_assignment("margin=0.2") == (None, "margin", "0.2")
    assert parse_assignment("budget.margin=0.2") == ("budget", "margin", "0.2")
    assert parse_assignment("note=a=b") == (None, "note", "a=b")
    with pytest.raises(ParamError):
        parse_assignment("margin")
    with pytest.raises(ParamError):
        parse_assignment("Bad-Name=1")
