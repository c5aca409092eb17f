"""Budget data at the data's own frequency: an Armenia-like government, end to end.

A made-up government (Testaria) with a calendar-year (January) fiscal year and amounts in AMD
million hands over two treasury exports in thousand AMD: the annual plan by body and economic
item, and the execution report with **cumulative year-to-date actuals at each quarter's end**.
Both go through mapping files only (docs/data-dictionary.md, "Mapping files") in a profile
written in a temporary folder with its own chart of accounts; `helpers.cli data` loads them
and `helpers.cli reports` publishes the budget reports, each in its own process.

Every expected value below is computed by hand from the source rows (thousand AMD, scaled by
0.001 to AMD million), following docs/methods.md (section 1, "Frequency"):

health, FY2025: plan 800,000 (class 41, salaries) + 400,000 (class 42) = 1,200,000.
  cumulative actuals: Q1 200,000 + 100,000 = 300,000; Q2 400,000 + 200,000 = 600,000.
  At report month August 2025 (inside Q3, not yet ended): as of the end of Q2 (June),
  utilisation = 600,000 / 1,200,000 = 50%, benchmark = 6 / 12 = 50% (not 8 / 12).
  FY2024 (complete): plan 600,000 + 400,000 = 1,000,000; cumulative Q1..Q4 for class 41
  150,000, 300,000, 450,000, 570,000 and class 42 100,000, 200,000, 300,000, 380,000, so
  quarterly flows 250,000, 250,000, 250,000, 200,000 (total 950,000: outturn 95%).
  Projection (prior-year quarterly profile): Q1-Q2 took 500,000 / 950,000 of FY2024, so the
  year end is 600,000 / (500 / 950) = 1,140,000 = 95% of BE (one prior year: no interval).
  The old rule (x 12 / months with rows) would have given 600,000 x 12 / 2 = 300% of BE.
education, FY2025: plan 400,000 (42) + 100,000 (51, capital fund) = 500,000; Q1 cumulative
  90,000 + 10,000 = 100,000, no Q2 return, a Q3 return (September, after the report month):
  in August 2025 it is read as of the end of Q1, 20% against a 25% benchmark, Q2 awaited.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from helpers import paths

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("budget_frequency")]

GOVERNMENT = "Government of the Republic of Testaria"

PROFILE = """name: testaria
government: {name: Government of the Republic of Testaria, short: Testaria, scope: country}
currency: {code: AMD, unit: million}
fiscal_year: {start_month: 1, label: start}
priority_areas: [Health, Education]
registry: departments.yaml
families: [budget_execution, province_overview]
chart_of_accounts:
  funds: [current, capital]
  object_classes:
    - {code: "41", name: Compensation of employees, role: salary}
    - {code: "42", name: Use of goods and services, role: non_salary}
    - {code: "51", name: Fixed assets, role: development}
"""

REGISTRY = """registry_start: 2018-01-01
departments:
  - slug: health
    priority_area: Health
    names: [{name: "Ministry of Health", valid_from: 2018-01-01, valid_to: null}]
  - slug: education
    priority_area: Education
    names: [{name: "Ministry of Education, Science, Culture and Sport", valid_from: 2018-01-01, valid_to: null}]
entities: {}
services: []
"""

PLAN_MAPPING = """description: Testaria treasury, annual plan by body and economic item (thousand AMD)
source: {file: treasury_plan.csv}
produces: budget_allocations
frequency: annual
columns:
  department: Body
  fiscal_year: Year
  fund: Fund
  object_class: Economic item
  budget_estimate: Annual plan
values:
  department: {registry: departments}
  object_class: {registry: object_classes}
  fund: {map: {Recurrent: current, Capital: capital}}
scale: {budget_estimate: 0.001}   # thousand AMD -> AMD million
"""

EXEC_MAPPING = """description: Testaria treasury, execution, cumulative year to date at each quarter's end
source: {file: treasury_execution.csv}
produces: budget_monthly
frequency: quarterly
cumulative: true
columns:
  department: Body
  month: Period end
  fund: Fund
  object_class: Economic item
  release: Cumulative actual
  expenditure: Cumulative actual
values:
  department: {registry: departments}
  object_class: {registry: object_classes}
  fund: {map: {Recurrent: current, Capital: capital}}
scale: {release: 0.001, expenditure: 0.001}
"""

HEALTH = "Ministry of Health"
EDU = "Ministry of Education, Science, Culture and Sport"
PLAN = [
    (HEALTH, 2024, "Recurrent", "Compensation of employees", 600_000),
    (HEALTH, 2024, "Recurrent", "Use of goods and services", 400_000),
    (HEALTH, 2025, "Recurrent", "Compensation of employees", 800_000),
    (HEALTH, 2025, "Recurrent", "Use of goods and services", 400_000),
    (EDU, 2024, "Recurrent", "Use of goods and services", 300_000),
    (EDU, 2025, "Recurrent", "Use of goods and services", 400_000),
    (EDU, 2025, "Capital", "Fixed assets", 100_000),
]
EXECUTION = [
    (HEALTH, "2024-03", "Recurrent", "Compensation of employees", 150_000),
    (HEALTH, "2024-06", "Recurrent", "Compensation of employees", 300_000),
    (HEALTH, "2024-09", "Recurrent", "Compensation of employees", 450_000),
    (HEALTH, "2024-12", "Recurrent", "Compensation of employees", 570_000),
    (HEALTH, "2024-03", "Recurrent", "Use of goods and services", 100_000),
    (HEALTH, "2024-06", "Recurrent", "Use of goods and services", 200_000),
    (HEALTH, "2024-09", "Recurrent", "Use of goods and services", 300_000),
    (HEALTH, "2024-12", "Recurrent", "Use of goods and services", 380_000),
    (HEALTH, "2025-03", "Recurrent", "Compensation of employees", 200_000),
    (HEALTH, "2025-06", "Recurrent", "Compensation of employees", 400_000),
    (HEALTH, "2025-03", "Recurrent", "Use of goods and services", 100_000),
    (HEALTH, "2025-06", "Recurrent", "Use of goods and services", 200_000),
    (EDU, "2025-03", "Recurrent", "Use of goods and services", 90_000),
    (EDU, "2025-03", "Capital", "Fixed assets", 10_000),
    # no Q2 return; Q3 arrives (after the August report month, so not read then)
    (EDU, "2025-09", "Recurrent", "Use of goods and services", 250_000),
    (EDU, "2025-09", "Capital", "Fixed assets", 40_000),
]


def _csv(path: Path, header: list[str], rows) -> None:
    def cell(v):
        s = str(v)
        return f'"{s}"' if "," in s else s

    lines = [",".join(header)] + [",".join(cell(v) for v in r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args], env=env, capture_output=True, text=True, timeout=900
    )


@pytest.fixture(scope="module")
def testaria(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("testaria")
    params = root / "params"
    shutil.copytree(paths.ROOT / "params", params, ignore=shutil.ignore_patterns("profiles"))
    folder = params / "profiles" / "testaria"
    (folder / "mappings").mkdir(parents=True)
    (folder / "profile.yaml").write_text(PROFILE, encoding="utf-8")
    (folder / "departments.yaml").write_text(REGISTRY, encoding="utf-8")
    (folder / "mappings" / "treasury_plan.yaml").write_text(PLAN_MAPPING, encoding="utf-8")
    (folder / "mappings" / "treasury_execution.yaml").write_text(EXEC_MAPPING, encoding="utf-8")
    raw = root / "raw"
    raw.mkdir()
    _csv(raw / "treasury_plan.csv", ["Body", "Year", "Fund", "Economic item", "Annual plan"], PLAN)
    _csv(
        raw / "treasury_execution.csv",
        ["Body", "Period end", "Fund", "Economic item", "Cumulative actual"],
        EXECUTION,
    )
    env = dict(
        os.environ,
        KP_PARAMS=str(params),
        KP_PROFILE="testaria",
        KP_WAREHOUSE=str(root / "warehouse.duckdb"),
        KP_OUTPUTS=str(root / "outputs"),
    )
    steps = {"data": _run(["helpers.cli", "data", "--data-dir", str(raw)], env)}
    for month in ("2025-08", "2024-12"):
        steps[f"reports {month}"] = _run(
            [
                "helpers.cli",
                "reports",
                "--month",
                month,
                "--notebook",
                "budget_execution,province_overview",
                "--jobs",
                "2",
            ],
            env,
        )
    return {"root": root, "out": root / "outputs", "steps": steps, "env": env}


def _executed(out: Path, month: str, folder: str, family: str) -> dict:
    """The headline and key messages the executed notebook emitted (the run's build copy)."""
    found: dict = {}
    builds = sorted(out.glob(f".builds/{month}-*/{folder}/{family}.ipynb"))
    assert builds, f"no executed {folder}/{family} for {month}"
    for nb in builds[-1:]:
        d = json.loads(nb.read_text(encoding="utf-8"))
        for c in d["cells"]:
            for o in c.get("outputs", []):
                data = o.get("data", {})
                for k in (
                    "application/vnd.kp.headline+json",
                    "application/vnd.kp.key-messages+json",
                ):
                    if k in data:
                        found[k.split(".")[2].split("+")[0]] = data[k]
    return found


def _html(out: Path, month: str, department: str, family: str) -> str:
    path = out / month / department / f"{family}.html"
    return " ".join(
        BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser").get_text(" ").split()
    )


def test_every_step_succeeds(testaria):
    for name, step in testaria["steps"].items():
        assert step.returncode == 0, f"{name} failed:\n{step.stdout[-3000:]}\n{step.stderr[-3000:]}"


def test_load_records_the_quarterly_cumulative_source(testaria):
    import duckdb

    con = duckdb.connect(str(testaria["root"] / "warehouse.duckdb"), read_only=True)
    try:
        info = dict(con.execute("SELECT key, value FROM load_info").fetchall())
        flows = con.execute(
            "SELECT month, sum(expenditure) FROM budget_monthly WHERE department = 'health' "
            "GROUP BY month ORDER BY month"
        ).fetchall()
    finally:
        con.close()
    assert info["budget.frequency"] == "quarterly"
    assert info["budget.source_cumulative"] == "true"
    # flows per quarter (AMD million), from the cumulative source
    assert [round(v, 6) for _m, v in flows] == [250.0, 250.0, 250.0, 200.0, 300.0, 300.0]
    assert info["months.budget"].endswith("2025-09-01")


@pytest.fixture(scope="module")
def q2_report(testaria):
    """The health report for August 2025, computed in-process from the loaded warehouse."""
    env = testaria["env"]
    code = (
        "import json, sys\n"
        "from helpers import budget\n"
        "from helpers.data import warehouse as wh\n"
        "f = budget.frequency_of(wh.load_info())\n"
        "r = budget.execution_report(wh.budget_allocations(), wh.budget_monthly(), 'health', "
        "'2025-08', frequency=f)\n"
        "print(json.dumps({'frequency': f, 'util': r.total['util_be'], 'bench': r.benchmark,\n"
        "  'as_of': str(r.as_of), 'missing': [str(m) for m in r.missing_months],\n"
        "  'point_be': r.projection.point_be, 'method': r.projection.method,\n"
        "  'coverage': r.coverage['status'].tolist()}))\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_utilisation_benchmark_and_projection_at_q2(q2_report):
    r = q2_report
    assert r["frequency"] == "quarterly"
    assert r["util"] == pytest.approx(600 / 1200)  # cumulative at Q2 / BE
    assert r["bench"] == pytest.approx(0.5)  # the end of Q2, not August (8 / 12)
    assert r["as_of"] == "2025-06-01"
    assert r["coverage"] == ["reported", "reported"]  # two quarters, no month listed
    assert r["missing"] == []
    assert r["method"] == "profile"
    assert r["point_be"] == pytest.approx(600 / (500 / 950) / 1200)  # 95%, not 300%


def test_published_budget_report_at_q2(testaria):
    out = testaria["out"]
    got = _executed(out, "2025-08", "health", "budget_execution")
    head = got["headline"]
    assert head["utilisation"] == pytest.approx(0.5)
    assert head["benchmark"] == pytest.approx(0.5)
    assert head["projection_method"] == "profile"
    first = got["key-messages"]["messages"][0]
    assert "50% of its budget estimate by the end of Q2 2025 (June 2025)" in first
    assert "about 95% of the estimate" in first
    assert "prior-year quarterly profile" in first and "Q1 to Q2 2025, 2 of 4 quarters" in first
    text = _html(out, "2025-08", "health", "budget_execution")
    assert "AMD" in text and "PKR" not in text
    for month in ("January 2025", "February 2025", "April 2025", "May 2025"):
        assert f"no data for {month}" not in text
    assert "Missing months" not in text and "Missing quarters" not in text
    assert "Salary (current, 41)" in text  # the profile's chart of accounts


def test_a_department_behind_on_its_returns_is_read_at_its_own_quarter(testaria):
    got = _executed(testaria["out"], "2025-08", "education", "budget_execution")
    head = got["headline"]
    assert head["utilisation"] == pytest.approx(100 / 500)
    assert head["benchmark"] == pytest.approx(0.25)  # as of the end of Q1
    messages = " ".join(got["key-messages"]["messages"])
    assert "Q2 2025 ended by August 2025 but is not in the data yet" in messages


def test_complete_year_shows_its_outturn(testaria):
    got = _executed(testaria["out"], "2024-12", "health", "budget_execution")
    head = got["headline"]
    assert head["utilisation"] == pytest.approx(950 / 1000)
    assert head["benchmark"] == pytest.approx(1.0)
    first = got["key-messages"]["messages"][0]
    assert "the year is complete: its outturn is 95% of the estimate" in first


def test_overview_follows_the_quarterly_headline(testaria):
    out = testaria["out"]
    got = _executed(out, "2025-08", "province", "province_overview")
    head = got["headline"]
    assert head["utilisation"] == pytest.approx((600 + 100) / (1200 + 500), abs=1e-4)
    assert head["benchmark"] == pytest.approx(0.5)  # the data's as-of: the end of Q2
    text = " ".join(got["key-messages"]["messages"])
    assert "the end of Q2 2025 (June 2025), the latest quarter reported" in text
    assert "300%" not in text
