"""A profile file is checked before anything runs: every missing or invalid field is refused
with the file and the field named, and the CLIs exit 2 with one line."""

from __future__ import annotations

import copy

import pytest
import yaml

from helpers import paths, profile
from helpers.data import calendar

KP = yaml.safe_load((paths.PARAMS_DIR / "profiles" / "kp" / "profile.yaml").read_text())


def _folder(tmp_path, doc):
    (tmp_path / "departments.yaml").write_text("departments: []\n")
    (tmp_path / "profile.yaml").write_text(yaml.safe_dump(doc))
    return tmp_path


def _doc(**changes):
    doc = copy.deepcopy(KP)
    for path, value in changes.items():
        keys = path.split("__")
        node = doc
        for k in keys[:-1]:
            node = node[k]
        if value is None:
            node.pop(keys[-1])
        else:
            node[keys[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"government__name": None}, "government.name"),
        ({"government": None}, "government"),
        ({"fiscal_year__start_month": 13}, "fiscal_year.start_month"),
        ({"fiscal_year__start_month": "July"}, "fiscal_year.start_month"),
        ({"fiscal_year__label": "2024/25"}, "fiscal_year.label"),
        ({"currency__unit": "lakh"}, "currency.unit"),
        ({"geography__file": "nowhere.geojson"}, "geography.file"),
        ({"priority_areas": []}, "priority_areas"),
        ({"registry": "missing.yaml"}, "registry"),
        ({"colour": "green"}, "colour"),
    ],
)
def test_an_invalid_field_is_named_with_its_file(tmp_path, changes, field):
    doc = _doc(**changes) if "colour" not in changes else {**KP, "colour": "green"}
    folder = _folder(tmp_path, doc)
    with pytest.raises(profile.ProfileError) as err:
        profile.parse(doc, folder)
    assert str(folder / "profile.yaml") in str(err.value)
    assert f"'{field}'" in str(err.value)


def test_unknown_profile_lists_the_known_ones():
    with pytest.raises(
        profile.ProfileError, match="unknown profile 'atlantis'; known profiles: "
    ) as e:
        profile.load("atlantis")
    for name in ("kp", "punjab", "federal"):
        assert name in str(e.value)


@pytest.mark.parametrize(
    ("start", "label", "month", "fy", "index", "span"),
    [
        (7, "start-end", "2025-03", "2024-25", 9, "July to March"),
        (1, "start", "2025-03", "2025", 3, "January to March"),
        (4, "start-end", "2025-03", "2024-25", 12, "April to March"),
        (4, "start-end", "2025-04", "2025-26", 1, "April"),
        (10, "end", "2024-11", "2025", 2, "October to November"),
    ],
)
def test_the_calendar_follows_the_profile(tmp_path, start, label, month, fy, index, span):
    doc = _doc(fiscal_year={"start_month": start, "label": label})
    prof = profile.parse(doc, _folder(tmp_path, doc))
    with profile.use(prof):
        assert calendar.fiscal_year(month) == fy
        assert calendar.fy_month_index(month) == index
        assert calendar.span_label(month) == span
        assert calendar.fy_start(fy).month == start
        assert calendar.fy_months(fy)[index - 1] == calendar.parse_month(month)


def test_money_follows_the_currency_unit(tmp_path):
    doc = _doc(currency={"code": "AMD", "unit": "thousand"})
    prof = profile.parse(doc, _folder(tmp_path, doc))
    assert prof.currency.label == "AMD thousand"
    assert prof.currency.fmt(950.0) == "AMD 950.0k"
    assert prof.currency.fmt(12_345.0, compact=True) == "AMD 12.3m"  # 12,345 thousand
    assert profile.load("kp").currency.fmt(12_345.0, compact=True) == "PKR 12.3bn"


def test_reports_cli_refuses_an_unknown_profile_in_one_line(capsys):
    from helpers.engine import run as engine_run

    assert engine_run.cli(["--profile", "atlantis", "--month", "2025-03"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown profile 'atlantis'" in err
