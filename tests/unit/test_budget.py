"""Budget execution analysis on tiny hand-made frames; expected values worked out by hand.

The base case (department "d", FY 2024-25, BE 300):
    current A01 (salary)      BE 120   spend 10, 10, 10 (Jul-Sep)  releases 12, 12, 12
    current A03 (non-salary)  BE  60   spend  4,  5,  6            releases 20,  0,  0
    development A12           BE 120   spend  0,  0, 30            releases 20,  0,  0
Department totals per month: Jul 14, Aug 15, Sep 46; cumulative 75 = 25% of BE.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from helpers import budget
from helpers.analysis.budget import month_coverage
from helpers.data.calendar import fy_months
from helpers.present import budget as view

ROOT = Path(__file__).resolve().parents[2]

LINES = [("current", "A01", 120.0), ("current", "A03", 60.0), ("development", "A12", 120.0)]
SPEND = {"A01": [10.0, 10.0, 10.0], "A03": [4.0, 5.0, 6.0], "A12": [0.0, 0.0, 30.0]}
RELEASE = {"A01": [12.0, 12.0, 12.0], "A03": [20.0, 0.0, 0.0], "A12": [20.0, 0.0, 0.0]}


def _alloc(fy: str = "2024-25", dept: str = "d", revised: dict | None = None) -> list[dict]:
    rows = []
    for fund, oc, be in LINES:
        re_, rm = (revised or {}).get(oc, (None, None))
        rows.append(
            {
                "department": dept,
                "fiscal_year": fy,
                "fund": fund,
                "object_class": oc,
                "budget_estimate": be,
                "revised_estimate": re_,
                "revised_month": rm,
            }
        )
    return rows


def _monthly_rows(fy: str, spend: dict, release: dict, dept: str = "d") -> list[dict]:
    rows = []
    for fund, oc, _be in LINES:
        for month, e, r in zip(fy_months(fy), spend[oc], release[oc], strict=False):
            rows.append(
                {
                    "department": dept,
                    "fiscal_year": fy,
                    "month": month,
                    "fund": fund,
                    "object_class": oc,
                    "release": r,
                    "expenditure": e,
                }
            )
    return rows


def base(revised: dict | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    return (
        pd.DataFrame(_alloc(revised=revised)),
        pd.DataFrame(_monthly_rows("2024-25", SPEND, RELEASE)),
    )


def _flat_year(fy: str, per_month: list[float]) -> list[dict]:
    """A prior year whose department total per month is ``per_month`` (all on A01)."""
    zeros = [0.0] * 12
    return _monthly_rows(
        fy,
        {"A01": per_month, "A03": zeros, "A12": zeros},
        {"A01": per_month, "A03": zeros, "A12": zeros},
    )


def with_history(*years: tuple[str, list[float]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    alloc, monthly = base()
    extra_a = [r for fy, _ in years for r in _alloc(fy)]
    extra_m = [r for fy, vals in years for r in _flat_year(fy, vals)]
    return (
        pd.concat([alloc, pd.DataFrame(extra_a)], ignore_index=True),
        pd.concat([monthly, pd.DataFrame(extra_m)], ignore_index=True),
    )


FLAT = [10.0] * 12  # annual 120, every month 1/12
JUNE = [10.0] * 11 + [20.0]  # annual 130, June 20/130


def drop_month(monthly: pd.DataFrame, month: str, object_class: str | None = None):
    hit = pd.to_datetime(monthly["month"]) == pd.Timestamp(month)
    if object_class:
        hit &= monthly["object_class"] == object_class
    return monthly.loc[~hit].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Benchmark and utilisation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "month, expected",
    [("2024-07", 1 / 12), ("2025-03", 0.75), ("2025-06", 1.0), ("2024-12", 0.5)],
)
def test_time_benchmark(month, expected):
    assert budget.time_benchmark(month) == pytest.approx(expected)


def test_utilisation_by_scope():
    alloc, monthly = base()
    pos = budget.utilisation(alloc, monthly, "d", "2024-09").set_index("scope")
    assert list(pos.index) == ["total", "current", "salary", "non_salary", "development"]
    # total 75 / 300; releases 36 + 20 + 20 = 76
    assert pos.loc["total", "expenditure"] == pytest.approx(75)
    assert pos.loc["total", "util_be"] == pytest.approx(0.25)
    assert pos.loc["total", "releases"] == pytest.approx(76)
    assert pos.loc["total", "util_releases"] == pytest.approx(75 / 76)
    assert pos.loc["total", "released_unspent"] == pytest.approx(1)
    assert pos.loc["total", "benchmark"] == pytest.approx(0.25)
    assert pos.loc["total", "gap_be"] == pytest.approx(0.0)
    # salary 30/120, non-salary 15/60, current 45/180, development 30/120
    assert pos.loc["salary", "util_be"] == pytest.approx(0.25)
    assert pos.loc["non_salary", "util_be"] == pytest.approx(0.25)
    assert pos.loc["current", "expenditure"] == pytest.approx(45)
    assert pos.loc["development", "util_releases"] == pytest.approx(30 / 20)
    # no revised estimate: the final grant is unknown, not BE
    assert math.isnan(pos.loc["total", "final_grant"])
    assert math.isnan(pos.loc["total", "util_final_grant"])
    # no prior year: last year's point is unknown
    assert math.isnan(pos.loc["total", "last_year_util_be"])


def test_a_source_without_releases_reports_them_unknown_and_shows_none():
    """Releases blank on every row (a source with no cash releases): every release figure is
    unknown (NaN, never 0 or the spending), the rest is unchanged, and no table, sentence,
    chart or flag rule of the monthly report mentions releases."""
    from helpers.present import budget as view

    alloc, monthly = base()
    monthly["release"] = math.nan
    r = budget.execution_report(alloc, monthly, "d", "2024-09")
    assert not r.releases
    pos = r.position.set_index("scope")
    assert pos["releases"].isna().all() and pos["util_releases"].isna().all()
    assert pos["released_unspent"].isna().all()
    assert pos.loc["total", "expenditure"] == pytest.approx(75)  # 14 + 15 + 46, as with them
    assert pos.loc["total", "util_be"] == pytest.approx(0.25)
    assert r.trend["release"].isna().all() and r.trend["cum_release"].isna().all()
    assert not (r.flags["kind"] == "above_releases").any()
    shown = [view.figures_table(r), view.position_table(r), view.monthly_table(r)]
    shown += [view.object_class_table(r), *view.data_notes(r)]
    text = " ".join([t.html for t in shown] + view.key_message_sentences(r, "D"))
    svg = view.components_chart(r).data
    assert "releas" not in text.lower() and b"releases" not in svg, text
    assert "75.0" in view.monthly_table(r).html.replace(",", "")  # cumulative expenditure
    rev = {oc: (100.0, dt.date(2024, 8, 1)) for oc in ("A01", "A03", "A12")}
    alloc_rev = base(revised=rev)[0]
    known = budget.execution_report(alloc_rev, monthly, "d", "2024-09")  # final grant known
    said = " ".join(view.key_message_sentences(known, "D"))
    assert "Against the final grant of" in said and "releas" not in said.lower(), said
    with_them = budget.execution_report(*base(), "d", "2024-09")
    assert with_them.releases and "releases" in view.figures_table(with_them).html.lower()


def test_month_one_of_the_fiscal_year():
    alloc, monthly = base()
    pos = budget.utilisation(alloc, monthly, "d", "2024-07").set_index("scope")
    # July only: 10 + 4 + 0 = 14 of 300; benchmark 1/12
    assert pos.loc["total", "expenditure"] == pytest.approx(14)
    assert pos.loc["total", "util_be"] == pytest.approx(14 / 300)
    assert pos.loc["total", "benchmark"] == pytest.approx(1 / 12)
    cov = month_coverage(alloc, monthly, "d", "2024-07")
    assert cov["status"].tolist() == ["reported"]


def test_final_grant_only_once_known_for_every_line():
    rev = {
        "A01": (130.0, dt.date(2025, 1, 1)),
        "A03": (60.0, dt.date(2025, 1, 1)),
        "A12": (100.0, dt.date(2025, 2, 1)),
    }
    alloc, monthly = base(revised=rev)
    # January 2025: A01 and A03 known (current 190), A12 not yet -> total unknown
    pos = budget.utilisation(alloc, monthly, "d", "2025-01").set_index("scope")
    assert pos.loc["current", "final_grant"] == pytest.approx(190)
    assert pos.loc["current", "util_final_grant"] == pytest.approx(45 / 190)
    assert math.isnan(pos.loc["total", "final_grant"])
    assert math.isnan(pos.loc["development", "final_grant"])
    # February 2025: all known -> 130 + 60 + 100 = 290
    pos = budget.utilisation(alloc, monthly, "d", "2025-02").set_index("scope")
    assert pos.loc["total", "final_grant"] == pytest.approx(290)
    assert pos.loc["total", "util_final_grant"] == pytest.approx(75 / 290)


def test_same_point_last_year():
    # 2023-24 flat 10 a month on A01 with the same BE (300): by September 30 / 300 = 0.10
    alloc, monthly = with_history(("2023-24", FLAT))
    pos = budget.utilisation(alloc, monthly, "d", "2024-09").set_index("scope")
    assert pos.loc["total", "last_year_util_be"] == pytest.approx(0.10)
    assert pos.loc["total", "change_vs_last_year"] == pytest.approx(0.15)
    # salary last year 30 / 120
    assert pos.loc["salary", "last_year_util_be"] == pytest.approx(0.25)


def test_by_object_class():
    alloc, monthly = base()
    oc = budget.utilisation_by_object_class(alloc, monthly, "d", "2024-09").set_index(
        "object_class"
    )
    assert oc.loc["A01", "label"] == "Employee related expenses"
    assert oc.loc["A03", "util_be"] == pytest.approx(15 / 60)
    # shares of spending 30/75, 15/75, 30/75
    assert oc["share_of_spending"].tolist() == pytest.approx([0.4, 0.2, 0.4])
    assert oc.loc["A12", "util_releases"] == pytest.approx(1.5)


def test_rows_after_the_report_month_are_ignored():
    alloc, monthly = base()
    pos = budget.utilisation(alloc, monthly, "d", "2024-08").set_index("scope")
    # July + August: 14 + 15 = 29
    assert pos.loc["total", "expenditure"] == pytest.approx(29)


# ---------------------------------------------------------------------------------------------
# Missing months
# ---------------------------------------------------------------------------------------------


def test_missing_month_is_a_gap_not_zero():
    alloc, monthly = base()
    monthly = drop_month(monthly, "2024-08-01")
    cov = month_coverage(alloc, monthly, "d", "2024-09")
    assert cov["status"].tolist() == ["reported", "missing", "reported"]
    trend = budget.monthly_trend(alloc, monthly, "d", "2024-09")
    aug = trend.loc[trend["month"] == pd.Timestamp("2024-08-01")].iloc[0]
    assert aug["status"] == "missing"
    assert math.isnan(aug["expenditure"])  # not 0
    # cumulative covers reported months only: 14 + 46 = 60
    pos = budget.utilisation(alloc, monthly, "d", "2024-09").set_index("scope")
    assert pos.loc["total", "expenditure"] == pytest.approx(60)
    report = budget.execution_report(alloc, monthly, "d", "2024-09")
    assert report.missing_months == [dt.date(2024, 8, 1)]
    assert report.months_reported == 2
    kinds = report.flags["kind"].tolist()
    assert "missing_months" in kinds
    msg = report.flags.set_index("kind").loc["missing_months", "message"]
    assert "August 2024" in msg
    # the jump rule does not compare September with July across the gap
    assert "jump" not in kinds
    sentences = view.key_message_sentences(report, "Dept")
    assert "no data for August 2024" in sentences[0]


def test_incomplete_month():
    alloc, monthly = base()
    monthly = drop_month(monthly, "2024-08-01", object_class="A12")
    cov = month_coverage(alloc, monthly, "d", "2024-09")
    assert cov["status"].tolist() == ["reported", "incomplete", "reported"]
    assert cov["rows"].tolist() == [3, 2, 3]
    report = budget.execution_report(alloc, monthly, "d", "2024-09")
    assert "incomplete_months" in report.flags["kind"].tolist()


# ---------------------------------------------------------------------------------------------
# Monthly trend and seasonality
# ---------------------------------------------------------------------------------------------


def test_monthly_trend_and_june_share():
    alloc, monthly = with_history(("2023-24", JUNE))
    trend = budget.monthly_trend(alloc, monthly, "d", "2024-09")
    this = trend.loc[trend["fiscal_year"] == "2024-25"]
    assert this["expenditure"].tolist() == pytest.approx([14, 15, 46])
    assert this["cum_expenditure"].tolist() == pytest.approx([14, 29, 75])
    assert this["cum_util_be"].tolist() == pytest.approx([14 / 300, 29 / 300, 75 / 300])
    seas = budget.seasonality(trend).set_index("fiscal_year")
    # June 20 of 130; May + June 30 of 130
    assert seas.loc["2023-24", "june_share"] == pytest.approx(20 / 130)
    assert seas.loc["2023-24", "may_june_share"] == pytest.approx(30 / 130)
    assert "2024-25" not in seas.index  # the unfinished year has no share


def test_monthly_trend_of_chosen_years_matches_the_whole_trend():
    # the province summary asks for the current year only (its flags read no other)
    alloc, monthly = with_history(("2022-23", FLAT), ("2023-24", JUNE))
    whole = budget.monthly_trend(alloc, monthly, "d", "2024-09")
    for years in (["2024-25"], ["2023-24"], ["2022-23", "2024-25"]):
        part = budget.monthly_trend(alloc, monthly, "d", "2024-09", years=years)
        assert sorted(set(part["fiscal_year"])) == years
        want = whole.loc[whole["fiscal_year"].isin(years)].reset_index(drop=True)
        pd.testing.assert_frame_equal(part, want)
    assert budget.monthly_trend(alloc, monthly, "d", "2024-09", years=["2024-25"])[
        "expenditure"
    ].tolist() == pytest.approx([14, 15, 46])


def test_seasonality_skips_incomplete_year():
    alloc, monthly = with_history(("2023-24", JUNE))
    monthly = drop_month(monthly, "2024-02-01")
    seas = budget.seasonality(budget.monthly_trend(alloc, monthly, "d", "2024-09"))
    row = seas.set_index("fiscal_year").loc["2023-24"]
    assert not row["complete"]
    assert math.isnan(row["june_share"])


# ---------------------------------------------------------------------------------------------
# Projection
# ---------------------------------------------------------------------------------------------


def test_projection_with_one_prior_year_profile():
    # months Jul-Sep took 30/130 of 2023-24; 75 / (30/130) = 325
    alloc, monthly = with_history(("2023-24", JUNE))
    p = budget.project_year_end(alloc, monthly, "d", "2024-09")
    assert p.method == "profile"
    assert p.point == pytest.approx(325)
    assert p.point_be == pytest.approx(325 / 300)
    assert not p.has_interval  # one prior year: no interval
    methods = p.methods.set_index("method")
    # the regression has 15 observations and 13 parameters: too few
    assert not methods.loc["model", "available"]


def test_projection_with_two_prior_years_interval_and_backtest():
    # 2022-23 flat (share of Jul-Sep 3/12), 2023-24 June-heavy (30/130).
    # mean share = (1/4 + 3/13) / 2 = 25/104 -> 75 x 104/25 = 312
    # single-year projections: 75 x 4 = 300 and 75 x 130/30 = 325
    alloc, monthly = with_history(("2022-23", FLAT), ("2023-24", JUNE))
    p = budget.project_year_end(alloc, monthly, "d", "2024-09")
    assert p.method == "profile"
    assert p.point == pytest.approx(312)
    assert (p.low, p.high) == pytest.approx((300, 325))
    # back-test on 2023-24 using 2022-23: 30 / (3/12) = 120 against an actual 130
    bt = p.backtest.set_index(["fiscal_year", "method"])
    assert bt.loc[("2023-24", "profile"), "projection"] == pytest.approx(120)
    assert bt.loc[("2023-24", "profile"), "ape"] == pytest.approx(10 / 130)
    assert p.methods.set_index("method").loc["profile", "backtest_mape"] == pytest.approx(10 / 130)
    assert ("2022-23", "profile") not in bt.index  # no year before it


def test_projection_with_missing_month_scales_by_reported_months():
    # August missing: reported Jul 14 + Sep 46 = 60; those months took 20/130 of 2023-24
    # -> 60 x 130/20 = 390 (the gap is projected, not read as zero)
    alloc, monthly = with_history(("2023-24", JUNE))
    monthly = drop_month(monthly, "2024-08-01")
    p = budget.project_year_end(alloc, monthly, "d", "2024-09")
    assert p.months_reported == 2
    assert p.reported_to_date == pytest.approx(60)
    assert p.point == pytest.approx(390)


def _even_year_with_flat_history():
    # prior year 2023-24: 10 a month (each month 1/12 of the year). This year every month
    # A01 10 + A03 5 + A12 5 = 20, July to September: 60.
    alloc, monthly = with_history(("2023-24", FLAT))
    monthly = monthly.loc[monthly["fiscal_year"] != "2024-25"]
    even = {"A01": [10.0] * 3, "A03": [5.0] * 3, "A12": [5.0] * 3}
    this = pd.DataFrame(_monthly_rows("2024-25", even, even))
    return alloc, pd.concat([monthly, this], ignore_index=True)


def test_partial_month_does_not_lower_the_projection():
    # Complete: 60 / (3/12) = 240. September with A12 not yet reported (an incomplete month):
    # counting its partial 15 against September's full 1/12 would give 55 / (3/12) = 220.
    # The incomplete month is projected like a missing one: 40 / (2/12) = 240 again.
    alloc, monthly = _even_year_with_flat_history()
    full = budget.project_year_end(alloc, monthly, "d", "2024-09")
    assert full.point == pytest.approx(240)
    partial = drop_month(monthly, "2024-09-01", object_class="A12")
    p = budget.project_year_end(alloc, partial, "d", "2024-09")
    assert p.point == pytest.approx(240)
    assert p.point >= full.point - 1e-9
    assert p.incomplete_m == (3,)
    assert p.months_reported == 2
    assert p.reported_to_date == pytest.approx(40)
    # without a prior year (pace): 40 x 12 / 2 = 240, not 55 x 12 / 3 = 220
    alloc_now = alloc.loc[alloc["fiscal_year"] == "2024-25"]
    now = partial.loc[partial["fiscal_year"] == "2024-25"]
    pace = budget.project_year_end(alloc_now, now, "d", "2024-09")
    assert pace.method == "pace" and pace.point == pytest.approx(240)


def test_incomplete_month_inside_the_year_is_projected_not_read():
    # August incomplete (A03 missing): reported July 20 + September 20 = 40, and those months
    # took 2/12 of the prior year -> 240.
    alloc, monthly = _even_year_with_flat_history()
    p = budget.project_year_end(
        alloc, drop_month(monthly, "2024-08-01", object_class="A03"), "d", "2024-09"
    )
    assert p.incomplete_m == (2,)
    assert p.point == pytest.approx(240)


def test_projection_without_prior_year_uses_pace():
    # no prior year: 75 x 12 / 3 = 300, no interval
    alloc, monthly = base()
    p = budget.project_year_end(alloc, monthly, "d", "2024-09")
    assert p.method == "pace"
    assert p.point == pytest.approx(300)
    assert not p.has_interval
    assert "no usable prior year" in p.reason
    report = budget.execution_report(alloc, monthly, "d", "2024-09")
    assert budget.headline_values(report)["projection_low"] is None


def test_projection_month_one():
    # July 14 and July took 10/130 of 2023-24 -> 14 x 13 = 182
    alloc, monthly = with_history(("2023-24", JUNE))
    p = budget.project_year_end(alloc, monthly, "d", "2024-07")
    assert p.point == pytest.approx(182)


def test_regression_projection_recovers_exact_multiplicative_data():
    # monthly spending = level(year) x factor(month), no noise: levels 100, 110, 121;
    # factors 1..12 (sum 78). This year's first 6 months are reported, so the year-end
    # projection of both methods is 121 x 78 = 9,438.
    factors = [float(k) for k in range(1, 13)]
    years = {"2021-22": 100.0, "2022-23": 110.0, "2023-24": 121.0}
    rows, alloc_rows = [], []
    zeros = [0.0] * 12
    for i, (fy, level) in enumerate(years.items()):
        vals = [level * f for f in factors][: (6 if i == 2 else 12)]
        rows += _monthly_rows(
            fy, {"A01": vals, "A03": zeros, "A12": zeros}, {"A01": vals, "A03": zeros, "A12": zeros}
        )
        alloc_rows += _alloc(fy)
    alloc, monthly = pd.DataFrame(alloc_rows), pd.DataFrame(rows)
    p = budget.project_year_end(alloc, monthly, "d", "2023-12")
    m = p.methods.set_index("method")
    assert m.loc["model", "available"]
    assert m.loc["model", "point"] == pytest.approx(121 * 78, rel=1e-6)
    assert m.loc["profile", "point"] == pytest.approx(121 * 78, rel=1e-9)
    # back-test on 2022-23 (from 2021-22): both exact, zero error
    assert p.backtest["ape"].max() == pytest.approx(0.0, abs=1e-6)


# ---------------------------------------------------------------------------------------------
# Flags
# ---------------------------------------------------------------------------------------------


def _position(util: float, expenditure: float = 10.0, releases: float = 20.0) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "scope": "total",
                "util_be": util,
                "benchmark": 0.25,
                "expenditure": expenditure,
                "releases": releases,
            }
        ]
    )


EMPTY_TREND = pd.DataFrame(
    columns=["fiscal_year", "month", "fy_m", "status", "expenditure", "budget_estimate"]
)
EMPTY_COV = pd.DataFrame(columns=["month", "status"])


def test_underspend_margin_edges():
    # benchmark 25%, margin 10 points: 14% is 11 points behind -> flagged; 15% exactly 10 -> not
    flags = budget.budget_flags(_position(0.14), EMPTY_TREND, EMPTY_COV, underspend_margin=0.10)
    assert flags["kind"].tolist() == ["underspend"]
    flags = budget.budget_flags(_position(0.15), EMPTY_TREND, EMPTY_COV, underspend_margin=0.10)
    assert flags.empty
    # a wider margin silences it
    flags = budget.budget_flags(_position(0.14), EMPTY_TREND, EMPTY_COV, underspend_margin=0.2)
    assert flags.empty


def test_spending_above_releases_flag():
    flags = budget.budget_flags(_position(0.25, 21.0, 20.0), EMPTY_TREND, EMPTY_COV)
    assert flags["kind"].tolist() == ["above_releases"]
    assert budget.budget_flags(_position(0.25, 20.0, 20.0), EMPTY_TREND, EMPTY_COV).empty


def test_flags_on_base_case():
    # development spent 30 against 20 released; September (46) is 3.1 x August (15) and the
    # change (31) is above 2% of BE (6) -> jump; utilisation equals the benchmark -> no
    # under-spending
    alloc, monthly = base()
    report = budget.execution_report(alloc, monthly, "d", "2024-09")
    f = report.flags
    assert set(f["kind"]) == {"above_releases", "jump"}
    assert f.loc[f["kind"] == "above_releases", "scope"].tolist() == ["development"]
    assert "September 2024" in f.loc[f["kind"] == "jump", "message"].iloc[0]


def test_headline_badge_lists_the_flags_for_the_dashboards():
    from helpers.present import budget as view
    from helpers.present.display import HEADLINE_MIME

    alloc, monthly = base()
    report = budget.execution_report(alloc, monthly, "d", "2024-09")
    head = view.headline_badge(report)._repr_mimebundle_()[HEADLINE_MIME]
    flags = head["detail"]["flags"]
    assert sorted((f["kind"], f["scope"]) for f in flags) == sorted(
        zip(report.flags["kind"], report.flags["scope"], strict=True)
    )
    assert all(isinstance(f["message"], str) and f["message"] for f in flags)
    assert head["utilisation"] == budget.headline_values(report)["utilisation"]


def test_small_jump_is_not_flagged():
    # change below 2% of BE: September 16 against August 7 is 2.3x but only 9 of BE 1,000
    alloc, monthly = base()
    alloc.loc[alloc["object_class"] == "A12", "budget_estimate"] = 820.0  # BE 1,000
    monthly.loc[monthly["object_class"] == "A12", "expenditure"] = 0.0
    monthly.loc[monthly["object_class"] == "A03", "expenditure"] = [4.0, -3.0, 6.0]
    # totals: Jul 14, Aug 7, Sep 16 -> Aug/Jul = 0.5 (change 7 < 20), Sep/Aug = 2.3 (9 < 20)
    report = budget.execution_report(alloc, monthly, "d", "2024-09")
    assert "jump" not in report.flags["kind"].tolist()


def test_negative_month_is_flagged():
    alloc, monthly = base()
    monthly.loc[monthly["object_class"] == "A01", "expenditure"] = [10.0, -20.0, 10.0]
    report = budget.execution_report(alloc, monthly, "d", "2024-09")
    msgs = report.flags.loc[report.flags["kind"] == "jump", "message"].tolist()
    assert any("negative" in m and "August 2024" in m for m in msgs)


@pytest.mark.parametrize("margin", [-0.1, 1.0])
def test_bad_margin_rejected(margin):
    with pytest.raises(ValueError):
        budget.budget_flags(_position(0.2), EMPTY_TREND, EMPTY_COV, underspend_margin=margin)


# ---------------------------------------------------------------------------------------------
# Input validation
# ---------------------------------------------------------------------------------------------


def test_bad_inputs_raise_clear_errors():
    alloc, monthly = base()
    with pytest.raises(ValueError, match="missing columns"):
        budget.utilisation(alloc.drop(columns=["fund"]), monthly, "d", "2024-09")
    with pytest.raises(ValueError, match="duplicated"):
        budget.utilisation(alloc, pd.concat([monthly, monthly.head(1)]), "d", "2024-09")
    bad = monthly.copy()
    bad.loc[0, "fund"] = "capital"
    with pytest.raises(ValueError, match="fund"):
        budget.utilisation(alloc, bad, "d", "2024-09")
    bad = monthly.copy()
    bad.loc[0, "fiscal_year"] = "2023-24"
    with pytest.raises(ValueError, match="does not match"):
        budget.utilisation(alloc, bad, "d", "2024-09")
    with pytest.raises(ValueError, match="no budget allocations"):
        budget.utilisation(alloc, monthly, "other", "2024-09")
    bad = monthly.copy().astype({"expenditure": "float64"})
    bad.loc[0, "expenditure"] = math.nan
    with pytest.raises(ValueError, match="missing"):
        budget.utilisation(alloc, bad, "d", "2024-09")


# ---------------------------------------------------------------------------------------------
# Province summary, key messages, notebook
# ---------------------------------------------------------------------------------------------


def test_province_summary():
    alloc, monthly = base()
    # department e: same lines, spends half of d's every month -> 37.5 / 300 = 12.5%
    e_alloc = pd.DataFrame(_alloc(dept="e"))
    half = {k: [v / 2 for v in vals] for k, vals in SPEND.items()}
    e_month = pd.DataFrame(_monthly_rows("2024-25", half, RELEASE, dept="e"))
    alloc = pd.concat([alloc, e_alloc], ignore_index=True)
    monthly = pd.concat([monthly, e_month], ignore_index=True)
    s = budget.province_summary(alloc, monthly, "2024-09")
    assert s["department"].tolist() == ["e", "d"]  # most behind first
    e = s.set_index("department").loc["e"]
    assert e["util_be"] == pytest.approx(0.125)
    assert e["gap"] == pytest.approx(-0.125)
    assert e["benchmark"] == pytest.approx(0.25)
    # no prior year: straight-line pace 37.5 x 4 = 150 = 50% of BE
    assert e["projection_be"] == pytest.approx(0.5)
    assert e["projection_method"] == "pace"
    # e: total and non-salary (7.5/60) and development (15/120) 12.5% are 12.5 points behind;
    # salary 15/120 too -> 4 under-spending flags; September 23 vs August 7.5 is a jump
    # (3.1x, change 15.5 >= 6)
    assert e["flags"] == 5
    assert e["months_missing"] == 0


def test_key_messages_read_from_the_numbers():
    alloc, monthly = with_history(("2022-23", FLAT), ("2023-24", JUNE))
    report = budget.execution_report(alloc, monthly, "d", "2024-09")
    s = view.key_message_sentences(report, "Dept")
    # 25% spent = 25% benchmark; projection 300-325 of 300 -> 100-108%
    assert s[0] == (
        "Dept has spent 25% of its budget estimate by September 2024, in line with the 25% "
        "time-elapsed benchmark; at this pace it ends the year at 100-108% of the estimate "
        "(projection: prior-year monthly profile)."
    )
    # releases 76, spent 75 -> PKR 1m released but unspent
    assert any(
        "final grant is not yet known" in x and "PKR 1m released but unspent" in x for x in s
    )
    # last year 30/300 = 10% -> 15 points less than this year
    assert any("last year it had spent 10%" in x and "15 points less" in x for x in s)


def test_key_messages_spending_above_releases_and_year_end():
    # June 2025 with every month reported: the year is over, so no projection clause;
    # releases only in Jul-Sep (76) against spending of 75 + 9 x 5 = 120 -> 44 above releases
    alloc, monthly = base()
    extra = []
    for month in fy_months("2024-25")[3:]:
        extra += [
            {
                "department": "d",
                "fiscal_year": "2024-25",
                "month": month,
                "fund": f,
                "object_class": oc,
                "release": 0.0,
                "expenditure": 5.0 if oc == "A01" else 0.0,
            }
            for f, oc, _ in LINES
        ]
    monthly = pd.concat([monthly, pd.DataFrame(extra)], ignore_index=True)
    report = budget.execution_report(alloc, monthly, "d", "2025-06")
    s = view.key_message_sentences(report, "Dept")
    assert s[0].startswith("Dept has spent 40% of its budget estimate by June 2025")
    assert "ends the year" not in s[0]
    assert any("spending exceeds releases by PKR 44m" in x for x in s)


def test_complete_year_is_an_outturn_not_a_projection():
    # FY 2024-25 reported in full (10.1 a month; awkward decimals on purpose) after two
    # history years: the year-end figure is the actual 121.2, with no projection drawn.
    alloc, _ = with_history(("2022-23", FLAT), ("2023-24", JUNE))
    _, monthly = with_history(("2022-23", FLAT), ("2023-24", JUNE), ("2024-25", [10.1] * 12))
    monthly = monthly[~((monthly["fiscal_year"] == "2024-25") & (monthly["object_class"] != "A01"))]
    monthly = monthly.drop_duplicates(["fiscal_year", "month", "fund", "object_class"], keep="last")
    report = budget.execution_report(alloc, monthly, "d", "2025-06")
    assert report.year_complete
    assert report.projection.reported_to_date == pytest.approx(121.2)
    assert "fiscal year is complete" in view.projection_note(report).plain
    assert "PKR 121m" in view.projection_note(report).plain
    chart = view.projection_chart(report)  # draws without a projection (no error bars)
    assert "<img" in chart.html
    one_gap = budget.execution_report(alloc, drop_month(monthly, "2025-02-01"), "d", "2025-06")
    assert not one_gap.year_complete  # a missing month still needs the projection


def test_headline_values():
    alloc, monthly = with_history(("2022-23", FLAT), ("2023-24", JUNE))
    h = budget.headline_values(budget.execution_report(alloc, monthly, "d", "2024-09"))
    assert h["utilisation"] == pytest.approx(0.25)
    assert h["benchmark"] == pytest.approx(0.25)
    assert h["projection_low"] == pytest.approx(1.0)  # 300 / 300
    assert h["projection_high"] == pytest.approx(round(325 / 300, 4))


def test_notebook_is_clean_and_parameterised():
    nb = json.loads((ROOT / "notebooks" / "budget_execution.ipynb").read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "kp-reports"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert "parameters" in code[0]["metadata"].get("tags", [])
    params = "".join(code[0]["source"])
    assert 'department = "health"' in params
    assert 'month = "2025-03"' in params
    assert "underspend_margin = 0.10" in params
    for c in code:
        assert c.get("outputs") == [] and c.get("execution_count") is None
        src = "".join(c["source"])
        assert "def " not in src and "class " not in src


# --------------------------------------------------------------------------------------------
# Budget data at quarterly or annual frequency (docs/methods.md, 1.10), KP calendar (July year)
# --------------------------------------------------------------------------------------------
# One department "q", FY 2024-25, BE 400 (current A01). Quarterly flows, each dated at the
# quarter's last month (Q1 = July-September, dated September): 100 in Q1 and 100 in Q2.
# Definitions: a period is a quarter; the as-of is the end of the last reported quarter;
# benchmark = as-of fiscal month / 12; with no prior year, pace = reported / (months covered
# / 12); a month inside a reported quarter is never missing.


def _q_alloc(be: float = 400.0, fy: str = "2024-25", dept: str = "q") -> dict:
    return {
        "department": dept,
        "fiscal_year": fy,
        "fund": "current",
        "object_class": "A01",
        "budget_estimate": be,
        "revised_estimate": None,
        "revised_month": None,
    }


def _q_row(month: str, spend: float, dept: str = "q") -> dict:
    return {
        "department": dept,
        "month": f"{month}-01",
        "fund": "current",
        "object_class": "A01",
        "release": spend,
        "expenditure": spend,
    }


def _q_frames(rows: list[tuple[str, float]], alloc: list[dict] | None = None):
    from helpers.data.calendar import fiscal_year

    mon = pd.DataFrame([{**_q_row(m, v), "fiscal_year": fiscal_year(m)} for m, v in rows])
    return pd.DataFrame(alloc or [_q_alloc()]), mon


def test_quarterly_position_is_at_the_last_reported_quarter_end():
    alloc, mon = _q_frames([("2024-09", 100.0), ("2024-12", 100.0)])
    # February 2025 lies inside Q3 (January-March), not yet ended: the position is at December
    r = budget.execution_report(alloc, mon, "q", "2025-02", frequency="quarterly")
    assert r.as_of == dt.date(2024, 12, 1)
    assert r.total["util_be"] == pytest.approx(200 / 400)
    assert r.benchmark == pytest.approx(6 / 12)  # not 8 / 12 (February)
    assert r.total["gap_be"] == pytest.approx(0.0)
    assert list(r.coverage["status"]) == ["reported", "reported"]  # quarters, not months
    assert r.missing_months == [] and r.awaited_periods == []
    assert r.flags.empty


def test_quarterly_pace_uses_the_time_the_quarters_cover_not_a_count_of_rows():
    alloc, mon = _q_frames([("2024-09", 100.0), ("2024-12", 100.0)])
    p = budget.project_year_end(alloc, mon, "q", "2025-02", frequency="quarterly")
    assert p.method == "pace"
    assert p.point == pytest.approx(200 / (6 / 12))  # 400 = 100% of BE
    assert p.point_be == pytest.approx(1.0)
    # the monthly reading of the same rows gives 200 x 12 / 2 = 1,200 (300%): withheld
    monthly = budget.project_year_end(alloc, mon, "q", "2025-02")
    assert math.isnan(monthly.point_be) and "gives 300% of the budget estimate" in monthly.withheld


def test_quarter_ended_but_not_received_is_awaited_not_missing():
    alloc, mon = _q_frames([("2024-09", 100.0), ("2024-12", 100.0)])
    r = budget.execution_report(alloc, mon, "q", "2025-04", frequency="quarterly")
    assert list(r.coverage["status"]) == ["reported", "reported", "awaited"]
    assert r.as_of == dt.date(2024, 12, 1) and r.benchmark == pytest.approx(0.5)
    assert r.missing_months == []
    assert list(r.flags["kind"]) == ["awaited_periods"]
    assert "Q3 2024-25" in r.flags["message"].iloc[0]


def test_quarter_without_data_between_reported_ones_is_missing():
    alloc, mon = _q_frames([("2024-09", 100.0), ("2025-03", 100.0)])
    r = budget.execution_report(alloc, mon, "q", "2025-03", frequency="quarterly")
    assert list(r.coverage["status"]) == ["reported", "missing", "reported"]
    assert r.missing_months == [dt.date(2024, 12, 1)]
    assert r.benchmark == pytest.approx(9 / 12)
    p = r.projection
    assert p.point == pytest.approx(200 / (6 / 12))  # two quarters reported = 6 months


def test_quarterly_profile_projection_from_prior_year_quarters():
    # FY 2023-24 quarters 100, 100, 100, 200 (total 500): Q1-Q2 took 40% of the year
    alloc = [_q_alloc(500.0, "2023-24"), _q_alloc(400.0)]
    rows = [("2023-09", 100.0), ("2023-12", 100.0), ("2024-03", 100.0), ("2024-06", 200.0)]
    a, mon = _q_frames(rows + [("2024-09", 80.0), ("2024-12", 80.0)], alloc)
    p = budget.project_year_end(a, mon, "q", "2025-01", frequency="quarterly")
    assert p.method == "profile"
    assert p.point == pytest.approx(160 / 0.4)
    assert p.label == "Prior-year quarterly profile"


def test_quarterly_complete_year_is_the_outturn():
    rows = [("2024-09", 100.0), ("2024-12", 100.0), ("2025-03", 100.0), ("2025-06", 90.0)]
    alloc, mon = _q_frames(rows)
    r = budget.execution_report(alloc, mon, "q", "2025-06", frequency="quarterly")
    assert r.year_complete
    assert r.total["util_be"] == pytest.approx(390 / 400)
    assert r.projection.point == pytest.approx(390.0)
    first = view.key_message_sentences(r, "Q")[0]
    assert "the year is complete: its outturn is 98% of the estimate" in first


def test_implausible_projection_is_withheld():
    # one quarter at 60% of BE: the pace gives 240%, above the 200% limit
    alloc, mon = _q_frames([("2024-09", 240.0)])
    p = budget.project_year_end(alloc, mon, "q", "2024-11", frequency="quarterly")
    assert math.isnan(p.point) and "plausibility limit of 200%" in p.withheld
    r = budget.execution_report(alloc, mon, "q", "2024-11", frequency="quarterly")
    assert budget.headline_values(r)["projection_low"] is None
    assert "no year-end projection is shown" in view.key_message_sentences(r, "Q")[0]


def test_annual_data_compare_executed_with_approved_per_year():
    alloc = [_q_alloc(500.0, "2023-24"), _q_alloc(400.0)]
    a, mon = _q_frames([("2024-06", 450.0)], alloc)
    # inside FY 2024-25: no executed amount yet, no utilisation, no projection
    r = budget.execution_report(a, mon, "q", "2025-03", frequency="annual")
    assert r.as_of is None and math.isnan(r.benchmark) and math.isnan(r.total["util_be"])
    assert math.isnan(r.projection.point)
    head = budget.headline_values(r)
    assert head["utilisation"] is None and head["benchmark"] is None
    msgs = view.key_message_sentences(r, "Q")
    assert "In FY 2023-24, the latest year with executed figures, Q spent 90%" in msgs[0]
    assert any("no within-year projection" in m for m in msgs)
    # the closed year: its outturn
    r = budget.execution_report(a, mon, "q", "2024-06", frequency="annual")
    assert r.year_complete and r.total["util_be"] == pytest.approx(450 / 500)
    assert r.projection.point == pytest.approx(450.0)


def test_monthly_is_the_default_and_unknown_frequencies_are_refused():
    assert budget.frequency_of({}) == "monthly"
    assert budget.frequency_of({"budget.frequency": "quarterly"}) == "quarterly"
    with pytest.raises(ValueError, match="weekly"):
        budget.check_frequency("weekly")


def test_scopes_and_classes_follow_the_profiles_chart_of_accounts(tmp_path):
    from helpers import profile

    (tmp_path / "departments.yaml").write_text("departments: []\n", encoding="utf-8")
    doc = {
        "name": "t",
        "government": {"name": "Government of T", "short": "T"},
        "currency": {"code": "AMD", "unit": "million"},
        "fiscal_year": {"start_month": 1, "label": "start"},
        "priority_areas": ["Health"],
        "registry": "departments.yaml",
        "chart_of_accounts": {
            "funds": ["recurrent", "capital"],
            "object_classes": [
                {"code": "21", "name": "Compensation of employees", "role": "salary"},
                {"code": "22", "name": "Use of goods and services", "role": "non_salary"},
                {"code": "31", "name": "Non-financial assets", "role": "development"},
            ],
        },
    }
    with profile.use(profile.parse(doc, tmp_path)):
        assert budget.OBJECT_CLASSES == {
            "21": "Compensation of employees",
            "22": "Use of goods and services",
            "31": "Non-financial assets",
        }
        labels = budget.SCOPE_LABELS
        assert labels["salary"] == "Salary (recurrent, 21)"
        assert labels["development"] == "Development (capital fund, 31)"
        line = {
            "department": "t",
            "fiscal_year": "2025",
            "revised_estimate": None,
            "revised_month": None,
        }
        alloc = pd.DataFrame(
            [
                {**line, "fund": "recurrent", "object_class": "21", "budget_estimate": 100.0},
                {**line, "fund": "recurrent", "object_class": "31", "budget_estimate": 50.0},
                {**line, "fund": "capital", "object_class": "22", "budget_estimate": 50.0},
            ]
        )
        prepared = budget.prepare_allocations(alloc)
        # development = the capital fund, or a class with role development in any fund
        assert list(prepared["component"]) == ["salary", "development", "development"]
        with pytest.raises(ValueError, match="fund must be one of"):
            budget.prepare_allocations(alloc.assign(fund="current"))
    # KP reads exactly as before
    assert budget.SCOPE_LABELS["salary"] == "Salary (current, A01)"
    assert budget.SCOPE_LABELS["development"] == "Development (ADP)"
    assert budget.OBJECT_CLASSES["A07"] == "Interest payment"


# ---------------------------------------------------------------------------------------------
# Forecast-accuracy record of the last closed year
# ---------------------------------------------------------------------------------------------

CLOSED = [10.0] * 6 + [20.0] * 6  # FY 2023-24: 10 a month July-December, 20 January-June: 180


def test_forecast_record_of_the_closed_year():
    # Report month September 2024: the closed year is 2023-24 (outturn 180, BE 300). The only
    # earlier year, 2022-23, is flat (each month 1/12). Projections made during 2023-24 by the
    # prior-year profile (no year to back-test the regression on, so the simpler method):
    #   m = 3: 30 / (3/12) = 120 -> error (120 - 180) / 180 = -33.3%; -60 / 300 = -20 points
    #   m = 6: 60 / (6/12) = 120 -> -33.3%
    #   m = 9: 120 / (9/12) = 160 -> -11.1%; -20 / 300 = -6.7 points
    #   m = 11: 160 / (11/12) = 174.5 -> -3.0%
    alloc, monthly = with_history(("2022-23", FLAT), ("2023-24", CLOSED))
    rec = budget.forecast_record(alloc, monthly, "d", "2024-09")
    assert rec.fiscal_year == "2023-24"
    t = rec.table.set_index("fy_m")
    assert list(t.index) == list(range(1, 12))
    assert set(t["method"]) == {"profile"}
    assert (t["outturn"] == 180).all()
    assert t.loc[3, "projection"] == pytest.approx(120)
    assert t.loc[3, "error"] == pytest.approx(-1 / 3)
    assert t.loc[3, "error_be"] == pytest.approx(-0.2)
    assert t.loc[6, "projection"] == pytest.approx(120)
    assert t.loc[9, "projection"] == pytest.approx(160)
    assert t.loc[9, "error"] == pytest.approx(-20 / 180)
    assert t.loc[11, "projection"] == pytest.approx(160 * 12 / 11)
    assert t.loc[11, "error"] == pytest.approx((160 * 12 / 11 - 180) / 180)
    assert "recomputed" in rec.note
    # the report carries it; recomputing gives the same figures (reproducible)
    report = budget.execution_report(alloc, monthly, "d", "2024-09")
    pd.testing.assert_frame_equal(report.forecast.table, rec.table)


def test_forecast_record_needs_a_complete_closed_year():
    alloc, monthly = with_history(("2022-23", FLAT), ("2023-24", CLOSED))
    rec = budget.forecast_record(alloc, drop_month(monthly, "2024-02-01"), "d", "2024-09")
    assert rec.table.empty
    assert "outturn is not known" in rec.note


def test_province_forecast_record_adds_the_departments_up():
    # d and e identical (outturn 180 each); f has a gap in 2023-24 and is left out.
    # At m = 3 the province projects 120 + 120 = 240 against 360: -33.3%; m = 9: 320 / 360.
    alloc, monthly = with_history(("2022-23", FLAT), ("2023-24", CLOSED))
    frames_a = [alloc, alloc.assign(department="e"), alloc.assign(department="f")]
    gap = drop_month(monthly, "2024-02-01").assign(department="f")
    frames_m = [monthly, monthly.assign(department="e"), gap]
    rec = budget.province_forecast_record(
        pd.concat(frames_a, ignore_index=True), pd.concat(frames_m, ignore_index=True), "2024-09"
    )
    prov = rec.province.set_index("fy_m")
    assert list(prov.index) == [3, 6, 9, 11]
    assert prov.loc[3, "projection"] == pytest.approx(240)
    assert prov.loc[3, "outturn"] == pytest.approx(360)
    assert prov.loc[3, "error"] == pytest.approx(-1 / 3)
    assert prov.loc[9, "projection"] == pytest.approx(320)
    assert (prov["departments"] == 2).all()
    assert "left out: f" in rec.note
    assert rec.mean_abs_error == pytest.approx(
        (1 / 3 + 1 / 3 + 20 / 180 + (180 - 160 * 12 / 11) / 180) / 4
    )


def test_report_shows_the_track_record_and_pefa_scope():
    # September 2024 is fiscal month 3; the projection made in September 2023 (month 3) was
    # 120 against an outturn of 180: 33% below
    alloc, monthly = with_history(("2022-23", FLAT), ("2023-24", CLOSED))
    report = budget.execution_report(alloc, monthly, "d", "2024-09")
    s = view.key_message_sentences(report, "Dept")
    assert s[1] == (
        "A year earlier, the projection made in September 2023 was 33% below FY 2023-24's outturn."
    )
    shown = view.forecast_view(report.forecast)
    html = " ".join(x.html for x in shown)
    assert "How the year-end projections of FY 2023-24 compared with its outturn" in html
    assert "-33.3%" in html and "prior-year profile" in html
    assert "recomputed" in html
    notes = " ".join(n.plain for n in view.pefa_notes(report.pefa))
    assert "PI-1 leaves out repayment of debt principal: A10 (principal repayments)" in notes
    assert "interest (A07) stays in" in notes
    assert "no contingency line" in notes


# ---- prepared frames (helpers.analysis.budget.prepare): one record, kept by that module -------


def test_a_prepared_frame_is_returned_as_it_is_and_nothing_is_stored_on_it():
    from helpers.analysis.budget import prepare

    alloc, mon = base()
    pa, pm = prepare.prepare_allocations(alloc), prepare.prepare_monthly(mon)
    assert prepare.prepare_allocations(pa) is pa and prepare.prepare_monthly(pm) is pm
    assert prepare.is_prepared(pm) and not prepare.is_prepared(mon)
    assert pa.attrs == {} and pm.attrs == {}
    # 9 rows (3 lines x Jul-Sep); July is fiscal month 1; A12 is development spending
    assert len(pm) == 9 and sorted(set(pm["fy_m"])) == [1, 2, 3]
    assert set(pm.loc[pm["object_class"] == "A12", "component"]) == {"development"}


def test_a_frame_derived_otherwise_is_checked_again_and_gives_the_same_rows():
    from helpers.analysis.budget import prepare

    _, mon = base()
    pm = prepare.prepare_monthly(mon)
    copy = pm.copy()
    assert not prepare.is_prepared(copy)
    again = prepare.prepare_monthly(copy)
    assert again is not copy
    pd.testing.assert_frame_equal(again, pm)
    broken = pm.copy()
    broken.loc[broken.index[0], "fiscal_year"] = "2023-24"  # July 2024 is in 2024-25
    with pytest.raises(ValueError, match="fiscal_year 2023-24 does not match month 2024-07"):
        prepare.prepare_monthly(broken)


def test_cuts_of_a_prepared_frame_are_prepared_and_an_unprepared_one_is_refused():
    from helpers.analysis.budget import prepare

    alloc, mon = base()
    other = pd.DataFrame(_monthly_rows("2024-25", SPEND, RELEASE, dept="e"))
    pm = prepare.prepare_monthly(pd.concat([mon, other], ignore_index=True))
    upto = prepare.months_upto(pm, "2024-08")
    # Jul and Aug of both departments: 3 lines x 2 months x 2 departments
    assert len(upto) == 12 and upto["month"].max() == pd.Timestamp("2024-08-01")
    assert prepare.is_prepared(upto) and prepare.prepare_monthly(upto) is upto
    d_rows = prepare.department_rows(upto, "d")
    assert len(d_rows) == 6 and set(d_rows["department"]) == {"d"}
    assert prepare.is_prepared(d_rows)
    with pytest.raises(ValueError, match="needs a frame from prepare_allocations"):
        prepare.months_upto(mon, "2024-08")


def test_the_split_cache_lets_a_single_department_frame_go():
    """``rows_where`` remembers how a prepared frame splits, only while the frame lives. A frame
    of one department is its own part: the cache entry must not keep it (and so itself) alive,
    or every department's prepared frames would stay in a warm kernel for good."""
    import gc

    from helpers.analysis.budget import prepare

    alloc, _ = base()
    frame = prepare.prepare_allocations(alloc)
    part = prepare.rows_where(frame, "department", "d")
    assert part is frame  # one department: the frame itself, not a copy
    key = (id(frame), "department")
    assert key in prepare._SPLITS
    del frame, part
    gc.collect()
    assert key not in prepare._SPLITS


@pytest.mark.parametrize("frequency", ["monthly", "quarterly"])
def test_a_projection_from_totals_worked_out_once_is_the_projection_from_the_data(frequency):
    # The forecast record works a department's period totals out once and passes them to each
    # of its projections (project_year_end's ``totals``): every figure must be the one worked
    # out from the data as of that month. Four earlier years (so both methods are fitted and
    # back-tested), the closed year 2023-24 with one line unreported in March (a partial
    # period), at every period end of that year; quarterly: the same flows summed into
    # quarters dated at their last month.
    from helpers.analysis.budget.prepare import months_upto, prepare_allocations, prepare_monthly
    from helpers.analysis.budget.trend import _monthly_totals
    from helpers.data.calendar import add_months, fiscal_year, fy_month_index

    bumpy = [8.0, 9.0, 12.0, 10.0, 11.0, 9.0, 10.0, 12.0, 13.0, 9.0, 14.0, 25.0]
    alloc, raw = with_history(
        ("2019-20", bumpy),
        ("2020-21", [v * 1.1 for v in bumpy]),
        ("2021-22", JUNE),
        ("2022-23", FLAT),
        ("2023-24", CLOSED),
    )
    raw = drop_month(raw, "2024-03-01", "A03")
    raw["month"] = pd.to_datetime(raw["month"])
    if frequency == "quarterly":
        raw["month"] = [
            pd.Timestamp(add_months(m, (3 - fy_month_index(m) % 3) % 3)) for m in raw["month"]
        ]
        keys = ["department", "month", "fund", "object_class"]
        raw = raw.groupby(keys, as_index=False)[["release", "expenditure"]].sum()
    raw["fiscal_year"] = [fiscal_year(m) for m in raw["month"]]
    alloc, mon = prepare_allocations(alloc), prepare_monthly(raw)
    totals = _monthly_totals(mon, "d", pd.Timestamp("2024-06-01"), frequency)
    step = 1 if frequency == "monthly" else 3
    chosen = set()
    for e in range(step, 13, step):
        at = fy_months("2023-24")[e - 1]
        upto = months_upto(mon, at)
        a = budget.project_year_end(alloc, upto, "d", at, frequency=frequency)
        b = budget.project_year_end(alloc, upto, "d", at, frequency=frequency, totals=totals)
        pd.testing.assert_frame_equal(a.methods, b.methods)
        pd.testing.assert_frame_equal(a.backtest, b.backtest)
        fields = ("method", "reason", "months_reported", "incomplete_m")
        assert [getattr(a, f) for f in fields] == [getattr(b, f) for f in fields], (e, frequency)
        for f in ("point", "low", "high"):
            assert a.__dict__[f] == b.__dict__[f] or (
                math.isnan(a.__dict__[f]) and math.isnan(b.__dict__[f])
            )
        assert len(a.backtest) and a.methods["available"].all()  # both methods ran
        chosen.add(a.method)
    assert chosen <= {"profile", "model", "outturn"}


def test_period_totals_are_worked_out_once_per_frame_and_never_shared_across_frames():
    """A department's trend, projection and flags read the same period totals: worked out once
    per prepared frame, handed out as copies, and a new frame (new data) gets its own."""
    from helpers.analysis.budget import prepare
    from helpers.analysis.budget.trend import _monthly_totals

    _, mon = base()
    pm = prepare.prepare_monthly(mon)
    sept = pd.Timestamp("2024-09-01")
    first = _monthly_totals(pm, "d", sept)
    # July: A01 10 + A03 4 + A12 0; September: 10 + 6 + 30 (hand-summed from SPEND)
    assert first["expenditure"].tolist() == [14.0, 15.0, 46.0]
    assert first["fy_m"].tolist() == [1, 2, 3] and set(first["fiscal_year"]) == {"2024-25"}
    first.loc[0, "expenditure"] = -1.0  # a caller changing its copy changes no one else's
    assert _monthly_totals(pm, "d", sept)["expenditure"].tolist() == [14.0, 15.0, 46.0]
    assert _monthly_totals(pm, "d", pd.Timestamp("2024-08-01"))["expenditure"].tolist() == [
        14.0,
        15.0,
    ]
    changed = mon.copy()
    changed.loc[changed["object_class"] == "A12", "expenditure"] = 1.0
    other = prepare.prepare_monthly(changed)
    assert _monthly_totals(other, "d", sept)["expenditure"].tolist() == [15.0, 16.0, 17.0]
    assert _monthly_totals(pm, "d", sept)["expenditure"].tolist() == [14.0, 15.0, 46.0]


@pytest.mark.parametrize("frequency", ["monthly", "quarterly"])
def test_a_projection_reads_no_row_after_its_month(frequency):
    """A projection for a past month from today's data is the one that month's data gave: the
    forecast record passes the whole frame, not one cut per month."""
    from helpers.analysis.budget import prepare

    if frequency == "monthly":
        alloc, monthly = _even_year_with_flat_history()  # July-September 2024-25
        later = {"A01": [900.0] * 3, "A03": [0.0] * 3, "A12": [5.0] * 3}
        extra = pd.DataFrame(_monthly_rows("2024-25", later, later))
        extra["month"] = pd.to_datetime(extra["month"]) + pd.DateOffset(months=3)  # Oct-Dec
        extra = extra.loc[extra["object_class"] != "A03"]  # and incomplete
        at = "2024-09"
    else:
        rows = [("2023-09", 100.0), ("2023-12", 100.0), ("2024-03", 100.0), ("2024-06", 100.0)]
        rows += [("2024-09", 100.0), ("2024-12", 100.0)]
        alloc, monthly = _q_frames(rows, [_q_alloc(fy="2023-24"), _q_alloc()])
        _, extra = _q_frames([("2025-03", 5000.0)])
        at = "2024-12"
    full = prepare.prepare_monthly(pd.concat([monthly, extra], ignore_index=True))
    cut = prepare.months_upto(full, at)
    assert len(cut) < len(full)
    then = budget.project_year_end(alloc, cut, full["department"].iloc[0], at, frequency=frequency)
    now = budget.project_year_end(alloc, full, full["department"].iloc[0], at, frequency=frequency)
    assert math.isfinite(then.point)
    for f in ("point", "low", "high", "method", "months_reported", "reported_to_date"):
        a, b = getattr(then, f), getattr(now, f)
        assert a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b)), f
    assert then.incomplete_m == now.incomplete_m
    pd.testing.assert_frame_equal(then.methods, now.methods, check_exact=True)
    pd.testing.assert_frame_equal(then.backtest, now.backtest, check_exact=True)
