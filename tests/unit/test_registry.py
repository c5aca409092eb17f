"""The dated registry: departments, districts, entities, services."""

from __future__ import annotations

import datetime as dt

import pytest

from helpers import profile
from helpers.data.registry import RegistryError, load_registry

PRIORITY_AREAS = profile.load("kp").priority_areas


@pytest.fixture(scope="module")
def reg():
    return load_registry()


def test_thirty_three_departments_with_slugs(reg):
    assert len(reg.slugs) == 33
    for slug in (
        "health",
        "elementary-secondary-education",
        "local-government",
        "energy-power",
        "finance",
        "higher-education",
    ):
        assert slug in reg.slugs
    assert set(reg.departments["priority_area"]) <= set(PRIORITY_AREAS)
    # one row per department valid today
    assert len(reg.valid_on(dt.date(2025, 3, 1))) == 33


def test_thirty_five_districts_with_pcodes(reg):
    d = reg.districts
    assert len(d) == 35
    assert d["pcode"].str.fullmatch(r"PK5\d\d").all()
    assert d.loc[d["pcode"] == "PK528", "name"].item() == "Peshawar"


def test_rename_keeps_slug_and_resolves_by_date(reg):
    old = "Sports, Culture, Tourism, Archaeology, Museums & Youth Affairs"
    assert reg.resolve(old) == "sports-culture-tourism"
    assert reg.resolve(old, on=dt.date(2023, 6, 1)) == "sports-culture-tourism"
    with pytest.raises(KeyError):
        reg.resolve(old, on=dt.date(2024, 3, 1))  # valid_to is exclusive
    assert reg.name("sports-culture-tourism", dt.date(2024, 2, 29)) == old
    assert reg.name("sports-culture-tourism", dt.date(2024, 3, 1)) == "Sports, Culture & Tourism"


def test_entities_and_services(reg):
    assert 165 <= len(reg.entities) <= 190
    assert set(reg.entities["department"]) <= reg.slugs
    assert reg.entities["entity_id"].is_unique
    health = reg.entities.loc[reg.entities["department"] == "health", "entity_type"]
    assert (health == "medical teaching institution").sum() >= 10
    s = reg.survey_services.set_index("service")["department"]
    assert 10 <= len(s) <= 12
    assert s["bhu"] == "health" and s["water"] == "public-health-engineering"


def _write(tmp_path, body: str):
    p = tmp_path / "departments.yaml"
    p.write_text(body, encoding="utf-8")
    return p


def test_bad_registry_is_reported(tmp_path):
    dup = """departments:
  - {slug: health, priority_area: Health, names: [{name: Health, valid_from: 2018-08-01}]}
  - {slug: health, priority_area: Health, names: [{name: Health 2, valid_from: 2018-08-01}]}
"""
    with pytest.raises(RegistryError, match="duplicate slug 'health'"):
        load_registry(_write(tmp_path, dup))
    area = """departments:
  - {slug: health, priority_area: Wellbeing, names: [{name: Health, valid_from: 2018-08-01}]}
"""
    with pytest.raises(RegistryError, match="priority_area 'Wellbeing'"):
        load_registry(_write(tmp_path, area))
    overlap = """departments:
  - slug: health
    priority_area: Health
    names:
      - {name: Old, valid_from: 2018-08-01, valid_to: 2024-06-01}
      - {name: New, valid_from: 2024-03-01}
"""
    with pytest.raises(RegistryError, match="overlap"):
        load_registry(_write(tmp_path, overlap))
    unknown = """departments:
  - {slug: health, priority_area: Health, names: [{name: Health, valid_from: 2018-08-01}]}
services:
  - {service: bhu, label: BHU, department: wellness}
"""
    with pytest.raises(RegistryError, match="unknown department 'wellness'"):
        load_registry(_write(tmp_path, unknown))


def test_slugs_are_bounded_and_names_carry_no_direction_controls(tmp_path):
    def one(slug: str, name: str = "Health") -> str:
        return (
            "departments:\n"
            f'  - {{slug: {slug}, priority_area: Health, names: [{{name: "{name}", '
            "valid_from: 2018-08-01}]}\n"
        )

    # a 300-character slug would make every output file name too long
    with pytest.raises(RegistryError, match="slug longer than 64 characters \\(300\\)"):
        load_registry(_write(tmp_path, one("a" * 300)))
    # 'province' is the province reports' folder: a department of that slug would overwrite it
    with pytest.raises(RegistryError, match="slug 'province' is reserved"):
        load_registry(_write(tmp_path, one("province")))
    # U+202E turns 'Health \u202eecnaniF' into what reads as 'Health Finance' reversed
    with pytest.raises(RegistryError, match="direction control U\\+202E"):
        load_registry(_write(tmp_path, one("health", "Health \u202eecnaniF")))
    assert load_registry(_write(tmp_path, one("a" * 64))).slugs == {"a" * 64}
