"""What changed between two published months: hand-written snapshots (tests/fixtures)."""

from __future__ import annotations

import sys
from pathlib import Path

from helpers.publish import changes as ch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import dash_fixture as fx


def _kinds(found):
    return sorted((c.kind, c.department, c.subject) for c in found)


def test_january_to_february():
    found = ch.compare(fx.snapshot("2025-01"), fx.snapshot("2025-02"))
    assert _kinds(found) == sorted(
        [
            ("flag_cleared", "health", "underspend (development)"),
            ("off_track", "health", "Immunised children"),
            ("rating_change", "health", "Immunised children"),
            ("high_risk", None, "Health Foundation"),
            ("filed_late", None, "Textbook Board"),
        ]
    )  # same survey wave: the significant change was already there in January
    text = {c.kind: c.text for c in found}
    assert text["rating_change"] == "Immunised children: rated Amber-Red (down from Green)"
    assert text["filed_late"] == (
        "Textbook Board filed its return for the quarter ending December 2024 12 days late"
    )
    assert "High risk (was Medium): cash cover below 1 month" in text["high_risk"]


def test_february_to_march():
    found = ch.compare(fx.snapshot("2025-02"), fx.snapshot("2025-03"))
    assert _kinds(found) == sorted(
        [
            ("flag_new", "health", "overspend (salary)"),
            ("back_on_track", "health", "Immunised children"),
            ("rating_change", "health", "Immunised children"),
            ("risk_cleared", None, "Health Foundation"),
            ("survey_down", "health", "Hospitals"),
        ]
    )  # PSE-2 still late in the same quarter: not reported again
    survey = next(c for c in found if c.kind == "survey_down")
    assert survey.text == "Satisfaction with Hospitals fell 8.0 points to 44% (p = 0.004)"
    assert next(c for c in found if c.kind == "rating_change").text.endswith("(up from Amber-Red)")


def test_bad_news_first_and_summary():
    found = ch.compare(fx.snapshot("2025-01"), fx.snapshot("2025-02"))
    order = [c.kind for c in found]
    assert order.index("off_track") < order.index("rating_change") < order.index("flag_cleared")
    assert ch.summary(found).startswith("Targets gone off track: 1; Entities now high risk: 1")
    assert ch.summary([]) == ""


def test_nothing_to_compare():
    assert ch.compare(None, fx.snapshot("2025-01")) == []
    same = fx.snapshot("2025-02")
    assert ch.compare(same, same) == []


def test_a_report_without_figures_is_not_compared():
    prev, cur = fx.snapshot("2025-01"), fx.snapshot("2025-02")
    for r in cur["reports"]:
        if r["family"] == "stocktake":
            r["status"] = "failed"
    kinds = {c.kind for c in ch.compare(prev, cur)}
    assert "off_track" not in kinds and "rating_change" not in kinds
    assert "flag_cleared" in kinds


def test_entity_changes_once_for_the_whole_government():
    prev, cur = fx.snapshot("2025-01"), fx.snapshot("2025-02")
    dept_pse = {
        "family": "pse_oversight",
        "scope": "department",
        "department": "health",
        "department_name": "Health",
        "status": "done",
        "headline": next(r for r in cur["reports"] if r["family"] == "pse_province")["headline"],
    }
    prev["reports"].append(
        dict(
            dept_pse,
            headline=next(r for r in prev["reports"] if r["family"] == "pse_province")["headline"],
        )
    )
    cur["reports"].append(dept_pse)
    found = ch.compare(prev, cur)
    assert sum(c.kind == "high_risk" for c in found) == 2  # province and department report
    assert sum(c.kind == "high_risk" for c in ch.deduplicated(found, cur)) == 1


def test_a_high_risk_entity_without_a_new_return_is_not_cleared():
    prev, cur = fx.snapshot("2025-02"), fx.snapshot("2025-03")
    for r in cur["reports"]:
        if r["family"] == "pse_province":
            r["headline"]["detail"]["quarter"] = "2025-03-31"
            for e in r["headline"]["detail"]["entities"]:
                if e["id"] == "PSE-1":
                    e.update(rating="No return", return_status="Missing")
    found = [c for c in ch.compare(prev, cur) if c.subject == "Health Foundation"]
    assert [c.kind for c in found] == ["return_missing"]
    assert found[0].ref == "PSE-1"
    assert found[0].text == "Health Foundation: no return for the quarter ending March 2025"


def test_a_report_not_rebuilt_last_month_is_compared_with_its_latest_figures():
    from helpers.publish import dashboards

    jan, feb, mar = (fx.snapshot(m) for m in fx.MONTHS)
    for r in feb["reports"]:  # February's run was narrowed: no budget report for Health
        if r["family"] == "budget_execution" and r["department"] == "health":
            r.update(status="not_rebuilt", headline={})
    base = dashboards.baseline(mar, [feb, jan])
    found = ch.compare(base, mar)
    flags = sorted(c.kind for c in found if c.family == "budget_execution")
    assert flags == ["flag_cleared", "flag_new"]  # January's underspend went, March's overspend
    assert "back_on_track" in {c.kind for c in found}  # the stocktake compares with February
    assert dashboards.baseline(mar, []) is None
