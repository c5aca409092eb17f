"""What changed between two published months, from their snapshots (``dashboard.json``).

A month's *snapshot* is what its reports recorded at publish (the portal items: family,
department, status and the ``headline`` figures with their ``detail`` records, see
docs/architecture.md). :func:`compare` reads two snapshots, never the warehouse, so the
sentences always describe what was published:

- budget execution: flags raised and flags cleared (by flag kind and scope);
- stocktake: recorded ratings that changed, targets that went off track (or missed) and
  targets back on track (status from the evidence);
- public sector entities: entities that became high risk (a rating in the report's
  ``at_risk_ratings``) or are no longer, returns filed late and returns missing;
- citizen survey: changes in satisfaction that the report's own z-test calls significant,
  once per new wave.

Pure functions over plain dicts; no pandas, so the portal and the dashboards import it cheaply.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

SNAPSHOT_VERSION = 1
GOOD_STATUSES = ("met", "on track")
BAD_STATUSES = ("off track", "missed")
LATE, MISSING, NO_RETURN = "Late", "Missing", "No return"

#: Kinds of change, in the order the portal lists them, with their heading and tone.
KINDS: dict[str, tuple[str, str]] = {
    "flag_new": ("New flags", "bad"),
    "off_track": ("Targets gone off track", "bad"),
    "high_risk": ("Entities now high risk", "bad"),
    "filed_late": ("Returns filed late", "watch"),
    "return_missing": ("Returns missing", "watch"),
    "survey_down": ("Satisfaction fell significantly", "bad"),
    "rating_change": ("Rating changes", "neutral"),
    "flag_cleared": ("Flags cleared", "good"),
    "back_on_track": ("Targets back on track", "good"),
    "risk_cleared": ("Entities no longer high risk", "good"),
    "survey_up": ("Satisfaction rose significantly", "good"),
}
RATING_ORDER = ("Red", "Amber-Red", "Amber-Green", "Green")


@dataclass(frozen=True)
class Change:
    """One thing that changed: its kind (see :data:`KINDS`), the report family and department
    (None for the province), what it is about (``subject``: a target, flag or entity) and a
    sentence."""

    kind: str
    family: str
    department: str | None
    department_name: str | None
    subject: str
    text: str
    ref: str | None = None  # the entity id, for a link to its page

    @property
    def heading(self) -> str:
        return KINDS[self.kind][0]

    @property
    def tone(self) -> str:
        return KINDS[self.kind][1]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"tone": self.tone}


def _reports(snapshot: Mapping[str, Any] | None) -> dict[tuple[str, str | None], Mapping]:
    """(family, department) -> report item, only reports with figures (done or cached)."""
    out = {}
    for r in (snapshot or {}).get("reports") or []:
        if not isinstance(r, Mapping) or r.get("status") not in ("done", "cached"):
            continue
        out[(str(r.get("family")), r.get("department"))] = r
    return out


def _detail(report: Mapping | None) -> Mapping[str, Any]:
    d = ((report or {}).get("headline") or {}).get("detail")
    return d if isinstance(d, Mapping) else {}


_MONTHS = (
    "January February March April May June July August September October November December"
).split()


def quarter_text(quarter_end: Any) -> str:
    """'2024-12-31' -> 'the quarter ending December 2024'."""
    text = str(quarter_end or "")
    try:
        return f"the quarter ending {_MONTHS[int(text[5:7]) - 1]} {text[:4]}"
    except (ValueError, IndexError):
        return f"the quarter ending {text}"


def _pp(x: float) -> str:
    return f"{abs(x) * 100:.1f} points"


def _budget(fam, dept, name, prev, cur) -> list[Change]:
    def flags(r):
        return {
            (str(f.get("kind")), str(f.get("scope"))): str(f.get("message") or "")
            for f in _detail(r).get("flags") or []
            if isinstance(f, Mapping)
        }

    p, c = flags(prev), flags(cur)
    out = [
        Change("flag_new", fam, dept, name, f"{k[0]} ({k[1]})", msg)
        for k, msg in c.items()
        if k not in p
    ]
    out += [
        Change(
            "flag_cleared",
            fam,
            dept,
            name,
            f"{k[0]} ({k[1]})",
            f"Cleared: {k[0]} flag on {k[1]} (last month: {msg})",
        )
        for k, msg in p.items()
        if k not in c
    ]
    return out


def _stocktake(fam, dept, name, prev, cur) -> list[Change]:
    def targets(r):
        return {
            str(t.get("id")): t for t in _detail(r).get("targets") or [] if isinstance(t, Mapping)
        }

    p, c = targets(prev), targets(cur)
    out = []
    for tid, t in c.items():
        before = p.get(tid)
        if before is None:
            continue
        title = str(t.get("title") or tid)
        r0, r1 = before.get("rating"), t.get("rating")
        if r0 and r1 and r0 != r1:
            word = (
                "up"
                if r0 in RATING_ORDER
                and r1 in RATING_ORDER
                and RATING_ORDER.index(r1) > RATING_ORDER.index(r0)
                else "down"
            )
            out.append(
                Change(
                    "rating_change",
                    fam,
                    dept,
                    name,
                    title,
                    f"{title}: rated {r1} ({word} from {r0})",
                )
            )
        s0, s1 = before.get("status"), t.get("status")
        if s1 in BAD_STATUSES and s0 in GOOD_STATUSES:
            out.append(Change("off_track", fam, dept, name, title, f"{title}: {s1} (was {s0})"))
        elif s1 in GOOD_STATUSES and s0 in BAD_STATUSES:
            out.append(Change("back_on_track", fam, dept, name, title, f"{title}: {s1} (was {s0})"))
    return out


def _pse(fam, dept, name, prev, cur) -> list[Change]:
    dp, dc = _detail(prev), _detail(cur)
    at_risk = tuple(dc.get("at_risk_ratings") or ("High",))
    same_quarter = dp.get("quarter") == dc.get("quarter")
    p = {str(e.get("id")): e for e in dp.get("entities") or [] if isinstance(e, Mapping)}
    out = []
    quarter = quarter_text(dc.get("quarter"))
    for e in dc.get("entities") or []:
        if not isinstance(e, Mapping):
            continue
        eid = str(e.get("id"))
        ename = str(e.get("name") or eid)
        before = p.get(eid)
        r1 = e.get("rating")
        r0 = before.get("rating") if before else None
        if before is not None:
            if r1 in at_risk and r0 not in at_risk:
                why = f": {e['reasons']}" if e.get("reasons") else ""
                text = f"{ename} is now {r1} risk (was {r0}){why}"
                out.append(Change("high_risk", fam, dept, name, ename, text, eid))
            elif r0 in at_risk and r1 not in at_risk and r1 != NO_RETURN:
                # (no return yet is not "no longer at risk": the missing return is reported)
                text = f"{ename} is now {r1} (was {r0})"
                out.append(Change("risk_cleared", fam, dept, name, ename, text, eid))
        s1 = e.get("return_status")
        s0 = before.get("return_status") if before and same_quarter else None
        if s1 == LATE and s0 != LATE:
            days = e.get("days_late")
            late = (
                f" {days:.0f} day{'s' if days != 1 else ''} late"
                if isinstance(days, (int, float))
                else " late"
            )
            text = f"{ename} filed its return for {quarter}{late}"
            out.append(Change("filed_late", fam, dept, name, ename, text, eid))
        elif s1 == MISSING and s0 != MISSING:
            text = f"{ename}: no return for {quarter}"
            out.append(Change("return_missing", fam, dept, name, ename, text, eid))
    return out


def _survey(fam, dept, name, prev, cur) -> list[Change]:
    hp, hc = (prev or {}).get("headline") or {}, (cur or {}).get("headline") or {}
    if not hc.get("wave") or hc.get("wave") == hp.get("wave"):
        return []  # no new wave since the previous published month
    out = []
    for c in _detail(cur).get("changes") or []:
        if not isinstance(c, Mapping) or c.get("significant") is not True:
            continue
        change = c.get("change")
        if not isinstance(change, (int, float)):
            continue
        label = str(c.get("label") or c.get("service"))
        verb = "rose" if change > 0 else "fell"
        text = (
            f"Satisfaction with {label} {verb} {_pp(change)} to "
            f"{float(c.get('current') or 0) * 100:.0f}% (p = {float(c.get('p_value') or 0):.3f})"
        )
        out.append(
            Change("survey_up" if change > 0 else "survey_down", fam, dept, name, label, text)
        )
    return out


RULES = {
    "budget_execution": _budget,
    "stocktake": _stocktake,
    "pse_oversight": _pse,
    "pse_province": _pse,
    "citizen_survey": _survey,
}


def with_figures(snapshot: Mapping[str, Any] | None) -> set[tuple[str, str | None]]:
    """(family, department) of the snapshot's reports that have figures (done or cached)."""
    return set(_reports(snapshot))


def carry_forward(
    previous: Mapping[str, Any] | None, earlier: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """``previous`` with, for each report it lacks figures for (failed, or not rebuilt in a
    narrowed run), the same report from ``earlier`` (itself carried forward): so a report is
    compared with its latest published figures, not skipped."""
    if not earlier:
        return dict(previous) if previous else None
    if not previous:
        return dict(earlier)
    have = with_figures(previous)
    extra = [r for key, r in _reports(earlier).items() if key not in have]
    return dict(previous, reports=list(previous.get("reports") or []) + extra)


def compare(previous: Mapping[str, Any] | None, current: Mapping[str, Any]) -> list[Change]:
    """Every change from ``previous`` to ``current`` (snapshots), report by report. A report
    present in only one of the two months, or without figures in either, yields nothing."""
    if not previous:
        return []
    p, c = _reports(previous), _reports(current)
    out: list[Change] = []
    for key, cur in c.items():
        rule = RULES.get(key[0])
        if rule is None or key not in p:
            continue
        name = cur.get("department_name") or key[1]
        out += rule(key[0], key[1], name, p[key], cur)
    order = list(KINDS)
    return sorted(
        out, key=lambda ch: (order.index(ch.kind), str(ch.department_name or ""), ch.subject)
    )


def by_report(changes: Iterable[Change]) -> dict[tuple[str, str | None], list[Change]]:
    """Changes grouped by (family, department)."""
    out: dict[tuple[str, str | None], list[Change]] = {}
    for ch in changes:
        out.setdefault((ch.family, ch.department), []).append(ch)
    return out


def summary(changes: Iterable[Change]) -> str:
    """'New flags: 2; Rating changes: 1': counts by kind ('' for none)."""
    counts: dict[str, int] = {}
    for ch in changes:
        counts[ch.kind] = counts.get(ch.kind, 0) + 1
    return "; ".join(f"{KINDS[k][0]}: {n}" for k, n in counts.items())


def deduplicated(changes: Iterable[Change], snapshot: Mapping[str, Any]) -> list[Change]:
    """Changes for a government-wide list: entity changes from the province PSE report when the
    month has one, otherwise from the department reports (never both)."""
    has_province = ("pse_province", None) in _reports(snapshot)
    return [ch for ch in changes if not (has_province and ch.family == "pse_oversight")]
