"""A government other than the three shipped ones adopts the suite with files only.

The profile is written in a temporary folder for a made-up government (Testland): a January
fiscal year, amounts in TLD thousand, six regions with their own boundary file, five
departments. Then, exactly as the README's adoption section says, the sample is generated
from the profile, `helpers.cli data` loads it and `helpers.cli reports` publishes a month, each
as a separate process with only environment variables pointing at the new files.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from pypdf import PdfReader

from helpers import paths

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("adopt")]

GOVERNMENT = "Government of the Republic of Testland"
REGIONS = ["North", "South", "East", "West", "Highlands", "Coast"]
DEPARTMENTS = {
    "health": ("Ministry of Health", "Health"),
    "education": ("Ministry of Education and Science", "Education"),
    "finance": ("Ministry of Finance", "Economy"),
    "roads": ("Ministry of Territorial Administration and Infrastructure", "Economy"),
    "social": ("Ministry of Labour and Social Affairs", "Other"),
}


def _regions_geojson() -> dict:
    feats = []
    for i, name in enumerate(REGIONS):
        x, y = 44.0 + (i % 3), 40.0 + (i // 3)
        ring = [[x, y], [x + 1, y], [x + 1, y + 1], [x, y + 1], [x, y]]
        feats.append(
            {
                "type": "Feature",
                "properties": {"reg_code": f"TL{i + 1:02d}", "reg_name": name},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
    return {"type": "FeatureCollection", "features": feats}


def _write_profile(params: Path) -> None:
    shutil.copytree(paths.ROOT / "params", params, ignore=shutil.ignore_patterns("profiles"))
    folder = params / "profiles" / "testland"
    folder.mkdir(parents=True)
    (folder / "regions.geojson").write_text(json.dumps(_regions_geojson()))
    (folder / "profile.yaml").write_text(
        f"""name: testland
government: {{name: {GOVERNMENT}, short: Testland, scope: country}}
currency: {{code: TLD, unit: thousand}}
fiscal_year: {{start_month: 1, label: start}}
geography:
  file: regions.geojson
  id_property: reg_code
  name_property: reg_name
  unit: region
  units: regions
priority_areas: [Health, Education, Economy, Other]
registry: departments.yaml
""",
        encoding="utf-8",
    )
    lines = ["registry_start: 2018-01-01", "departments:"]
    for slug, (name, area) in DEPARTMENTS.items():
        lines += [
            f"  - slug: {slug}",
            f"    priority_area: {area}",
            f'    names: [{{name: "{name}", valid_from: 2018-01-01, valid_to: null}}]',
        ]
    lines += [
        "entities:",
        "  health:",
        '    - {id: TL-H01, name: "National Hospital", type: hospital}',
        '    - {id: TL-H02, name: "Medical University", type: university}',
        "  roads:",
        '    - {id: TL-R01, name: "Road Fund", type: company}',
        "services:",
        '  - {service: clinic, label: "Public clinics", department: health}',
        '  - {service: school, label: "Public schools", department: education}',
    ]
    (folder / "departments.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


# A performance contract written by hand for the Ministry of Health, calendar year 2025, scored
# at the end of Q1 (March 2025) against the plan to date:
# - tl-h1 up, baseline 100, target 140, weight 60: plan at Q1 = 100 + 40/4 = 110; actual 105
#   achieves (105 - 100) / (110 - 100) = 50% -> 30 points;
# - tl-h2 down, no baseline, target 20, weight 40: plan = the annual target 20; actual 25
#   achieves 20 / 25 = 80% -> 32 points.
# Score 30 + 32 = 62 out of 100: grade C (the default bands: C from 60 to 75).
CONTRACT_FILES = {
    "contracts.csv": "department,fiscal_year,signed_date\nhealth,2025,2025-01-20\n",
    "contract_kpis.csv": (
        "kpi_id,department,fiscal_year,title,unit,direction,weight,baseline,target\n"
        "tl-h1,health,2025,Clinics open six days a week,count,up,60,100,140\n"
        "tl-h2,health,2025,Days to reimburse a claim,days,down,40,,20\n"
    ),
    "contract_progress.csv": "kpi_id,month,actual\ntl-h1,2025-03,105\ntl-h2,2025-03,25\n",
}


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args], env=env, capture_output=True, text=True, timeout=900
    )


@pytest.fixture(scope="module")
def testland(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("testland")
    params = root / "params"
    _write_profile(params)
    env = dict(
        os.environ,
        KP_PARAMS=str(params),
        KP_PROFILE="testland",
        KP_WAREHOUSE=str(root / "warehouse.duckdb"),
        KP_OUTPUTS=str(root / "outputs"),
    )
    raw = root / "raw"
    steps = {"sample": _run(["helpers.data.sample", "--out", str(raw)], env)}
    for name, text in CONTRACT_FILES.items():
        (raw / name).write_text(text, encoding="utf-8")
    steps |= {
        "data": _run(["helpers.cli", "data", "--data-dir", str(raw)], env),
        "reports": _run(
            ["helpers.cli", "reports", "--month", "2025-03", "--dept", "health,roads,province"],
            env,
        ),
    }
    return {"root": root, "raw": raw, "month": root / "outputs" / "2025-03", "steps": steps}


def _text(path: Path) -> str:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser").get_text(" ")


def test_every_step_succeeds(testland):
    for name, step in testland["steps"].items():
        assert step.returncode == 0, f"{name} failed:\n{step.stdout[-3000:]}\n{step.stderr[-3000:]}"


def test_sample_follows_the_profile(testland):
    alloc = (testland["raw"] / "budget_allocations.csv").read_text().splitlines()
    years = {line.split(",")[1] for line in alloc[1:]}
    assert years and all(re.fullmatch(r"20\d\d", y) for y in years), years  # January years
    actuals = (testland["raw"] / "target_actuals.csv").read_text()
    codes = set(re.findall(r"\bTL\d\d\b", actuals))
    assert codes and codes <= {f"TL{i:02d}" for i in range(1, 7)}


def test_every_family_is_published_for_the_new_government(testland):
    manifest = json.loads((testland["month"] / "manifest.json").read_text())
    families = {j["family"] for j in manifest["jobs"] if j["status"] == "done"}
    assert families == {
        "budget_execution",
        "stocktake",
        "citizen_survey",
        "pse_oversight",
        "pse_province",
        "performance_contract",
        "province_overview",
    }
    assert {j["department"] for j in manifest["jobs"]} - {None} <= set(DEPARTMENTS)
    assert manifest["profile"]["government"] == GOVERNMENT


def test_reports_speak_the_new_governments_language(testland):
    month = testland["month"]
    portal = _text(month / "index.html")
    assert GOVERNMENT in portal
    for html in month.rglob("*.html"):
        text = _text(html)
        # KP's words; a month called July is fine, KP's July-June year is not
        for word in ("Khyber", "PKR", "Punjab", "July to", "from July", "July-June", "1 July"):
            assert word not in text, f"{html.relative_to(month)} says {word!r}"
    budget = _text(month / "health" / "budget_execution.html")
    assert GOVERNMENT in budget
    assert "January to March" in budget  # the fiscal year to date, in the profile's calendar
    assert "TLD" in budget
    survey = _text(month / "health" / "citizen_survey.html")
    assert "region" in survey.lower()


def test_hand_written_contract_is_scored_as_worked_out_by_hand(testland):
    text = _text(testland["month"] / "health" / "performance_contract.html")
    assert "scores 62 out of 100 (grade C, Good)" in text
    assert "to Q1 2025, against the plan to date" in text
    assert (
        "Furthest behind plan: Clinics open six days a week (105 against a plan of 110 for Q1 2025: 50% achieved; weight 60)"
        in text
    )
    overview = _text(testland["month"] / "province" / "province_overview.html")
    assert "Performance contracts 2025: 1 of 1 scored" in overview


def test_pdf_names_the_government(testland):
    pdf = PdfReader(testland["month"] / "health" / "budget_execution.pdf")
    assert pdf.metadata.author == GOVERNMENT


# ------------------------------------------------------------------ a family used on its own


@pytest.fixture(scope="module")
def budget_only(kp_small_raw, tmp_path_factory) -> dict:
    """The small KP sample with only its budget files: what a finance department hands over."""
    root = tmp_path_factory.mktemp("budget_only")
    raw = root / "raw"
    raw.mkdir()
    for p in kp_small_raw.glob("budget_*"):
        shutil.copy(p, raw / p.name)
    from helpers.data import ingest
    from helpers.engine import run as engine_run

    wh = root / "warehouse.duckdb"
    assert ingest.run(raw, wh, log=lambda *a, **k: None) == 0
    code = engine_run.cli(
        [
            "--month",
            "2025-03",
            "--warehouse",
            str(wh),
            "--outputs",
            str(root / "out"),
            "--jobs",
            "2",
        ]
    )
    return {"code": code, "month": root / "out" / "2025-03"}


def test_budget_alone_publishes_budget_reports_and_says_the_rest_is_not_provided(budget_only):
    assert budget_only["code"] == 0
    month = budget_only["month"]
    manifest = json.loads((month / "manifest.json").read_text())
    assert {j["family"] for j in manifest["jobs"]} == {"budget_execution", "province_overview"}
    assert all(j["status"] == "done" for j in manifest["jobs"])
    assert {n["family"] for n in manifest["not_provided"]} == {
        "stocktake",
        "citizen_survey",
        "pse_oversight",
        "pse_province",
        "performance_contract",
    }
    portal = _text(month / "index.html")
    assert "not provided" in portal.lower()
    assert "Failed 0" in " ".join(portal.split())  # not provided is not a failure
    overview = _text(month / "province" / "province_overview.html")
    # The overview shows what exists: nothing about targets, surveys or entities.
    for absent in ("delivery targets", "satisfied", "entities"):
        assert absent not in overview, absent
