"""The shipped jurisdiction profiles (kp, punjab, federal) and the sample generator under them."""

from __future__ import annotations

import re

import pandas as pd
import pytest
import yaml

from helpers import profile
from helpers.data import calendar
from helpers.data.registry import load_registry
from helpers.data.sample import SampleOptions, write_sample

SHIPPED = ("kp", "punjab", "federal")


@pytest.mark.parametrize("name", SHIPPED)
def test_each_shipped_profile_parses_and_its_registry_loads(name):
    assert name in profile.known_profiles()
    prof = profile.load(name)
    assert prof.name == name and prof.government and prof.short_name
    assert prof.currency.code == "PKR" and prof.fy_start_month == 7
    assert "Other" in prof.priority_areas
    with profile.use(name):
        reg = load_registry()
    assert len(reg.slugs) >= 30
    assert not reg.entities.empty
    # every survey service and entity belongs to a registered department
    assert set(reg.entities["department"]) <= reg.slugs
    assert set(reg.survey_services["department"]) <= reg.slugs


@pytest.mark.parametrize("name", SHIPPED)
def test_priority_areas_used_in_each_registry_are_the_profiles(name):
    prof = profile.load(name)
    doc = yaml.safe_load(prof.registry_file.read_text(encoding="utf-8"))
    used = {d["priority_area"] for d in doc["departments"]}
    assert used <= set(prof.priority_areas)


@pytest.mark.parametrize("name", SHIPPED)
def test_sample_settings_name_registered_departments(name):
    prof = profile.load(name)
    with profile.use(prof):
        slugs = load_registry().slugs
    cfg = prof.sample
    for key in ("sizes", "targets", "gaps"):
        assert set(cfg.get(key) or {}) <= slugs, key
    for key in ("under_spenders", "over_spenders", "extra_target_departments"):
        assert set(cfg.get(key) or []) <= slugs, key


def test_punjab_has_36_districts_with_punjab_pcodes():
    prof = profile.load("punjab")
    assert prof.geography is not None
    assert prof.geography.id_property == "admin2Pcode"
    with profile.use(prof):
        reg = load_registry()
    assert len(reg.districts) == 36
    assert all(re.fullmatch(r"PK6\d\d", pc) for pc in reg.pcodes)
    assert "Lahore" in set(reg.districts["name"])


def test_federal_has_no_districts_and_no_survey():
    prof = profile.load("federal")
    assert prof.geography is None
    assert prof.families is not None and "citizen_survey" not in prof.families
    with profile.use(prof):
        reg = load_registry()
    assert reg.districts.empty and reg.survey_services.empty


def test_punjab_sample_uses_only_punjab_pcodes_and_registry_slugs(tmp_path):
    with profile.use("punjab"):
        reg = load_registry()
        deps = ("school-education", "primary-secondary-healthcare", "zakat-ushr", "home")
        opts = SampleOptions(
            seed=5, first_fy="2024-25", last_fy="2024-25", respondents=400, departments=deps
        )
        write_sample(tmp_path, opts)
        waves = sorted(p.name for p in tmp_path.glob("survey_*.sav"))
    assert waves == ["survey_2024-12.sav", "survey_2025-06.sav"]
    for name in ("budget_allocations", "budget_monthly", "targets", "milestones", "ratings"):
        df = pd.read_csv(tmp_path / f"{name}.csv")
        assert set(df["department"]) <= set(deps) <= reg.slugs, name
    targets = pd.read_csv(tmp_path / "targets.csv")
    assert {"school-education", "primary-secondary-healthcare", "home"} <= set(
        targets["department"]
    )
    actuals = pd.read_csv(tmp_path / "target_actuals.csv", dtype={"district_pcode": str})
    pcodes = set(actuals["district_pcode"].dropna())
    assert pcodes and pcodes <= reg.pcodes
    pse = pd.read_excel(tmp_path / "pse_returns.xlsx")
    assert set(pse["entity_id"]) <= reg.entity_ids

    import pyreadstat

    df, meta = pyreadstat.read_sav(str(tmp_path / "survey_2024-12.sav"))
    assert set(df["district_pcode"]) == reg.pcodes
    assert meta.file_label.startswith("Punjab citizen perception survey")
    used = {c[len("used_") :] for c in df.columns if c.startswith("used_")}
    assert used == set(reg.services)


def test_federal_sample_writes_only_its_families(tmp_path):
    with profile.use("federal"):
        reg = load_registry()
        opts = SampleOptions(seed=5, departments=("finance", "power", "interior", "cabinet"))
        write_sample(tmp_path, opts)
    names = {p.name for p in tmp_path.iterdir()}
    assert not any(n.startswith("survey_") for n in names)
    assert {"budget_allocations.csv", "targets.csv", "pse_returns.xlsx"} <= names
    targets = pd.read_csv(tmp_path / "targets.csv")
    assert (targets["has_districts"] == "no").all()
    actuals = pd.read_csv(tmp_path / "target_actuals.csv", dtype={"district_pcode": str})
    assert actuals["district_pcode"].isna().all()
    alloc = pd.read_csv(tmp_path / "budget_allocations.csv")
    assert set(alloc["fiscal_year"]) == {"2022-23", "2023-24", "2024-25", "2025-26"}
    assert set(alloc["department"]) <= reg.slugs


def _january_profile(tmp_path) -> profile.Profile:
    folder = tmp_path / "janland"
    folder.mkdir()
    (folder / "departments.yaml").write_text(
        yaml.safe_dump(
            {
                "departments": [
                    {
                        "slug": slug,
                        "priority_area": area,
                        "names": [{"name": name, "valid_from": "2018-01-01", "valid_to": None}],
                    }
                    for slug, area, name in (
                        ("education", "Schools", "Ministry of Education"),
                        ("health", "Health", "Ministry of Health"),
                        ("treasury", "Other", "Treasury"),
                    )
                ],
                "entities": {
                    "health": [{"id": "E-1", "name": "National Hospital", "type": "authority"}]
                },
                "services": [],
            }
        ),
        encoding="utf-8",
    )
    doc = {
        "name": "janland",
        "government": {"name": "Government of Janland", "short": "Janland", "scope": "country"},
        "currency": {"code": "JLD", "unit": "thousand"},
        "fiscal_year": {"start_month": 1, "label": "start"},
        "priority_areas": ["Schools", "Health", "Other"],
        "registry": "departments.yaml",
    }
    (folder / "profile.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    return profile.parse(doc, folder, "janland")


def test_january_profile_sample_labels_years_and_starts_budget_in_january(tmp_path):
    prof = _january_profile(tmp_path)
    out = tmp_path / "raw"
    with profile.use(prof):
        assert calendar.fiscal_year("2022-07") == "2022"
        opts = SampleOptions(seed=3)
        assert opts.fiscal_years == ["2022", "2023", "2024", "2025"]
        write_sample(out, opts)
    alloc = pd.read_csv(out / "budget_allocations.csv", dtype={"fiscal_year": str})
    assert sorted(set(alloc["fiscal_year"])) == ["2022", "2023", "2024", "2025"]
    monthly = pd.read_csv(out / "budget_monthly.csv")
    assert monthly["month"].min() == "2022-01" and monthly["month"].max() == "2025-12"
    first_year = monthly.loc[monthly["month"].str.startswith("2022")]
    assert sorted(first_year["month"].unique())[0] == "2022-01"
    # revisions fall in the 7th-9th month of the year (July..September for a January year)
    assert set(alloc["revised_month"].str[5:]) <= {"07", "08", "09"}
    # no geography: no survey files, no district actuals; targets for the non-Other areas
    assert not list(out.glob("survey_*"))
    targets = pd.read_csv(out / "targets.csv")
    assert {"education", "health"} <= set(targets["department"])
    assert "treasury" not in set(targets["department"])
    # PSE quarters end in March, June, September, December
    pse = pd.read_excel(out / "pse_returns.xlsx")
    assert set(pd.to_datetime(pse["quarter_end"]).dt.month) <= {3, 6, 9, 12}
