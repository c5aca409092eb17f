"""PSE oversight analysis on tiny hand-made returns; expected values computed by hand.

Report month 2025-03 with a 45-day deadline: reporting quarter 2024-12-31 (deadline 14 Feb 2025),
previous quarter 2024-09-30, cut-off 31 Mar 2025.

Entities (health: E1, E2, E3; education: E4, E5):
- E1 healthy (Low), on time;
- E2 negative equity, thin cash, deficit (High), 15 days late;
- E3 no returns at all (No return);
- E4 cash cover down to 2 months (Medium), 6 days late;
- E5 quarter-2 return arrives 5 Apr 2025, after the cut-off (Missing in March, Late in April).
"""

from __future__ import annotations

import json
import math

import matplotlib
import pandas as pd
import pytest

from helpers.analysis import pse
from helpers.analysis.pse import PseSettings
from helpers.present.display import HEADLINE_MIME

matplotlib.use("Agg")

Q = pd.Timestamp("2024-12-31")
P = pd.Timestamp("2024-09-30")
Y = pd.Timestamp("2023-12-31")

RULES = {
    "high": [
        {"metric": "equity", "op": "<", "value": 0, "label": "negative equity"},
        {"metric": "cash_cover_months", "op": "<", "value": 1.0, "label": "cash below 1m"},
        {"metric": "surplus_margin", "op": "<", "value": -0.10, "label": "deficit > 10%"},
        {"metric": "liabilities_growth_yoy", "op": ">", "value": 0.5, "label": "liab +50%"},
    ],
    "medium": [
        {"metric": "cash_cover_months", "op": "<", "value": 3.0, "label": "cash below 3m"},
        {"metric": "surplus_margin", "op": "<", "value": 0.0, "label": "deficit"},
        {"metric": "grant_dependence", "op": ">", "value": 0.8, "label": "grants > 80%"},
        {"metric": "liabilities_growth_yoy", "op": ">", "value": 0.2, "label": "liab +20%"},
    ],
}
WORSENING = {
    "weights": {
        "rating_step": 10.0,
        "cash_cover": 5.0,
        "surplus_margin": 0.5,
        "grant_dependence": 0.25,
        "liabilities_growth": 0.25,
    },
    "caps": {
        "cash_cover": 6.0,
        "surplus_margin": 50.0,
        "grant_dependence": 50.0,
        "liabilities_growth": 100.0,
    },
    "top_n": 5,
}


def settings(**over) -> PseSettings:
    raw = {
        "deadline_days": 45,
        "reporting_quarter": "deadline",
        "trend_quarters": 8,
        "risk_rules": RULES,
        "at_risk_ratings": ["High"],
        "worsening": WORSENING,
        "riskiest_top_n": 10,
    }
    raw.update(over)
    return PseSettings.from_dict(raw)


def entities() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "entity_id": ["E1", "E2", "E3", "E4", "E5"],
            "name": [
                "Alpha Hospital",
                "Beta Authority",
                "Gamma Board",
                "Delta University",
                "Epsilon Fund",
            ],
            "department": ["health", "health", "health", "education", "education"],
            "entity_type": ["hospital", "authority", "board", "university", "fund"],
        }
    )


def _row(eid, q, own, grants, exp, liab, assets, cash, sub):
    return {
        "entity_id": eid,
        "quarter_end": pd.Timestamp(q),
        "own_revenue": own,
        "grants_received": grants,
        "expenditure": exp,
        "liabilities": liab,
        "assets": assets,
        "cash": cash,
        "submitted_date": pd.Timestamp(sub) if sub else pd.NaT,
    }


def returns() -> pd.DataFrame:
    rows = [
        _row("E1", "2023-12-31", 40, 60, 90, 100, 300, 120, "2024-02-01"),
        _row("E1", "2024-09-30", 45, 55, 90, 110, 300, 150, "2024-11-10"),
        _row("E1", "2024-12-31", 50, 50, 90, 115, 320, 150, "2025-02-10"),
        # deadline for 2024-09-30 is 2024-11-14: submitted on the deadline day = on time
        _row("E2", "2024-09-30", 10, 80, 100, 400, 380, 50, "2024-11-14"),
        _row("E2", "2024-12-31", 10, 70, 100, 500, 450, 20, "2025-03-01"),
        _row("E4", "2024-09-30", 30, 30, 60, 50, 100, 60, "2024-11-01"),
        _row("E4", "2024-12-31", 30, 30, 60, 50, 100, 40, "2025-02-20"),
        _row("E5", "2024-09-30", 20, 0, 10, 0, 50, 30, "2024-10-20"),
        _row("E5", "2024-12-31", 20, 0, 10, 0, 50, 30, "2025-04-05"),
    ]
    return pd.DataFrame(rows)


@pytest.fixture
def march() -> pse.PseAssessment:
    return pse.assess(entities(), returns(), "2025-03", settings())


def _cur(a: pse.PseAssessment, eid: str) -> pd.Series:
    return a.current.set_index("entity_id").loc[eid]


# --------------------------------------------------------------------------- quarters


def test_reporting_quarter_deadline_rule():
    assert pse.reporting_quarter("2025-03", 45) == Q  # Dec deadline 14 Feb has passed
    assert pse.reporting_quarter("2025-04", 45) == Q  # Mar deadline 15 May not yet
    assert pse.reporting_quarter("2025-05", 45) == pd.Timestamp("2025-03-31")
    # deadline falling on the month's last day counts as passed
    assert pse.reporting_quarter("2025-01", 31) == Q
    assert pse.reporting_quarter("2025-01", 32) == P


def test_reporting_quarter_latest_rule():
    assert pse.reporting_quarter("2025-03", 45, "latest") == pd.Timestamp("2025-03-31")
    assert pse.reporting_quarter("2025-02", 45, "latest") == Q
    with pytest.raises(ValueError):
        pse.reporting_quarter("2025-03", 45, "whenever")


def test_quarter_helpers():
    assert pse.quarter_label("2024-12-31") == "Q2 2024-25"
    assert pse.quarter_label("2024-09-30") == "Q1 2024-25"
    assert pse.quarter_label("2025-06-30") == "Q4 2024-25"
    assert pse.shift_quarter("2024-03-31", -1) == pd.Timestamp("2023-12-31")
    assert pse.shift_quarter("2024-12-31", 1) == pd.Timestamp("2025-03-31")
    assert pse.shift_quarter("2024-06-30", -4) == pd.Timestamp("2023-06-30")
    assert pse.quarter_range("2024-06-30", 3) == [
        pd.Timestamp("2023-12-31"),
        pd.Timestamp("2024-03-31"),
        pd.Timestamp("2024-06-30"),
    ]
    with pytest.raises(ValueError):
        pse.shift_quarter("2024-06-29", 1)


# --------------------------------------------------------------------------- ratios


def test_ratios_for_a_healthy_entity(march):
    e1 = _cur(march, "E1")
    assert e1["income"] == 100
    assert e1["surplus"] == 10  # 50 + 50 - 90
    assert e1["surplus_before_grants"] == -40  # 50 - 90
    assert e1["surplus_margin"] == pytest.approx(10 / 90)
    assert e1["own_revenue_share"] == pytest.approx(0.5)
    assert e1["grant_dependence"] == pytest.approx(0.5)
    assert e1["cash_cover_months"] == pytest.approx(5.0)  # 150 / (90 / 3)
    assert e1["equity"] == 205  # 320 - 115
    assert not e1["negative_equity"]
    assert e1["liabilities_growth_qoq"] == pytest.approx(115 / 110 - 1)
    assert e1["liabilities_growth_yoy"] == pytest.approx(0.15)  # 115 / 100 - 1
    assert e1["own_revenue_yoy"] == pytest.approx(0.25)  # 50 / 40 - 1
    assert e1["grants_yoy"] == pytest.approx(50 / 60 - 1)
    assert e1["expenditure_yoy"] == pytest.approx(0.0)
    assert e1["cash_cover_change_yoy"] == pytest.approx(1.0)  # 5.0 - 120 / 30


def test_ratios_for_a_negative_equity_entity(march):
    e2 = _cur(march, "E2")
    assert e2["surplus"] == -20
    assert e2["surplus_margin"] == pytest.approx(-0.2)
    assert e2["grant_dependence"] == pytest.approx(70 / 80)
    assert e2["cash_cover_months"] == pytest.approx(0.6)  # 20 / (100 / 3)
    assert e2["equity"] == -50
    assert e2["negative_equity"]
    assert e2["liabilities_growth_qoq"] == pytest.approx(0.25)
    assert math.isnan(e2["liabilities_growth_yoy"])  # no return a year earlier


def test_zero_denominators_give_nan_not_inf():
    df = pd.DataFrame([_row("X", "2024-12-31", 0, 0, 0, 0, 10, 5, "2025-01-10")])
    m = pse.compute_metrics(pse.validate_returns(df))
    for col in ["surplus_margin", "own_revenue_share", "grant_dependence", "cash_cover_months"]:
        assert math.isnan(m.loc[0, col]), col
    rated = pse.rate(m, settings())
    assert rated.loc[0, "rating"] == "Low"  # nothing computable fires; data notes say so


def test_growth_against_zero_liabilities_is_nan():
    df = pd.DataFrame(
        [
            _row("X", "2024-09-30", 10, 0, 10, 0, 10, 5, "2024-10-10"),
            _row("X", "2024-12-31", 10, 0, 10, 7, 10, 5, "2025-01-10"),
        ]
    )
    m = pse.compute_metrics(pse.validate_returns(df)).set_index("quarter_end")
    assert math.isnan(m.loc[Q, "liabilities_growth_qoq"])


# --------------------------------------------------------------------------- ratings


def test_ratings(march):
    assert _cur(march, "E1")["rating"] == "Low"
    assert _cur(march, "E1")["reasons"] == ""
    e2 = _cur(march, "E2")
    assert e2["rating"] == "High"
    assert e2["n_high_reasons"] == 3
    # medium rules on metrics that already fired a high rule (cash, deficit) are not repeated
    assert e2["reasons"] == "negative equity; cash below 1m; deficit > 10%; grants > 80%"
    assert _cur(march, "E3")["rating"] == "No return"
    e4 = _cur(march, "E4")
    assert e4["rating"] == "Medium"
    assert e4["reasons"] == "cash below 3m"
    # E5's return arrived after the cut-off: no return, never silently Low
    assert _cur(march, "E5")["rating"] == "No return"
    assert march.rating_counts() == {"High": 1, "Medium": 1, "Low": 1, "No return": 2}
    assert march.n_at_risk == 1
    assert march.n_entities == 5
    assert pse.headline_figures(march) == {"at_risk": 1, "entities": 5}


def test_thresholds_are_strict():
    # cover exactly 1.0 month is not below 1 (High) but is below 3 (Medium);
    # margin exactly -0.10 is a deficit (Medium) but not above 10% (High)
    df = pd.DataFrame([_row("X", "2024-12-31", 0, 81, 90, 0, 10, 30, "2025-01-10")])
    m = pse.compute_metrics(pse.validate_returns(df))
    assert m.loc[0, "cash_cover_months"] == pytest.approx(1.0)
    assert m.loc[0, "surplus_margin"] == pytest.approx(-0.1)
    rated = pse.rate(m, settings())
    assert rated.loc[0, "rating"] == "Medium"
    assert rated.loc[0, "reasons"] == "cash below 3m; deficit; grants > 80%"


def test_previous_rating_and_liabilities_growth_rule():
    df = pd.DataFrame(
        [
            _row("X", "2023-12-31", 100, 0, 60, 100, 1000, 100, "2024-01-10"),
            _row("X", "2024-12-31", 100, 0, 60, 160, 1000, 100, "2025-01-10"),
        ]
    )
    ents = pd.DataFrame(
        {"entity_id": ["X"], "name": ["X"], "department": ["d"], "entity_type": ["t"]}
    )
    a = pse.assess(ents, df, "2025-03", settings())
    x = _cur(a, "X")
    assert x["liabilities_growth_yoy"] == pytest.approx(0.6)
    assert x["rating"] == "High"
    assert x["reasons"] == "liab +50%"
    assert x["previous_rating"] == "No return"


# --------------------------------------------------------------------------- returns


def test_return_status_in_march(march):
    cur = march.current.set_index("entity_id")
    assert cur.loc["E1", "status"] == "On time"
    assert cur.loc["E2", "status"] == "Late"
    assert cur.loc["E2", "days_late"] == 15  # deadline 14 Feb, submitted 1 Mar
    assert cur.loc["E4", "status"] == "Late"
    assert cur.loc["E4", "days_late"] == 6  # 20 Feb
    assert cur.loc["E3", "status"] == "Missing"
    assert cur.loc["E3", "days_late"] == 45  # overdue from 14 Feb to 31 Mar
    assert cur.loc["E5", "status"] == "Missing"
    assert cur.loc["E5", "days_late"] == 45
    prev = march.panel.set_index(["entity_id", "quarter_end"])
    assert prev.loc[("E2", P), "status"] == "On time"  # on the deadline day
    assert prev.loc[("E5", P), "status"] == "On time"
    assert march.status_counts()["Missing"] == 2


def test_late_return_counts_once_received():
    april = pse.assess(entities(), returns(), "2025-04", settings())
    assert april.quarter == Q
    e5 = _cur(april, "E5")
    assert e5["status"] == "Late"
    assert e5["days_late"] == 50  # 14 Feb -> 5 Apr
    assert e5["rating"] == "Low"


def test_missing_history_and_last_return(march):
    cur = march.current.set_index("entity_id")
    # window clipped to the data's first quarter (2023-12-31): 5 quarters
    assert march.quarters[0] == Y and len(march.quarters) == 5
    assert cur.loc["E3", "missing_in_window"] == 5
    assert pd.isna(cur.loc["E3", "last_return"])
    assert cur.loc["E1", "missing_in_window"] == 2  # 2024-03-31 and 2024-06-30
    assert cur.loc["E5", "last_return"] == P
    assert any("arrived after the cut-off" in n for n in march.notes)
    assert any("Gamma Board" in n for n in march.notes)


def test_unknown_submission_date_and_not_yet_due():
    df = pd.DataFrame(
        [
            _row("X", "2024-12-31", 10, 0, 10, 0, 10, 5, None),
        ]
    )
    ents = pd.DataFrame(
        {
            "entity_id": ["X", "Z"],
            "name": ["X", "Z"],
            "department": ["d", "d"],
            "entity_type": ["t", "t"],
        }
    )
    a = pse.assess(ents, df, "2025-03", settings(reporting_quarter="latest"))
    assert a.quarter == pd.Timestamp("2025-03-31")
    panel = a.panel.set_index(["entity_id", "quarter_end"])
    assert panel.loc[("X", Q), "status"] == "Received (date unknown)"
    assert panel.loc[("Z", Q), "status"] == "Missing"
    assert _cur(a, "Z")["status"] == "Not yet due"
    assert _cur(a, "Z")["rating"] == "No return"
    assert any("no submission date" in n for n in a.notes)


def test_compliance_by_department(march):
    comp = pse.compliance(march.current).set_index("department")
    assert comp.loc["health", "On time"] == 1
    assert comp.loc["health", "Late"] == 1
    assert comp.loc["health", "Missing"] == 1
    assert comp.loc["health", "due"] == 3
    assert comp.loc["health", "on_time_rate"] == pytest.approx(1 / 3)
    assert comp.loc["health", "received_rate"] == pytest.approx(2 / 3)
    assert comp.loc["education", "on_time_rate"] == 0.0
    assert comp.loc["education", "received_rate"] == pytest.approx(0.5)
    overall = pse.compliance(march.panel, by=None, quarters=[P])
    # Sep 2024: E1, E2, E4, E5 on time; E3 missing
    assert overall.loc[0, "On time"] == 4 and overall.loc[0, "Missing"] == 1


# --------------------------------------------------------------------------- rankings


def test_worsened_most_ranking(march):
    w = march.worsened
    assert list(w["entity_id"]) == ["E2", "E4"]  # E1 improved on balance; E3, E5 not scored
    # E2: cash 1.5 -> 0.6 months (0.9 x 5 = 4.5); margin -10% -> -20% (10 pp x 0.5 = 5);
    # grants 80/90 -> 70/80 of income (-1.389 pp x 0.25); liabilities +25% q/q (25 x 0.25)
    assert w.loc[0, "score"] == pytest.approx(4.5 + 5 + (70 / 80 - 80 / 90) * 100 * 0.25 + 6.25)
    assert w.loc[0, "rating_before"] == "High"
    # E4: Low -> Medium (10) and cash 3 -> 2 months (5)
    assert w.loc[1, "score"] == pytest.approx(15.0)
    assert w.loc[1, "score_rating_step"] == pytest.approx(10.0)


def test_worsening_caps_limit_one_component():
    s = settings(worsening={**WORSENING, "caps": {**WORSENING["caps"], "cash_cover": 0.5}})
    a = pse.assess(entities(), returns(), "2025-03", s)
    w = a.worsened.set_index("entity_id")
    assert w.loc["E2", "score_cash_cover"] == pytest.approx(2.5)  # 0.9 capped at 0.5, x 5
    assert w.loc["E4", "score"] == pytest.approx(12.5)


def test_riskiest_and_rating_counts(march):
    r = pse.riskiest(march.current, 10)
    assert list(r["entity_id"]) == ["E2", "E4"]  # Low and No return are not listed
    counts = pse.rating_counts(march.current).set_index("department")
    assert counts.loc["health"].to_dict() == {
        "High": 1,
        "Medium": 0,
        "Low": 1,
        "No return": 1,
        "Total": 3,
    }
    assert counts.loc["education", "No return"] == 1


def test_totals_trend_like_for_like(march):
    t = pse.totals_trend(march.panel, [P, Q]).set_index(["basis", "quarter_end"])
    assert t.loc[("all returns", P), "entities"] == 4
    assert t.loc[("all returns", Q), "entities"] == 3  # E5 after cut-off, E3 none
    assert t.loc[("all returns", Q), "grants_received"] == 150  # 50 + 70 + 30
    assert t.loc[("like-for-like", P), "entities"] == 3  # E1, E2, E4
    assert t.loc[("like-for-like", P), "liabilities"] == 560  # 110 + 400 + 50
    assert t.loc[("like-for-like", Q), "liabilities"] == 665  # 115 + 500 + 50
    assert t.loc[("like-for-like", Q), "grant_dependence"] == pytest.approx(150 / 240)


# --------------------------------------------------------------------------- edge cases


def test_department_with_one_entity_without_returns():
    ents = entities().iloc[[2]]
    a = pse.assess(ents, returns().iloc[0:0], "2025-03", settings(), data_coverage=(Y, Q))
    assert a.n_entities == 1
    assert a.rating_counts()["No return"] == 1
    assert a.n_at_risk == 0
    assert a.worsened.empty
    assert set(a.panel["status"]) == {"Missing"}
    assert len(a.panel) == 5
    t = pse.totals_trend(a.panel, a.quarters)
    assert (t["entities"] == 0).all()


def test_empty_scope_does_not_crash():
    a = pse.assess(entities().iloc[0:0], returns().iloc[0:0], "2025-03", settings())
    assert a.n_entities == 0 and a.current.empty and a.worsened.empty


def test_report_before_the_data_rates_nothing_and_says_why():
    a = pse.assess(entities(), returns(), "2023-06", settings())
    assert a.before_data
    assert a.n_entities == len(entities())  # the entities are still listed as overseen
    assert a.current.empty and a.panel.empty and a.worsened.empty  # nobody shown as missing
    assert a.n_at_risk == 0
    assert any("before the first quarter in the data" in n for n in a.notes)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: pd.concat([d, d.iloc[[0]]]), "duplicating"),
        (lambda d: d.assign(quarter_end=pd.Timestamp("2024-12-30")), "quarter end"),
        (lambda d: d.assign(expenditure=-1.0), "negative"),
        (lambda d: d.assign(cash=float("nan")), "empty"),
        (lambda d: d.assign(entity_id=d["entity_id"].replace("E1", "E9")), "unknown entities"),
        (lambda d: d.assign(submitted_date=pd.Timestamp("2023-01-01")), "before their quarter"),
        (lambda d: d.drop(columns=["cash"]), "missing columns"),
    ],
)
def test_bad_returns_raise_clear_errors(mutate, message):
    with pytest.raises(ValueError, match=message):
        pse.assess(entities(), mutate(returns()), "2025-03", settings())


def test_settings_file_loads_and_bad_settings_raise(tmp_path):
    s = pse.load_settings()
    assert s.deadline_days >= 0 and s.high_rules and s.medium_rules
    with pytest.raises(ValueError, match="unknown metric"):
        settings(risk_rules={"high": [{"metric": "x", "op": "<", "value": 0, "label": "x"}]})
    with pytest.raises(ValueError, match="op"):
        settings(risk_rules={"high": [{"metric": "equity", "op": "=", "value": 0, "label": "x"}]})
    with pytest.raises(ValueError, match="unknown PSE settings"):
        settings(deadline=45)
    bad = tmp_path / "pse.yaml"
    bad.write_text("deadline_days: -3\n")
    with pytest.raises(ValueError, match="deadline_days"):
        pse.load_settings(bad)


def test_coverage_from_months():
    assert pse.coverage_from_months("2022-07", "2026-06") == (
        pd.Timestamp("2022-09-30"),
        pd.Timestamp("2026-06-30"),
    )
    # a load ending mid-quarter covers up to the previous quarter end
    assert pse.coverage_from_months("2022-08", "2025-02")[1] == Q
    with pytest.raises(ValueError):
        pse.coverage_from_months("2024-10", "2024-11")


# --------------------------------------------------------------------------- presentation


def test_oversight_messages_name_the_facts(march):
    from helpers.present import pse as view

    msgs = view.oversight_messages(march, "Health")
    assert msgs[0] == (
        "Health oversees 5 public sector entities. For the quarter ending 31 December 2024 "
        "(Q2 2024-25): 1 rated High risk, 1 Medium, 1 Low and 2 with no return."
    )
    assert msgs[1] == (
        "Returns for the quarter were due by 14 February 2025: by 31 March 2025 1 on time, "
        "2 late and 2 missing."
    )
    assert "At high risk: Beta Authority (negative equity)." in msgs
    assert any(m.startswith("Worsened most") and "Beta Authority" in m for m in msgs)
    assert (
        "No return at all had been received by 31 March 2025 from Gamma Board: this entity "
        "cannot be rated." in msgs
    )
    # grants 50 + 70 + 30 = 150 of income 100 + 80 + 60 = 240 (62.5% -> '62%' with 0 digits)
    assert any("PKR 150.0m in grants" in m for m in msgs)


def test_display_objects_for_full_single_and_empty_scopes(march):
    from helpers.present import apply_theme, figure, note, table
    from helpers.present import pse as view

    apply_theme()
    names = {"health": "Health", "education": "Education"}
    single = pse.assess(entities().iloc[[2]], returns().iloc[0:0], "2025-03", settings())
    empty = pse.assess(entities().iloc[0:0], returns().iloc[0:0], "2025-03", settings())
    assert isinstance(view.league_table(march), table)
    assert isinstance(view.grant_dependence_chart(march), figure)
    assert isinstance(view.cash_cover_chart(march), figure)
    assert isinstance(view.liabilities_chart(march), figure)
    totals = view.totals_chart(march)
    assert isinstance(totals, figure)
    assert totals.mime == "image/svg+xml"  # vector in HTML and PDF, like the other charts
    svg = totals.data.decode()
    assert "Grants received in the quarter" in svg and "Liabilities at quarter end" in svg
    assert isinstance(view.rating_chart(march, names), figure)
    assert isinstance(view.compliance_chart(march, names), figure)
    assert isinstance(view.league_table(single), table)
    for a in (single, empty):
        assert isinstance(view.grant_dependence_chart(a), note)
        assert isinstance(view.totals_chart(a), note)
        assert isinstance(view.worsened_table(a), note)
        assert view.oversight_messages(a, "Zakat & Ushr")
        assert view.province_messages(a, names)
    assert isinstance(view.returns_table(empty), note)
    lt = view.league_table(march).data
    assert list(lt["Rating"]) == ["High", "Medium", "No return", "No return", "Low"]
    badge = view.headline_badge(march)._repr_mimebundle_()
    head = badge[HEADLINE_MIME]
    assert {k: head[k] for k in ("at_risk", "entities")} == {"at_risk": 1, "entities": 5}
    detail = head["detail"]  # what the dashboards compare month to month
    assert [e["rating"] for e in detail["entities"]].count("High") == 1
    assert len(detail["entities"]) == 5 and detail["quarter"] == march.quarter.date().isoformat()
    assert {p["quarter"] for p in detail["panel"]} == {q.date().isoformat() for q in march.quarters}
    json.dumps(head, allow_nan=False)  # plain JSON: no NaN, numpy or Timestamp values
