"""What the PSE oversight reports show: tables, charts and key-message sentences.

Every function takes a :class:`helpers.analysis.pse.PseAssessment` and returns a display object
from :mod:`helpers.present.display` (a ``table``, ``figure`` or ``note``) or a list of sentences,
so the notebooks stay thin. Where there is nothing to show (no entities, no returns) a function
returns a ``note`` saying so instead of an empty chart.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from helpers import profile
from helpers.analysis import pse
from helpers.analysis.pse import PseAssessment
from helpers.data.calendar import month_label
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
from helpers.present.theme import PALETTE, STATUS_COLOURS, fmt_money, fmt_pct, money_label

FAMILY = "pse_oversight"
PROVINCE_FAMILY = "pse_province"
TITLE = "Public sector entity oversight"


def load_pse(department: str, month: str) -> Page[PseAssessment]:
    """Read a department's entities and their quarterly returns from the warehouse and assess
    them for ``month`` with the settings of ``pse.yaml`` (returns after the month's last day
    are not counted; the registry name is the one valid on that day)."""
    from helpers.data import warehouse as wh

    department = wh.notebook_department(department)
    report_month = wh.report_month(month)
    name = wh.department(department, on=pse.month_cutoff(report_month))["name"]
    assessment = pse.assess(
        wh.entities(department),
        wh.pse_returns(department),
        report_month,
        pse.load_settings(),
        data_coverage=pse.coverage_from_months(*wh.data_range()),
    )
    return Page(
        family=FAMILY,
        title=TITLE,
        department=name,
        month=month_label(report_month),
        as_of=assessment.cutoff.date().isoformat(),
        report=assessment,
    )


def load_pse_province(month: str) -> Page[PseAssessment]:
    """Every department's entities assessed for ``month``; ``names`` holds the department
    names valid on the month's last day."""
    from helpers.data import warehouse as wh

    report_month = wh.report_month(month)
    cutoff = pse.month_cutoff(report_month)
    assessment = pse.assess(
        wh.entities(),
        wh.pse_returns(),
        report_month,
        pse.load_settings(),
        data_coverage=pse.coverage_from_months(*wh.data_range()),
    )
    return Page(
        family=PROVINCE_FAMILY,
        title=f"Public sector entities: {_scope()} summary",
        department=profile.active().offices["entities"],
        month=month_label(report_month),
        as_of=assessment.cutoff.date().isoformat(),
        report=assessment,
        names=department_names(wh.departments(on=cutoff)),
    )


def key_messages_of(page: Page[PseAssessment]) -> key_messages:
    """The key messages at the top of the report (a department's, or the province's when the
    page is the province summary)."""
    if page.family == PROVINCE_FAMILY:
        return key_messages(province_messages(page.report, page.names))
    return key_messages(oversight_messages(page.report, page.department))


RATING_COLOURS = {
    pse.HIGH: STATUS_COLOURS["bad"],
    pse.MEDIUM: STATUS_COLOURS["watch"],
    pse.LOW: STATUS_COLOURS["good"],
    pse.NO_RETURN: STATUS_COLOURS["neutral"],
}
STATUS_COLOURS_RETURNS = {
    pse.ON_TIME: STATUS_COLOURS["good"],
    pse.LATE: STATUS_COLOURS["watch"],
    pse.UNKNOWN_DATE: PALETTE[5],
    pse.MISSING: STATUS_COLOURS["bad"],
    pse.NOT_DUE: STATUS_COLOURS["neutral"],
}
# Order of ratings in tables: most serious first; no return before Low so it is never buried.
_RATING_ORDER = {pse.HIGH: 0, pse.MEDIUM: 1, pse.NO_RETURN: 2, pse.LOW: 3}
# Entity lines use the Okabe-Ito colours without yellow (too faint on white); above this many
# entities, trend charts show the median and quartiles instead of one line per entity.
_LINE_COLOURS = [c for c in PALETTE if c.upper() != "#F0E442"]
_MAX_LINES = len(_LINE_COLOURS)


# --------------------------------------------------------------------------- small helpers


def _scope() -> str:
    """What the whole government is called in report text ('province' for KP)."""
    return profile.active().scope_word


def _names(values: Sequence[str], limit: int = 3) -> str:
    """'A, B and 2 more'; separated by semicolons when a name itself holds a comma."""
    values = [str(v) for v in values]
    sep = "; " if any("," in v for v in values[:limit]) else ", "
    shown = sep.join(values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def _date(value) -> str | None:
    return None if pd.isna(value) else pd.Timestamp(value).strftime("%d %b %Y")


def _dept_name(slug: str, names: Mapping[str, str] | None) -> str:
    return (names or {}).get(slug, slug)


def _sorted_current(a: PseAssessment) -> pd.DataFrame:
    cur = a.current.copy()
    cur["_order"] = cur["rating"].map(_RATING_ORDER)
    return cur.sort_values(["_order", "name"]).drop(columns="_order")


def _axis_number(x: float, _pos: int | None = None) -> str:
    """Tick text: thousands separators for large values, shortest form for small ones."""
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:g}"


def _quarter_ticks(ax, quarters: Sequence[pd.Timestamp]) -> None:
    """Fiscal-quarter tick labels ('Q2' over '24-25') and thousands separators on the y axis."""
    ax.set_xticks(range(len(quarters)))
    labels = []
    for q in quarters:
        quarter, fy = pse.quarter_label(q).split(" ")
        labels.append(f"{quarter}\n{fy[2:]}")
    ax.set_xticklabels(labels)
    ax.set_xlabel("Fiscal quarter (fiscal year)")
    ax.yaxis.set_major_formatter(_axis_number)


def _thresholds(a: PseAssessment, metric: str) -> list[tuple[float, str, str]]:
    out = []
    for level, rules in (("High", a.settings.high_rules), ("Medium", a.settings.medium_rules)):
        for r in rules:
            if r.metric == metric:
                out.append((r.value, level, r.label))
    return out


def _rated(fn):
    """A table or chart of ratings: nothing to show (None) before the first quarter in the
    data, where the key messages and data notes say why."""

    @functools.wraps(fn)
    def wrapper(a: PseAssessment, *args, **kwargs):
        return None if a.before_data else fn(a, *args, **kwargs)

    return wrapper


def section(a: PseAssessment, text: str) -> heading | None:
    """A section heading, left out before the first quarter in the data (empty sections)."""
    return None if a.before_data else heading(text)


def _before_data_messages(a: PseAssessment, who: str) -> list[str]:
    first = a.data_start
    due = first + pd.Timedelta(days=a.settings.deadline_days)
    return [
        f"{who}. No quarterly return can be assessed for {a.month:%B %Y} yet: its reporting "
        f"quarter, the {pse.quarter_text(a.quarter)}, is before the first quarter in the data.",
        f"The first returns in the data are for the {pse.quarter_text(first)}, due by "
        f"{due:%d %B %Y}; ratings start with the first report month after that deadline.",
    ]


def department_names(registry: pd.DataFrame) -> dict[str, str]:
    """slug -> display name from a departments registry frame (columns slug, name)."""
    return {str(k): str(v) for k, v in zip(registry["slug"], registry["name"], strict=True)}


# --------------------------------------------------------------------------- headline, notes


def headline_badge(a: PseAssessment) -> headline:
    """Portal badges: ``headline(at_risk=..., entities=...)``; ``detail`` holds the reporting
    quarter and one record per entity (rating, return status, days late, key ratios) for the
    dashboards' drill-down and "what changed"."""
    return headline(**pse.headline_figures(a), detail=dashboard_detail(a))


#: Entity columns recorded in the headline ``detail`` (source column -> key).
DETAIL_COLUMNS = {
    "entity_id": "id",
    "name": "name",
    "department": "department",
    "entity_type": "type",
    "rating": "rating",
    "previous_rating": "previous_rating",
    "status": "return_status",
    "days_late": "days_late",
    "reasons": "reasons",
    "grant_dependence": "grant_dependence",
    "own_revenue_share": "own_revenue_share",
    "surplus_margin": "surplus_margin",
    "cash_cover_months": "cash_cover_months",
    "liabilities_growth_yoy": "liabilities_growth_yoy",
    "negative_equity": "negative_equity",
}


#: Entity x quarter columns of the trend window recorded in the headline ``detail``.
PANEL_COLUMNS = {
    "entity_id": "id",
    "quarter_end": "quarter",
    "rating": "rating",
    "status": "return_status",
    "days_late": "days_late",
    "grant_dependence": "grant_dependence",
    "own_revenue_share": "own_revenue_share",
    "surplus_margin": "surplus_margin",
    "cash_cover_months": "cash_cover_months",
    "liabilities_growth_yoy": "liabilities_growth_yoy",
}


def dashboard_detail(a: PseAssessment) -> dict:
    """The reporting quarter, one record per entity in scope (see :data:`DETAIL_COLUMNS`) and
    the trend window's entity x quarter records (:data:`PANEL_COLUMNS`)."""
    if a.before_data:
        return {"quarter": None, "entities": []}
    return {
        "quarter": a.quarter.date().isoformat(),
        "at_risk_ratings": list(a.settings.at_risk_ratings),
        "entities": records(a.current, DETAIL_COLUMNS),
        "panel": records(a.panel, PANEL_COLUMNS),
    }


def rules_text(settings: pse.PseSettings) -> str:
    """The rating rules as one plain paragraph (printed in every report's data notes)."""
    high = "; ".join(r.describe() for r in settings.high_rules) or "none"
    med = "; ".join(r.describe() for r in settings.medium_rules) or "none"
    rule = (
        f"the latest quarter whose return deadline ({settings.deadline_days} days after the "
        "quarter end) had passed by the end of the report month"
        if settings.reporting_quarter == "deadline"
        else "the latest quarter ended by the end of the report month"
    )
    return (
        f"Reporting quarter: {rule}. Returns are on time if submitted within "
        f"{settings.deadline_days} days of the quarter end; returns received after the end of the "
        "report month count as missing. Rating High if any of: "
        f"{high}. Medium if no High rule holds and any of: {med}. Low otherwise. An entity "
        "without a return for the quarter is rated 'No return'. A rule whose ratio cannot be "
        f"computed does not apply. Amounts in {money_label()}; revenue, grants and expenditure are "
        "for the quarter, liabilities, assets and cash at the quarter end; cash cover = cash / "
        "(quarterly expenditure / 3); grant dependence = grants / (own revenue + grants)."
    )


def worsening_text(settings: pse.PseSettings) -> str:
    """How the 'worsened most' score is built."""
    w = settings.worsening_weights
    return (
        "Worsened most: entities with a return in both quarters score "
        f"{w.get('rating_step', 0):g} points per rating step worse, "
        f"{w.get('cash_cover', 0):g} per month of cash cover lost, "
        f"{w.get('surplus_margin', 0):g} per percentage point of expenditure lost from the "
        f"surplus margin, {w.get('grant_dependence', 0):g} per point gained in grant dependence "
        f"and {w.get('liabilities_growth', 0):g} per % growth in liabilities since last quarter "
        "(each component capped; improvements offset). Entities scoring above zero are listed."
    )


def data_notes(a: PseAssessment) -> list[note]:
    """Data notes: the data caveats found in this run, then the rules used."""
    items = [note(t) for t in a.notes]
    items.append(note(rules_text(a.settings)))
    items.append(note(worsening_text(a.settings)))
    return items


# --------------------------------------------------------------------------- key messages


def _returns_sentence(a: PseAssessment) -> str:
    s = a.status_counts()
    deadline = a.quarter + pd.Timedelta(days=a.settings.deadline_days)
    parts = [f"{s[pse.ON_TIME]} on time", f"{s[pse.LATE]} late"]
    if s[pse.UNKNOWN_DATE]:
        parts.append(f"{s[pse.UNKNOWN_DATE]} with no submission date")
    if s[pse.NOT_DUE]:
        parts.append(f"{s[pse.NOT_DUE]} not yet due")
    parts.append(f"{s[pse.MISSING]} missing")
    return (
        f"Returns for the quarter were due by {deadline:%d %B %Y}: by {a.cutoff:%d %B %Y} "
        + ", ".join(parts[:-1])
        + f" and {parts[-1]}."
    )


def _yoy_sentence(a: PseAssessment, who: str) -> str | None:
    year_ago = pse.shift_quarter(a.quarter, -4)
    now = pse.totals_trend(a.panel, [a.quarter]).set_index("basis").loc["all returns"]
    if now["entities"] == 0:
        return None
    text = (
        f"{who} that reported received {fmt_money(now['grants_received'], 'auto')} in grants in the "
        f"quarter ({fmt_pct(now['grant_dependence'])} of their income); their liabilities totalled "
        f"{fmt_money(now['liabilities'], 'auto')}"
    )
    if year_ago in a.quarters:
        ll = pse.totals_trend(a.panel, [year_ago, a.quarter])
        ll = ll[ll["basis"] == "like-for-like"].set_index("quarter_end")
        n = int(ll.loc[a.quarter, "entities"])
        if n and ll.loc[year_ago, "liabilities"] > 0:
            change = ll.loc[a.quarter, "liabilities"] / ll.loc[year_ago, "liabilities"] - 1
            direction = "up" if change >= 0 else "down"
            text += (
                f", {direction} {fmt_pct(abs(change))} on a year earlier for the "
                f"{wording.plural(n, 'entity', 'entities')} that reported in both quarters"
            )
    return text + "."


def _worsened_sentence(a: PseAssessment) -> str | None:
    if a.worsened.empty:
        return None
    top = a.worsened.iloc[0]
    detail = (
        f"still rated {top['rating']}"
        if top["rating"] == top["rating_before"]
        else f"rated {top['rating_before']} then {top['rating']}"
    )
    if pd.notna(top["cash_cover_months_before"]) and pd.notna(top["cash_cover_months"]):
        detail += (
            f", cash cover {top['cash_cover_months_before']:.1f} to "
            f"{top['cash_cover_months']:.1f} months"
        )
    others = a.worsened["name"].iloc[1:].tolist()
    more = f"; also worse: {_names(others, 2)}" if others else ""
    return (
        f"Worsened most since the previous quarter ({pse.quarter_label(a.previous_quarter)}): "
        f"{top['name']} ({detail}){more}."
    )


def oversight_messages(a: PseAssessment, department_name: str) -> list[str]:
    """Key messages for one overseeing department's report."""
    if a.n_entities == 0:
        return [f"No public sector entities are recorded under {department_name}."]
    if a.before_data:
        return _before_data_messages(
            a,
            f"{department_name} oversees "
            + wording.plural(a.n_entities, "public sector entity", "public sector entities"),
        )
    c = a.rating_counts()
    msgs = [
        f"{department_name} oversees {wording.plural(a.n_entities, 'public sector entity', 'public sector entities')}. "
        f"For the {pse.quarter_text(a.quarter)}: {c[pse.HIGH]} rated High risk, "
        f"{c[pse.MEDIUM]} Medium, {c[pse.LOW]} Low and {c[pse.NO_RETURN]} with no return."
    ]
    msgs.append(_returns_sentence(a))
    high = _sorted_current(a)
    high = high[high["rating"] == pse.HIGH]
    if len(high):
        listed = [f"{r.name} ({r.reasons.split('; ')[0]})" for r in high.itertuples()]
        msgs.append(f"At high risk: {_names(listed)}.")
    neg = a.current.loc[a.current["negative_equity"].eq(True), "name"].tolist()
    if neg:
        msgs.append(
            f"{wording.plural(len(neg), 'entity has', 'entities have')} negative equity (liabilities "
            f"exceed assets): {_names(sorted(neg))}."
        )
    for sentence in (_worsened_sentence(a), _yoy_sentence(a, "Entities")):
        if sentence:
            msgs.append(sentence)
    never = a.current.loc[a.current["last_return"].isna(), "name"].tolist()
    if never:
        msgs.append(
            f"No return at all had been received by {a.cutoff:%d %B %Y} from "
            f"{_names(sorted(never))}: {'this entity' if len(never) == 1 else 'these entities'} "
            "cannot be rated."
        )
    return msgs


def province_messages(a: PseAssessment, department_names: Mapping[str, str]) -> list[str]:
    """Key messages for the summary across all departments (Corporate Governance Unit)."""
    if a.n_entities == 0:
        return ["No public sector entities are recorded in the registry."]
    n_dept = a.entities["department"].nunique()
    if a.before_data:
        return _before_data_messages(
            a,
            f"{wording.plural(a.n_entities, 'public sector entity', 'public sector entities')} under "
            f"{wording.plural(n_dept, 'department', 'departments')}",
        )
    c = a.rating_counts()
    msgs = [
        f"{wording.plural(a.n_entities, 'public sector entity', 'public sector entities')} under "
        f"{wording.plural(n_dept, 'department', 'departments')}. For the {pse.quarter_text(a.quarter)}: "
        f"{c[pse.HIGH]} rated High risk, {c[pse.MEDIUM]} Medium, {c[pse.LOW]} Low and "
        f"{c[pse.NO_RETURN]} with no return."
    ]
    msgs.append(_returns_sentence(a))
    comp = pse.compliance(a.current).dropna(subset=["on_time_rate"])
    if len(comp) > 1:
        worst = comp.sort_values(["on_time_rate", "department"]).iloc[0]
        overall = pse.compliance(a.current, by=None).iloc[0]
        msgs.append(
            f"{fmt_pct(overall['on_time_rate'])} of returns due were on time; the lowest "
            f"on-time rate was {_dept_name(worst['department'], department_names)} "
            f"({fmt_pct(worst['on_time_rate'])} of {int(worst['due'])})."
        )
    top = pse.riskiest(a.current, 3)
    if len(top):
        listed = [
            f"{r.name} ({_dept_name(r.department, department_names)})" for r in top.itertuples()
        ]
        msgs.append(f"Highest risk: {_names(listed)}.")
    neg = int(a.current["negative_equity"].eq(True).sum())
    if neg:
        msgs.append(
            f"{wording.plural(neg, 'entity has', 'entities have')} negative equity (liabilities exceed "
            "assets)."
        )
    for sentence in (_worsened_sentence(a), _yoy_sentence(a, "Entities")):
        if sentence:
            msgs.append(sentence)
    return msgs


# --------------------------------------------------------------------------- tables


@_rated
def league_table(a: PseAssessment) -> table | note:
    """One row per entity for the reporting quarter, most serious rating first.

    Kept to the columns a reader needs to see why an entity is rated as it is, so the table fits
    the page; the full metrics are in the trend charts and the at-risk table.
    """
    if a.n_entities == 0:
        return note("No entities to list.")
    cur = _sorted_current(a)
    df = pd.DataFrame(
        {
            "Entity": cur["name"],
            "Rating": cur["rating"],
            "Last quarter": cur["previous_rating"],
            "Surplus / expenditure": cur["surplus_margin"],
            "Grants / income": cur["grant_dependence"],
            "Cash cover (months)": cur["cash_cover_months"],
            "Liabilities": cur["liabilities"],
            "Liabilities vs year earlier": cur["liabilities_growth_yoy"],
            "Return": cur["status"],
            "Why": cur["reasons"],
        }
    )
    return table(
        df,
        caption=f"Entities by financial risk rating, {pse.quarter_text(a.quarter)}",
        units=f"{money_label()}; ratios as %; cash cover in months of expenditure",
        formats={
            "Surplus / expenditure": "pct",
            "Grants / income": "pct",
            "Cash cover (months)": "{:,.1f}",
            "Liabilities": "{:,.1f}",
            "Liabilities vs year earlier": "pct",
        },
        max_rows=200,
        row_classes=[f"rating-{r.lower().replace(' ', '-')}" for r in cur["rating"]],
    )


@_rated
def at_risk_table(
    a: PseAssessment, department_names: Mapping[str, str] | None = None
) -> table | note:
    """Entities rated at risk (``at_risk_ratings``) with the rules that fired."""
    cur = _sorted_current(a)
    risk = cur[cur["rating"].isin(a.settings.at_risk_ratings)]
    if risk.empty:
        return note(
            f"No entity is rated {' or '.join(a.settings.at_risk_ratings)} for the "
            f"{pse.quarter_text(a.quarter)}."
        )
    df = pd.DataFrame(
        {
            "Entity": risk["name"],
            **(
                {"Department": [_dept_name(d, department_names) for d in risk["department"]]}
                if department_names is not None
                else {}
            ),
            "Rating": risk["rating"],
            "Why": risk["reasons"],
            "Cash cover (months)": risk["cash_cover_months"],
            "Surplus / expenditure": risk["surplus_margin"],
            "Equity": risk["equity"],
        }
    )
    return table(
        df,
        caption=f"Entities at risk, {pse.quarter_text(a.quarter)}",
        units=f"{money_label()}; ratios as %",
        formats={
            "Cash cover (months)": "{:,.1f}",
            "Surplus / expenditure": "pct",
            "Equity": "{:,.1f}",
        },
        max_rows=200,
    )


@_rated
def riskiest_table(a: PseAssessment, department_names: Mapping[str, str]) -> table | note:
    """The riskiest rated entities across the scope (``riskiest_top_n``)."""
    top = pse.riskiest(a.current, a.settings.riskiest_top_n)
    if top.empty:
        return note("No entity is rated High or Medium risk.")
    df = pd.DataFrame(
        {
            "Entity": top["name"],
            "Department": [_dept_name(d, department_names) for d in top["department"]],
            "Type": top["entity_type"],
            "Rating": top["rating"],
            "Why": top["reasons"],
            "Cash cover (months)": top["cash_cover_months"],
            "Surplus / expenditure": top["surplus_margin"],
            "Grants / income": top["grant_dependence"],
            "Equity": top["equity"],
        }
    )
    return table(
        df,
        caption=f"Riskiest entities in the {_scope()}, {pse.quarter_text(a.quarter)}",
        units=f"{money_label()}; ratios as %",
        formats={
            "Cash cover (months)": "{:,.1f}",
            "Surplus / expenditure": "pct",
            "Grants / income": "pct",
            "Equity": "{:,.1f}",
        },
    )


@_rated
def returns_table(
    a: PseAssessment, department_names: Mapping[str, str] | None = None
) -> table | note:
    """Late, missing or undated returns for the reporting quarter, with the history in the window."""
    if a.n_entities == 0:
        return note("No entities, so no returns were due.")
    cur = a.current[a.current["status"] != pse.ON_TIME].sort_values(["status", "name"])
    if cur.empty:
        return note(f"Every return for the {pse.quarter_text(a.quarter)} arrived on time.")
    df = pd.DataFrame(
        {
            "Entity": cur["name"],
            **(
                {"Department": [_dept_name(d, department_names) for d in cur["department"]]}
                if department_names is not None
                else {}
            ),
            "Status": cur["status"],
            "Deadline": [_date(d) for d in cur["deadline"]],
            "Submitted": [_date(d) for d in cur["submitted_date"]],
            "Days late or overdue": cur["days_late"],
            f"Missing in last {len(a.quarters)} quarters": cur["missing_in_window"],
            "Last return": [
                None if pd.isna(q) else pse.quarter_label(q) for q in cur["last_return"]
            ],
        }
    )
    return table(
        df,
        caption=f"Late, missing and undated returns, {pse.quarter_text(a.quarter)}",
        units=f"as known on {a.cutoff:%d %B %Y}",
        formats={"Days late or overdue": "{:,.0f}"},
        max_rows=200,
    )


@_rated
def worsened_table(
    a: PseAssessment, department_names: Mapping[str, str] | None = None
) -> table | note:
    """Entities whose position worsened most since the previous quarter (documented score)."""
    w = a.worsened
    if a.previous_quarter not in a.quarters:
        return note(
            f"No comparison with the {pse.quarter_text(a.previous_quarter)}: the data start with "
            f"the {pse.quarter_text(a.quarters[0])}."
        )
    if w.empty:
        return note(
            "No entity with returns in both quarters worsened on balance since the "
            f"{pse.quarter_text(a.previous_quarter)}."
        )
    df = pd.DataFrame(
        {
            "Entity": w["name"],
            **(
                {"Department": [_dept_name(d, department_names) for d in w["department"]]}
                if department_names is not None
                else {}
            ),
            "Rating before": w["rating_before"],
            "Rating now": w["rating"],
            "Cash cover before": w["cash_cover_months_before"],
            "Cash cover now": w["cash_cover_months"],
            "Surplus / exp. before": w["surplus_margin_before"],
            "Surplus / exp. now": w["surplus_margin"],
            "Liabilities vs last quarter": w["liabilities_growth_qoq"],
            "Score": w["score"],
        }
    )
    return table(
        df,
        caption=(
            f"Worsened most: {pse.quarter_label(a.previous_quarter)} to "
            f"{pse.quarter_label(a.quarter)}"
        ),
        units="cash cover in months; ratios as %; score in points",
        formats={
            "Cash cover before": "{:,.1f}",
            "Cash cover now": "{:,.1f}",
            "Surplus / exp. before": "pct",
            "Surplus / exp. now": "pct",
            "Liabilities vs last quarter": "pct",
            "Score": "{:,.1f}",
        },
    )


@_rated
def rating_table(a: PseAssessment, department_names: Mapping[str, str]) -> table | note:
    """Entities per rating and department, with a total row for the whole government."""
    counts = pse.rating_counts(a.current)
    if counts.empty:
        return note("No entities to count.")
    counts = counts.sort_values(["High", "Total"], ascending=False)
    total = counts[list(pse.RATINGS) + ["Total"]].sum()
    df = counts.assign(department=[_dept_name(d, department_names) for d in counts["department"]])
    df = pd.concat(
        [
            df,
            pd.DataFrame([{"department": _scope()[:1].upper() + _scope()[1:], **total.to_dict()}]),
        ],
        ignore_index=True,
    ).rename(columns={"department": "Department"})
    for col in [*pse.RATINGS, "Total"]:
        df[col] = df[col].astype("int64")
    return table(
        df,
        caption=f"Entities by risk rating and department, {pse.quarter_text(a.quarter)}",
        units="number of entities",
        max_rows=200,
    )


@_rated
def compliance_table(a: PseAssessment, department_names: Mapping[str, str]) -> table | note:
    """Returns due, on time, late and missing per department: reporting quarter and window."""
    now = pse.compliance(a.current)
    if now.empty:
        return note("No returns were due.")
    window = pse.compliance(a.panel)
    df = pd.DataFrame(
        {
            "Department": [_dept_name(d, department_names) for d in now["department"]],
            "Due": now["due"],
            "On time": now[pse.ON_TIME],
            "Late": now[pse.LATE],
            "Missing": now[pse.MISSING],
            "No date": now[pse.UNKNOWN_DATE],
            "On time (%)": now["on_time_rate"],
            f"On time, last {len(a.quarters)} quarters (%)": now["department"].map(
                window.set_index("department")["on_time_rate"]
            ),
        }
    ).sort_values(["On time (%)", "Department"], na_position="last")
    return table(
        df,
        caption=f"Compliance with the return deadline, {pse.quarter_text(a.quarter)}",
        units=f"returns; deadline {a.settings.deadline_days} days after quarter end",
        formats={
            "On time (%)": "pct0",
            f"On time, last {len(a.quarters)} quarters (%)": "pct0",
        },
        max_rows=200,
    )


# --------------------------------------------------------------------------- charts


def _entity_trend(
    a: PseAssessment,
    metric: str,
    scale: float,
    ylabel: str,
    title: str,
    what: str,
) -> figure | note:
    qs = a.quarters
    data = a.panel[a.panel["quarter_end"].isin(qs)]
    wide = data.pivot_table(index="quarter_end", columns="name", values=metric, aggfunc="first")
    wide = wide.reindex(qs) * scale
    wide = wide.dropna(axis=1, how="all")
    if wide.empty or wide.shape[1] == 0:
        return note(
            f"No {what} to chart: no entity has a usable return in the last {len(qs)} quarters."
        )
    fig, ax = svgplot.subplots()
    x = np.arange(len(qs))
    if wide.shape[1] <= _MAX_LINES:
        for i, name in enumerate(wide.columns):
            ax.plot(x, wide[name].to_numpy(), marker="o", color=_LINE_COLOURS[i], label=name)
        alt = f"{title}: one line per entity ({', '.join(wide.columns)}); gaps are missing returns."
        caption = "One line per entity; a gap is a quarter without a return (or a ratio that cannot be computed)."
    else:
        q1, med, q3 = (wide.quantile(p, axis=1).to_numpy() for p in (0.25, 0.5, 0.75))
        n = wide.notna().sum(axis=1).to_numpy()
        ax.fill_between(x, q1, q3, color=PALETTE[0], alpha=0.25, label="Middle half of entities")
        ax.plot(x, med, marker="o", color=PALETTE[0], label="Median entity")
        alt = (
            f"{title}: median and interquartile range across entities with a return "
            f"({int(n.min())} to {int(n.max())} per quarter)."
        )
        caption = (
            f"Median and middle half of the {wide.shape[1]} entities with a return in each "
            "quarter; dashed lines are the rating thresholds."
        )
    for value, level, label in _thresholds(a, metric):
        colour = RATING_COLOURS[pse.HIGH] if level == "High" else RATING_COLOURS[pse.MEDIUM]
        ax.axhline(
            value * scale, color=colour, linestyle="--", linewidth=1, label=f"{level}: {label}"
        )
    _quarter_ticks(ax, qs)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    return figure(fig, alt=alt, caption=caption)


@_rated
def grant_dependence_chart(a: PseAssessment) -> figure | note:
    """Grants as % of income per entity over the trend window (with the rating thresholds)."""
    return _entity_trend(
        a,
        "grant_dependence",
        100.0,
        "Grants as % of income (%)",
        "Dependence on government grants",
        "grant dependence",
    )


@_rated
def cash_cover_chart(a: PseAssessment) -> figure | note:
    """Cash cover in months of expenditure per entity over the trend window."""
    return _entity_trend(
        a,
        "cash_cover_months",
        1.0,
        "Cash cover (months of expenditure)",
        "Cash cover",
        "cash cover",
    )


@_rated
def liabilities_chart(a: PseAssessment) -> figure | note:
    """Liabilities (in the currency unit) per entity, or the total when there are many entities."""
    n_with = a.panel.loc[a.panel["rating"] != pse.NO_RETURN, "entity_id"].nunique()
    if n_with <= _MAX_LINES:
        return _entity_trend(
            a, "liabilities", 1.0, f"Liabilities ({money_label()})", "Liabilities", "liabilities"
        )
    return _totals_lines(
        a,
        ["liabilities"],
        f"Total liabilities ({money_label()})",
        "Liabilities",
    )


def _totals_lines(
    a: PseAssessment, columns: Sequence[str], ylabel: str, title: str
) -> figure | note:
    qs = a.quarters
    t = pse.totals_trend(a.panel, qs)
    if t["entities"].sum() == 0:
        return note(
            f"No returns in the last {len(qs)} quarters: nothing to chart for {title.lower()}."
        )
    if len(columns) == 1:
        fig, ax = svgplot.subplots()
        axes = [ax]
    else:  # side by side
        fig, axes = svgplot.subplots(figsize=(11, 4.2), ncols=len(columns))
    x = np.arange(len(qs))
    labels = {
        "grants_received": f"Grants received in the quarter ({money_label()})",
        "liabilities": f"Liabilities at quarter end ({money_label()})",
        "own_revenue": f"Own revenue in the quarter ({money_label()})",
    }
    alt_parts = []
    for ax, col in zip(axes, columns, strict=True):
        for (basis, part), colour, style in zip(
            t.groupby("basis", sort=False), (PALETTE[0], PALETTE[1]), ("-", "--"), strict=True
        ):
            part = part.set_index("quarter_end").reindex(qs)
            n = int(part["entities"].max())
            if n == 0:
                continue
            ax.plot(
                x,
                part[col].to_numpy(),
                marker="o",
                linestyle=style,
                color=colour,
                label=f"{basis} ({'up to ' if basis == 'all returns' else ''}{n} entities)",
            )
        _quarter_ticks(ax, qs)
        ax.set_ylabel(labels.get(col, ylabel) if len(columns) > 1 else ylabel)
        ax.set_title(labels.get(col, col).split(" (")[0] if len(columns) > 1 else title)
        ax.legend(fontsize=8, frameon=False)
        alt_parts.append(labels.get(col, col))
    if len(columns) > 1:
        fig.suptitle(title, fontweight="bold")
    ll_n = int(t.loc[t["basis"] == "like-for-like", "entities"].max())
    like = (
        f"like-for-like over the {ll_n} entities that reported in every quarter shown"
        if ll_n
        else "no entity reported in every quarter shown, so there is no like-for-like line"
    )
    return figure(
        fig,
        alt=f"{title}: {', '.join(alt_parts)} by quarter, summed over all returns received; {like}.",
        caption=(
            "Like-for-like totals cover only entities with a return in every quarter shown, so "
            "missing returns do not make the totals jump."
        ),
    )


@_rated
def totals_chart(a: PseAssessment) -> figure | note:
    """Totals of grants received and liabilities by quarter (all returns, like-for-like)."""
    return _totals_lines(
        a,
        ["grants_received", "liabilities"],
        money_label(),
        "Grants received and liabilities of public sector entities",
    )


@_rated
def rating_chart(a: PseAssessment, department_names: Mapping[str, str]) -> figure | note:
    """Horizontal stacked bars: entities per rating in each department."""
    counts = pse.rating_counts(a.current)
    if counts.empty:
        return note("No entities to chart.")
    counts = counts.sort_values(["High", "Total"], ascending=True)
    labels = [_dept_name(d, department_names) for d in counts["department"]]
    fig, ax = svgplot.subplots(figsize=(8, max(2.5, 0.35 * len(counts) + 1.2)))
    left = np.zeros(len(counts))
    for rating in pse.RATINGS:
        vals = counts[rating].to_numpy(dtype=float)
        ax.barh(labels, vals, left=left, color=RATING_COLOURS[rating], label=rating)
        left += vals
    ax.set_xlabel("Number of entities")
    ax.set_ylabel("Overseeing department")
    ax.set_title(f"Risk ratings by department, {pse.quarter_label(a.quarter)}")
    ax.legend(fontsize=8, loc="lower right", frameon=False)
    c = a.rating_counts()
    return figure(
        fig,
        alt=(
            f"Entities by risk rating in each department; {_scope()}: {c[pse.HIGH]} High, "
            f"{c[pse.MEDIUM]} Medium, {c[pse.LOW]} Low, {c[pse.NO_RETURN]} no return."
        ),
    )


@_rated
def compliance_chart(a: PseAssessment, department_names: Mapping[str, str]) -> figure | note:
    """Share of returns due in the trend window that were on time, late or missing, by department."""
    comp = pse.compliance(a.panel)
    comp = comp[comp["due"] > 0]
    if comp.empty:
        return note("No returns were due in the period.")
    comp = comp.sort_values("on_time_rate")
    labels = [_dept_name(d, department_names) for d in comp["department"]]
    fig, ax = svgplot.subplots(figsize=(8, max(2.5, 0.35 * len(comp) + 1.2)))
    left = np.zeros(len(comp))
    for status in (pse.ON_TIME, pse.LATE, pse.UNKNOWN_DATE, pse.MISSING):
        vals = (comp[status] / comp["due"]).to_numpy(dtype=float) * 100
        if status == pse.UNKNOWN_DATE and not vals.any():
            continue
        ax.barh(labels, vals, left=left, color=STATUS_COLOURS_RETURNS[status], label=status)
        left += vals
    ax.set_xlim(0, 100)
    ax.set_xlabel("Share of returns due (%)")
    ax.set_ylabel("Overseeing department")
    ax.set_title(
        f"Returns on time, late and missing, {pse.quarter_label(a.quarters[0])} to "
        f"{pse.quarter_label(a.quarter)}"
    )
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    overall = pse.compliance(a.panel, by=None).iloc[0]
    return figure(
        fig,
        alt=(
            f"Share of returns due that arrived on time, late or not at all, by department; "
            f"overall {fmt_pct(overall['on_time_rate'])} on time over {int(overall['due'])} returns due."
        ),
    )
