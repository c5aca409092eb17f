"""Performance contracts: scoring worked out by hand from the rules in docs/methods.md section 5,
and the checks `make data` applies to the contract files."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from helpers.analysis import contracts as con
from helpers.data import ingest

FY = "2024-25"  # KP calendar (July-June): Q1 ends Sep 2024, Q2 Dec 2024, Q3 Mar 2025, Q4 Jun 2025


def _contract(kpis: list[dict], progress: list[tuple], bands=None, dept: str = "health"):
    contracts = pd.DataFrame([{"department": dept, "fiscal_year": FY, "signed_date": None}])
    for b, v in zip(("band_a", "band_b", "band_c", "band_d"), bands or (None,) * 4, strict=True):
        contracts[b] = v
    k = pd.DataFrame(
        [
            {"department": dept, "fiscal_year": FY, "unit": None, "baseline": None,
             "band_low": None, "band_high": None} | kp
            for kp in kpis
        ]
    )  # fmt: skip
    p = pd.DataFrame(
        [
            {"kpi_id": i, "month": pd.Timestamp(m), "actual": a, "planned": pl}
            for i, m, a, pl in progress
        ],
        columns=["kpi_id", "month", "actual", "planned"],
    )
    return contracts, k, p


def _kpi(kid, direction, weight, target, baseline=None, **kw):
    return {"kpi_id": kid, "title": kid, "direction": direction, "weight": weight,
            "target": target, "baseline": baseline} | kw  # fmt: skip


def test_achievement_formulas_by_hand():
    # up with a baseline: plan at Q2 = 40 + (60 - 40) * 2/4 = 50; actual 45 -> 5 / 10 = 0.5
    up = _kpi("a", "up", 1, 60, 40)
    assert con.plan_at(up, 2) == 50
    assert con.achievement(up, 45, 50) == pytest.approx(0.5)
    # down with a baseline: plan at Q1 = 17 + (13 - 17) / 4 = 16; actual 16.5 -> -0.5 / -1 = 0.5
    down = _kpi("b", "down", 1, 13, 17)
    assert con.plan_at(down, 1) == 16
    assert con.achievement(down, 16.5, 16) == pytest.approx(0.5)
    # without a baseline the plan is the annual target: actual / target, target / actual
    assert con.plan_at(_kpi("c", "up", 1, 200), 1) == 200
    assert con.achievement(_kpi("c", "up", 1, 200), 150, 200) == pytest.approx(0.75)
    assert con.achievement(_kpi("d", "down", 1, 10), 20, 10) == pytest.approx(0.5)
    # maintain: inside the band 100%, outside 0
    keep = _kpi("e", "maintain", 1, 97, band_low=95, band_high=100)
    assert con.achievement(keep, 97, 97) == 1.0
    assert con.achievement(keep, 94.9, 97) == 0.0
    # capped at 100%, never below 0
    assert con.achievement(up, 80, 50) == 1.0
    assert con.achievement(up, 30, 50) == 0.0
    # a planned value given for the quarter wins over the straight line
    assert con.plan_at(up, 2, planned=42.0) == 42.0


def test_weighted_score_missing_zero_and_exclude():
    # weights 50/30/20; achievements 1.0, 0.5 and no actual yet
    kpis = [
        _kpi("k1", "up", 50, 100),  # plan = target 100 (no baseline); actual 100 -> 1.0
        _kpi("k2", "up", 30, 60, 40),  # Q3 plan = 40 + 20 * 3/4 = 55; actual 47.5 -> 0.5
        _kpi("k3", "up", 20, 10),
    ]
    c, k, p = _contract(kpis, [("k1", "2025-03-01", 100, None), ("k2", "2025-03-01", 47.5, None)])
    zero = con.score_contract(c, k, p, "health", "2025-03", con.ContractSettings())
    assert zero.score == pytest.approx(65.0)  # 100 * (50 + 15 + 0) / 100
    assert zero.grade == "C"  # C from 60 to 75
    excl = con.score_contract(c, k, p, "health", "2025-03", con.ContractSettings(missing="exclude"))
    assert excl.score == pytest.approx(81.25)  # 100 * 65 / 80
    assert excl.grade == "B"


def test_on_the_straight_line_every_quarter_scores_the_top_band_every_quarter():
    kpis = [_kpi("k", "up", 100, 80, 40)]  # plan: 50, 60, 70, 80
    prog = [("k", m, v, None) for m, v in
            [("2024-09-01", 50), ("2024-12-01", 60), ("2025-03-01", 70), ("2025-06-01", 80)]]  # fmt: skip
    c, k, p = _contract(kpis, prog)
    for month in ("2024-09", "2024-12", "2025-03", "2025-06"):
        s = con.score_contract(c, k, p, "health", month)
        assert s.score == pytest.approx(100.0) and s.grade == "A", month
    year = con.score_contract(c, k, p, "health", "2025-06")
    assert list(year.quarters["score"]) == pytest.approx([100.0] * 4)
    # progress against the annual target is shown separately: 70 of 80 at Q3 -> 30 / 40 = 75%
    q3 = con.score_contract(c, k, p, "health", "2025-03")
    assert q3.kpis.loc[0, "annual_progress"] == pytest.approx(0.75)


def test_a_late_return_is_scored_against_its_own_quarter():
    # Q3 has ended but only the Q2 actual has arrived: 60 against the Q2 plan 60 -> 100%
    c, k, p = _contract([_kpi("k", "up", 100, 80, 40)], [("k", "2024-12-01", 60, None)])
    s = con.score_contract(c, k, p, "health", "2025-03")
    assert s.kpis.loc[0, "quarter"] == 2
    assert s.score == pytest.approx(100.0)


def test_rows_after_the_report_month_are_not_used_and_no_quarter_means_no_score():
    c, k, p = _contract([_kpi("k", "up", 100, 80, 40)], [("k", "2024-09-01", 50, None)])
    early = con.score_contract(c, k, p, "health", "2024-08")
    assert early.quarters_ended == 0 and math.isnan(early.score) and early.grade is None


def test_contract_bands_override_the_default_bands():
    c, k, p = _contract([_kpi("k", "up", 100, 100)], [("k", "2024-09-01", 65, None)],
                        bands=(85, 70, 55, 40))  # fmt: skip
    s = con.score_contract(c, k, p, "health", "2024-09")
    assert s.score == pytest.approx(65.0)
    assert s.grade == "C" and s.own_bands
    assert s.settings.grades[0][0] == 85
    c2, k2, p2 = _contract([_kpi("k", "up", 100, 100)], [("k", "2024-09-01", 56, None)],
                           bands=(85, 70, 55, 40))  # fmt: skip
    assert con.score_contract(c2, k2, p2, "health", "2024-09").grade == "C"  # own: C from 55
    c3, k3, p3 = _contract([_kpi("k", "up", 100, 100)], [("k", "2024-09-01", 56, None)])
    assert con.score_contract(c3, k3, p3, "health", "2024-09").grade == "D"  # default: D 50-60


def test_league_ties_share_a_rank():
    rows = []
    for dept, actual in (("a", 100), ("b", 100), ("c", 70)):
        c, k, p = _contract(
            [_kpi(f"{dept}1", "up", 100, 100)],
            [(f"{dept}1", "2024-09-01", actual, None)],
            dept=dept,
        )
        rows.append((c, k, p))
    c, k, p = (pd.concat([r[i] for r in rows]) for i in range(3))
    lg = con.league(c, k, p, "2024-09")
    assert list(lg["department"]) == ["a", "b", "c"]
    assert list(lg["rank"]) == [1, 1, 3]


def test_settings_file_is_checked(tmp_path):
    bad = tmp_path / "contracts.yaml"
    bad.write_text(
        "grades:\n  - {min: 50, grade: A}\n  - {min: 60, grade: B}\n  - {min: 0, grade: C}\n"
    )
    with pytest.raises(ValueError, match="highest min down"):
        con.load_settings(bad)
    bad.write_text("cap: 1.0\nbonus: 3\n")
    with pytest.raises(ValueError, match="unknown settings"):
        con.load_settings(bad)


# --------------------------------------------------------------------------- make data checks


def _write(folder, name: str, text: str) -> None:
    (folder / name).write_text(text, encoding="utf-8")


@pytest.fixture
def contract_raw(small_raw_copy):
    for p in small_raw_copy.iterdir():
        p.unlink()
    return small_raw_copy


def test_every_contract_problem_in_one_pass_with_counts(contract_raw, tmp_path, capsys):
    _write(contract_raw, "contracts.csv",
           "department,fiscal_year,band_a,band_b,band_c,band_d\n"
           "health,2024-25,,,,\n"
           "nowhere,2024-25,,,,\n"            # unknown department -> its KPI: contract rejected
           "finance,2024-25,80,90,50,40\n"   # bands not falling
           "local-government,2024-25,,,,\n")  # fmt: skip
    _write(contract_raw, "contract_kpis.csv",
           "kpi_id,department,fiscal_year,title,direction,weight,baseline,target,band_low,band_high\n"
           "h1,health,2024-25,Clinics,up,60,10,20,,\n"
           "h2,health,2024-25,Wait,maintain,40,,5,,\n"  # maintain without a band
           "l1,local-government,2024-25,Roads,up,50,,5,,\n"  # weights 50 + 40 = 90, not 100
           "l2,local-government,2024-25,Parks,up,40,,5,,\n"
           "h3,health,2023-24,Old,up,100,,5,,\n"         # no contract for 2023-24
           "n1,nowhere,2024-25,X,up,100,,5,,\n"          # its contract was rejected
           "f1,finance,2024-25,Keep,up,100,,5,,\n")  # its contract was rejected  # fmt: skip
    _write(contract_raw, "contract_progress.csv",
           "kpi_id,month,actual\n"
           "h1,2024-09,12\n"
           "h1,2024-10,13\n"      # not a quarter end
           "h1,2025-09,13\n"      # outside the KPI's fiscal year
           "n1,2024-09,1\n"       # its KPI was rejected
           "zz,2024-09,1\n")  # unknown KPI  # fmt: skip
    code = ingest.run(contract_raw, tmp_path / "wh.duckdb")
    err = capsys.readouterr()
    text = err.out + err.err
    assert code != 0
    assert not (tmp_path / "wh.duckdb").exists()  # nothing loads
    assert "column department: unknown department" in text
    assert "bands must fall from band_a to band_d" in text
    assert "the weights of a contract's KPIs must sum to 100" in text
    assert "no contract for this department and year" in text
    assert "contract rejected (in contracts, row 3)" in text
    assert "a maintain KPI needs band_low <= band_high" in text
    assert "progress month not at a quarter end (Sep, Dec, Mar, Jun)" in text
    assert "month outside the KPI's fiscal year" in text
    assert "KPI rejected (in contract_kpis," in text
    assert "unknown kpi_id (not in contract_kpis)" in text
    # true counts: contracts 2 rows, KPIs 6 (h2, h3, n1, f1, l1, l2), progress 4 (one each)
    assert "12 rows rejected in 3 files" in text
