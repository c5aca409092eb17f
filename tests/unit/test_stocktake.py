"""Stocktake rules on tiny hand-made frames; every expected value is worked out by hand.

Report month 2025-03 (judged at 2025-03-31); fiscal year 2024-25 ends 2025-06.

Targets of department "health" (tolerance 10% of |target - baseline|):
  U  up,   50 (2024-06) -> 80 (2025-06), trajectory 50 + 2.5k for k = 1..12 (2024-07 = 1);
           actuals 50 + 2k, with no department-wide row in 2024-11 and 2025-01.
  D  down, 100 (2024-06) -> 70 (2025-06), no trajectory rows (straight line 100 - 2.5k);
           actuals 100 - 3k for k = 1..9.
  N  up,   no actuals yet.
  M  up,   10 (2024-12) -> 20 (2025-12); actuals 15, 18, 21 in 2025-01..03 (already met).
  P  up,   0 (2024-06) -> 10 (2024-12) (date passed); actuals 7 (2024-12), 8 (2025-02).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from helpers.analysis import stocktake as st
from helpers.present import stocktake as pst

MONTH = "2025-03"
TS = pd.Timestamp


def _month(k: int) -> pd.Timestamp:
    """k = 1 is 2024-07."""
    return TS("2024-06-01") + pd.DateOffset(months=k)


@pytest.fixture
def targets() -> pd.DataFrame:
    rows = [
        ("U", "up", 50.0, "2024-06-01", 80.0, "2025-06-01", True),
        ("D", "down", 100.0, "2024-06-01", 70.0, "2025-06-01", False),
        ("N", "up", 0.0, "2024-06-01", 10.0, "2025-06-01", False),
        ("M", "up", 10.0, "2024-12-01", 20.0, "2025-12-01", False),
        ("P", "up", 0.0, "2024-06-01", 10.0, "2024-12-01", False),
    ]
    return pd.DataFrame(
        [
            {
                "target_id": tid,
                "department": "health",
                "title": f"Target {tid}",
                "unit": "%",
                "direction": d,
                "baseline": b,
                "baseline_month": TS(bm),
                "target_value": tv,
                "target_month": TS(tm),
                "owner": "Secretary",
                "has_districts": hd,
            }
            for tid, d, b, bm, tv, tm, hd in rows
        ]
    )


@pytest.fixture
def trajectory() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "target_id": "U",
            "month": [_month(k) for k in range(1, 13)],
            "planned": [50 + 2.5 * k for k in range(1, 13)],
        }
    )


@pytest.fixture
def actuals() -> pd.DataFrame:
    rows = []
    for k in range(1, 10):
        if k not in (5, 7):  # 2024-11 and 2025-01 are missing
            rows.append(("U", _month(k), None, 50.0 + 2 * k))
        rows.append(("D", _month(k), None, 100.0 - 3 * k))
    rows += [
        ("U", _month(5), "PK101", 59.0),  # a district row does not fill the department gap
        ("U", _month(8), "PK101", 60.0),
        ("U", _month(8), "PK102", 70.0),
        ("U", _month(9), "PK101", 64.0),
        ("U", _month(9), "PK102", 72.0),
        ("M", TS("2025-01-01"), None, 15.0),
        ("M", TS("2025-02-01"), None, 18.0),
        ("M", TS("2025-03-01"), None, 21.0),
        ("P", TS("2024-12-01"), None, 7.0),
        ("P", TS("2025-02-01"), None, 8.0),
        ("U", TS("2025-04-01"), None, 99.0),  # after the report month: ignored
    ]
    return pd.DataFrame(rows, columns=["target_id", "month", "district_pcode", "actual"])


@pytest.fixture
def districts() -> pd.DataFrame:
    return pd.DataFrame(
        {"pcode": ["PK101", "PK102", "PK103"], "name": ["Abbottabad", "Bannu", "Chitral"]}
    )


@pytest.fixture
def milestones() -> pd.DataFrame:
    rows = [
        ("M1", "U", "2025-01-15", "2025-01-10", "completed"),
        ("M2", "U", "2025-01-15", "2025-02-04", "completed"),
        ("M3", "D", "2025-01-20", None, "in progress"),
        ("M4", "D", "2025-03-10", "2025-04-05", "completed"),
        ("M5", "U", "2025-03-31", None, "in progress"),
        ("M6", "M", "2025-05-01", None, "not started"),
        ("M7", "U", "2025-02-01", None, "dropped"),
    ]
    return pd.DataFrame(
        [
            {
                "milestone_id": mid,
                "target_id": tid,
                "department": "health",
                "title": f"Milestone {mid}",
                "due_date": TS(due),
                "completed_date": TS(done) if done else pd.NaT,
                "status": status,
            }
            for mid, tid, due, done, status in rows
        ]
    )


@pytest.fixture
def ratings() -> pd.DataFrame:
    rows = [
        ("U", "2024-12-15", "Amber-Green"),
        ("U", "2025-02-20", "Green"),
        ("D", "2024-12-15", "Amber-Red"),
        ("D", "2025-02-20", "Red"),
        ("N", "2025-02-20", "Amber-Red"),
        ("M", "2024-12-15", "Green"),
        ("M", "2025-02-20", "Green"),
        ("P", "2024-12-15", "Amber-Green"),
        ("P", "2025-02-20", "Green"),
        ("U", "2025-04-10", "Red"),  # after the report month: ignored
    ]
    return pd.DataFrame(
        [
            {
                "department": "health",
                "target_id": t,
                "stocktake_date": TS(d),
                "rating": r,
                "comment": "",
            }
            for t, d, r in rows
        ]
    )


@pytest.fixture
def actions() -> pd.DataFrame:
    rows = [
        ("A0", "U", "2024-12-15", "2025-01-31", "done"),
        ("A1", "U", "2025-02-20", "2025-03-01", "open"),
        ("A2", "D", "2025-02-20", "2025-03-15", "done"),
        ("A3", "N", "2025-02-20", "2025-04-30", "open"),
        ("A9", "U", "2025-04-10", "2025-05-30", "open"),
    ]
    return pd.DataFrame(
        [
            {
                "action_id": a,
                "department": "health",
                "target_id": t,
                "stocktake_date": TS(sd),
                "action": f"Action {a}",
                "owner": "DG",
                "due_date": TS(due),
                "status": s,
            }
            for a, t, sd, due, s in rows
        ]
    )


@pytest.fixture
def pack(targets, trajectory, actuals, milestones, ratings, actions, districts) -> st.StocktakePack:
    rule = st.ScorecardRule(overrides={"health": {"U": 2.0, "N": 0.0}})
    return st.build_pack(
        "health",
        MONTH,
        targets,
        trajectory,
        actuals,
        milestones,
        ratings,
        actions,
        districts,
        rule=rule,
    )


def _row(pack: st.StocktakePack, tid: str) -> dict:
    return pack.summary.set_index("target_id").loc[tid].to_dict()


# ------------------------------------------------------------------------------ trajectory


def test_planned_value_is_interpolated_anchored_and_held(targets):
    target = st.prepare_targets(targets).set_index("target_id").loc["U"].to_dict() | {
        "target_id": "U"
    }
    sparse = pd.DataFrame(
        {"target_id": "U", "month": [TS("2024-09-01"), TS("2024-12-01")], "planned": [60.0, 66.0]}
    )
    sparse = st.prepare_trajectory(sparse)
    got = st.planned_at(target, sparse, [TS("2024-05-01"), TS("2024-06-01"), TS("2024-07-01"),
                                         TS("2024-10-01"), TS("2025-03-01"), TS("2025-09-01")])  # fmt: skip
    # before the baseline: no plan; baseline 50 -> 60 in three months; 60 -> 66 in three;
    # 66 (2024-12) -> 80 (2025-06): +14/6 per month, three months on = 73; held after the target.
    expected = [math.nan, 50.0, 50.0 + 10 / 3, 62.0, 73.0, 80.0]
    np.testing.assert_allclose(got, expected, equal_nan=True)


def test_off_track_up_target_with_gaps(pack):
    u = _row(pack, "U")
    assert u["latest_month"] == TS("2025-03-01")
    assert u["latest_actual"] == 68.0  # 50 + 2*9
    assert u["planned_at_latest"] == 72.5  # 50 + 2.5*9
    assert u["gap"] == pytest.approx(-4.5)
    assert u["gap_pct"] == pytest.approx(-4.5 / 72.5)
    assert u["status"] == st.OFF_TRACK  # behind by 4.5 > 10% of 30 = 3
    assert u["missing_months"] == [TS("2024-11-01"), TS("2025-01-01")]
    assert u["n_missing"] == 2


def test_tolerance_boundary_is_on_track(targets, trajectory):
    target = st.prepare_targets(targets).iloc[0].to_dict()
    act = st.prepare_actuals(
        pd.DataFrame(
            {
                "target_id": "U",
                "month": [TS("2025-03-01")],
                "district_pcode": [None],
                "actual": [69.5],
            }
        )
    )
    row, _ = st.assess_target(target, st.prepare_trajectory(trajectory), act, MONTH)
    assert row["gap"] == pytest.approx(-3.0)  # 69.5 - 72.5, exactly 10% of 30
    assert row["status"] == st.ON_TRACK
    row, _ = st.assess_target(
        target, st.prepare_trajectory(trajectory), act, MONTH, st.StocktakeSettings(tolerance=0.05)
    )
    assert row["status"] == st.OFF_TRACK


def test_down_target_ahead_of_trajectory(pack):
    d = _row(pack, "D")
    assert d["latest_actual"] == 73.0  # 100 - 27
    assert d["planned_at_latest"] == 77.5  # straight line 100 -> 70 over 12 months
    assert d["gap"] == pytest.approx(4.5)  # lower is better: ahead by 4.5
    assert d["status"] == st.ON_TRACK
    assert d["trend"] == "improving"  # falling by 3 a month on a 'down' target
    assert d["trend_per_month"] == pytest.approx(-3.0)
    assert d["projected"] == pytest.approx(64.0)  # 73 - 3*3 at 2025-06
    assert d["projected_outcome"] == "meets"
    assert d["n_missing"] == 0


def test_no_actuals_yet(pack):
    n = _row(pack, "N")
    assert n["status"] == st.NO_DATA
    assert pd.isna(n["latest_month"]) and math.isnan(n["gap"])
    assert pd.isna(n["projected_outcome"]) and math.isnan(n["projected"])
    assert "0 monthly actual" in n["projection_note"]
    assert n["n_missing"] == 9  # 2024-07 .. 2025-03


def test_target_already_met_and_target_date_passed(pack):
    assert _row(pack, "M")["status"] == st.MET  # 21 >= 20 ahead of 2025-12
    p = _row(pack, "P")
    assert p["status"] == st.MISSED  # 8 < 10 and 2024-12 is before 2025-03
    assert p["date_passed"]
    assert math.isnan(p["projected"]) and "passed" in p["projection_note"]
    # no department-wide actual in 2024-07..2024-11 (plan ends 2024-12, which is present)
    assert p["n_missing"] == 5


def test_projection_prediction_interval_by_hand():
    # x = 0..3 (2024-12 .. 2025-03), y = 1, 3, 2, 4: slope 0.8, intercept 1.3,
    # residual SS 1.8, s^2 = 0.9; at x0 = 6 (2025-06): 1.3 + 4.8 = 6.1,
    # se = sqrt(0.9 * (1 + 1/4 + 4.5^2/5)) = sqrt(4.77); 80% interval uses t(0.9, df=2).
    target = {"target_id": "X", "direction": "up", "baseline": 0.0, "target_value": 7.0,
              "target_month": TS("2025-06-01"), "baseline_month": TS("2024-06-01")}  # fmt: skip
    series = pd.DataFrame(
        {"month": pd.date_range("2024-12-01", periods=4, freq="MS"), "actual": [1.0, 3, 2, 4]}
    )
    proj = st.project(target, series, MONTH)
    half = stats.t.ppf(0.9, 2) * math.sqrt(4.77)
    assert proj.slope == pytest.approx(0.8)
    assert proj.value == pytest.approx(6.1)
    assert proj.lower == pytest.approx(6.1 - half)
    assert proj.upper == pytest.approx(6.1 + half)
    assert len(proj.path) == 4  # 2025-03 .. 2025-06
    row, _ = st.assess_target(target, st.prepare_trajectory(pd.DataFrame(columns=["target_id", "month", "planned"])),
                              series.assign(district_pcode=pd.NA, target_id="X"), MONTH)  # fmt: skip
    assert row["projected_outcome"] == "misses"  # 6.1 < 7
    assert row["likelihood"] == "uncertain"  # interval straddles 7


def test_projection_needs_enough_recent_points_and_uses_month_spacing(pack):
    u = _row(pack, "U")
    # seven points on 50 + 2k with gaps: exact line, slope 2, 2025-06 (k=12) -> 74 < 80
    assert u["projection_points"] == 7
    assert u["trend_per_month"] == pytest.approx(2.0)
    assert u["projected"] == pytest.approx(74.0)
    assert u["projected_outcome"] == "misses"
    assert u["likelihood"] == "likely to miss"
    m = _row(pack, "M")  # three points < min_points 4
    assert math.isnan(m["projected"]) and pd.isna(m["trend"])


# ------------------------------------------------------------------------------ ratings


def test_rating_changes_since_previous_stocktake(pack):
    assert pack.stocktake_date == TS("2025-02-20")
    assert pack.previous_stocktake_date == TS("2024-12-15")
    rc = pack.summary.set_index("target_id")
    assert rc.loc["U", "rating"] == "Green" and rc.loc["U", "rating_change"] == "up"
    assert rc.loc["D", "rating"] == "Red" and rc.loc["D", "rating_change"] == "down"
    assert rc.loc["N", "rating_change"] == "new"
    assert rc.loc["M", "rating_change"] == "same"


def test_rating_evidence_disagreement(pack):
    flags = pack.summary.set_index("target_id")["evidence_flag"]
    assert flags["U"] == "Rated Green but off trajectory and projected to miss"
    assert flags["D"] == "Rated Red but on trajectory and projected to meet"
    assert flags["P"] == "Rated Green but target date passed without meeting the target"
    assert flags["M"] == ""  # Green and met
    assert flags["N"] == ""  # no evidence either way


@pytest.mark.parametrize(
    ("rating", "status", "outcome", "flagged"),
    [
        ("Green", st.ON_TRACK, "misses", True),  # any adverse signal contradicts Green
        ("Green", st.ON_TRACK, "meets", False),
        ("Amber-Green", st.OFF_TRACK, "meets", False),  # one adverse signal is not enough
        ("Amber-Green", st.OFF_TRACK, "misses", True),
        ("Amber-Red", st.ON_TRACK, "meets", True),
        ("Amber-Red", st.ON_TRACK, None, False),
        ("Red", st.MET, None, True),
        ("Red", st.NO_DATA, None, False),
        (None, st.OFF_TRACK, "misses", False),
    ],
)
def test_evidence_flag_rule(rating, status, outcome, flagged):
    assert bool(st.evidence_flag(rating, status, outcome)) is flagged


def test_actions_agreed_last_time(pack):
    a = pack.actions.set_index("action_id")
    assert list(a.index) == ["A1", "A2", "A3"]  # agreed 2025-02-20, the stocktake in force
    assert a.loc["A1", "past_due"] and a.loc["A1", "days_past_due"] == 30  # 03-01 -> 03-31
    assert not a.loc["A2", "past_due"] and not a.loc["A3", "past_due"]


# ------------------------------------------------------------------------------ milestones


def test_milestone_states(pack):
    m = pack.milestones.set_index("milestone_id")
    assert m["state"].to_dict() == {
        "M1": "completed on time",
        "M2": "completed late",
        "M3": "overdue",
        "M4": "overdue",  # completed only in April: still open at 2025-03-31
        "M5": "due this month",
        "M6": "not yet due",
        "M7": "dropped",
    }
    assert m.loc["M2", "days_late"] == 20  # 01-15 -> 02-04
    assert m.loc["M3", "days_overdue"] == 70  # 01-20 -> 03-31
    assert m.loc["M3", "months_overdue"] == 2
    assert m.loc["M4", "days_overdue"] == 21 and m.loc["M4", "months_overdue"] == 0
    assert set(m.index[m["due_this_month"]]) == {"M4", "M5"}
    assert _row(pack, "D")["milestones_overdue"] == 2


def test_milestone_completion_rate_over_time(milestones):
    rate = st.milestone_completion_rate(milestones, MONTH, months=3).set_index("month")
    # Jan: M1 M2 M3 due, M1 done; Feb: same three due, M1 M2 done (M2 late);
    # Mar: M1..M5 due, M1 M2 done (M4 only in April); M7 dropped never counts.
    assert rate["due"].tolist() == [3, 3, 5]
    assert rate["completed"].tolist() == [1, 2, 2]
    assert rate["on_time"].tolist() == [1, 1, 1]
    np.testing.assert_allclose(rate["completion_rate"], [1 / 3, 2 / 3, 0.4])
    np.testing.assert_allclose(rate["on_time_rate"], [1 / 3, 1 / 3, 0.2])


def test_completed_milestone_without_date_is_an_error(milestones):
    bad = milestones.copy()
    bad.loc[bad["milestone_id"] == "M1", "completed_date"] = pd.NaT
    with pytest.raises(ValueError, match="completed without a completed_date"):
        st.milestone_status(bad, MONTH)


# ------------------------------------------------------------------------------ districts


def test_district_breakdown_latest_month_best_first(pack):
    d = pack.districts["U"]
    assert d["district"].tolist() == ["Bannu", "Abbottabad"]  # 2025-03: 72, 64
    assert (d["month"] == TS("2025-03-01")).all()
    assert d["department_value"].tolist() == [68.0, 68.0]
    assert d["difference"].tolist() == [4.0, -4.0]
    assert d["rank"].tolist() == [1, 2]
    assert set(pack.districts) == {"U"}  # only targets with has_districts


def test_unknown_district_is_an_error(targets, actuals, districts):
    target = st.prepare_targets(targets).iloc[0].to_dict()
    a = st.prepare_actuals(
        actuals.assign(district_pcode=actuals["district_pcode"].replace("PK102", "PK999"))
    )
    with pytest.raises(ValueError, match="PK999"):
        st.district_breakdown(target, a[a["target_id"] == "U"], districts, MONTH)


# ------------------------------------------------------------------------------ roll-up and scorecard


def test_department_rollup(pack):
    assert pack.n_targets == 5
    assert pack.n_on_track == 2  # D on track, M met
    assert pack.share_on_track == pytest.approx(0.4)
    assert pack.status_counts() == {
        "met": 1,
        "on track": 1,
        "off track": 1,
        "missed": 1,
        "no data": 1,
    }
    assert pack.as_of == TS("2025-03-01")


def test_a_target_set_after_the_month_is_not_in_its_pack(
    targets, trajectory, actuals, milestones, ratings, actions, districts
):
    # Target M starts (baseline) in December 2024: a November pack knows nothing of it.
    frames = (targets, trajectory, actuals, milestones, ratings, actions, districts)
    before = st.build_pack("health", "2024-11", *frames)
    assert "M" not in set(before.summary["target_id"]) and before.n_targets == 4
    assert "M6" not in set(before.milestones["milestone_id"])  # nor its milestones
    assert "M" not in set(before.scorecard["target_id"])
    after = st.build_pack("health", "2024-12", *frames)
    assert "M" in set(after.summary["target_id"]) and after.n_targets == 5


def test_scorecard_arithmetic_by_hand(pack):
    card = pack.scorecard.set_index("target_id")
    # annual targets (FY 2024-25 ends 2025-06): U 80, D 70, N 10, P 10 (dates within the year);
    # M ends 2025-12, so its plan at 2025-06: 10 + 10 * 6/12 = 15.
    assert card["annual_target"].to_dict() == {
        "U": 80.0,
        "D": 70.0,
        "N": 10.0,
        "M": 15.0,
        "P": 10.0,
    }
    # Scored against the plan to date, the plan for the month of the latest actual (2025-03):
    # U plan 50 + 2.5 x 9 = 72.5: (68-50)/(72.5-50) = 18/22.5 = 0.8;
    # D plan 100 - 2.5 x 9 = 77.5: (73-100)/(77.5-100) = 1.2 -> 1.0;
    # M plan 10 + 10 x 3/12 = 12.5: (21-10)/2.5 = 4.4 -> 1.0;
    # P (latest 2025-02, plan held at 10 after the target date): 8/10 = 0.8.
    assert card["plan_to_date"].to_dict() == pytest.approx(
        {"U": 72.5, "D": 77.5, "N": math.nan, "M": 12.5, "P": 10.0}, nan_ok=True
    )
    assert card.loc["U", "achievement"] == pytest.approx(0.8)
    assert card.loc["D", "achievement"] == pytest.approx(1.2)
    assert card.loc["D", "scored"] == 1.0
    assert card.loc["M", "achievement"] == pytest.approx(4.4)
    assert card.loc["M", "scored"] == 1.0
    assert card.loc["P", "achievement"] == pytest.approx(0.8)
    # progress against the annual target, shown beside the score: U (68-50)/30 = 0.6;
    # D (73-100)/(70-100) = 0.9; M (21-10)/5 = 2.2; P 0.8
    assert card.loc["U", "annual_progress"] == pytest.approx(0.6)
    assert card.loc["D", "annual_progress"] == pytest.approx(0.9)
    assert card.loc["M", "annual_progress"] == pytest.approx(2.2)
    assert card.loc["P", "annual_progress"] == pytest.approx(0.8)
    assert not card.loc["N", "included"]  # weight 0
    # weights U 2, others 1: 100 * (2*0.8 + 1.0 + 1.0 + 0.8) / 5 = 88.0 -> grade A
    assert pack.score == pytest.approx(88.0)
    assert pack.grade == "A"


def test_scorecard_cap_and_missing_rules(targets, trajectory, actuals):
    cap = st.ScorecardRule(overrides={"health": {"U": 2.0, "N": 0.0}}, cap=1.2)
    # D and M now count 1.2: 100 * (2*0.8 + 1.2 + 1.2 + 0.8) / 5 = 96.0
    assert st.score(st.scorecard(targets, trajectory, actuals, MONTH, cap)) == pytest.approx(96.0)
    zero = st.ScorecardRule(overrides={"health": {"U": 2.0}})
    # N (no actual) scores 0 with weight 1: 100 * 4.4 / 6 = 73.33
    assert st.score(st.scorecard(targets, trajectory, actuals, MONTH, zero)) == pytest.approx(
        440 / 6
    )
    excl = st.ScorecardRule(overrides={"health": {"U": 2.0}}, missing="exclude")
    assert st.score(st.scorecard(targets, trajectory, actuals, MONTH, excl)) == pytest.approx(88.0)


def test_no_actual_for_any_kpi_is_not_scored(targets, trajectory, actuals):
    # Before the first actual arrives a department is not scored: not 0 out of 100 (grade E).
    card = st.scorecard(targets, trajectory, actuals.iloc[0:0], MONTH)
    assert card["included"].all() and (card["scored"] == 0).all()  # each KPI counts 0 ...
    assert math.isnan(st.score(card))  # ... but the department has no score yet
    assert st.ScorecardRule().grade(st.score(card)) is None


def test_scorecard_weights_from_config(targets, trajectory, actuals):
    config = {
        "default_weight": 1.0,
        "weights": {"health": {"U": 2, "N": 0}},
        "scoring": {"cap": 1.0},
    }
    assert st.score(st.scorecard(targets, trajectory, actuals, MONTH, config)) == pytest.approx(
        88.0
    )
    with pytest.raises(ValueError, match="unknown target_id"):
        st.scorecard(targets, trajectory, actuals, MONTH, {"weights": {"health": {"ZZ": 1}}})
    with pytest.raises(ValueError, match="non-negative"):
        st.ScorecardRule.from_config({"weights": {"health": {"U": -1}}})


def test_province_scorecard_one_row_per_department(targets, trajectory, actuals):
    energy = pd.DataFrame(
        [
            {
                "target_id": "E",
                "department": "energy",
                "title": "E",
                "unit": "MW",
                "direction": "up",
                "baseline": 0.0,
                "baseline_month": TS("2024-06-01"),
                "target_value": 100.0,
                "target_month": TS("2025-06-01"),
                "owner": "x",
                "has_districts": False,
            }
        ]  # fmt: skip
    )
    acts = pd.concat(
        [
            actuals,
            pd.DataFrame(
                [
                    {
                        "target_id": "E",
                        "month": TS("2025-03-01"),
                        "district_pcode": None,
                        "actual": 50.0,
                    }
                ]
            ),
        ]
    )
    config = {"weights": {"health": {"U": 2, "N": 0}}}
    out = st.province_scorecard(pd.concat([targets, energy]), trajectory, acts, MONTH, config)
    assert out.columns.tolist() == ["department", "score", "grade", "targets", "on_track"]
    got = out.set_index("department")
    assert got.loc["health", "score"] == pytest.approx(88.0)
    assert got.loc["health", "targets"] == 5 and got.loc["health", "on_track"] == 2
    # energy: plan to date 75 at 2025-03, actual 50: 50 / 75 -> 66.7 (C); behind by 25 > 10:
    # off track
    assert got.loc["energy", "score"] == pytest.approx(200 / 3)
    assert got.loc["energy", "grade"] == "C"
    assert got.loc["energy", "on_track"] == 0
    assert out["department"].tolist() == ["health", "energy"]  # best score first


def test_the_scorecard_status_is_the_one_the_department_report_gives(targets, trajectory, actuals):
    # The province scorecard counts targets on track with target_status (no trend, no
    # projection): a department's report (assess_target) must give each target the same status,
    # before its data, while on track or behind, after its date.
    t = st.prepare_targets(targets)
    tr, a = st.prepare_trajectory(trajectory), st.prepare_actuals(actuals)
    seen = set()
    for month in ("2024-01", "2024-09", MONTH, "2025-12", "2027-06"):
        for target in t.to_dict("records"):
            tid = target["target_id"]
            tr_t, a_t = tr[tr["target_id"] == tid], a[a["target_id"] == tid]
            row, _ = st.assess_target(target, tr_t, a_t, month)
            assert st.target_status(target, tr_t, a_t, month) == row["status"], (tid, month)
            seen.add(row["status"])
    assert len(seen) >= 3  # the months reach several statuses, not one


# ------------------------------------------------------------------------------ bad input


def test_bad_targets_are_rejected(targets):
    with pytest.raises(ValueError, match="direction"):
        st.prepare_targets(targets.assign(direction="sideways"))
    # a baseline already at or past the target is valid (a level to hold: issue 16)
    past = targets.copy()
    past.loc[past["target_id"] == "D", "target_value"] = 120.0  # 'down' target above baseline
    assert len(st.prepare_targets(past)) == len(targets)
    with pytest.raises(ValueError, match="maintain target without a band"):
        st.prepare_targets(targets.assign(direction="maintain"))
    with pytest.raises(ValueError, match="missing columns"):
        st.prepare_targets(targets.drop(columns=["direction"]))


def test_duplicate_actuals_and_unknown_ratings_are_rejected(actuals, ratings):
    with pytest.raises(ValueError, match="more than one value"):
        st.prepare_actuals(pd.concat([actuals, actuals.head(1)]))
    with pytest.raises(ValueError, match="unknown rating"):
        st.rating_changes(ratings.assign(rating="Blue"), MONTH)


def test_settings_are_validated():
    with pytest.raises(ValueError, match="tolerance"):
        st.StocktakeSettings(tolerance=1.5)
    with pytest.raises(ValueError, match="unknown status settings"):
        st.StocktakeSettings.from_config({"status": {"tolerence": 0.1}})


def test_shipped_config_loads():
    config = st.load_config()
    assert st.StocktakeSettings.from_config(config).tolerance == 0.10
    assert st.ScorecardRule.from_config(config).grade(78.0) == "B"


def test_scorecard_settings_are_a_checked_record(tmp_path):
    shipped = pst.load_settings()
    assert isinstance(shipped, pst.StocktakeConfig)
    assert shipped.settings.tolerance == 0.10 and shipped.settings.tolerance_basis == "change"
    assert shipped.rule.grade(78.0) == "B" and shipped.rule.grade(85.0) == "A"
    bad = tmp_path / "scorecard.yaml"
    bad.write_text("status:\n  tolerance: 0.2\nweigths: {}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"scorecard.yaml: unknown keys \['weigths'\]"):
        pst.load_settings(bad)
    bad.write_text("default_weight: heavy\n", encoding="utf-8")
    with pytest.raises(ValueError, match="default_weight must be a number, got 'heavy'"):
        pst.load_settings(bad)
    bad.write_text("status:\n  tolerance: 0.2\nscoring:\n  cap: 1.2\n", encoding="utf-8")
    own = pst.load_settings(bad)
    assert own.settings.tolerance == 0.2 and own.rule.cap == 1.2


# ------------------------------------------------------------------------------ presentation


def test_key_messages_name_the_evidence(pack):
    messages = pst.key_message_sentences(pack)
    text = " ".join(messages)
    assert "2 of 5 targets" in text
    assert "Target U" in text and "rated Green" in text
    assert "2 milestones are overdue" in text
    assert any(m.startswith("Decisions needed") for m in messages)


def test_charts_render(pack, districts):
    import xml.etree.ElementTree as ET

    def texts(fig) -> list[str]:
        root = ET.fromstring(fig.svg())  # well-formed SVG
        return ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]

    for tid in pack.summary["target_id"]:
        fig = pst.trajectory_chart(pack, tid)
        ax = fig.axes[0]
        assert ax.get_title() and "%" in ax.get_ylabel()
        assert ax.get_title() in texts(fig) and ax.get_ylabel() in texts(fig)
    fig = pst.district_chart(pack, "U")
    assert fig.axes[0].get_title() in texts(fig)
    fig = pst.completion_chart(pack)
    assert fig.axes[0].get_title() in texts(fig)


def test_formatting_helpers():
    assert pst.fmt_value(68.0, "%") == "68.0%"
    assert pst.fmt_value(1234.56, "count") == "1,234.6"
    assert pst.fmt_value(287.94, "thousand") == "287.9 thousand"
    assert pst.fmt_value(float("nan"), "%") == "n/a"
    assert pst.fmt_diff(-4.5, "%") == "\u22124.5\u00a0pp"  # a gap in a % measure is in points
    assert pst.fmt_diff(-0.04, "%") == "0.0\u00a0pp"  # no '-0.0'
    assert pst.fmt_diff(15.7, "count") == "+15.7"
    months = [TS("2024-07-01"), TS("2024-08-01"), TS("2024-09-01"), TS("2025-01-01")]
    assert pst.month_ranges(months) == "Jul 2024\u2013Sep 2024, Jan 2025"


def test_department_without_targets_gives_an_empty_pack(
    targets, trajectory, actuals, milestones, ratings, actions, districts
):
    pack = st.build_pack(
        "finance", MONTH, targets, trajectory, actuals, milestones, ratings, actions, districts
    )
    assert pack.n_targets == 0 and pack.n_on_track == 0
    assert math.isnan(pack.score) and pack.grade is None
    assert pack.actions.empty and pack.milestones.empty
    assert pst.key_message_sentences(pack) == [
        "No delivery targets are recorded for this department as of Mar 2025."
    ]


def test_stocktake_in_force_comes_from_ratings(ratings, actions):
    # an action dated after the last rated stocktake does not make a new stocktake
    extra = actions.assign(stocktake_date=TS("2025-03-05"))
    assert st.stocktake_dates(ratings, MONTH, extra)[-1] == TS("2025-02-20")
    # with no ratings at all, the dates on which actions were agreed are used
    assert st.stocktake_dates(ratings.iloc[0:0], MONTH, extra) == [TS("2025-03-05")]
    # a month before any stocktake: nothing in force
    assert st.stocktake_dates(ratings, "2024-11", actions) == []


# ------------------------------------------------- issue 16: maintain, tolerance, frequency


def _one(tid="X", direction="up", baseline=60.0, target_value=61.0, bm="2024-06-01",
         tm="2025-06-01", unit="%", **extra) -> dict:  # fmt: skip
    t = pd.DataFrame(
        [
            {
                "target_id": tid,
                "department": "health",
                "title": f"Target {tid}",
                "unit": unit,
                "direction": direction,
                "baseline": baseline,
                "baseline_month": TS(bm),
                "target_value": target_value,
                "target_month": TS(tm),
                "owner": "Secretary",
                "has_districts": False,
                **extra,
            }
        ]
    )
    return st.prepare_targets(t).iloc[0].to_dict()


def _acts(tid: str, pairs) -> pd.DataFrame:
    return st.prepare_actuals(
        pd.DataFrame(
            {
                "target_id": tid,
                "month": [TS(m) for m, _ in pairs],
                "district_pcode": None,
                "actual": [v for _, v in pairs],
            }
        )
    )


NO_TR = st.prepare_trajectory(pd.DataFrame(columns=["target_id", "month", "planned"]))


def _assess(target, pairs, month=MONTH, settings=None):
    row, _ = st.assess_target(target, NO_TR, _acts(target["target_id"], pairs), month, settings)
    return row


def test_maintain_target_inside_and_outside_its_band():
    # hold 95 within 93..97 from 2024-06 to 2025-06
    t = _one("M", "maintain", 95.0, 95.0, band_low=93.0, band_high=97.0)
    inside = _assess(t, [("2025-03-01", 96.2)])
    assert inside["status"] == st.ON_TRACK and inside["gap"] == 0.0
    below = _assess(t, [("2025-03-01", 92.5)])
    # 0.5 below the band's floor of 93: off track, gap -0.5
    assert below["status"] == st.OFF_TRACK
    assert below["gap"] == pytest.approx(-0.5) and below["outside_band"] == pytest.approx(0.5)
    # after the target date: inside = met, outside = missed
    assert _assess(t, [("2025-06-01", 96.0)], "2025-07")["status"] == st.MET
    assert _assess(t, [("2025-06-01", 98.0)], "2025-07")["status"] == st.MISSED
    # scorecard: held within the band = achieved (1), outside = 0
    assert st.achievement(96.0, 95.0, 95.0, "maintain", (93.0, 97.0)) == 1.0
    assert st.achievement(97.5, 95.0, 95.0, "maintain", (93.0, 97.0)) == 0.0
    text = pst.target_sentence(_pack_of(t, [("2025-03-01", 92.5)]), "M")
    assert "0.5\u00a0pp below the band 93.0%\u201397.0%" in text


def _pack_of(target: dict, pairs, month=MONTH, settings=None) -> st.StocktakePack:
    t = pd.DataFrame([target])
    a = _acts(target["target_id"], pairs)
    empty = lambda cols: pd.DataFrame(columns=cols)  # noqa: E731
    return st.build_pack(
        "health", month, t, NO_TR, a, empty(st.MILESTONE_COLUMNS), empty(st.RATING_COLUMNS),
        empty(st.ACTION_COLUMNS), pd.DataFrame({"pcode": [], "name": []}), settings,
    )  # fmt: skip


def test_baseline_already_past_the_target_is_valid():
    # up target with baseline 97 (2024-06) above its target 95 (2025-06): a level to hold
    t = _one("P", "up", 97.0, 95.0)
    assert _assess(t, [("2025-03-01", 96.0)])["status"] == st.MET
    row = _assess(t, [("2025-03-01", 94.0)])
    # plan at 2025-03 = 97 - 2 x 9/12 = 95.5; gap = 94 - 95.5 = -1.5; allowed 0.1 x 2 = 0.2
    assert row["planned_at_latest"] == pytest.approx(95.5)
    assert row["gap"] == pytest.approx(-1.5) and row["allowed_shortfall"] == pytest.approx(0.2)
    assert row["status"] == st.OFF_TRACK
    # annual target 95 is not beyond the baseline: achieved only at or above 95
    assert st.achievement(94.0, 97.0, 95.0, "up") == 0.0
    assert st.achievement(95.0, 97.0, 95.0, "up") == 1.0


def test_target_of_zero_and_the_tolerance_bases():
    # down 10 (2024-06) -> 0 (2025-06): plan at 2025-03 = 10 - 10 x 9/12 = 2.5
    t = _one("Z", "down", 10.0, 0.0, unit="")
    row = _assess(t, [("2025-03-01", 3.0)])
    assert row["planned_at_latest"] == pytest.approx(2.5)
    assert row["gap"] == pytest.approx(-0.5) and row["gap_pct"] == pytest.approx(-0.2)
    # change basis (profile default): allowed 0.1 x 10 = 1.0 -> on track
    assert row["allowed_shortfall"] == pytest.approx(1.0) and row["status"] == st.ON_TRACK
    # planned basis: 0.1 x 2.5 = 0.25 -> off track
    planned = st.StocktakeSettings(tolerance=0.1, tolerance_basis="planned")
    row_p = _assess(t, [("2025-03-01", 3.0)], settings=planned)
    assert row_p["allowed_shortfall"] == pytest.approx(0.25) and row_p["status"] == st.OFF_TRACK
    # at the target month the plan is 0: a relative-to-plan tolerance allows nothing
    at_zero = _assess(t, [("2025-06-01", 0.1)], "2025-06", settings=planned)
    assert at_zero["allowed_shortfall"] == 0.0 and at_zero["status"] == st.OFF_TRACK
    assert math.isnan(at_zero["gap_pct"])
    assert _assess(t, [("2025-06-01", 0.0)], "2025-06")["status"] == st.MET  # 0 reached
    # the target's own absolute tolerance (0.5 units) overrides the profile's
    own = _one("Z", "down", 10.0, 0.0, unit="", tolerance=0.5, tolerance_basis="absolute")
    row_o = _assess(own, [("2025-03-01", 3.0)], settings=planned)
    assert row_o["allowed_shortfall"] == 0.5 and row_o["status"] == st.ON_TRACK  # -0.5 >= -0.5


def test_gap_printed_with_enough_decimals_to_explain_the_status():
    # up 60 -> 61: plan at 2025-03 = 60.75; actual 60.64 -> gap -0.11; allowed 0.1 x 1 = 0.1
    t = _one("X", "up", 60.0, 61.0)
    row = _assess(t, [("2025-03-01", 60.64)])
    assert row["gap"] == pytest.approx(-0.11) and row["status"] == st.OFF_TRACK
    # one decimal would print -0.1, which is within the allowance of 0.1: two are used
    assert pst.gap_digits(row["gap"], row["allowed_shortfall"]) == 2
    assert pst.fmt_diff(row["gap"], "%", digits=2) == "\u22120.11\u00a0pp"
    # the case: -0.04 behind with 0.03 allowed would print "0.0 pp"
    assert pst.gap_digits(-0.04, 0.03) == 2
    assert pst.gap_digits(-4.55, 2.0) == 1  # KP's usual gaps keep one decimal
    table = pst.summary_table(_pack_of(t, [("2025-03-01", 60.64)]))
    assert table["Gap (+ ahead)"].iloc[0] == "\u22120.11\u00a0pp"
    # an absolute tolerance of 0.25 (in the unit) puts the same gap on track
    own = _one("X", "up", 60.0, 61.0, tolerance=0.25, tolerance_basis="absolute")
    assert _assess(own, [("2025-03-01", 60.64)])["status"] == st.ON_TRACK


def test_unit_is_optional():
    assert pst.fmt_value(12.0, None) == "12.0"
    assert pst.fmt_value(12.0, float("nan")) == "12.0"
    assert pst.fmt_value(12.0, "-") == "12.0"  # a placeholder, not a unit
    assert pst.fmt_diff(-1.25, None, digits=2) == "\u22121.25"


def test_quarterly_target_missing_quarters_staleness_and_projection():
    # quarterly up 100 (2024-06) -> 140 (2025-06); plan 10 a quarter
    t = _one("Q", "up", 100.0, 140.0, frequency="quarterly")
    pairs = [("2024-09-01", 108.0), ("2025-03-01", 121.0)]
    row = _assess(t, pairs)
    # expected quarters: 2024-09, 2024-12, 2025-03; 2024-12 is missing
    assert row["missing_months"] == [TS("2024-12-01")] and row["n_missing"] == 1
    # plan at 2025-03 = 100 + 40 x 9/12 = 130; gap -9; allowed 0.1 x 40 = 4 -> off track
    assert row["gap"] == pytest.approx(-9.0) and row["status"] == st.OFF_TRACK
    # stale after the quarter plus the lag: 3 + 3 - 1 = 5 months
    assert not _assess(t, pairs, "2025-08")["stale"]  # 5 months old
    assert _assess(t, pairs, "2025-09")["stale"]  # 6 months old
    assert "2 quarterly actual(s) in the last 12 quarters" in row["projection_note"]
    # six quarterly actuals 90, 95, ..., 115 (2023-12 .. 2025-03), 5 a quarter: all six are in
    # the window of 12 quarters (a 12-month window would hold only four)
    t2 = _one("Q", "up", 85.0, 140.0, bm="2023-09-01", frequency="quarterly")
    months = ["2023-12-01", "2024-03-01", "2024-06-01", "2024-09-01", "2024-12-01", "2025-03-01"]
    row2 = _assess(t2, list(zip(months, [90.0, 95.0, 100.0, 105.0, 110.0, 115.0], strict=True)))
    assert row2["projection_points"] == 6
    assert row2["trend_per_period"] == pytest.approx(5.0)
    assert row2["trend_per_month"] == pytest.approx(5.0 / 3)
    assert row2["projected"] == pytest.approx(120.0)  # 115 + 5 at 2025-06
    assert row2["projected_outcome"] == "misses"


def test_annual_target_expects_one_reading_a_year():
    t = _one("A", "up", 60.0, 80.0, bm="2023-06-01", tm="2026-06-01", frequency="annual")
    row = _assess(t, [("2024-06-01", 65.0)], "2025-07")
    # expected: 2024-06 and 2025-06 (no reading) -> one missing year
    assert row["missing_months"] == [TS("2025-06-01")]
    assert not row["stale"]  # 13 months old, within 12 + 3 - 1 = 14


def test_profile_tolerance_basis_is_a_setting():
    with pytest.raises(ValueError, match="tolerance_basis"):
        st.StocktakeSettings(tolerance_basis="relative")
    assert st.StocktakeSettings(tolerance=2.0, tolerance_basis="absolute").tolerance == 2.0
    with pytest.raises(ValueError, match="tolerance"):
        st.StocktakeSettings(tolerance=2.0, tolerance_basis="planned")
    assert st.StocktakeSettings.from_config(st.load_config()).tolerance_basis == "change"


def test_maintain_and_quarterly_targets_render():
    m = _one("M", "maintain", 95.0, 95.0, band_low=93.0, band_high=97.0)
    pack = _pack_of(m, [("2025-01-01", 94.0), ("2025-02-01", 96.0), ("2025-03-01", 97.4)])
    facts = dict(pst.target_facts(pack, "M").to_numpy())
    assert facts["Direction"] == "hold within 93.0%\u201397.0%"
    assert facts["Target"] == "hold 95.0% (band 93.0%\u201397.0%) by Jun 2025"
    assert pack.summary["status"].iloc[0] == st.OFF_TRACK  # 0.4 above the band
    assert "0.4\u00a0pp above the band" in pst.target_sentence(pack, "M")
    pst.trajectory_chart(pack, "M")
    q = _one("Q", "up", 100.0, 140.0, frequency="quarterly", unit=None)
    qpack = _pack_of(q, [("2024-09-01", 108.0), ("2025-03-01", 121.0)])
    facts = dict(pst.target_facts(qpack, "Q").to_numpy())
    assert facts["Quarters without data"] == "1"
    assert facts["Latest actual"] == "121.0 (Mar 2025)"  # no unit: no trailing dash or space
    assert any("no actual for 1 quarter (Dec 2024)" in n for n in pst.data_notes(qpack))
    pst.trajectory_chart(qpack, "Q").svg()


# ------------------------------------------------------------------ issue 22, items 4, 5 and 9
def _plan_frame(tid: str, values: dict[str, float]) -> pd.DataFrame:
    return st.prepare_trajectory(
        pd.DataFrame(
            {"target_id": tid, "month": [TS(m) for m in values], "planned": list(values.values())}
        )
    )


def test_a_target_exactly_on_trajectory_scores_the_top_band_in_every_month():
    # Up 60 (2024-06) -> 84 (2025-06), back-loaded plan 60 + 24 (k/12)^2 for k = 1..12
    # (2024-07 = 1). Actual = plan every month. Against the plan to date every month scores
    # 100 (A). Against the year-end target (the old rule) October (k = 4) would have scored
    # (62.667 - 60) / 24 = 1/9 = 11 (E).
    t = _one("B", "up", 60.0, 84.0)
    plan = {str(_month(k).date()): 60 + 24 * (k / 12) ** 2 for k in range(1, 13)}
    tr = _plan_frame("B", plan)
    acts = _acts("B", list(plan.items()))
    frame = pd.DataFrame([t])
    for k in range(1, 13):
        card = st.scorecard(frame, tr, acts, _month(k))
        assert card["achievement"].iloc[0] == pytest.approx(1.0), k
        assert st.score(card) == pytest.approx(100.0)
        assert st.ScorecardRule().grade(st.score(card)) == "A"
    october = st.scorecard(frame, tr, acts, _month(4))
    assert october["plan_to_date"].iloc[0] == pytest.approx(60 + 24 / 9)
    assert october["annual_progress"].iloc[0] == pytest.approx(1 / 9)


def test_plan_to_date_follows_the_data_month_and_a_stale_actual_meets_the_report_month_plan():
    # Up 60 -> 84 over 12 months, no trajectory rows: plan 60 + 2k.
    t = _one("L", "up", 60.0, 84.0)
    frame = pd.DataFrame([t])
    # report March 2025 (k = 9), latest actual February (k = 8) exactly on plan 76: 1.0
    lag = st.scorecard(frame, NO_TR, _acts("L", [("2025-02-01", 76.0)]), "2025-03")
    assert lag["plan_to_date"].iloc[0] == pytest.approx(76.0)
    assert lag["scored"].iloc[0] == pytest.approx(1.0)
    # latest actual October 2024 (68, on its plan), report March 2025: 5 months old > 3, so
    # compared with the March plan 78: (68 - 60) / (78 - 60) = 8 / 18 = 0.444
    stale = st.scorecard(frame, NO_TR, _acts("L", [("2024-10-01", 68.0)]), "2025-03")
    assert stale["plan_to_date"].iloc[0] == pytest.approx(78.0)
    assert stale["achievement"].iloc[0] == pytest.approx(8 / 18)


def test_missed_only_once_the_target_months_actual_arrives_or_the_lag_passes():
    # Up 50 (2024-06) -> 74 (2025-06), plan 50 + 2k. May 2025 actual 73 (plan 72: ahead).
    t = _one("W", "up", 50.0, 74.0)
    may = [("2025-05-01", 73.0)]
    july = _assess(t, may, "2025-07")
    # June's actual has not arrived: not missed, judged against May's plan (gap +1)
    assert july["status"] == st.ON_TRACK and july["awaiting_final"]
    assert july["gap"] == pytest.approx(1.0)
    # September is 3 months after June (not more than missed_after = 3): still awaited
    assert _assess(t, may, "2025-09")["status"] == st.ON_TRACK
    # October: 4 months after June with no June actual -> missed
    october = _assess(t, may, "2025-10")
    assert october["status"] == st.MISSED and not october["awaiting_final"]
    # June's actual arrives: 73 < 74 -> missed in July; 74 -> met
    assert _assess(t, [*may, ("2025-06-01", 73.0)], "2025-07")["status"] == st.MISSED
    assert _assess(t, [*may, ("2025-06-01", 74.0)], "2025-07")["status"] == st.MET
    # the lag is a setting
    quick = st.StocktakeSettings(missed_after=0)
    assert _assess(t, may, "2025-07", quick)["status"] == st.MISSED


def test_projection_stays_inside_the_natural_range_of_the_measure():
    # % target 60 -> 99 (2025-06); actuals 70, 78, 86, 94 (2024-11 .. 2025-02), slope 8 a month:
    # the line reaches 94 + 4 x 8 = 126 in June, shown as 100 (a share cannot pass 100%).
    share = _one("S", "up", 60.0, 99.0)
    pts = [("2024-11-01", 70.0), ("2024-12-01", 78.0), ("2025-01-01", 86.0), ("2025-02-01", 94.0)]
    row = _assess(share, pts)
    assert row["projected"] == pytest.approx(100.0) and row["projection_bounded"]
    assert row["projected_outcome"] == "meets"
    # count down 420 -> 150: actuals 300, 240, 180, 120, slope -60: June 120 - 240 = -120 -> 0
    posts = _one("C", "down", 420.0, 150.0, unit="count")
    row = _assess(
        posts, [(m, v) for (m, _), v in zip(pts, [300.0, 240.0, 180.0, 120.0], strict=True)]
    )
    assert row["projected"] == 0.0 and row["projected_lower"] == 0.0
    # bounds: a share 0-100; a % that may pass 100 (85 -> 140) or a count: at least 0;
    # a measure that may be negative: none
    assert st.natural_bounds(share) == (0.0, 100.0)
    assert st.natural_bounds(_one("G", "up", 85.0, 140.0)) == (0.0, math.inf)
    assert st.natural_bounds(posts) == (0.0, math.inf)
    assert st.natural_bounds(_one("N", "up", -5.0, 5.0, unit="")) == (-math.inf, math.inf)


def test_stocktake_report_words_the_new_rules(pack):
    table = pst.scorecard_table(pack)
    assert {"Plan to date", "Achievement vs plan", "Progress to annual target"} <= set(table)
    u = table.set_index("KPI").loc["Target U"]
    assert u["Plan to date"] == "72.5%" and u["Achievement vs plan"] == pytest.approx(0.8)
    assert u["Progress to annual target"] == pytest.approx(0.6)
    notes = " ".join(pst.data_notes(pack))
    assert "plan to date" in notes and "scores 100 in every month" in notes
    assert "missed only once an actual for its target month has arrived" in notes
    assert "against the plan to date" in " ".join(pst.key_message_sentences(pack))
    # a target past its date whose final actual has not arrived
    t = _one("W", "up", 50.0, 74.0)
    awaited = _pack_of(t, [("2025-05-01", 73.0)], "2025-07")
    assert any(
        "Final reading awaited for Target W" in m for m in pst.key_message_sentences(awaited)
    )
    assert pst.summary_table(awaited)["Status"].iloc[0] == "on track (final reading awaited)"


def test_headline_badge_carries_each_target_for_the_dashboards(pack):
    import json

    from helpers.present.display import HEADLINE_MIME

    head = pst.headline_badge(pack)._repr_mimebundle_()[HEADLINE_MIME]
    assert head["on_track"] == pack.n_on_track and head["targets"] == pack.n_targets
    detail = head["detail"]
    assert detail["stocktake_date"] == "2025-02-20"
    assert detail["previous_stocktake_date"] == "2024-12-15"
    by_id = {t["id"]: t for t in detail["targets"]}
    assert by_id["U"]["rating"] == "Green" and by_id["D"]["rating"] == "Red"
    assert by_id["U"]["evidence_flag"].startswith("Rated Green but off trajectory")
    assert set(by_id) == set(pack.summary["target_id"])
    json.dumps(head, allow_nan=False)


def test_title_block_as_of_is_left_out_without_actuals():
    import datetime as dt
    import types

    assert pst.as_of_text(types.SimpleNamespace(as_of=None)) == ""
    assert pst.as_of_text(types.SimpleNamespace(as_of=dt.date(2025, 2, 1))) == "February 2025"


def test_no_milestone_due_gives_a_note_not_an_empty_chart(pack):
    # A department whose plan has no milestones (the Data4Pakistan stocktake): nothing was due
    qpack = _pack_of(_one("E", "up", 50.0, 80.0), [("2025-03-01", 69.0)])
    out = pst.completion_view(qpack)
    assert isinstance(out, pst.note) and "No milestone was due" in out.html
    # with milestones due, the chart
    assert isinstance(pst.completion_view(pack), pst.figure)
