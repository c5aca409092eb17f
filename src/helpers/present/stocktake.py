"""Stocktake presentation: charts, display-ready tables and key-message sentences.

Everything here reads a :class:`helpers.analysis.stocktake.StocktakePack`; no number is computed
here that the analysis does not already hold (only formatting, ordering and wording).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from helpers import profile
from helpers.analysis.stocktake import (
    MET,
    MISSED,
    NO_DATA,
    OFF_TRACK,
    ON_TRACK,
    ScorecardRule,
    StocktakePack,
    StocktakeSettings,
    build_pack,
    load_config,
)
from helpers.data.calendar import fiscal_year, month_label
from helpers.present import svgplot, wording
from helpers.present.display import (
    Page,
    figure,
    heading,
    headline,
    key_messages,
    note,
    records,
    table,
)
from helpers.present.theme import PALETTE, STATUS_COLOURS

MINUS = "\u2212"
UNITLESS = ("count", "number", "no.", "")
NO_UNIT = ("-", "\u2013", "\u2014", "n/a", "none")  # placeholders some files put in the unit column
PERIOD_WORD = {"monthly": "month", "quarterly": "quarter", "annual": "year"}
MAX_DIGITS = 6
STATUS_TONE = {MET: "good", ON_TRACK: "good", OFF_TRACK: "bad", MISSED: "bad", NO_DATA: "neutral"}


# --------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    """True for None, NaN, NaT and pd.NA (scalars only)."""
    if isinstance(value, list | tuple | dict | set):
        return False
    return bool(pd.isna(value))


def clean_unit(unit: Any) -> str:
    """The unit as text; '' when blank, missing or a placeholder such as '-' (unit is optional)."""
    if unit is None or _missing(unit):
        return ""
    text = str(unit).strip()
    return "" if text.lower() in NO_UNIT else text


def gap_digits(gap: Any, allowed: Any = 0.0, digits: int = 1) -> int:
    """Decimals needed for a printed gap to explain its status (at least ``digits``).

    More decimals are used while rounding would hide the comparison with the allowed shortfall
    (a gap of -0.04 against an allowance of 0.03 prints as -0.04, not '0.0'): the rounded gap
    keeps the sign of the gap and the same side of ``-allowed``."""
    if _missing(gap):
        return digits
    g = float(gap)
    a = 0.0 if _missing(allowed) else float(allowed)
    for d in range(digits, MAX_DIGITS + 1):
        rg, ra = round(g, d), round(a, d)
        same_sign = (rg > 0) == (g > 0) and (rg < 0) == (g < 0)
        same_side = (rg >= -ra) == (g >= -a) and (rg >= 0) == (g >= 0)
        if same_sign and same_side:
            return d
    return MAX_DIGITS


def fmt_value(value: Any, unit: str | None, digits: int = 1) -> str:
    """A value with its unit: 68.0% / 1,234.0 children; 'n/a' when missing."""
    if _missing(value):
        return "n/a"
    unit = clean_unit(unit)
    number = f"{float(value):,.{digits}f}"
    if unit == "%":
        return f"{number}%"
    if unit.lower() in UNITLESS:
        return number
    return f"{number} {unit}".strip()


def fmt_diff(value: Any, unit: str | None, sign: bool = True, digits: int = 1) -> str:
    """A difference with its unit: '+3.5 pp' for % values (percentage points), '\u22122.9' else.
    The number and its unit are joined by a no-break space: a narrow table column or a line end
    never leaves the unit on a line of its own."""
    if _missing(value):
        return "n/a"
    v = round(float(value), digits)
    unit = clean_unit(unit)
    prefix = ("+" if v > 0 else MINUS if v < 0 else "") if sign else ""
    number = f"{abs(v):,.{digits}f}"
    if unit == "%":
        return f"{prefix}{number}\u00a0pp"
    if unit.lower() in UNITLESS:
        return f"{prefix}{number}"
    return f"{prefix}{number}\u00a0{unit}"


def fmt_month(value: Any) -> str:
    """Timestamp -> 'Mar 2025' ('n/a' when missing)."""
    return "n/a" if _missing(value) else pd.Timestamp(value).strftime("%b %Y")


def fmt_date(value: Any) -> str:
    """Timestamp -> '20 Feb 2025' ('n/a' when missing)."""
    return "n/a" if _missing(value) else pd.Timestamp(value).strftime("%-d %b %Y")


def month_ranges(months: Iterable[pd.Timestamp]) -> str:
    """Compress months into ranges: 'Jul 2024-Sep 2024, Jan 2025'."""
    ms = sorted(pd.Timestamp(m) for m in months)
    if not ms:
        return "none"
    parts, start, prev = [], ms[0], ms[0]
    for m in ms[1:]:
        if m == prev + pd.DateOffset(months=1):
            prev = m
            continue
        parts.append((start, prev))
        start = prev = m
    parts.append((start, prev))
    return ", ".join(
        fmt_month(a) if a == b else f"{fmt_month(a)}\u2013{fmt_month(b)}" for a, b in parts
    )


def _target(pack: StocktakePack, target_id: str) -> dict[str, Any]:
    rows = pack.summary[pack.summary["target_id"] == target_id]
    if rows.empty:
        raise KeyError(f"target {target_id!r} is not in the {pack.department} stocktake")
    return rows.iloc[0].to_dict()


# --------------------------------------------------------------------------------------------
# Sentences
# --------------------------------------------------------------------------------------------


def decisions_needed(pack: StocktakePack) -> list[str]:
    """Items for the stocktake meeting to decide, derived from the evidence (may be empty)."""
    s = pack.summary
    items = []
    flagged = s[s["evidence_flag"].astype(bool)]
    if len(flagged):
        items.append(f"review the rating of {wording.join(list(flagged['title']))}")
    off = s[s["status"] == OFF_TRACK]
    if len(off):
        items.append(f"agree recovery actions for {wording.join(list(off['title']))} (off track)")
    missed = s[s["status"] == MISSED]
    if len(missed):
        items.append(
            f"decide whether to reset or close {wording.join(list(missed['title']))} (target date passed)"
        )
    nodata = s[(s["status"] == NO_DATA) | s["stale"].astype(bool)]
    if len(nodata):
        items.append(f"obtain current data for {wording.join(list(nodata['title']))}")
    past_due = (
        pack.actions[pack.actions["past_due"].astype(bool)] if len(pack.actions) else pack.actions
    )
    if len(past_due):
        items.append(
            f"follow up {wording.plural(len(past_due), 'past-due action')} from the last stocktake"
        )
    return items


def key_message_sentences(pack: StocktakePack) -> list[str]:
    """The key messages: targets on/off track, score, rating changes, evidence flags, milestones,
    decisions needed. Every figure comes from the pack."""
    s = pack.summary
    if s.empty:
        return [
            f"No delivery targets are recorded for this department as of {fmt_month(pack.month)}."
        ]
    msgs = []
    counts = pack.status_counts()
    parts = [f"{pack.n_on_track} of {pack.n_targets} targets are on track or already met"]
    for status, label in (
        (OFF_TRACK, "off track"),
        (MISSED, "missed (date passed)"),
        (NO_DATA, "without data yet"),
    ):
        if counts[status]:
            titles = list(s.loc[s["status"] == status, "title"])
            parts.append(f"{label}: {wording.join(titles)}")
    msgs.append("; ".join(parts) + ".")
    if not _missing(pack.score):
        msgs.append(
            f"Delivery scorecard {pack.score:.0f} out of 100 (grade {pack.grade}) against "
            "the plan to date."
        )
    awaiting = s[s["awaiting_final"].astype(bool)] if "awaiting_final" in s.columns else s.iloc[0:0]
    if len(awaiting):
        msgs.append(
            f"Final reading awaited for {wording.join(list(awaiting['title']))}: the target date has "
            "passed but its actual has not arrived, so it is not yet judged met or missed."
        )
    if pack.stocktake_date is None:
        msgs.append("No stocktake has been recorded yet, so there are no ratings to show.")
    elif pack.previous_stocktake_date is None:
        msgs.append(f"The stocktake of {fmt_date(pack.stocktake_date)} is the first on record.")
    else:
        changed = s[s["rating_change"].isin(["up", "down"])]
        since = f"since the previous stocktake ({fmt_date(pack.previous_stocktake_date)})"
        if changed.empty:
            msgs.append(
                f"No rating changed at the stocktake of {fmt_date(pack.stocktake_date)} {since}."
            )
        else:
            moves = [
                f"{r.title} {r.previous_rating} \u2192 {r.rating}" for r in changed.itertuples()
            ]
            msgs.append(
                f"At the stocktake of {fmt_date(pack.stocktake_date)}, {wording.plural(len(changed), 'rating')} "
                f"changed {since}: {'; '.join(moves)}."
            )
    flagged = s[s["evidence_flag"].astype(bool)]
    if len(flagged):
        reasons = [
            f"{r.title}: {r.evidence_flag[0].lower()}{r.evidence_flag[1:]}"
            for r in flagged.itertuples()
        ]
        msgs.append(
            f"The evidence disagrees with the recorded rating for {wording.plural(len(flagged), 'target')} "
            f"({'; '.join(reasons)})."
        )
    ms = pack.milestones
    overdue = ms[ms["state"] == "overdue"]
    due = ms[ms["due_this_month"] & ms["state"].isin(["due this month", "overdue"])]
    if len(overdue):
        worst = overdue.sort_values("days_overdue", ascending=False).iloc[0]
        verb = "is" if len(overdue) == 1 else "are"
        msgs.append(
            f"{wording.plural(len(overdue), 'milestone')} {verb} overdue, the longest by "
            f"{worst['days_overdue']:.0f} days ({worst['title']})"
            + (
                f"; {len(due)} due this month {'is' if len(due) == 1 else 'are'} not yet complete."
                if len(due)
                else "."
            )
        )
    elif len(due):
        msgs.append(
            f"No milestone is overdue; {wording.plural(len(due), 'milestone')} due this month still open."
        )
    elif len(ms):
        msgs.append("No milestone is overdue or due this month.")
    checked = verification_sentence(pack)
    if checked:
        msgs.append(checked)
    decisions = decisions_needed(pack)
    if decisions:
        msgs.append("Decisions needed: " + "; ".join(decisions) + ".")
    return msgs


def verification_sentence(pack: StocktakePack) -> str:
    """Reported against verified in one sentence ('' when no target is verified)."""
    v = pack.verification
    v = v[v["month"].notna()] if len(v) else v
    if not len(v):
        return ""
    parts = []
    for r in v.itertuples():
        share = (
            "" if _missing(r.verified_share) else f", {r.verified_share:.1%} of the reported value"
        )
        parts.append(
            f"{r.title}: reported {fmt_value(r.reported, r.unit)}, verified "
            f"{fmt_value(r.verified, r.unit)} ({fmt_diff(r.difference, r.unit)}{share}; {fmt_month(r.month)})"
        )
    return "Reported against independently verified: " + "; ".join(parts) + "."


def verification_table(pack: StocktakePack) -> pd.DataFrame:
    """Reported against verified values, one row per verified indicator."""
    v = pack.verification
    return pd.DataFrame(
        {
            "Indicator": v["title"],
            "Month": [fmt_month(m) for m in v["month"]],
            "Reported": [fmt_value(x, u) for x, u in zip(v["reported"], v["unit"], strict=True)],
            "Verified": [fmt_value(x, u) for x, u in zip(v["verified"], v["unit"], strict=True)],
            "Verified \u2212 reported": [
                fmt_diff(x, u) for x, u in zip(v["difference"], v["unit"], strict=True)
            ],
            "Verified / reported": v["verified_share"],
            "Note": v["note"],
        }
    )


VERIFICATION_FORMATS = {"Verified / reported": "pct"}


def target_sentence(pack: StocktakePack, target_id: str) -> str:
    """One paragraph on a target: latest actual vs plan, trend, projection, rating."""
    t = _target(pack, target_id)
    unit = t["unit"]
    maintain = t["direction"] == "maintain"
    if t["status"] == NO_DATA:
        text = f"No actual has been reported yet (target {target_text(t)} by {fmt_month(t['target_month'])})."
    elif maintain:
        where = (
            "within the band"
            if t["outside_band"] == 0
            else f"{fmt_diff(t['outside_band'], unit, sign=False, digits=gap_digits(-t['outside_band']))} "
            f"{'below' if t['latest_actual'] < t['band_low'] else 'above'} the band"
        )
        text = (
            f"The latest actual ({fmt_month(t['latest_month'])}) is {fmt_value(t['latest_actual'], unit)}: "
            f"{where} {band_text(t)} (status: {t['status']})."
        )
    else:
        ahead = "ahead of" if t["gap"] >= 0 else "behind"
        d = gap_digits(t["gap"], t.get("allowed_shortfall"))
        text = (
            f"The latest actual ({fmt_month(t['latest_month'])}) is {fmt_value(t['latest_actual'], unit, max(1, d))} against "
            f"a planned {fmt_value(t['planned_at_latest'], unit, max(1, d))}: {fmt_diff(abs(t['gap']), unit, sign=False, digits=d)} {ahead} trajectory "
            f"(status: {t['status']}{allowance_text(t, d)})."
        )
    if t["status"] != NO_DATA:
        if not _missing(t["trend"]):
            text += (
                f" The trend over recent {_period(t)}s is {t['trend']} "
                f"({fmt_diff(t.get('trend_per_period', t['trend_per_month']), unit)} a {_period(t)})."
            )
        if not _missing(t["projected"]):
            text += (
                f" At this pace it would reach {fmt_value(t['projected'], unit)} by {fmt_month(t['target_month'])} "
                f"({pack.settings.interval_level:.0%} interval {fmt_value(t['projected_lower'], unit)} to "
                f"{fmt_value(t['projected_upper'], unit)}) against a target of {target_text(t)}: "
                f"{t['likelihood']}."
            )
        elif not _missing(t["projection_note"]) and t["projection_note"]:
            text += f" No projection: {t['projection_note']}."
    if not _missing(t.get("rating")):
        text += f" Recorded rating: {t['rating']}"
        if not _missing(t.get("previous_rating")) and t["previous_rating"] != t["rating"]:
            text += f" (was {t['previous_rating']})"
        text += "."
    return text


def _period(t: dict[str, Any]) -> str:
    return PERIOD_WORD.get(t.get("frequency") or "monthly", "month")


def band_text(t: dict[str, Any]) -> str:
    """'93.0%\u201397.0%' for a maintain target's band."""
    return f"{fmt_value(t['band_low'], t['unit'])}\u2013{fmt_value(t['band_high'], t['unit'])}"


def target_text(t: dict[str, Any]) -> str:
    """The target as words: '80.0%', or 'hold 95.0% (band 93.0%\u201397.0%)'."""
    if t["direction"] == "maintain":
        return f"hold {fmt_value(t['target_value'], t['unit'])} (band {band_text(t)})"
    return fmt_value(t["target_value"], t["unit"])


def tolerance_text(t: dict[str, Any]) -> str:
    """The on-track allowance of an up/down target in words."""
    tol, basis = t.get("tolerance"), t.get("tolerance_basis")
    if _missing(tol) or t["direction"] == "maintain":
        return "none (a maintain target is on track inside its band)"
    if basis == "absolute":
        return f"behind the plan by up to {fmt_diff(tol, t['unit'], sign=False, digits=gap_digits(tol))}"
    what = (
        "the planned value" if basis == "planned" else "the planned change from baseline to target"
    )
    return f"behind the plan by up to {float(tol):.0%} of {what}"


def allowance_text(t: dict[str, Any], digits: int) -> str:
    """'; allowed shortfall 0.03' when the gap is behind the plan (explains the status)."""
    a = t.get("allowed_shortfall")
    if (
        _missing(a)
        or _missing(t["gap"])
        or t["gap"] >= 0
        or t["status"] not in (ON_TRACK, OFF_TRACK)
    ):
        return ""
    return f"; allowed shortfall {fmt_diff(a, t['unit'], sign=False, digits=digits)}"


def data_notes(pack: StocktakePack) -> list[str]:
    """Data notes: as-of, missing months, stale data, projections not made, rules in force."""
    s = pack.summary
    notes = [
        f"Actuals to {fmt_month(pack.as_of)} (report month {fmt_month(pack.month)}); ratings and actions "
        f"from the stocktake of {fmt_date(pack.stocktake_date)}."
        if pack.as_of is not None
        else f"No actuals are recorded up to {fmt_month(pack.month)}."
    ]
    for r in s.itertuples():
        if r.n_missing:
            word = PERIOD_WORD.get(getattr(r, "frequency", None) or "monthly", "month")
            shown = (
                month_ranges(r.missing_months)
                if word == "month"
                else ", ".join(fmt_month(m) for m in r.missing_months)
            )
            notes.append(f"{r.title}: no actual for {wording.plural(r.n_missing, word)} ({shown}).")
        if r.stale:
            notes.append(f"{r.title}: the latest actual is {r.months_since_latest:.0f} months old.")
        if getattr(r, "projection_bounded", False):
            notes.append(
                f"{r.title}: the straight-line projection would pass the measure's natural "
                "limit and is shown at the limit."
            )
    if "district_rollup" in pack.targets.columns:
        for r in pack.targets.itertuples():
            how = {"sum": "the sum", "mean": "the unweighted mean"}.get(r.district_rollup)
            if how:
                notes.append(
                    f"{r.title}: the data give districts only; the department-wide value of a "
                    f"period is {how} of the districts reporting in it (targets.district_rollup)."
                )
    st = pack.settings
    basis = {
        "change": "of the planned change from baseline to target",
        "planned": "of the planned value",
    }.get(st.tolerance_basis)
    allowance = f"{st.tolerance:.0%} {basis}" if basis else f"{st.tolerance:g} in the target's unit"
    own = (
        [
            r.title
            for r in s.itertuples()
            if r.direction != "maintain"
            and (r.tolerance != st.tolerance or r.tolerance_basis != st.tolerance_basis)
        ]
        if "tolerance" in s.columns
        else []
    )
    if own:
        allowance += f" (own tolerance: {wording.join(own)})"
    if "direction" in s.columns and (s["direction"] == "maintain").any():
        allowance += "; a target to maintain is on track while inside its band"
    notes.append(
        f"On track means the latest actual is ahead of the trajectory for its month, or behind it by no "
        f"more than {allowance}. Projections fit a "
        f"straight line (OLS) to up to {st.projection_window} months of actuals (at least {st.min_points}) "
        f"and show a {st.interval_level:.0%} prediction interval, kept within the measure's natural "
        "range (0-100 for a percentage, not below 0 for a count)."
    )
    notes.append(
        "A target whose date has passed is missed only once an actual for its target month has "
        f"arrived, or {st.missed_after} months after the target month without one; until then it "
        "is assessed against the trajectory and marked 'final reading awaited'."
    )
    notes.append(
        "Ratings are the delivery unit's recorded judgements, shown as given; the evidence flag marks "
        "where the computed evidence points the other way. Action statuses are as currently recorded."
    )
    rule = pack.rule
    notes.append(
        "Scorecard: each KPI's achievement is the distance travelled from baseline to the plan to "
        "date (the trajectory for the month of its latest actual; the report month's plan when "
        f"that actual is stale), capped at {rule.cap:.0%}; the score is the weighted average out "
        f"of 100 (KPIs without data {'score 0' if rule.missing == 'zero' else 'are left out'}). "
        "A department exactly on its trajectories scores 100 in every month. Progress against the "
        "year-end target is shown separately and does not enter the score."
    )
    return notes


def alt_text(pack: StocktakePack, target_id: str) -> str:
    """Alt text for a target's trajectory chart."""
    t = _target(pack, target_id)
    return (
        f"Line chart of {t['title']} in {t['unit']}: planned trajectory from {fmt_value(t['baseline'], t['unit'])} "
        f"to {fmt_value(t['target_value'], t['unit'])} by {fmt_month(t['target_month'])}, and monthly actuals, "
        f"latest {fmt_value(t['latest_actual'], t['unit'])} in {fmt_month(t['latest_month'])}."
    )


# --------------------------------------------------------------------------------------------
# Tables (display-ready DataFrames for helpers.present.table)
# --------------------------------------------------------------------------------------------


def summary_table(pack: StocktakePack) -> pd.DataFrame:
    """One row per target: status, latest actual vs plan, projection, rating and evidence flag."""
    s = pack.summary
    return pd.DataFrame(
        {
            "Target": s["title"],
            "Status": [
                f"{st} (final reading awaited)" if aw else st
                for st, aw in zip(
                    s["status"],
                    s["awaiting_final"] if "awaiting_final" in s else [False] * len(s),
                    strict=True,
                )
            ],
            "Latest": [fmt_month(m) for m in s["latest_month"]],
            "Actual": [fmt_value(v, u) for v, u in zip(s["latest_actual"], s["unit"], strict=True)],
            "Planned": [
                fmt_value(v, u) for v, u in zip(s["planned_at_latest"], s["unit"], strict=True)
            ],
            "Gap (+ ahead)": [
                fmt_diff(v, u, digits=gap_digits(v, a))
                for v, u, a in zip(s["gap"], s["unit"], s["allowed_shortfall"], strict=True)
            ],
            "Projected at target date": [
                fmt_value(v, u) for v, u in zip(s["projected"], s["unit"], strict=True)
            ],
            "Target value": [target_text(r) for r in s.to_dict("records")],
            "Rating": s["rating"].fillna("not rated"),
            "Change": s["rating_change"].fillna(""),
            "Evidence flag": s["evidence_flag"].replace("", "\u2013"),
        }
    )


SUMMARY_FORMATS: dict[str, str] = {}


def status_row_classes(pack: StocktakePack) -> list[str]:
    """CSS classes for summary rows by status tone (good / bad / neutral)."""
    return [f"kp-{STATUS_TONE.get(s, 'neutral')}" for s in pack.summary["status"]]


def scorecard_table(pack: StocktakePack) -> pd.DataFrame:
    """The department's KPIs scored against the plan to date, with progress to the annual
    target beside the score."""
    c = pack.scorecard
    return pd.DataFrame(
        {
            "KPI": c["title"],
            "Weight": c["weight"],
            "Baseline": [fmt_value(v, u) for v, u in zip(c["baseline"], c["unit"], strict=True)],
            "Latest actual": [
                fmt_value(v, u) for v, u in zip(c["latest_actual"], c["unit"], strict=True)
            ],
            "Plan to date": [
                fmt_value(v, u) for v, u in zip(c["plan_to_date"], c["unit"], strict=True)
            ],
            "Achievement vs plan": c["achievement"],
            "Scored": c["scored"],
            "Counted": c["included"],
            "Annual target": [
                fmt_value(v, u) for v, u in zip(c["annual_target"], c["unit"], strict=True)
            ],
            "Progress to annual target": c["annual_progress"],
        }
    )


SCORECARD_FORMATS = {
    "Weight": "{:,.1f}",
    "Achievement vs plan": "pct0",
    "Scored": "pct0",
    "Progress to annual target": "pct0",
}


def milestone_table(
    pack: StocktakePack, target_id: str | None = None, milestones: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Milestones (of one target, or all, or the rows given) with their state at month end."""
    m = pack.milestones if milestones is None else milestones
    if target_id is not None:
        m = m[m["target_id"] == target_id]
    titles = dict(zip(pack.summary["target_id"], pack.summary["title"], strict=True))
    out = pd.DataFrame(
        {
            "Milestone": m["title"],
            "Due": [fmt_date(d) for d in m["due_date"]],
            "Completed": [
                fmt_date(d) if not _missing(d) and d <= pack.month + pd.offsets.MonthEnd(0) else ""
                for d in m["completed_date"]
            ],
            "State": m["state"],
            "Days overdue / late": m["days_overdue"].fillna(m["days_late"]),
            "Months overdue": m["months_overdue"],
        }
    )
    if target_id is None:
        out.insert(0, "Target", [titles.get(t, t) for t in m["target_id"]])
    return out.reset_index(drop=True)


def attention_milestones(pack: StocktakePack) -> pd.DataFrame:
    """Milestones overdue or due this month (department-wide), longest overdue first."""
    m = pack.milestones
    keep = (m["state"] == "overdue") | m["due_this_month"]
    sub = m[keep].sort_values(["days_overdue", "due_date"], ascending=[False, True])
    return milestone_table(pack, milestones=sub)


MILESTONE_FORMATS = {"Days overdue / late": "{:,.0f}", "Months overdue": "{:,.0f}"}


def actions_table(pack: StocktakePack) -> pd.DataFrame:
    """Actions agreed at the stocktake in force with their recorded status."""
    a = pack.actions
    titles = dict(zip(pack.summary["target_id"], pack.summary["title"], strict=True))
    return pd.DataFrame(
        {
            "Action": a["action"],
            "Target": [
                titles.get(t, "department-wide") if not _missing(t) else "department-wide"
                for t in a["target_id"]
            ],
            "Owner": a["owner"],
            "Due": [fmt_date(d) for d in a["due_date"]],
            "Status (recorded)": a["status"],
            "Days past due": a["days_past_due"],
        }
    )


ACTIONS_FORMATS = {"Days past due": "{:,.0f}"}


def district_table(pack: StocktakePack, target_id: str) -> pd.DataFrame:
    """Latest actual by district for one target, best first."""
    d = pack.districts.get(target_id)
    unit = _target(pack, target_id)["unit"]
    if d is None or d.empty:
        return pd.DataFrame(
            columns=["Rank", "District", "Actual", "Versus department-wide (+ better)"]
        )
    return pd.DataFrame(
        {
            "Rank": d["rank"].astype(int),
            "District": d["district"],
            "Actual": [fmt_value(v, unit) for v in d["actual"]],
            "Versus department-wide (+ better)": [fmt_diff(v, unit) for v in d["difference"]],
        }
    )


def target_facts(pack: StocktakePack, target_id: str) -> pd.DataFrame:
    """Key facts for one target as a two-column table."""
    t = _target(pack, target_id)
    u = t["unit"]
    proj = (
        f"{fmt_value(t['projected'], u)} ({fmt_value(t['projected_lower'], u)} to {fmt_value(t['projected_upper'], u)})"
        if not _missing(t["projected"])
        else ("n/a" if _missing(t["projection_note"]) else t["projection_note"] or "n/a")
    )
    direction = {
        "up": "higher is better",
        "down": "lower is better",
        "maintain": f"hold within {band_text(t)}" if t["direction"] == "maintain" else "",
    }[t["direction"]]
    d = gap_digits(t["gap"], t.get("allowed_shortfall"))
    rows = [
        ("Owner", t.get("owner") if not _missing(t.get("owner")) else "n/a"),
        ("Direction", direction),
        ("Baseline", fmt_value(t["baseline"], u)),
        ("Target", f"{target_text(t)} by {fmt_month(t['target_month'])}"),
        ("Latest actual", f"{fmt_value(t['latest_actual'], u)} ({fmt_month(t['latest_month'])})"),
        ("Planned for that month", fmt_value(t["planned_at_latest"], u)),
        (
            "Gap (+ ahead)",
            "n/a"
            if _missing(t["gap"])
            else f"{fmt_diff(t['gap'], u, digits=d)} ({'n/a' if _missing(t['gap_pct']) else format(t['gap_pct'], '+.1%')} of plan)",
        ),
        ("On track if", tolerance_text(t)),
        ("Status", t["status"]),
        (
            "Trend",
            "n/a"
            if _missing(t["trend"])
            else f"{t['trend']} ({fmt_diff(t.get('trend_per_period', t['trend_per_month']), u, digits=2)} a {_period(t)})",
        ),
        (f"Projected at target date ({pack.settings.interval_level:.0%} interval)", proj),
        ("Rating (recorded)", t["rating"] if not _missing(t.get("rating")) else "not rated"),
        (
            "Previous rating",
            t["previous_rating"] if not _missing(t.get("previous_rating")) else "n/a",
        ),
        ("Evidence flag", "none" if _missing(t["evidence_flag"]) else t["evidence_flag"] or "none"),
        (f"{_period(t).capitalize()}s without data", str(t["n_missing"])),
    ]
    return pd.DataFrame(rows, columns=["Measure", "Value"])


def rollup_table(pack: StocktakePack) -> pd.DataFrame:
    """Department roll-up: targets by status and the share on track."""
    counts = pack.status_counts()
    out = pd.DataFrame({"Status": list(counts), "Targets": list(counts.values())})
    out["Share of targets"] = out["Targets"] / pack.n_targets if pack.n_targets else math.nan
    return out


# --------------------------------------------------------------------------------------------
# Charts
# --------------------------------------------------------------------------------------------


def _unit_label(unit: str) -> str:
    """Axis label naming the unit: 'Per cent (%)', 'Number', 'Thousand'."""
    unit = clean_unit(unit)
    if unit == "%":
        return "Per cent (%)"
    if unit.lower() in UNITLESS:
        return "Number"
    return unit[:1].upper() + unit[1:]


def trajectory_chart(pack: StocktakePack, target_id: str) -> svgplot.Figure:
    """Trajectory (planned), actuals (gaps left open), projection band and target marker."""
    t = _target(pack, target_id)
    plan = pack.plans[target_id]
    series = pack.series[target_id]
    proj = pack.projections[target_id]
    fig, ax = svgplot.subplots()
    ax.plot(
        plan["month"],
        plan["planned"],
        linestyle="--",
        color=PALETTE[7],
        linewidth=1.5,
        label="Trajectory (planned)",
    )
    if len(series):
        full = pd.DataFrame(
            {"month": pd.date_range(series["month"].min(), series["month"].max(), freq="MS")}
        )
        full = full.merge(series, on="month", how="left")
        ax.plot(
            full["month"],
            full["actual"],
            color=PALETTE[0],
            linewidth=2,
            marker="o",
            markersize=4,
            label="Actual",
        )
    if len(proj.path):
        ax.plot(
            proj.path["month"],
            proj.path["mean"],
            color=PALETTE[1],
            linestyle=":",
            linewidth=2,
            label="Projection",
        )
        ax.fill_between(
            proj.path["month"].to_numpy(),
            proj.path["lower"].to_numpy(dtype=float),
            proj.path["upper"].to_numpy(dtype=float),
            color=PALETTE[1],
            alpha=0.2,
            linewidth=0,
            label=f"{proj.level:.0%} prediction interval",
        )
    if t["direction"] == "maintain":
        ax.axhspan(t["band_low"], t["band_high"], color=PALETTE[2], alpha=0.12, linewidth=0,
                   label=f"Band to hold ({band_text(t)})")  # fmt: skip
    ax.scatter(
        [t["target_month"]],
        [t["target_value"]],
        marker="*",
        s=180,
        color=PALETTE[3],
        zorder=5,
        label="Target",
    )
    ax.axvline(pack.month, color=STATUS_COLOURS["neutral"], linewidth=1, alpha=0.6)
    ax.annotate("report month", (pack.month, 1.0), xycoords=("data", "axes fraction"), fontsize=8,
                color=STATUS_COLOURS["neutral"], ha="right", va="top", rotation=90)  # fmt: skip
    ax.set_title(f"{t['title']}: actual against trajectory")
    ax.set_xlabel("Month")
    ax.set_ylabel(_unit_label(t["unit"]))
    ax.legend(loc="best", fontsize=8, frameon=False)
    return fig


def district_chart(pack: StocktakePack, target_id: str) -> svgplot.Figure:
    """Horizontal bars of the latest actual by district, with the department-wide value."""
    t = _target(pack, target_id)
    d = pack.districts.get(target_id)
    if d is None or d.empty:
        raise ValueError(f"{target_id}: no district data to chart")
    d = d.iloc[::-1]  # best at the top
    fig, ax = svgplot.subplots(figsize=(8, max(3.0, 0.24 * len(d) + 1.2)))
    ax.barh(d["district"], d["actual"], color=PALETTE[0])
    dept = d["department_value"].iloc[0]
    if not _missing(dept):
        ax.axvline(
            dept,
            color=PALETTE[7],
            linestyle="--",
            linewidth=1.2,
            label=f"Department-wide {fmt_value(dept, t['unit'])}",
        )
    ax.axvline(
        t["target_value"],
        color=PALETTE[3],
        linestyle=":",
        linewidth=1.5,
        label=f"Target {fmt_value(t['target_value'], t['unit'])}",
    )
    ax.set_title(f"{t['title']} by district, {fmt_month(d['month'].iloc[0])}")
    ax.set_xlabel(_unit_label(t["unit"]))
    ax.set_ylabel("District")
    ax.tick_params(axis="y", labelsize=8)
    ax.legend(loc="lower right", fontsize=8, frameon=True)
    return fig


def completion_chart(pack: StocktakePack) -> svgplot.Figure:
    """Milestone completion rate over the last twelve months (% of milestones due by then)."""
    c = pack.completion
    fig, ax = svgplot.subplots(figsize=(8, 3.6))
    ax.plot(
        c["month"],
        c["completion_rate"] * 100,
        color=PALETTE[0],
        marker="o",
        markersize=4,
        label="Completed",
    )
    ax.plot(
        c["month"],
        c["on_time_rate"] * 100,
        color=PALETTE[2],
        marker="s",
        markersize=4,
        label="Completed on time",
    )
    ax.set_ylim(0, 105)
    ax.set_title("Milestones completed, of all those due by each month")
    ax.set_xlabel("Month")
    ax.set_ylabel("% of milestones due")
    ax.legend(loc="best", fontsize=8, frameon=True)
    return fig


def as_of_text(pack: StocktakePack) -> str:
    """The data as-of for the title block: the latest month with an actual, or '' (no targets
    or no actuals yet: nothing to date; the key messages say why)."""
    return pack.as_of.strftime("%B %Y") if pack.as_of is not None else ""


def score_sentence(pack: StocktakePack) -> str:
    """One sentence on the delivery scorecard score."""
    if _missing(pack.score):
        if pack.scorecard.empty:
            return "There are no targets in force, so there is no scorecard score."
        if (pack.scorecard["weight"] > 0).any():
            return "No KPI has an actual yet, so there is no scorecard score."
        return "No KPI carries a weight, so there is no scorecard score."
    counted = int(pack.scorecard["included"].sum())
    return (
        f"Score {pack.score:.1f} out of 100 (grade {pack.grade}) over {wording.plural(counted, 'KPI')}, each "
        "scored against its plan to date; progress towards the annual targets for fiscal year "
        f"{fiscal_year_label(pack)} is shown beside it."
    )


def fiscal_year_label(pack: StocktakePack) -> str:
    """'2024-25' for a report month in that fiscal year."""
    return fiscal_year(pack.month)


def district_alt(pack: StocktakePack, target_id: str) -> str:
    """Alt text for a target's district chart."""
    t = _target(pack, target_id)
    d = pack.districts[target_id]
    best, worst = d.iloc[0], d.iloc[-1]
    return (
        f"Bar chart of {t['title']} by district in {fmt_month(best['month'])}: highest performing "
        f"{best['district']} at {fmt_value(best['actual'], t['unit'])}, lowest {worst['district']} at "
        f"{fmt_value(worst['actual'], t['unit'])}."
    )


def completion_alt(pack: StocktakePack) -> str:
    """Alt text for the milestone completion chart."""
    c = pack.completion.dropna(subset=["completion_rate"])
    if c.empty:
        return "Line chart of milestone completion: no milestone was due in the last twelve months."
    last = c.iloc[-1]
    return (
        f"Line chart of the share of milestones completed of those due, by month; in "
        f"{fmt_month(last['month'])} {last['completion_rate']:.0%} were completed and "
        f"{last['on_time_rate']:.0%} on time."
    )


def has_districts(pack: StocktakePack, target_id: str) -> bool:
    """True when the target has district data to show."""
    d = pack.districts.get(target_id)
    return d is not None and not d.empty


def target_title(pack: StocktakePack, target_id: str) -> str:
    """Section heading for a target: its title and status."""
    t = _target(pack, target_id)
    return f"{t['title']} \u2013 {t['status']}"


def actions_caption(pack: StocktakePack) -> str:
    """Caption of the actions table naming the stocktake at which they were agreed."""
    if pack.stocktake_date is None:
        return "No stocktake is recorded yet, so no actions have been agreed"
    return f"Actions agreed at the stocktake of {fmt_date(pack.stocktake_date)} and their recorded status"


def headline_badge(pack: StocktakePack) -> headline:
    """Portal badge ``headline(on_track=..., targets=..., score=...)``; ``detail`` lists each
    target's status (from the evidence) and recorded rating, for the dashboards."""
    detail = {
        "stocktake_date": pack.stocktake_date,
        "previous_stocktake_date": pack.previous_stocktake_date,
        "targets": records(
            pack.summary,
            {
                "target_id": "id",
                "title": "title",
                "status": "status",
                "rating": "rating",
                "previous_rating": "previous_rating",
                "evidence_flag": "evidence_flag",
            },
        ),
    }
    return headline(
        on_track=pack.n_on_track, targets=pack.n_targets, score=pack.score, detail=detail
    )


# --------------------------------------------------------------------------------------------
# Settings and loader
# --------------------------------------------------------------------------------------------

FAMILY = "stocktake"
TITLE = "Delivery stocktake"
#: Top-level keys of ``scorecard.yaml`` (``engine.params.SCORECARD_KEYS`` checks the same set
#: before a run starts).
SETTINGS_KEYS = frozenset({"status", "scoring", "default_weight", "weights"})


@dataclass(frozen=True)
class StocktakeConfig:
    """``scorecard.yaml`` checked: the evidence rule (``status``) and the scorecard rule
    (``scoring``, ``default_weight``, ``weights``). Unknown keys are errors, as in
    ``pse.yaml``'s :class:`helpers.analysis.pse.PseSettings`."""

    settings: StocktakeSettings
    rule: ScorecardRule

    @classmethod
    def from_dict(cls, raw: Any) -> StocktakeConfig:
        """Build and validate from the parsed YAML mapping; raise ValueError if bad."""
        if not isinstance(raw, Mapping):
            raise ValueError("expected a mapping at the top level")
        unknown = set(map(str, raw)) - SETTINGS_KEYS
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)} (known: {sorted(SETTINGS_KEYS)})")
        weight = raw.get("default_weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            raise ValueError(f"default_weight must be a number, got {weight!r}")
        return cls(StocktakeSettings.from_config(raw), ScorecardRule.from_config(raw))


def load_settings(path: str | Path | None = None) -> StocktakeConfig:
    """Read ``scorecard.yaml`` (or ``path``: the active profile's own, else the shared one) into
    a checked :class:`StocktakeConfig`; a bad file raises ValueError naming it."""
    path = Path(path) if path is not None else profile.active().params_file("scorecard.yaml")
    raw = load_config(path)
    try:
        return StocktakeConfig.from_dict(raw)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def load_stocktake(department: str, month: str) -> Page[StocktakePack]:
    """Read a department's targets, trajectories, actuals, milestones, ratings and actions from
    the warehouse and assess them for ``month`` with the checked ``scorecard.yaml``."""
    from helpers.data import warehouse as wh

    department = wh.notebook_department(department)
    report_month = wh.report_month(month)
    config = load_settings()
    name = wh.department(department, on=report_month)["name"]
    pack = build_pack(
        department,
        report_month,
        targets=wh.targets(department),
        trajectory=wh.trajectory(department),
        actuals=wh.actuals(department),
        milestones=wh.milestones(department),
        ratings=wh.ratings(department),
        actions=wh.actions(department),
        districts=wh.districts(),
        settings=config.settings,
        rule=config.rule,
    )
    return Page(
        family=FAMILY,
        title=TITLE,
        department=name,
        month=month_label(report_month),
        as_of=as_of_text(pack),
        report=pack,
    )


# --------------------------------------------------------------------------------------------
# Display objects (what the notebook shows; the frames, figures and sentences above are their
# tested contents)
# --------------------------------------------------------------------------------------------


def key_messages_of(page: Page[StocktakePack]) -> key_messages:
    """The key messages at the top of the report."""
    return key_messages(key_message_sentences(page.report))


def summary_view(pack: StocktakePack) -> table:
    """Targets at a glance, one row per target coloured by status."""
    return table(
        summary_table(pack),
        caption="Targets at a glance: status from the evidence, rating as recorded by the "
        "delivery unit",
        formats=SUMMARY_FORMATS,
        row_classes=status_row_classes(pack),
    )


def rollup_section(pack: StocktakePack) -> list[Any]:
    """Heading, targets by status and the score sentence (the scorecard follows:
    :func:`scorecard_view`)."""
    return [
        heading("Department roll-up and delivery scorecard"),
        table(
            rollup_table(pack), caption="Targets by status", formats={"Share of targets": "pct0"}
        ),
        note(score_sentence(pack)),
    ]


def scorecard_view(pack: StocktakePack) -> table:
    """The scorecard: KPIs against the plan to date."""
    return table(
        scorecard_table(pack),
        caption="Scorecard: KPIs against the plan to date (progress to the annual target beside it)",
        formats=SCORECARD_FORMATS,
    )


def milestones_section(pack: StocktakePack) -> list[Any]:
    """Heading and the milestones overdue or due in the report month (the completion chart
    follows: :func:`completion_view`)."""
    return [
        heading("Milestones due this month and overdue"),
        table(
            attention_milestones(pack),
            caption=f"Milestones overdue or due in {month_label(pack.month)} (state at month end)",
            formats=MILESTONE_FORMATS,
        ),
    ]


def completion_view(pack: StocktakePack) -> figure | note:
    """Milestone completion by month; a note when no milestone was due in the twelve months
    (an empty chart says nothing)."""
    if pack.completion.dropna(subset=["completion_rate"]).empty:
        return note("No milestone was due in the last twelve months: no completion to chart.")
    return figure(completion_chart(pack), alt=completion_alt(pack))


def target_section(pack: StocktakePack, target_id: str) -> list[Any]:
    """One target: heading, sentence, trajectory chart, evidence, milestones and, when it has
    district actuals, the district chart and table."""
    out: list[Any] = [heading(target_title(pack, target_id))]
    out.append(note(target_sentence(pack, target_id)))
    out.append(figure(trajectory_chart(pack, target_id), alt=alt_text(pack, target_id)))
    out.append(table(target_facts(pack, target_id), caption="Evidence and rating"))
    out.append(
        table(
            milestone_table(pack, target_id),
            caption="Delivery plan milestones",
            formats=MILESTONE_FORMATS,
        )
    )
    if has_districts(pack, target_id):
        out.append(figure(district_chart(pack, target_id), alt=district_alt(pack, target_id)))
        out.append(table(district_table(pack, target_id), caption="Latest actual by district"))
    return out


def targets_section(pack: StocktakePack) -> list[Any]:
    """:func:`target_section` for every target, in the summary's order."""
    return [obj for tid in pack.summary["target_id"] for obj in target_section(pack, tid)]


def verification_section(pack: StocktakePack) -> list[Any]:
    """Reported against verified values; nothing when no target is verified."""
    if not len(pack.verification):
        return []
    return [
        heading("Reported against verified"),
        note(verification_sentence(pack) or "Nothing is verified yet."),
        table(
            verification_table(pack),
            caption="Department-reported values against independently verified values",
            formats=VERIFICATION_FORMATS,
        ),
    ]


def actions_view(pack: StocktakePack) -> table:
    """The actions agreed at the last stocktake."""
    return table(actions_table(pack), caption=actions_caption(pack), formats=ACTIONS_FORMATS)


def notes_section(pack: StocktakePack) -> list[Any]:
    """Heading and one note per data note."""
    return [heading("Data notes"), *(note(text) for text in data_notes(pack))]
