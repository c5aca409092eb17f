"""Province overview on tiny hand-made frames; every expected value is worked out by hand.

Gap matrix (FY 2024-25, report month September 2024 = fiscal month 3; benchmark 1/12, 2/12, 3/12):
    a  BE 120 (A01)            spend Jul 10, Aug 20, Sep 30 -> cum 10, 30, 60
       gap = 10/120 - 1/12 = 0;  30/120 - 2/12 = 1/12;  60/120 - 3/12 = 1/4
    b  BE 240 (A01 200, A12 40) spend Jul 6+6, Aug none (missing), Sep 18 (A01 only) -> cum 12, -, 30
       gap = 12/240 - 1/12 = -1/30;  Aug missing (NaN);  30/240 - 3/12 = -1/8
    c  BE 0                    spend Jul 5 -> no utilisation (NaN)
    Rows in October (after the report month) and in FY 2023-24 must be ignored.

Survey (one wave, strata D1/D2 with two PSUs each, weights w; satisfied = rating 4 or 5):
    s1 (dept A): r1 w1 5, r2 w1 2, r3 w2 4, r5 w3 1   -> (1 + 2) / 7 = 3/7, n 4
    s2 (dept B): r4 w2 3, r6 w3 4                    -> 3/5, n 2
    s3 (dept A): r3 w2 1, r7 w1 5                    -> 1/3, n 2
    dept A pooled (s1 + s3 uses): (1 + 2 + 1) / 10 = 0.4, n 6;  all services: 7/15, n 8
    With min_n = 3, s2, s3 and dept B are suppressed. Previous wave: r2 rates s1 5 instead of 2,
    so s1 was 4/7 (change -1/7), dept A 5/10 (change -0.1), all 8/15 (change -1/15).
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from helpers.analysis import overview as ao
from helpers.analysis.budget import PefaResult
from helpers.present import overview as view

# --------------------------------------------------------------------------------------------
# Gap matrix
# --------------------------------------------------------------------------------------------


def _alloc_row(dept, fund, oc, be, fy="2024-25"):
    return {
        "department": dept,
        "fiscal_year": fy,
        "fund": fund,
        "object_class": oc,
        "budget_estimate": be,
        "revised_estimate": None,
        "revised_month": None,
    }


def _mon_row(dept, month, fund, oc, spend):
    m = dt.date.fromisoformat(month + "-01")
    start = m.year if m.month >= 7 else m.year - 1
    return {
        "department": dept,
        "fiscal_year": f"{start}-{str(start + 1)[-2:]}",
        "month": m,
        "fund": fund,
        "object_class": oc,
        "release": spend,
        "expenditure": spend,
    }


@pytest.fixture
def budget_frames():
    alloc = pd.DataFrame(
        [
            _alloc_row("a", "current", "A01", 120.0),
            _alloc_row("b", "current", "A01", 200.0),
            _alloc_row("b", "development", "A12", 40.0),
            _alloc_row("c", "current", "A01", 0.0),
            _alloc_row("a", "current", "A01", 999.0, fy="2023-24"),
        ]
    )
    mon = pd.DataFrame(
        [
            _mon_row("a", "2024-07", "current", "A01", 10.0),
            _mon_row("a", "2024-08", "current", "A01", 20.0),
            _mon_row("a", "2024-09", "current", "A01", 30.0),
            _mon_row("a", "2024-10", "current", "A01", 500.0),  # after the report month
            _mon_row("a", "2024-06", "current", "A01", 700.0),  # previous fiscal year
            _mon_row("b", "2024-07", "current", "A01", 6.0),
            _mon_row("b", "2024-07", "development", "A12", 6.0),
            _mon_row("b", "2024-09", "current", "A01", 18.0),
            _mon_row("c", "2024-07", "current", "A01", 5.0),
        ]
    )
    return alloc, mon


def test_gap_matrix_is_cumulative_utilisation_minus_elapsed_share(budget_frames):
    alloc, mon = budget_frames
    g = ao.gap_matrix(alloc, mon, "2024-09")
    assert list(g.index) == ["a", "b", "c"]
    assert list(g.columns) == [
        pd.Timestamp("2024-07-01"),
        pd.Timestamp("2024-08-01"),
        pd.Timestamp("2024-09-01"),
    ]
    np.testing.assert_allclose(g.loc["a"].to_numpy(), [0.0, 1 / 12, 0.25], atol=1e-12)
    assert g.loc["b"].iloc[0] == pytest.approx(-1 / 30)
    assert math.isnan(g.loc["b"].iloc[1])  # missing month: a gap in the data, not zero
    assert g.loc["b"].iloc[2] == pytest.approx(-0.125)
    assert g.loc["c"].isna().all()  # zero BE: no utilisation


def test_gap_matrix_first_month_and_errors(budget_frames):
    alloc, mon = budget_frames
    g = ao.gap_matrix(alloc, mon, "2024-07")
    assert g.shape == (3, 1)
    assert g.loc["a"].iloc[0] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="no budget allocations"):
        ao.gap_matrix(alloc, mon, "2021-03")


def test_province_totals_sum_before_dividing():
    summary = pd.DataFrame(
        {"budget_estimate": [100.0, 300.0], "expenditure": [90.0, 150.0]}
    )  # 240 / 400 = 60%, not the mean of 90% and 50%
    t = ao.province_totals(summary, "2025-03")
    assert t["utilisation"] == pytest.approx(0.6)
    assert t["benchmark"] == pytest.approx(0.75)
    assert t["gap"] == pytest.approx(-0.15)


# --------------------------------------------------------------------------------------------
# Survey
# --------------------------------------------------------------------------------------------

SERVICES = pd.DataFrame(
    {
        "service": ["s1", "s2", "s3"],
        "label": ["Schools", "Clinics", "Roads"],
        "department": ["A", "B", "A"],
    }
)


def _survey_frame(r2_rating: float) -> pd.DataFrame:
    people = {
        # respondent: (district, psu, weight)
        "r1": ("D1", "p1", 1.0),
        "r2": ("D1", "p1", 1.0),
        "r3": ("D1", "p2", 2.0),
        "r4": ("D1", "p2", 2.0),
        "r5": ("D2", "p3", 3.0),
        "r6": ("D2", "p3", 3.0),
        "r7": ("D2", "p4", 1.0),
        "r8": ("D2", "p4", 1.0),
    }
    uses = [
        ("r1", "s1", 5.0),
        ("r2", "s1", r2_rating),
        ("r3", "s1", 4.0),
        ("r3", "s3", 1.0),
        ("r4", "s2", 3.0),
        ("r5", "s1", 1.0),
        ("r6", "s2", 4.0),
        ("r7", "s3", 5.0),
        ("r8", None, np.nan),  # used no service: stays in the design
    ]
    rows = []
    for rid, svc, sat in uses:
        d, psu, w = people[rid]
        rows.append(
            {
                "respondent_id": rid,
                "district_pcode": d,
                "psu": psu,
                "weight": w,
                "stratum_population": 1000,
                "service": svc,
                "satisfaction": sat,
            }
        )
    return pd.DataFrame(rows)


@pytest.fixture
def nchs_width_rules_off(monkeypatch):
    """Eight respondents check the estimator's arithmetic; the NCHS interval-width rules
    (tests/unit/test_survey.py) would suppress every such cell, so they are switched off here
    and only the minimum n (min_n, also the effective-n floor) applies."""
    from helpers.analysis import survey as an

    monkeypatch.setattr(an, "NCHS_MAX_WIDTH", 2.0)
    monkeypatch.setattr(an, "NCHS_MAX_RELATIVE_WIDTH", math.inf)


def test_survey_overview_estimates_suppression_and_change(nchs_width_rules_off):
    res = ao.survey_overview(
        _survey_frame(2.0),
        _survey_frame(5.0),
        SERVICES,
        wave=dt.date(2024, 12, 1),
        previous_wave=dt.date(2024, 6, 1),
        min_n=3,
    )
    s = res.services.set_index("service")
    assert s.loc["s1", "estimate"] == pytest.approx(3 / 7)
    assert s.loc["s1", "n"] == 4
    assert s.loc["s1", "change"] == pytest.approx(3 / 7 - 4 / 7)
    assert s.loc["s1", "department"] == "A"
    for code in ("s2", "s3"):  # n = 2 < 3: suppressed, no change published
        assert s.loc[code, "suppressed"]
        assert math.isnan(s.loc[code, "estimate"]) and math.isnan(s.loc[code, "change"])
    assert s.loc["all", "estimate"] == pytest.approx(7 / 15)
    # 8 ratings by 7 respondents (r3 rated s1 and s3): n counts respondents
    assert s.loc["all", "n"] == 7
    assert s.loc["all", "change"] == pytest.approx(7 / 15 - 8 / 15)
    assert res.overall_satisfaction == pytest.approx(7 / 15)
    d = res.departments.set_index("department")
    assert d.loc["A", "estimate"] == pytest.approx(0.4)
    # department A = s1 + s3: 6 ratings by 5 respondents (r1, r2, r3, r5; r3 again, r7)
    assert d.loc["A", "n"] == 5
    assert d.loc["A", "change"] == pytest.approx(-0.1)
    assert d.loc["A", "services"] == "Schools; Roads"
    assert d.loc["B", "suppressed"] and math.isnan(d.loc["B", "estimate"])
    # Aggregates only: no respondent-level column leaves the module.
    for frame in (res.services, res.departments):
        assert not {"respondent_id", "psu", "weight", "district_pcode"} & set(frame.columns)


def test_survey_overview_without_wave_or_previous():
    none = ao.survey_overview(None, None, SERVICES, wave=None)
    assert not none.available and none.overall_satisfaction is None
    assert list(none.departments["department"]) == ["A", "B"]  # surveyed, but no wave yet
    assert none.departments["estimate"].isna().all()
    lg = ao.league_table(
        pd.DataFrame({"slug": ["A", "C"], "name": ["A", "C"], "priority_area": "Other"}),
        _summary([]),
        _card([]),
        none,
    ).set_index("department")
    assert lg.loc["A", "survey_status"] == ao.NO_WAVE
    assert lg.loc["C", "survey_status"] == ao.NO_SERVICE
    only = ao.survey_overview(_survey_frame(2.0), None, SERVICES, wave="2024-12", min_n=3)
    assert only.previous_wave is None
    assert only.services["change"].isna().all()
    assert not only.services["significant"].any()


def test_survey_overview_rejects_unregistered_services_and_bad_min_n():
    frame = _survey_frame(2.0)
    frame.loc[0, "service"] = "zz"
    with pytest.raises(ValueError, match="not registered"):
        ao.survey_overview(frame, None, SERVICES, wave="2024-12")
    with pytest.raises(ValueError, match="min_n"):
        ao.survey_overview(_survey_frame(2.0), None, SERVICES, wave="2024-12", min_n=0)


# --------------------------------------------------------------------------------------------
# League table
# --------------------------------------------------------------------------------------------

REGISTRY = pd.DataFrame(
    {
        "slug": ["a", "b", "c"],
        "name": ["Alpha", "Beta", "Gamma"],
        "priority_area": ["Health", "Education", "Other"],
    }
)


def _summary(rows):
    cols = ["department", "budget_estimate", "expenditure", "util_be", "benchmark", "gap",
            "projection_be", "projection_method", "months_missing", "flags"]  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


def _card(rows):
    return pd.DataFrame(rows, columns=["department", "score", "grade", "targets", "on_track"])


def _survey_departments(rows, wave=dt.date(2024, 12, 1)):
    cols = ["department", "services", "estimate", "se", "ci_low", "ci_high", "n", "suppressed",
            "unstable", "status", "previous", "change", "p_value", "significant"]  # fmt: skip
    return ao.SurveyOverview(
        wave=wave, previous_wave=None, min_n=30, departments=pd.DataFrame(rows, columns=cols)
    )


def test_league_table_merges_and_marks_missing_pieces():
    summary = _summary(
        [
            ("a", 100.0, 55.0, 0.55, 0.75, -0.20, 0.85, "profile", 0, 1),
            ("b", 200.0, 140.0, 0.70, 0.75, -0.05, 0.97, "profile", 1, 1),
            ("ghost", 50.0, 22.5, 0.45, 0.75, -0.30, 0.70, "pace", 0, 1),
        ]
    )
    card = _card([("a", 70.0, "B", 3, 2)])
    survey = _survey_departments(
        [
            ("b", "Clinics", 0.6, 0.02, 0.56, 0.64, 400, False, False, "", None, None, None, False),
            ("c", "Roads", None, None, None, None, 12, True, False, "suppressed (n<30)",
             None, None, None, False),
        ]
    )  # fmt: skip
    notes: list[str] = []
    lg = ao.league_table(REGISTRY, summary, card, survey, notes)
    assert list(lg.columns) == ao.LEAGUE_COLUMNS
    # Furthest behind first; no budget last.
    assert list(lg["department"]) == ["ghost", "a", "b", "c"]
    row = lg.set_index("department")
    assert row.loc["ghost", "name"] == "ghost" and "ghost" in notes[0]
    assert row.loc["a", "targets"] == 3 and row.loc["a", "on_track"] == 2
    assert row.loc["a", "targets_status"] == ""
    for d in ("b", "c", "ghost"):  # no targets: missing, not a zero score
        assert row.loc[d, "targets_status"] == ao.NO_TARGETS
        assert pd.isna(row.loc[d, "targets"]) and math.isnan(row.loc[d, "score"])
    assert row.loc["a", "survey_status"] == ao.NO_SERVICE
    assert row.loc["b", "survey_status"] == "" and row.loc["b", "satisfaction"] == 0.6
    assert row.loc["c", "survey_status"] == "suppressed (n<30)"
    assert math.isnan(row.loc["c", "satisfaction"])
    assert row.loc["c", "budget_status"] == ao.NO_BUDGET and math.isnan(row.loc["c", "gap"])
    assert row.loc["b", "months_missing"] == 1


def test_league_table_before_the_first_wave_and_duplicates():
    summary = _summary([("a", 100.0, 55.0, 0.55, 0.75, -0.20, 0.85, "profile", 0, 1)])
    survey = _survey_departments([], wave=None)
    survey.departments = pd.DataFrame(
        {"department": ["a"], "estimate": [np.nan], "ci_low": [np.nan], "ci_high": [np.nan],
         "n": [0], "change": [np.nan], "status": [""]}
    )  # fmt: skip
    lg = ao.league_table(REGISTRY, summary, _card([]), survey)
    assert lg.set_index("department").loc["a", "survey_status"] == ao.NO_WAVE
    assert lg.set_index("department").loc["b", "survey_status"] == ao.NO_SERVICE
    with pytest.raises(ValueError, match="duplicated"):
        ao.league_table(REGISTRY, pd.concat([summary, summary]), _card([]), survey)


# --------------------------------------------------------------------------------------------
# The attention rule
# --------------------------------------------------------------------------------------------


def _league(rows):
    base = dict.fromkeys(ao.LEAGUE_COLUMNS, np.nan)
    base.update(benchmark=0.75, budget_status="", targets_status="", survey_status="")
    frame = pd.DataFrame([{**base, **r} for r in rows], columns=ao.LEAGUE_COLUMNS)
    frame["targets"] = frame["targets"].astype("Int64")
    frame["on_track"] = frame["on_track"].astype("Int64")
    frame["months_missing"] = frame["months_missing"].astype("Int64")
    return frame


ATTENTION_LEAGUE = [
    # x: behind 25 points, projected 80%, grade D, 1 of 4 on track -> 4 signs
    dict(department="x", name="Ex", util_be=0.50, gap=-0.25, projection_be=0.80,
         months_missing=0, targets=4, on_track=1, score=45.0, grade="D"),
    # w: 12 points behind, 2 of 4 on track (exactly half: not a sign), grade C,
    #    satisfaction with its service fell significantly -> 2 signs
    dict(department="w", name="Double-u", util_be=0.63, gap=-0.12, projection_be=0.95,
         months_missing=0, targets=4, on_track=2, score=60.0, grade="C"),
    # y: 5 points behind, projected 105% -> 1 sign (over-spending)
    dict(department="y", name="Why", util_be=0.70, gap=-0.05, projection_be=1.05,
         months_missing=0),
    # z: exactly 10 points behind and exactly 90% projected (edges: no sign), 2 months missing,
    #    no targets -> 1 sign
    dict(department="z", name="Zed", util_be=0.65, gap=-0.10, projection_be=0.90,
         months_missing=2),
]  # fmt: skip

FALLS = pd.DataFrame(
    {
        "service": ["sw", "sx", "all"],
        "label": ["Water supply", "Rising service", "All surveyed services"],
        "department": ["w", "x", None],
        "estimate": [0.30, 0.50, 0.40],
        "change": [-0.06, 0.08, -0.01],
        "p_value": [0.01, 0.001, 0.01],
    }
)


def test_attention_reasons_apply_each_threshold():
    reasons = ao.attention_reasons(_league(ATTENTION_LEAGUE), FALLS)
    got = {d: list(p["reason"]) for d, p in reasons.groupby("department", sort=False)}
    assert got == {
        "x": ["underspend", "projected_low", "low_grade", "targets_off_track"],
        "w": ["underspend", "satisfaction_fall"],
        "y": ["projected_high"],
        "z": ["missing_months"],
    }
    text = dict(zip(reasons["reason"] + "/" + reasons["department"], reasons["text"], strict=True))
    assert text["underspend/x"] == (
        "has spent 50% of its budget estimate against a 75% benchmark (25 points behind)"
    )
    assert text["projected_low/x"] == (
        "is projected to spend only 80% of its budget estimate by the end of June"
    )
    assert text["low_grade/x"] == "has a scorecard grade of D (45 out of 100)"
    assert text["targets_off_track/x"] == "has only 1 of its 4 targets on track"
    assert text["missing_months/z"] == (
        "has 2 months of spending data missing or incomplete this year"
    )
    assert text["satisfaction_fall/w"] == (
        "satisfaction with water supply fell 6 points since the previous survey wave, to 30%"
    )


def test_needing_attention_counts_signs_and_orders_them():
    league = _league(ATTENTION_LEAGUE)
    reasons = ao.attention_reasons(league, FALLS)
    att = ao.needing_attention(reasons, league)
    assert list(att["department"]) == ["x", "w"]
    assert list(att["n_reasons"]) == [4, 2]
    assert att.loc[1, "text"] == (
        "has spent 63% of its budget estimate against a 75% benchmark (12 points behind); "
        "satisfaction with water supply fell 6 points since the previous survey wave, to 30%"
    )
    # One sign is enough under a looser rule; ties keep the league order (y before z).
    loose = ao.AttentionRule(min_reasons=1)
    assert list(ao.needing_attention(reasons, league, loose)["department"]) == ["x", "w", "y", "z"]
    # A stricter margin drops w's under-spending sign (12 points is not beyond 15).
    strict = ao.AttentionRule(underspend_margin=0.15)
    r2 = ao.attention_reasons(league, FALLS, strict)
    assert list(ao.needing_attention(r2, league, strict)["department"]) == ["x"]


def test_attention_rule_validates_and_describes_itself():
    with pytest.raises(ValueError, match="projection_floor"):
        ao.AttentionRule(projection_floor=1.2, projection_ceiling=1.0)
    with pytest.raises(ValueError, match="min_reasons"):
        ao.AttentionRule(min_reasons=0)
    with pytest.raises(ValueError, match="underspend_margin"):
        ao.AttentionRule(underspend_margin=1.5)
    text = ao.AttentionRule().describe()
    assert "at least 2" in text and "below 90% or above 100%" in text and "D or E" in text
    assert "any month of spending data missing" in text


# --------------------------------------------------------------------------------------------
# Key messages and headline
# --------------------------------------------------------------------------------------------


def _overview(survey: ao.SurveyOverview | None = None, card: pd.DataFrame | None = None):
    """Alpha 30% spent (45 behind, projected 70%), Beta 60% (15 behind, 95%),
    Gamma 70% (5 behind, 104%); province 360bn of 600bn = 60%."""
    registry = pd.DataFrame(
        {"slug": ["a", "b", "c"], "name": ["Alpha", "Beta", "Gamma"], "priority_area": "Other"}
    )
    summary = _summary(
        [
            ("a", 100_000.0, 30_000.0, 0.30, 0.75, -0.45, 0.70, "profile", 0, 2),
            ("b", 200_000.0, 120_000.0, 0.60, 0.75, -0.15, 0.95, "profile", 0, 1),
            ("c", 300_000.0, 210_000.0, 0.70, 0.75, -0.05, 1.04, "profile", 0, 0),
        ]
    )
    if card is None:
        card = _card([("b", 80.0, "B", 6, 5), ("a", 45.0, "D", 4, 1)])
    if survey is None:
        services = pd.DataFrame(
            {
                "service": ["s1", "s2", "all"],
                "label": ["Land records", "Rescue service", "All surveyed services"],
                "department": ["a", "b", None],
                "estimate": [0.30, 0.90, 0.42],
                "se": [0.02, 0.01, 0.01],
                "ci_low": [0.26, 0.88, 0.40],
                "ci_high": [0.34, 0.92, 0.44],
                "n": [500, 400, 900],
                "n_eff": [400.0, 300.0, 700.0],
                "suppressed": False,
                "unstable": False,
                "status": "",
                "previous": [0.36, 0.89, 0.45],
                "change": [-0.06, 0.01, -0.03],
                "p_value": [0.02, 0.6, 0.03],
                "significant": [True, False, True],
            }
        )
        survey = ao.SurveyOverview(
            wave=dt.date(2024, 12, 1),
            previous_wave=dt.date(2024, 6, 1),
            min_n=30,
            services=services,
        )
    rule = ao.AttentionRule()
    league = ao.league_table(registry, summary, card, survey)
    reasons = ao.attention_reasons(league, survey.services, rule)
    return ao.ProvinceOverview(
        month=dt.date(2025, 3, 1),
        fiscal_year="2024-25",
        fy_m=9,
        benchmark=0.75,
        rule=rule,
        summary=summary,
        totals=ao.province_totals(summary, "2025-03"),
        gaps=pd.DataFrame(),
        scorecard=card,
        survey=survey,
        league=league,
        reasons=reasons,
        attention=ao.needing_attention(reasons, league, rule),
        pefa=PefaResult(years=pd.DataFrame(), pi1=None, pi2=None, note="Not scored."),
    )


def test_key_message_sentences_are_written_from_the_numbers():
    msgs = view.key_message_sentences(_overview())
    assert msgs == [
        "Across the province, the 3 departments budgeted this year have spent 60% of their "
        "combined budget estimate (PKR 360bn of PKR 600bn) by March 2025, 15 points behind the 75% "
        "time-elapsed benchmark.",
        "2 of 3 departments are behind the benchmark by more than 10 points; the largest gaps "
        "are Alpha (45 points behind) and Beta (15 points behind).",
        "On their usual monthly spending profiles, 1 department is projected to end the year "
        "below 90% of its budget estimate and 1 above 100% (Gamma).",
        "6 of the 10 delivery targets of the 2 departments with targets (60%) are on track or "
        "met; 4 are off track, missed or without recent data. The lowest scorecard grades are "
        "Alpha (D, 45/100) and Beta (B, 80/100); 1 department has no targets.",
        "In the December 2024 citizen survey, satisfaction is lowest with land records (30% "
        "satisfied, 95% CI 26% to 34%) and highest with rescue service (90%); across all "
        "surveyed services 42% of users are satisfied, down 3 points since June 2024. Since "
        "June 2024, satisfaction fell significantly for land records.",
        "1 department needs attention (2 or more warning signs): Alpha (5 signs).",
    ]


def test_key_messages_without_survey_targets_or_laggards():
    ov = _overview(survey=ao.SurveyOverview(wave=None, previous_wave=None, min_n=30),
                   card=_card([]))  # fmt: skip
    msgs = view.key_message_sentences(ov)
    assert "No department had delivery targets to assess in March 2025." in msgs
    assert (
        "No citizen survey wave had been fielded by March 2025, so the overview has no "
        "satisfaction figures." in msgs
    )
    ov.league["gap"] = [0.01, -0.02, -0.10]  # nobody beyond the 10-point margin
    assert "No department is behind the benchmark by more than 10 points." in (
        view.budget_sentences(ov)
    )


def test_headline_carries_the_contract_keys():
    h = ao.headline_values(_overview())
    assert h["utilisation"] == pytest.approx(0.6)
    assert h["benchmark"] == pytest.approx(0.75)
    assert (h["on_track"], h["targets"]) == (6, 10)
    assert h["satisfaction"] == pytest.approx(0.42)
    assert (h["departments"], h["behind"], h["attention"]) == (3, 2, 1)
    assert h["wave"] == "2024-12-01"
    empty = ao.headline_values(
        _overview(
            survey=ao.SurveyOverview(wave=None, previous_wave=None, min_n=30), card=_card([])
        )  # fmt: skip
    )
    assert empty["satisfaction"] is None and empty["targets"] is None


def test_league_display_shows_no_targets_as_text_not_zero():
    df = view.league_frame(_overview())
    row = df.set_index("Department")
    assert row.loc["Gamma", "Targets on track"] == "no\u00a0targets"
    assert row.loc["Alpha", "Targets on track"] == "1 of 4"
    assert math.isnan(row.loc["Gamma", "Score (0-100)"])
    assert row.loc["Alpha", "Warning signs"] == 5
    html = view.league_table(_overview())[0].html
    assert 'class="num">-45.0\u00a0pp<' in html  # never wrapped between number and unit


def test_targets_in_force_drops_targets_set_after_the_month():
    targets = pd.DataFrame(
        {"target_id": ["t1", "t2"], "baseline_month": ["2023-01-01", "2023-07-01"]}
    )
    trajectory = pd.DataFrame({"target_id": ["t1", "t2", "t2"], "planned": [1.0, 2.0, 3.0]})
    actuals = pd.DataFrame({"target_id": ["t2", "t1"], "actual": [5.0, 4.0]})
    t, tr, a = ao.targets_in_force(targets, trajectory, actuals, "2023-06")
    assert list(t["target_id"]) == ["t1"]
    assert list(tr["planned"]) == [1.0] and list(a["actual"]) == [4.0]
    t, _, _ = ao.targets_in_force(targets, trajectory, actuals, "2023-07")
    assert list(t["target_id"]) == ["t1", "t2"]  # the baseline month itself counts
    assert ao.targets_in_force(targets, trajectory, actuals, "2022-12")[0].empty


def test_build_overview_refuses_a_year_without_budget(budget_frames):
    alloc, mon = budget_frames
    survey = ao.SurveyOverview(wave=None, previous_wave=None, min_n=30)
    with pytest.raises(ValueError, match="no department has a budget for FY 2021-22"):
        ao.build_overview("2021-09", REGISTRY, alloc, mon, _card([]), survey)


def test_build_overview_puts_the_pieces_together(budget_frames):
    alloc, mon = budget_frames
    survey = ao.SurveyOverview(wave=None, previous_wave=None, min_n=30)
    ov = ao.build_overview("2024-09", REGISTRY, alloc, mon, _card([("a", 50.0, "D", 2, 0)]), survey)
    # Province: (60 + 30 + 5) / (120 + 240 + 0); rows after September are ignored.
    assert ov.totals["expenditure"] == pytest.approx(95.0)
    assert ov.totals["utilisation"] == pytest.approx(95 / 360)
    assert ov.benchmark == pytest.approx(0.25) and ov.fy_m == 3
    assert ov.gaps.shape == (3, 3)
    lg = ov.league.set_index("department")
    assert lg.loc["a", "gap"] == pytest.approx(0.25)  # = the last column of the gap matrix
    assert lg.loc["b", "gap"] == pytest.approx(-0.125)
    assert lg.loc["b", "months_missing"] == 2  # August missing, September incomplete (no A12)
    # b: 12.5 points behind and 2 months missing; a: grade D and none of its 2 targets on track
    # (each also has a projection sign from the straight-line pace: b about 50%, a about 200%).
    att = ov.attention.set_index("department")
    assert set(att.index) == {"a", "b"}
    assert {"underspend", "missing_months"} <= set(att.loc["b", "reasons"])
    assert {"low_grade", "targets_off_track"} <= set(att.loc["a", "reasons"])
    assert ov.pefa.pi1 is None  # no completed years in the data


def test_overview_shows_the_province_track_record():
    # the province line is the departments' projections added up (hand-worked in
    # tests/unit/test_budget.py::test_province_forecast_record_adds_the_departments_up)
    from helpers.analysis.budget import ForecastRecord
    from helpers.present import overview as pview

    prov = pd.DataFrame(
        {
            "fy_m": [3, 9],
            "month": pd.to_datetime(["2023-09-01", "2024-03-01"]),
            "projection": [240.0, 320.0],
            "outturn": [360.0, 360.0],
            "budget_estimate": [600.0, 600.0],
            "error": [-1 / 3, -40 / 360],
            "error_be": [-0.2, -40 / 600],
            "departments": [2, 2],
        }
    )
    table_ = pd.DataFrame(
        {
            "department": ["d", "e", "d", "e"],
            "fy_m": [3, 3, 9, 9],
            "month": pd.to_datetime(["2023-09-01", "2023-09-01", "2024-03-01", "2024-03-01"]),
            "method": "profile",
            "projection": [120.0, 120.0, 160.0, 160.0],
            "outturn": 180.0,
            "budget_estimate": 300.0,
            "error": [-1 / 3, -1 / 3, -20 / 180, -20 / 180],
            "error_be": [-0.2, -0.2, -20 / 300, -20 / 300],
        }
    )
    ov = _overview()
    ov.forecast = ForecastRecord("2023-24", table_, "recomputed", prov)
    shown = pview.forecast_section(ov)
    html = " ".join(x.html for x in shown)
    # mean |error| = (33.3% + 11.1%) / 2 = 22%; March 2024: 11% below
    assert (
        "the provincial projection missed the outturn by 22% on average; in March 2024 it was "
        "11% below the outturn"
    ) in html
    assert "Each department" in html and "-33%" in html


def test_a_department_on_its_trajectory_is_never_a_low_grade_sign():
    # Up 60 (2024-06) -> 84 (2025-06), plan 60 + 2k; actual on plan in October 2024 (k = 4, 68).
    # Against the year-end target it scored (68 - 60) / 24 = 33 (E: a "needs attention" sign
    # every autumn); against the plan to date it scores 100 (A), so no low-grade sign.
    from helpers.analysis import stocktake as st

    targets = pd.DataFrame(
        [{"target_id": "T", "department": "x", "title": "T", "unit": "%", "direction": "up",
          "baseline": 60.0, "baseline_month": pd.Timestamp("2024-06-01"), "target_value": 84.0,
          "target_month": pd.Timestamp("2025-06-01"), "owner": "o", "has_districts": False}]
    )  # fmt: skip
    actuals = pd.DataFrame(
        {"target_id": ["T"], "month": [pd.Timestamp("2024-10-01")], "district_pcode": [None],
         "actual": [68.0]}
    )  # fmt: skip
    trajectory = pd.DataFrame(columns=["target_id", "month", "planned"])
    card = st.province_scorecard(targets, trajectory, actuals, "2024-10")
    assert card.loc[0, "score"] == pytest.approx(100.0) and card.loc[0, "grade"] == "A"
    assert card.loc[0, "grade"] not in ao.LOW_GRADES


# --------------------------------------------------------------------------------------------
# One department at a time (the overview's cost linear in the number of departments)
# --------------------------------------------------------------------------------------------


def test_department_slices_cut_each_department_once_and_keep_a_prepared_frame_prepared(
    budget_frames,
):
    from helpers.analysis import budget as bud

    df = pd.DataFrame({"department": ["b", "a", "b"], "x": [1, 2, 3]})
    parts = ao.department_slices(df)
    assert sorted(parts) == ["a", "b"]
    assert list(parts["b"]["x"]) == [1, 3] and list(parts["a"]["x"]) == [2]
    assert not any(bud.is_prepared(p) for p in parts.values())
    # the fixture's budget_monthly: a has 5 rows, b 3, c 1; each slice is prepared, so the
    # budget functions take it as it is (the same object back, not validated again)
    mon = bud.prepare_monthly(budget_frames[1])
    parts = ao.department_slices(mon)
    assert {d: len(p) for d, p in parts.items()} == {"a": 5, "b": 3, "c": 1}
    assert all(bud.prepare_monthly(p) is p for p in parts.values())


def test_province_summary_by_department_is_the_budget_summary(budget_frames):
    # September 2024 (benchmark 3/12): a 60/120 = 50%, gap +25 points; b 30/240 = 12.5%, gap
    # -12.5 points, 2 months missing (August none, September without A12); c BE 0: no
    # utilisation. Most behind first, no utilisation last: b, a, c.
    from helpers.analysis import budget as bud

    alloc, mon = budget_frames
    mon = mon[pd.to_datetime(mon["month"]) <= "2024-09-01"]
    got = ao.province_summary(alloc, mon, "2024-09")
    assert list(got["department"]) == ["b", "a", "c"]
    s = got.set_index("department")
    assert s.loc["a", "util_be"] == pytest.approx(0.5) and s.loc["a", "gap"] == pytest.approx(0.25)
    assert s.loc["b", "util_be"] == pytest.approx(0.125)
    assert s.loc["b", "gap"] == pytest.approx(-0.125)
    assert s.loc["b", "months_missing"] == 2 and s.loc["a", "months_missing"] == 0
    assert math.isnan(s.loc["c", "util_be"])
    pd.testing.assert_frame_equal(got, bud.province_summary(alloc, mon, "2024-09"))


def test_province_scorecard_by_department_is_the_stocktake_scorecard():
    # Two departments, one target each, up 60 (2024-06) -> 84 (2025-06), plan 60 + 2k; in
    # October 2024 (k = 4, plan 68) x's actual is on plan (score 100) and y's is still at the
    # baseline (achievement (60 - 60) / (68 - 60) = 0). Best first: x, y.
    from helpers.analysis import stocktake as st

    def target(tid, dept):
        return {"target_id": tid, "department": dept, "title": tid, "unit": "%",
                "direction": "up", "baseline": 60.0, "baseline_month": pd.Timestamp("2024-06-01"),
                "target_value": 84.0, "target_month": pd.Timestamp("2025-06-01"), "owner": "o",
                "has_districts": False}  # fmt: skip

    targets = pd.DataFrame([target("TY", "y"), target("TX", "x")])
    actuals = pd.DataFrame(
        {"target_id": ["TX", "TY"], "month": [pd.Timestamp("2024-10-01")] * 2,
         "district_pcode": [None, None], "actual": [68.0, 60.0]}
    )  # fmt: skip
    trajectory = pd.DataFrame(columns=["target_id", "month", "planned"])
    got = ao.province_scorecard(targets, trajectory, actuals, "2024-10")
    assert list(got["department"]) == ["x", "y"]
    assert list(got["score"]) == pytest.approx([100.0, 0.0])
    assert list(got["targets"]) == [1, 1] and got.loc[0, "on_track"] == 1
    pd.testing.assert_frame_equal(
        got, st.province_scorecard(targets, trajectory, actuals, "2024-10")
    )


def test_the_gap_heatmap_is_a_vector_chart_with_every_cell_labelled(budget_frames):
    # The fixture, September 2024 (benchmark m/12), in points: a spends 10, 20, 30 of BE 120:
    # Jul 10/120 - 1/12 = 0, Aug 30/120 - 2/12 = +8.3, Sep 60/120 - 3/12 = +25; b (BE 240):
    # Jul 12/240 - 1/12 = -3.3, August no row (no data, never zero), Sep 30/240 - 3/12 = -12.5
    # (shown -12: whole points, halves to even); c has a zero BE: no utilisation, no data.
    import re
    from collections import Counter
    from html import unescape

    from helpers.present import overview as view

    alloc, mon = budget_frames
    survey = ao.SurveyOverview(wave=None, previous_wave=None, min_n=30)
    ov = ao.build_overview("2024-09", REGISTRY, alloc, mon, _card([("a", 50.0, "D", 2, 0)]), survey)
    fig = view.gap_heatmap(ov)
    assert fig.mime == "image/svg+xml"  # vector in the HTML and in the PDF
    svg = fig.data.decode("utf-8")
    texts = Counter(unescape(t) for t in re.findall(r">([^<>]+)<", svg))
    cells = ["0", "+8", "+25", "\u22123", "no data", "\u221212", "no data", "no data", "no data"]
    assert Counter(cells) <= texts and texts["no data"] == 4
    # the colour scale in signed points with a true minus, like the cells
    assert {"\u221220", "0", "+20"} <= set(texts) and "-20" not in texts
    # month labels on two lines ("Jul" over "2024"): twelve of them never run together
    assert {"Jul", "Aug", "Sep"} <= set(texts) and texts["2024"] >= 3
