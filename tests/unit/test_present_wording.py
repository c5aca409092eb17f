"""The shared wording helpers (helpers.present.wording): one home for every report's sentences,
and the page record every family's loader returns."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from helpers.present import wording
from helpers.present.display import META_MIME, Page


def test_name_lists_use_semicolons_when_names_hold_commas():
    assert wording.join([]) == ""
    assert wording.join(["A"]) == "A"
    assert wording.join(["A", "B"]) == "A and B"
    assert wording.join(["A", "B", "C"]) == "A, B and C"
    assert wording.join(["Finance", "Social Welfare, Special Education", "Food"]) == (
        "Finance; Social Welfare, Special Education; and Food"
    )
    assert wording.join(["Finance", "Planning, Development"]) == "Finance and Planning, Development"


def test_percentages_and_points():
    assert wording.pct(0.613) == "61%"
    assert wording.pct(0.6134, 1) == "61.3%"
    assert wording.pct(None) == "n/a"
    assert wording.pct(math.nan) == "n/a"
    assert wording.pct(pd.NA) == "n/a"
    assert wording.pts(-0.12) == "12 points"
    assert wording.pts(0.01) == "1 point"


def test_counts_take_the_plural_form():
    assert wording.plural(1, "target") == "1 target"
    assert wording.plural(3, "target") == "3 targets"
    assert wording.plural(0, "entity", "entities") == "0 entities"
    assert wording.plural(1, "entity", "entities") == "1 entity"


@pytest.mark.parametrize(
    ("gap", "in_line"),
    [(0.0, True), (0.0049, True), (-0.0049, True), (0.005, False), (-0.006, False)],
)
def test_a_gap_below_half_a_point_reads_as_in_line(gap, in_line):
    # half a percentage point rounds to 0 points in a sentence (0.0049 -> '0 points')
    assert wording.in_line(gap) is in_line


def test_lower_first():
    assert wording.lower_first("Waiting time") == "waiting time"
    assert wording.lower_first("") == ""


def test_page_builds_the_title_block():
    page = Page(
        family="stocktake",
        title="Delivery stocktake",
        department="Health",
        month="March 2025",
        as_of="February 2025",
        report=None,
    )
    bundle = page.meta()._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert data[META_MIME] == {
        "title": "Delivery stocktake",
        "department": "Health",
        "month": "March 2025",
        "as_of": "February 2025",
        "family": "stocktake",
    }
    assert page.load_notes() == []
