"""Notebook parameters: defaults as declared, valid under every profile, readable errors."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import yaml

from helpers import profile as profiles
from helpers.data import warehouse as wh

ROOT = Path(__file__).resolve().parents[2]
SUITE = yaml.safe_load((ROOT / "params" / "suite.yaml").read_text())


def _defaults(notebook: str) -> dict:
    nb = json.loads((ROOT / "notebooks" / notebook).read_text())
    cell = next(c for c in nb["cells"] if c["cell_type"] == "code")
    values = {}
    for node in ast.parse("".join(cell["source"])).body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, notebook
        values[node.targets[0].id] = ast.literal_eval(node.value)
    return values


def _slugs(prof: str) -> set[str]:
    doc = yaml.safe_load(profiles.load(prof).registry_file.read_text())
    return {d["slug"] for d in doc["departments"]}


@pytest.mark.parametrize("family", sorted(SUITE["families"]))
def test_notebook_defaults_equal_the_suite_declaration(family):
    fam = SUITE["families"][family]
    declared = {name: spec["default"] for name, spec in fam["parameters"].items()}
    assert _defaults(fam["notebook"]) == declared, (
        f"{fam['notebook']}: the parameters cell differs from params/suite.yaml "
        "(an edited default left in? it invalidates every cached report)"
    )


@pytest.mark.parametrize("prof", profiles.known_profiles())
def test_notebook_defaults_are_valid_under_every_shipped_profile(prof):
    p = profiles.load(prof)
    slugs = _slugs(prof)
    fams = p.families or tuple(SUITE["families"])
    for family in fams:
        default = SUITE["families"][family]["parameters"].get("department", {}).get("default")
        if default is None:
            continue
        shown = default if default in slugs else p.default_department
        assert shown in slugs, (
            f"profile {prof}: {family}'s default department {default!r} is not registered "
            "and the profile's default_department does not stand in for it"
        )
    if prof == SUITE["profile"]:  # the default profile needs no stand-in
        assert all(
            f["parameters"]["department"]["default"] in slugs
            for f in SUITE["families"].values()
            if "department" in f["parameters"]
        )


def test_every_shipped_profile_is_checked():
    shipped = sorted(p.name for p in (ROOT / "params" / "profiles").iterdir() if p.is_dir())
    assert shipped == ["federal", "kp", "punjab"]
    for name in shipped:
        profiles.load(name)  # default_department parses


def test_closest_slugs_case_then_spelling():
    known = ["finance", "health", "higher-education", "elementary-secondary-education"]
    assert wh.closest_slugs("Finance", known) == ["finance"]
    assert wh.closest_slugs("helth", known)[0] == "health"
    assert "higher-education" in wh.closest_slugs("higher education", known)
    assert wh.closest_slugs("zzz", known) == []


def test_errors_show_as_one_line_in_ipython():
    err = wh.UnknownDepartment("Finance", ["finance"])
    lines = err._render_traceback_()  # what IPython displays instead of a traceback
    assert len(lines) == 1 and "'Finance'" in lines[0] and "did you mean 'finance'?" in lines[0]
    assert isinstance(err, KeyError)  # callers catching KeyError still do
    (line,) = wh.BadMonth("month '2031-01' is outside")._render_traceback_()
    assert "BadMonth" in line


def test_ipython_displays_a_bad_department_in_one_line(use_small_warehouse, capsys):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        shell.run_cell("from helpers.data import warehouse as wh\nwh.department('Finance')")
    finally:
        InteractiveShell.clear_instance()
    out = capsys.readouterr()
    text = (out.out + out.err).strip()
    assert len(text.splitlines()) == 1, text
    assert "did you mean 'finance'?" in text


def test_bad_months_name_the_loaded_range(use_small_warehouse):
    first, last = wh.data_range()
    assert wh.report_month(f"{last:%Y-%m}") == last
    with pytest.raises(wh.BadMonth, match=rf"to {last:%Y-%m}\); closest: {last:%Y-%m}"):
        wh.report_month(f"{last.year + 5}-01")
    with pytest.raises(wh.BadMonth, match="YYYY-MM"):
        wh.report_month("2025-3")


def test_notebook_department_keeps_registered_and_refuses_others(use_small_warehouse):
    assert wh.notebook_department("health") == "health"
    with pytest.raises(wh.UnknownDepartment, match="did you mean 'finance'"):
        wh.notebook_department("Finance")


def test_notebook_department_follows_the_profile_default(use_small_warehouse, monkeypatch):
    """Under a profile without `health`, the suite's default shows the profile's default."""
    import dataclasses

    kp = profiles.active()
    fake = dataclasses.replace(kp, name="elsewhere", default_department="finance")
    monkeypatch.setattr(profiles, "active", lambda: fake)
    monkeypatch.setattr(wh, "_suite_department_defaults", lambda: {"health", "nowhere"})
    assert wh.notebook_department("nowhere") == "finance"
    with pytest.raises(wh.UnknownDepartment):
        wh.notebook_department("not-a-default")
