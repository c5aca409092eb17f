"""Overview presentation (the whole government, all departments): key messages, league table, heatmap, attention list, survey.

Everything here reads a :class:`helpers.analysis.overview.ProvinceOverview`; it formats, orders
and words what the analysis computed and computes nothing new. The one exception is
:func:`overview_report`, the loader the notebook calls: it reads the warehouse (through
:mod:`helpers.data.warehouse` only) and hands the frames to the pure analysis functions.
Amounts are in the profile's currency unit; ratios are shown as percentages, gaps in percentage points.
"""

from __future__ import annotations

import datetime as dt
import math
import textwrap

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.colors import TwoSlopeNorm, to_hex

from helpers import profile
from helpers.analysis import budget as abud
from helpers.analysis import contracts as acon
from helpers.analysis import overview as ao
from helpers.analysis import stocktake
from helpers.analysis import survey as sv
from helpers.analysis.overview import ProvinceOverview
from helpers.data.calendar import add_months, as_month, fy_start, fy_start_name, month_label
from helpers.present import budget as budget_view
from helpers.present import contracts as contracts_view
from helpers.present import svgplot, wording
from helpers.present.display import (
    Page,
    figure,
    heading,
    headline,
    key_messages,
    note,
    report_meta,
    table,
)
from helpers.present.theme import PALETTE, fy_end_pair, money_label

FAMILY = "province_overview"
#: Diverging, colour-blind-safe palette for the gap heatmap (ColorBrewer RdBu: red = behind).
HEATMAP_CMAP = "RdBu"
MISSING_COLOUR = "#D9D9D9"
#: How many departments a key message names at most.
NAMED_IN_MESSAGES = 3
_LABEL_WIDTH = 34  # characters per line of a department name on the heatmap axis


def _scope() -> str:
    """What the whole government is called in report text ('province' for KP)."""
    return profile.active().scope_word


def _strata() -> str:
    """What the survey's strata are, in words (the profile's geographic units)."""
    geo = profile.active().geography
    return geo.units if geo is not None else "the survey's sampling strata"


def title() -> str:
    """The report title: '<Scope> overview: service delivery performance'."""
    s = _scope()
    return f"{s[:1].upper()}{s[1:]} overview: service delivery performance"


# --------------------------------------------------------------------------------------------
# Loading (the only function here that reads the warehouse)
# --------------------------------------------------------------------------------------------


def _month_end(month: dt.date) -> dt.date:
    nxt = dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def overview_report(
    month, rule: ao.AttentionRule | None = None, min_n: int = sv.DEFAULT_MIN_N
) -> ProvinceOverview:
    """Read what the overview needs from the warehouse and compute it for ``month``.

    Department names and priority areas are those valid on the last day of the report month.
    Budget rows after the month are not read. The survey wave is the latest at or before the
    month, compared with the wave before it.
    """
    from helpers.data import warehouse as wh

    m = as_month(month)
    registry = wh.departments(on=_month_end(m))
    targets, trajectory, actuals = stocktake.targets_in_force(
        wh.targets(), wh.trajectory(), wh.actuals(), m
    )
    if len(targets):
        card = ao.province_scorecard(
            targets, trajectory, actuals, m, weights=stocktake.load_config()
        )
    else:
        card = pd.DataFrame(columns=["department", "score", "grade", "targets", "on_track"])
    waves = wh.survey_waves()
    wave = sv.select_wave(waves, m)
    prev = sv.previous_wave(waves, wave) if wave is not None else None
    services = wh.survey_services()
    frames = {
        w: sv.complete_frame(wh.survey_frame(w), wh.survey_respondents(w))
        for w in (wave, prev)
        if w is not None
    }
    survey = ao.survey_overview(
        frames.get(wave), frames.get(prev), services, wave, prev, min_n=min_n
    )
    if wave is None and waves:
        survey.notes.append(
            f"No survey wave had been fielded by {month_label(m)}; the first wave was fielded "
            f"in {month_label(min(waves))}."
        )
    info = wh.load_info()
    inputs = info.get("inputs")
    ov = ao.build_overview(
        m,
        registry,
        wh.budget_allocations(),
        wh.budget_monthly(upto=m),
        card,
        survey,
        rule=rule,
        inputs=None if inputs is None else frozenset(g for g in inputs.split(",") if g),
        frequency=abud.frequency_of(info),
    )
    abud.with_revenue(ov.pefa, wh.revenue(), m)  # PI-3 on the whole revenue book
    if ov.has("contracts"):
        ov.contracts = acon.league(
            wh.contracts(), wh.contract_kpis(), wh.contract_progress(), m, acon.load_settings()
        )
    return ov


def as_of_date(ov: ProvinceOverview, data_as_of) -> dt.date:
    """The as-of date printed on the report: the last month of data the report could use."""
    return min(as_month(data_as_of), ov.month)


# --------------------------------------------------------------------------------------------
# Wording helpers
# --------------------------------------------------------------------------------------------


def _big_pair(part: float, whole: float) -> tuple[str, str]:
    """Two large totals in one unit, a thousand times the held one or more ('<code> 360bn' and
    '<code> 600bn' for amounts held in millions), chosen by the larger of the two; no decimals
    unless the larger is below 10 in that unit."""
    cur = profile.active().currency
    units = profile.AMOUNT_UNITS
    i0 = i = units.index(cur.unit)
    v = max(abs(float(part)), abs(float(whole)))
    while v >= 1000 and i + 1 < len(units):
        v, i = v / 1000, i + 1
    shown = profile.Currency(cur.code, units[i])
    digits = 0 if v >= 10 else 1
    scale = 1000 ** (i - i0)
    return shown.fmt(float(part) / scale, digits=digits), shown.fmt(
        float(whole) / scale, digits=digits
    )


def _was_were(n: int) -> str:
    return "is" if n == 1 else "are"


# --------------------------------------------------------------------------------------------
# Title, key messages, headline
# --------------------------------------------------------------------------------------------


def _page(ov: ProvinceOverview, data_as_of, notes: pd.DataFrame | None = None):
    return Page(
        family=FAMILY,
        title=title(),
        # the page header already names the government: the unit line says which part of it
        department="All departments",
        month=month_label(ov.month),
        as_of=month_label(as_of_date(ov, data_as_of)),
        report=ov,
        notes=notes,
        data_as_of=data_as_of,
    )


def load_overview(
    month: str, rule: ao.AttentionRule | None = None, min_n: int = sv.DEFAULT_MIN_N
) -> Page[ProvinceOverview]:
    """The overview of ``month`` (:func:`overview_report`) as the page the notebook shows,
    with the warehouse's last month of data and every load-time warning."""
    from helpers.data import warehouse as wh

    report_month = wh.report_month(month)
    data_as_of = wh.as_of()
    ov = overview_report(report_month, rule=rule, min_n=min_n)
    return _page(ov, data_as_of, notes=wh.data_notes())


def key_messages_of(page: Page[ProvinceOverview]) -> key_messages:
    """The key messages at the top of the report."""
    return overview_key_messages(page.report)


def overview_meta(ov: ProvinceOverview, data_as_of) -> report_meta:
    """The title block (:meth:`Page.meta` of the overview's page)."""
    return _page(ov, data_as_of).meta()


def _freq(ov: ProvinceOverview) -> str:
    return getattr(ov, "frequency", "monthly")


def _period_word(ov: ProvinceOverview) -> str:
    return {"monthly": "month", "quarterly": "quarter", "annual": "year"}[_freq(ov)]


def _as_of_text(ov: ProvinceOverview) -> str | None:
    """Quarterly or annual data: 'the end of Q2 2025 (June 2025), the latest quarter reported';
    None when nothing is reported this year. Monthly: the report month."""
    if _freq(ov) == "monthly":
        return month_label(ov.month)
    if not wording.ok(ov.benchmark):
        return None
    end = add_months(fy_start(ov.fiscal_year), round(ov.benchmark * 12) - 1)
    return (
        f"the end of {abud.period_label(end, _freq(ov))} ({month_label(end)}), the latest "
        f"{_period_word(ov)} reported"
    )


def _projection_basis(ov: ProvinceOverview) -> str:
    """How the year-end projections were made, as the opening of a sentence."""
    methods = set(ov.league["projection_method"].dropna().astype(str))
    if methods and methods <= {"pace"}:
        return "At their current straight-line pace"
    if "pace" in methods:
        return "On current projections (prior-year profiles where available, else current pace)"
    word = "quarterly" if _freq(ov) == "quarterly" else "monthly"
    return f"On their usual {word} spending profiles"


def budget_sentences(ov: ProvinceOverview) -> list[str]:
    """Province spending, departments behind the benchmark and the year-end projections."""
    t = ov.totals
    when = month_label(ov.month)
    out = []
    gap = t["gap"]
    if _freq(ov) != "monthly":
        at = _as_of_text(ov)
        if at is None:
            _spent, be_text = _big_pair(0.0, t["budget_estimate"])
            lead = (
                f"Budget data are annual: FY {ov.fiscal_year}'s executed amounts are not in the "
                "data yet."
                if _freq(ov) == "annual"
                else f"Budget data are {_freq(ov)}: no {_period_word(ov)} of FY {ov.fiscal_year} "
                f"has been reported by {month_label(ov.month)}."
            )
            return [
                f"{lead} The "
                f"{wording.plural(len(ov.summary), 'department')} budgeted this year have a combined "
                f"budget estimate of {be_text}"
                + (
                    "; executed amounts are known once the year is closed, and no within-year "
                    "projection is made."
                    if _freq(ov) == "annual"
                    else "."
                )
            ]
        when = at
        if _freq(ov) == "annual" and wording.ok(gap):
            spent_text, be_text = _big_pair(t["expenditure"], t["budget_estimate"])
            out.append(
                f"Across the {_scope()}, the {wording.plural(len(ov.summary), 'department')} budgeted "
                f"in FY {ov.fiscal_year} executed {wording.pct(t['utilisation'])} of their combined "
                f"approved budget ({spent_text} of {be_text}; annual data, the year's outturn)."
            )
            behind = ov.behind
            margin = f"{ov.rule.underspend_margin * 100:.0f} points"
            if behind.empty:
                out.append(f"No department executed more than {margin} below its budget.")
            else:
                top = behind.head(NAMED_IN_MESSAGES)
                named = wording.join(
                    [f"{r.name} ({wording.pct(r.util_be)})" for r in top.itertuples(index=False)]
                )
                out.append(
                    f"{len(behind)} of {int(ov.league['gap'].notna().sum())} departments "
                    f"executed more than {margin} below their approved budget: {named}."
                )
            return out
    if not wording.ok(gap):
        out.append(f"No department has a budget estimate for FY {ov.fiscal_year}.")
        return out
    side = "behind" if gap < 0 else "ahead of"
    position = (
        f"in line with the {wording.pct(ov.benchmark)} time-elapsed benchmark"
        if wording.in_line(gap)
        else f"{wording.pts(gap)} {side} the {wording.pct(ov.benchmark)} time-elapsed benchmark"
    )
    spent_text, be_text = _big_pair(t["expenditure"], t["budget_estimate"])
    out.append(
        f"Across the {_scope()}, the {wording.plural(len(ov.summary), 'department')} budgeted this "
        f"year have spent "
        f"{wording.pct(t['utilisation'])} of their combined budget estimate "
        f"({spent_text} of {be_text}) "
        f"by {when}, {position}."
    )
    behind = ov.behind
    budgeted = int(ov.league["gap"].notna().sum())
    margin = f"{ov.rule.underspend_margin * 100:.0f} points"
    if behind.empty:
        out.append(f"No department is behind the benchmark by more than {margin}.")
    else:
        top = behind.head(NAMED_IN_MESSAGES)
        named = wording.join(
            [f"{r.name} ({wording.pts(r.gap)} behind)" for r in top.itertuples(index=False)]
        )
        lead = "the largest gaps are" if len(top) > 1 else "the largest gap is"
        if len(behind) == 1:
            lead = "it is"
        out.append(
            f"{len(behind)} of {budgeted} departments {_was_were(len(behind))} behind the "
            f"benchmark by more than {margin}; {lead} {named}."
        )
    proj = ov.league["projection_be"]
    low = ov.league[proj < ov.rule.projection_floor - 1e-9]
    high = ov.league[proj > ov.rule.projection_ceiling + 1e-9]
    if proj.notna().any() and _freq(ov) != "annual":
        text = (
            f"{_projection_basis(ov)}, {wording.plural(len(low), 'department')} "
            f"{_was_were(len(low))} projected to end the year below "
            f"{wording.pct(ov.rule.projection_floor)} of {'its' if len(low) == 1 else 'their'} "
            "budget estimate"
        )
        if len(high):
            names = wording.join(list(high["name"].head(NAMED_IN_MESSAGES)))
            lead = "including " if len(high) > NAMED_IN_MESSAGES else ""
            text += (
                f" and {len(high)} above {wording.pct(ov.rule.projection_ceiling)} ({lead}{names})"
            )
        out.append(text + ".")
    return out


def targets_sentence(ov: ProvinceOverview) -> str:
    """Targets on track across the province and the lowest scorecard grades."""
    card = ov.scorecard
    if card.empty:
        return f"No department had delivery targets to assess in {month_label(ov.month)}."
    total, on = ov.targets_total, ov.on_track_total
    share = on / total if total else math.nan
    no_targets = int((ov.league["targets_status"] == ao.NO_TARGETS).sum())
    text = (
        f"{on} of the {total} delivery targets of the {len(card)} departments with targets "
        f"({wording.pct(share)}) are on track or met; {total - on} are off track, missed or without "
        f"recent data"
    )
    scored = card[card["score"].notna()].sort_values(["score", "department"])
    if len(scored):
        names = dict(zip(ov.league["department"], ov.league["name"], strict=True))
        low = scored.head(min(2, len(scored)))
        named = wording.join(
            [
                f"{names.get(r.department, r.department)} ({r.grade}, {r.score:.0f}/100)"
                for r in low.itertuples(index=False)
            ]
        )
        text += f". The lowest scorecard {'grades are' if len(low) > 1 else 'grade is'} {named}"
    if no_targets:
        text += f"; {wording.plural(no_targets, 'department')} {'has' if no_targets == 1 else 'have'} no targets"
    return text + "."


def survey_sentence(ov: ProvinceOverview) -> str | None:
    """Weakest and strongest service satisfaction in the latest wave, and the pooled change."""
    s = ov.survey
    if s.wave is None:
        return (
            f"No citizen survey wave had been fielded by {month_label(ov.month)}, so the "
            "overview has no satisfaction figures."
        )
    if not s.available:
        return None
    wave = month_label(s.wave)
    per = s.services[(s.services["service"] != "all") & s.services["estimate"].notna()]
    per = per.sort_values(["estimate", "label"])
    suppressed = int(((s.services["service"] != "all") & s.services["estimate"].isna()).sum())
    if per.empty:
        return f"Too few respondents rated any service in the {wave} survey wave to publish."
    low = per.iloc[0]
    text = (
        f"In the {wave} citizen survey, satisfaction is lowest with "
        f"{wording.lower_first(str(low['label']))} ({wording.pct(low['estimate'])} satisfied, 95% CI "
        f"{wording.pct(low['ci_low'])} to {wording.pct(low['ci_high'])})"
    )
    if len(per) > 1:
        high = per.iloc[-1]
        text += f" and highest with {wording.lower_first(str(high['label']))} ({wording.pct(high['estimate'])})"
    overall = s.overall
    if overall is not None and wording.ok(overall["estimate"]):
        text += f"; across all surveyed services {wording.pct(overall['estimate'])} of users are satisfied"
        if wording.ok(overall["change"]) and s.previous_wave is not None:
            prev = month_label(s.previous_wave)
            pts = overall["change"]
            if overall["significant"]:
                text += f", {'up' if pts > 0 else 'down'} {wording.pts(pts)} since {prev}"
            else:
                text += f", not significantly different from {prev}"
    text += "."
    moved = per[per["significant"] & per["change"].notna()]
    if s.previous_wave is not None and len(moved):
        ups = moved[moved["change"] > 0]
        downs = moved[moved["change"] < 0]
        parts = []
        if len(downs):
            parts.append(
                "fell significantly for "
                + wording.join(
                    [wording.lower_first(str(x)) for x in downs.sort_values("change")["label"]]
                )
            )
        if len(ups):
            parts.append(
                "rose significantly for "
                + wording.join(
                    [
                        wording.lower_first(str(x))
                        for x in ups.sort_values("change", ascending=False)["label"]
                    ]
                )
            )
        text += " Since " + month_label(s.previous_wave) + ", satisfaction " + "; it ".join(parts)
        text += "."
    if suppressed:
        text += (
            f" {wording.plural(suppressed, 'service')} had fewer than {s.min_n} ratings and "
            f"{_was_were(suppressed)} not published."
        )
    return text


def attention_sentence(ov: ProvinceOverview) -> str:
    """How many departments need attention under the rule, and the first few by name."""
    att = ov.attention
    k = ov.rule.min_reasons
    signs = f"{k} or more warning signs" if k > 1 else "at least one warning sign"
    if att.empty:
        return f"No department shows {signs} under the attention rule this month."
    top = att.head(NAMED_IN_MESSAGES)
    named = wording.join(
        [
            f"{r.name} ({wording.plural(int(r.n_reasons), 'sign')})"
            for r in top.itertuples(index=False)
        ]
    )
    more = f", among them {named}" if len(att) > len(top) else f": {named}"
    return (
        f"{wording.plural(len(att), 'department')} {'needs' if len(att) == 1 else 'need'} attention "
        f"({signs}){more}."
    )


def key_message_sentences(ov: ProvinceOverview) -> list[str]:
    """The key messages, written from the numbers in ``ov`` (never fixed text)."""
    out = budget_sentences(ov)
    if ov.has("stocktake"):
        out.append(targets_sentence(ov))
    survey = survey_sentence(ov) if ov.has("survey") else None
    if survey:
        out.append(survey)
    if ov.contracts is not None:
        out += contracts_view.league_messages(ov.contracts, _names(ov), ov.fiscal_year)
    out.append(attention_sentence(ov))
    return out


def _names(ov: ProvinceOverview) -> dict[str, str]:
    return dict(zip(ov.league["department"], ov.league["name"].astype(str), strict=True))


def contracts_section(ov: ProvinceOverview) -> list:
    """The performance-contracts league of ministries (nothing when not provided)."""
    if ov.contracts is None:
        return []
    return [contracts_view.league_table(ov.contracts, _names(ov), ov.fiscal_year)]


def section_heading(ov: ProvinceOverview, group: str, text: str) -> heading | None:
    """The heading of a section about an input group, or nothing when the government does not
    provide that group (the section is left out, not shown empty)."""
    return heading(text) if ov.has(group) else None


def overview_key_messages(ov: ProvinceOverview) -> key_messages:
    """The key-messages box."""
    return key_messages(key_message_sentences(ov))


def overview_headline(ov: ProvinceOverview) -> headline:
    """Portal badges (keys of the docs/architecture.md headline contract)."""
    return headline(**ao.headline_values(ov))


# --------------------------------------------------------------------------------------------
# League table
# --------------------------------------------------------------------------------------------


def league_frame(ov: ProvinceOverview) -> pd.DataFrame:
    """The league table as displayed (column names with units, text for missing targets)."""
    lg = ov.league
    signs = ov.reasons.drop_duplicates(["department", "reason"])["department"].value_counts()
    targets = [
        ao.NO_TARGETS.replace(" ", "\u00a0") if pd.isna(t) else f"{int(o)} of {int(t)}"
        for t, o in zip(lg["targets"], lg["on_track"], strict=True)
    ]
    df = pd.DataFrame(
        {
            "Department": lg["name"].astype(str),
            "Budget estimate": lg["budget_estimate"],
            "Spent (% of BE)": lg["util_be"],
            "Gap vs benchmark": lg["gap"],
            "Projected year-end (% of BE)": lg["projection_be"],
            "Targets on track": targets,
            "Score (0-100)": lg["score"],
            "Grade": lg["grade"].astype(object).where(lg["grade"].notna(), "\u2013"),
            "Satisfied (%)": lg["satisfaction"],
            "Warning signs": [
                int(signs.get(d, 0)) if not status or d in signs else None
                for d, status in zip(lg["department"], lg["budget_status"], strict=True)
            ],
        }
    )
    if _freq(ov) == "annual":  # executed vs approved: no projection, no time benchmark
        df = df.drop(columns=["Projected year-end (% of BE)"]).rename(
            columns={"Spent (% of BE)": "Executed (% of BE)", "Gap vs benchmark": "Gap vs approved"}
        )
    absent = [] if ov.has("stocktake") else ["Targets on track", "Score (0-100)", "Grade"]
    absent += [] if ov.has("survey") else ["Satisfied (%)"]
    return df.drop(columns=absent)


def league_row_classes(ov: ProvinceOverview) -> list[str]:
    """'bad' for departments needing attention, 'watch' with one or more signs, 'good' with
    none; no class for a department without a budget this year (nothing to judge it on)."""
    flagged = set(ov.attention["department"])
    signs = set(ov.reasons["department"])
    return [
        "bad" if d in flagged else "watch" if d in signs else "" if status else "good"
        for d, status in zip(ov.league["department"], ov.league["budget_status"], strict=True)
    ]


def league_table(ov: ProvinceOverview) -> list:
    """The league table with its reading note."""
    df = league_frame(ov)
    no_survey = int((ov.league["survey_status"] == ao.NO_SERVICE).sum())
    suppressed = int(ov.league["survey_status"].str.startswith("suppressed").sum())
    wave = month_label(ov.survey.wave) if ov.survey.wave else None
    parts = [
        f"Ordered by the gap to the {wording.pct(ov.benchmark)} time-elapsed benchmark, furthest "
        "behind first. Gap = spent (% of BE) minus the benchmark, in percentage points (pp). "
        "Projected year-end: the headline projection of the budget execution report (the "
        f"department's prior-year {'quarterly' if _freq(ov) == 'quarterly' else 'monthly'} "
        "spending profile, a seasonal regression when it "
        "back-tests better, or the straight-line pace when there is no history)."
        + (
            " Annual data: each department's position is its executed amount against its "
            "approved budget; there is no within-year projection."
            if _freq(ov) == "annual"
            else ""
        )
        + (
            " Score and grade are the delivery-target scorecard; 'no targets' means the "
            "department has no delivery targets (it is not a score of zero)."
            if ov.has("stocktake")
            else ""
        )
    ]
    if ov.has("survey") and wave:
        parts.append(
            f"Satisfied = share of users of the department's surveyed services rating them 4 or "
            f"5 out of 5 in the {wave} wave; \u2013 means no surveyed service "
            f"({no_survey} departments)"
            + (f" or fewer than {ov.survey.min_n} ratings ({suppressed})" if suppressed else "")
            + "."
        )
    elif ov.has("survey"):
        parts.append("Satisfied: no survey wave had been fielded by the report month.")
    parts.append(
        f"Warning signs: how many of the attention rule's signs the department shows; "
        f"{ov.rule.min_reasons} or more means it needs attention (red left edge; amber = fewer "
        "signs, green = none)."
    )
    return [
        table(
            df,
            caption=f"League table, {month_label(ov.month)} (FY {ov.fiscal_year})",
            units=f"{money_label()}; % of budget estimate (BE); pp = percentage points",
            formats={
                "Budget estimate": "{:,.0f}",
                "Spent (% of BE)": "pct",
                "Gap vs benchmark": "pp",
                "Projected year-end (% of BE)": "pct",
                "Executed (% of BE)": "pct",
                "Gap vs approved": "pp",
                "Score (0-100)": "{:,.0f}",
                "Satisfied (%)": "pct0",
            },
            row_classes=league_row_classes(ov),
        ),
        note(" ".join(parts)),
    ]


# --------------------------------------------------------------------------------------------
# Heatmap
# --------------------------------------------------------------------------------------------


def heatmap_frame(ov: ProvinceOverview) -> pd.DataFrame:
    """The gap matrix in percentage points, rows in league order, labelled with names."""
    order = [d for d in ov.league["department"] if d in ov.gaps.index]
    names = dict(zip(ov.league["department"], ov.league["name"], strict=True))
    g = ov.gaps.reindex(order) * 100
    g.index = [names.get(d, d) for d in order]
    if _freq(ov) == "monthly":
        g.columns = [pd.Timestamp(c).strftime("%b %Y") for c in g.columns]
    else:
        g.columns = [abud.period_label(pd.Timestamp(c), _freq(ov)) for c in g.columns]
    return g


def _signed(v: float) -> str:
    """'+4', '\u221242' (a true minus sign) or '0' for a value in points."""
    r = round(v)
    if r == 0:
        return "0"
    return f"+{r:.0f}" if r > 0 else f"\u2212{abs(r):.0f}"


def _limit(values: np.ndarray) -> float:
    finite = np.abs(values[np.isfinite(values)])
    top = float(finite.max()) if finite.size else 10.0
    return max(10.0, math.ceil(top / 5.0) * 5.0)


def gap_heatmap(ov: ProvinceOverview) -> figure | note:
    """Departments x months heatmap of the gap to the benchmark (pp), centred on zero."""
    g = heatmap_frame(ov)
    if _freq(ov) == "annual":
        return note(
            "Annual budget data: no within-year spending to map; each department's executed "
            "amount against its approved budget is in its budget execution report."
        )
    if g.empty or g.shape[1] == 0:
        return note("No department has budget data for this fiscal year.")
    vals = g.to_numpy(dtype=float)
    lim = _limit(vals)
    n_rows, n_cols = vals.shape
    labels = [textwrap.fill(str(n), _LABEL_WIDTH) for n in g.index]
    two_line = any("\n" in lb for lb in labels)
    height = max(3.5, 0.34 * n_rows + (0.8 if two_line else 0) + 1.9)
    width = min(12.5, 4.6 + 0.72 * n_cols)
    fig, ax = svgplot.subplots(figsize=(width, height))
    cmap = matplotlib.colormaps[HEATMAP_CMAP]
    norm = TwoSlopeNorm(vmin=-lim, vcenter=0.0, vmax=lim)
    cells, colours, missing = [], [], []
    for i in range(n_rows):
        for j in range(n_cols):
            # row 0 (furthest behind) at the top: y runs downwards from n_rows
            y = n_rows - 1 - i
            ring = [(j, y), (j + 1, y), (j + 1, y + 1), (j, y + 1), (j, y)]
            v = vals[i, j]
            if not np.isfinite(v):
                missing.append(ring)
                ax.text(j + 0.5, y + 0.5, "no data", fontsize=6.5, ha="center", va="center")
                continue
            cells.append(ring)
            colours.append(to_hex(cmap(norm(v))))
            dark = abs(v) > 0.55 * lim
            ax.text(
                j + 0.5,
                y + 0.5,
                _signed(v),
                fontsize=7.5,
                ha="center",
                va="center",
                color="white" if dark else "#1F2937",
            )
    if cells:
        ax.add_polygons(cells, colours, edgecolor="white", linewidth=0.6)
    if missing:
        ax.add_polygons(missing, MISSING_COLOUR, edgecolor="white", linewidth=0.6, hatch="///")
    ax.set_xticks(np.arange(n_cols) + 0.5, [c.replace(" ", "\n") for c in g.columns])
    ax.set_yticks(np.arange(n_rows) + 0.5, labels[::-1])
    ax.set_xlim(0, n_cols)
    ax.set_ylim(0, n_rows)
    ax.set_xlabel(f"{_period_word(ov).capitalize()} (spending cumulative from {fy_start_name()})")
    ax.set_ylabel("Department (furthest behind at the top)")
    fig.colorbar(
        [to_hex(cmap(f)) for f in np.linspace(0, 1, 11)],
        -lim,
        lim,
        label="Gap to time-elapsed benchmark (percentage points)",
        fmt=_signed,
    )
    fig.suptitle(
        f"Spending against the time-elapsed benchmark, FY {ov.fiscal_year} "
        + (f"({fy_start_name()} to {ov.month:%B})" if n_cols > 1 else f"({fy_start_name()})")
    )
    behind = int(np.sum(vals[:, -1] < 0)) if n_cols else 0
    alt = (
        f"Heatmap of {n_rows} departments by {n_cols} {_period_word(ov)}s: cumulative spending as a share of "
        f"the budget estimate minus the share of the year elapsed, in percentage points. In "
        f"{month_label(ov.month)} {behind} of {n_rows} departments are behind the benchmark; "
        f"the range is {np.nanmin(vals):+.0f} to {np.nanmax(vals):+.0f} points."
    )
    return figure(
        fig,
        alt=alt,
        caption=(
            f"Each cell: cumulative expenditure from {fy_start_name()} to that month as a % of the annual "
            "budget estimate, minus months elapsed / 12. Red = behind, blue = ahead; grey "
            "hatched = no data received for that month (not counted as zero)."
        ),
    )


# --------------------------------------------------------------------------------------------
# Attention
# --------------------------------------------------------------------------------------------


def attention_table(ov: ProvinceOverview) -> list:
    """Departments needing attention, each with its reasons in plain words, and the rule."""
    att = ov.attention
    out: list = []
    if att.empty:
        out.append(note("No department meets the attention rule this month."))
    else:
        df = pd.DataFrame(
            {
                "Department": att["name"].astype(str),
                "Warning signs": att["n_reasons"].astype(int),
                "Why": [str(t)[:1].upper() + str(t)[1:] + "." for t in att["text"]],
            }
        )
        out.append(
            table(
                df,
                caption=(
                    f"Departments needing attention, {month_label(ov.month)} "
                    f"({len(att)} of {ov.departments})"
                ),
                units="most warning signs first",
            )
        )
    out.append(note(ov.rule.describe()))
    return out


def reasons_frame(ov: ProvinceOverview) -> pd.DataFrame:
    """How many departments show each warning sign (all departments, not just those flagged)."""
    counts = ov.reasons.drop_duplicates(["department", "reason"])["reason"].value_counts()
    return pd.DataFrame(
        {
            "Warning sign": list(ao.REASONS.values()),
            "Departments": [int(counts.get(code, 0)) for code in ao.REASONS],
        }
    )


def reasons_table(ov: ProvinceOverview) -> table:
    """Warning signs across all departments (counts of departments)."""
    return table(
        reasons_frame(ov),
        caption=f"Warning signs across all {ov.departments} departments",
        units="number of departments",
    )


# --------------------------------------------------------------------------------------------
# Survey headline
# --------------------------------------------------------------------------------------------


def survey_frame(ov: ProvinceOverview) -> pd.DataFrame:
    """Province-wide satisfaction per surveyed service as displayed (lowest first, pool last)."""
    s = ov.survey.services
    names = dict(zip(ov.league["department"], ov.league["name"], strict=True))
    per = s[s["service"] != "all"].sort_values(["estimate", "label"], na_position="last")
    rows = pd.concat([per, s[s["service"] == "all"]], ignore_index=True)
    prev = month_label(ov.survey.previous_wave) if ov.survey.previous_wave else None
    df = pd.DataFrame(
        {
            "Service": rows["label"].astype(str),
            "Department": [
                names.get(d, d) if wording.ok(d) else "\u2013"
                for d in rows["department"].astype(object)
            ],
            "Satisfied (%)": rows["estimate"].astype(float),
            "95% CI from": rows["ci_low"].astype(float),
            "95% CI to": rows["ci_high"].astype(float),
            "Respondents (n)": rows["n"].astype("int64"),
        }
    )
    if prev:
        df[f"Change since {prev}"] = rows["change"].astype(float)
        df["Significant (p<0.05)"] = [
            ("yes" if sig else "no") if wording.ok(ch) else "\u2013"
            for sig, ch in zip(rows["significant"], rows["change"], strict=True)
        ]
    status = rows["status"].fillna("").astype(str)
    if (status != "").any():
        df["Note"] = status.to_numpy()
    return df


def survey_table(ov: ProvinceOverview) -> list:
    """The survey headline table (empty-state note when there is no wave; nothing when the
    government runs no survey)."""
    s = ov.survey
    if not ov.has("survey"):
        return []
    if s.wave is None or not s.available:
        return [note(survey_sentence(ov) or "No survey figures are available.")]
    df = survey_frame(ov)
    change_cols = [c for c in df.columns if c.startswith("Change since")]
    return [
        table(
            df,
            caption=(
                f"{_scope()[:1].upper()}{_scope()[1:]}-wide satisfaction by service, "
                f"{month_label(s.wave)} survey wave"
            ),
            units="% of users rating the service 4 or 5 out of 5; change in percentage points",
            formats={
                "Satisfied (%)": "pct",
                "95% CI from": "pct",
                "95% CI to": "pct",
                **{c: "pp" for c in change_cols},
            },
        )
    ]


def survey_chart(ov: ProvinceOverview) -> list:
    """Satisfaction per service with 95% CIs, lowest at the top, the pooled figure as a line."""
    s = ov.survey
    if not s.available:
        return []
    per = s.services[(s.services["service"] != "all") & s.services["estimate"].notna()]
    if per.empty:
        return []
    per = per.sort_values("estimate", ascending=False)
    fig, ax = svgplot.subplots(figsize=(8.5, 0.38 * len(per) + 1.6))
    y = np.arange(len(per))
    err = np.vstack([per["estimate"] - per["ci_low"], per["ci_high"] - per["estimate"]]).clip(min=0)
    ax.errorbar(per["estimate"], y, xerr=err, ecolor=PALETTE[0], capsize=3)
    ax.scatter(per["estimate"], y, color=PALETTE[0], zorder=3)
    overall = s.overall_satisfaction
    if overall is not None:
        ax.axvline(overall, color="#6B7280", linestyle="--", linewidth=1)
        ax.text(
            overall,
            len(per) - 0.4,
            f" all services {overall:.0%}",
            color="#374151",
            fontsize=8.5,
            va="bottom",
        )
    ax.set_yticks(y)
    ax.set_yticklabels([textwrap.fill(str(x), 40) for x in per["label"]], fontsize=8.5)
    ax.set_ylim(-0.6, len(per) - 0.1 + 0.5)
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(svgplot.percent_format())
    ax.set_xlabel("Users satisfied (rating 4 or 5 of 5), % with 95% confidence interval")
    ax.set_ylabel("Surveyed service")
    ax.set_title(f"Satisfaction by service, {month_label(s.wave)} survey wave")
    low = per.iloc[-1]
    alt = (
        f"Dot chart of satisfaction for {len(per)} services: lowest {low['label']} at "
        f"{low['estimate']:.0%}, highest {per.iloc[0]['label']} at {per.iloc[0]['estimate']:.0%}."
    )
    return [figure(fig, alt=alt)]


# --------------------------------------------------------------------------------------------
# PEFA and data notes
# --------------------------------------------------------------------------------------------


def pefa_section(ov: ProvinceOverview) -> list:
    """Province-level PI-1 and PI-2.1 (by department) over the last three completed years."""
    return [budget_view.pefa_table(ov.pefa), *budget_view.pefa_notes(ov.pefa)]


def forecast_section(ov: ProvinceOverview) -> list:
    """The last closed year's year-end projections against its outturn: the province line
    (sum of the departments' projections) and each department's error by month."""
    rec = ov.forecast
    who = f"the {profile.active().scope_adjective} projection"
    out = budget_view.forecast_view(rec, ov.frequency, who)
    if rec is None or not len(rec.table):
        return out
    t = rec.table.copy()
    names = ov.league.set_index("department")["name"] if "name" in ov.league else pd.Series()
    t["Department"] = t["department"].map(names).fillna(t["department"])
    t["when"] = [abud.period_label(m, ov.frequency) for m in t["month"]]
    wide = t.pivot(index="Department", columns="when", values="error")
    wide = wide[list(dict.fromkeys(t["when"]))]
    wide["order"] = wide.abs().mean(axis=1)
    wide = wide.sort_values("order", ascending=False).drop(columns="order").reset_index()
    out.insert(
        -1,
        table(
            wide,
            caption=(
                f"Each department's year-end projection against its FY {rec.fiscal_year} "
                "outturn, largest average miss first"
            ),
            units="projection - outturn, % of outturn",
            formats={c: "pct0" for c in wide.columns if c != "Department"},
        ),
    )
    return out


def data_notes(ov: ProvinceOverview, data_as_of) -> list[note]:
    """Coverage, definitions and the rules behind every figure."""
    out = [
        note(
            f"Budget data up to {month_label(ov.month)} (the warehouse holds data to "
            f"{month_label(data_as_of)}; later months are not used). Amounts in {money_label()}."
        )
    ]
    missing = ov.league[ov.league["months_missing"].fillna(0) > 0]
    if _freq(ov) != "monthly":
        word = _period_word(ov)
        at = _as_of_text(ov)
        out.append(
            note(
                f"Budget data are {_freq(ov)}. Each department's position, benchmark and "
                f"projection are at the end of its last reported {word}; months inside a "
                f"reported {word} are not missing. "
                + (
                    f"The {_scope()} figures are read against the benchmark at {at}."
                    if at
                    else f"No {word} of FY {ov.fiscal_year} has been reported yet."
                )
            )
        )
    if len(missing):
        items = wording.join([f"{r.name} ({int(r.months_missing)})" for r in missing.itertuples()])
        out.append(
            note(
                f"Months missing or incomplete this fiscal year: {items}. Cumulative figures "
                "cover reported months only and understate spending; the projection estimates "
                "the missing months from the usual monthly profile.",
                kind="warning",
            )
        )
    elif _freq(ov) == "monthly":
        out.append(
            note(
                f"Every department reported every month from {fy_start_name()} to "
                f"{month_label(ov.month)}."
            )
        )
    no_budget = ov.league[ov.league["budget_status"] == ao.NO_BUDGET]
    if len(no_budget):
        out.append(
            note(
                f"No budget for FY {ov.fiscal_year}: {wording.join(list(no_budget['name']))}.",
                kind="warning",
            )
        )
    if _freq(ov) == "monthly":
        out.append(
            note(
                f"Benchmark = months elapsed / 12 ({fy_start_name()} = 1; {wording.pct(ov.benchmark)} in "
                f"{ov.month:%B}). It is a straight line, while spending in "
                f"{profile.active().short_name} is usually bunched in {fy_end_pair(' and ')}, so "
                "most departments sit behind it during the "
                "year; the year-end projection (from each department's prior-year monthly profile) "
                "is the better guide to the final outturn."
            )
        )
    elif _freq(ov) == "quarterly":
        out.append(
            note(
                f"Benchmark = months elapsed at the end of the last reported quarter / 12 "
                f"({fy_start_name()} = 1; the end of Q2 = 50%). Year-end projections use the "
                "data's quarters (each department's prior-year quarterly profile, else the pace "
                "of its reported quarters: spending / (months covered / 12)); a projection above "
                f"{abud.PLAUSIBLE_MAX:.0%} of the budget estimate is withheld as "
                "implausible."
            )
        )
    else:
        out.append(
            note(
                "Annual data: a year's executed amount is compared with its approved budget "
                "(BE) once the year is in the data; there is no within-year benchmark or "
                "projection."
            )
        )
    out.append(
        note(
            "Targets: a target is on track when its latest actual is ahead of its trajectory or "
            "behind by no more than the tolerance in params/scorecard.yaml; the score (0-100) "
            "and grade measure progress towards each target's annual value. Departments "
            "without targets are shown as 'no targets'."
        )
    )
    s = ov.survey
    if s.wave is not None:
        prev = (
            f", compared with the {month_label(s.previous_wave)} wave (independent samples, "
            "two-sided z-test)"
            if s.previous_wave
            else ""
        )
        out.append(
            note(
                f"Survey: the {month_label(s.wave)} wave, the latest fielded at or before the "
                f"report month{prev}. Estimates are weighted, with design-based standard errors "
                f"(strata = {_strata()}, clusters = primary sampling units; "
                + (
                    "finite population correction from the number of PSUs per stratum) and "
                    if sv.design_words()["fpc"]
                    else "no finite population correction, the number of PSUs in each stratum "
                    "being unknown) and "
                )
                + "Korn-Graubard 95% intervals."
                " Publication follows the NCHS Data Presentation "
                "Standards for Proportions (2017): a share is not published with fewer than "
                f"{s.min_n} respondents, an effective n below {min(s.min_n, sv.NCHS_MIN_N_EFF)}, "
                "or a too wide interval (30 points or more, or over 5 points and over 130% of "
                "the share or of its complement); 0%, 100% and designs with under 8 degrees of "
                "freedom are flagged for review. A department's figure pools its services; n "
                "counts respondents. No respondent-level data are shown."
            )
        )
    for text in ov.notes:
        out.append(note(text))
    return out
