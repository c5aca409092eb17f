"""Budget execution presentation: key-message sentences, display-ready tables and charts.

Everything here reads a :class:`helpers.analysis.budget.ExecutionReport` (or the province
frames); it formats, orders and words what the analysis computed and computes nothing new.
Amounts are in the active profile's currency unit; ratios are shown as percentages with their denominator named.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence

import numpy as np
import pandas as pd

from helpers import profile
from helpers.analysis.budget import (
    JUMP_MIN_SHARE,
    JUMP_RATIO,
    MODEL_INTERVAL,
    PERIOD_WORDS,
    PI2_HEAD_SHARE,
    PI2_MAX_HEADS,
    PLAUSIBLE_MAX,
    ExecutionReport,
    ForecastRecord,
    PefaResult,
    RevenueResult,
    current_fund,
    execution_report,
    frequency_of,
    headline_values,
    period_label,
    salary_classes,
    scope_labels,
)
from helpers.data.calendar import (
    fy_months,
    fy_start_name,
    month_label,
)
from helpers.present import svgplot, wording
from helpers.present.display import Page, figure, headline, key_messages, note, records, table
from helpers.present.theme import (
    PALETTE,
    STATUS_COLOURS,
    fmt_money,
    fy_end_name,
    fy_end_pair,
    fy_month_ticks,
    money_label,
)

FAMILY = "budget_execution"
TITLE = "Budget execution"


def load_budget(
    department: str, month: str, underspend_margin: float = 0.10
) -> Page[ExecutionReport]:
    """Read a department's budget rows up to ``month`` from the warehouse and analyse them.

    The department's registry name is the one valid in the report month; the frequency
    (monthly, quarterly or annual) is the one recorded at load; revenue is None when not
    provided (PEFA PI-3).
    """
    from helpers.data import warehouse as wh

    department = wh.notebook_department(department)
    report_month = wh.report_month(month)
    name = wh.department(department, on=report_month)["name"]
    report = execution_report(
        wh.budget_allocations(department=department),
        wh.budget_monthly(department=department, upto=report_month),
        department,
        report_month,
        underspend_margin=underspend_margin,
        frequency=frequency_of(wh.load_info()),
        revenue=wh.revenue(department=department),
    )
    return Page(
        family=FAMILY,
        title=TITLE,
        department=name,
        month=month_label(report_month),
        as_of=as_of_text(report),
        report=report,
        notes=wh.data_notes(department=department),
    )


def key_messages_of(page: Page[ExecutionReport]) -> key_messages:
    """The key messages at the top of the report."""
    return key_messages(key_message_sentences(page.report, page.department))


_BENCH_COLOUR = "#6B7280"
_FLAG_LABELS = {
    "underspend": "Under-spending",
    "above_releases": "Spending above releases",
    "jump": "Unusual month-on-month change",
    "missing_months": "Missing months",
    "incomplete_months": "Incomplete months",
    "awaited_periods": "Periods not yet reported",
}


def _flag_labels(report: ExecutionReport) -> dict[str, str]:
    if _monthly(report):
        return _FLAG_LABELS
    words = _word(report, True)
    return {
        **_FLAG_LABELS,
        "jump": f"Unusual {_word(report)}-on-{_word(report)} change",
        "missing_months": f"Missing {words}",
        "incomplete_months": f"Incomplete {words}",
    }


def _monthly(report: ExecutionReport) -> bool:
    return getattr(report, "frequency", "monthly") == "monthly"


def _word(report: ExecutionReport, plural: bool = False) -> str:
    """'month', 'quarter' or 'year' (the data's period), or its plural."""
    return PERIOD_WORDS[report.frequency][1 if plural else 0]


def _plabel(report: ExecutionReport, month) -> str:
    """A period's name: 'March 2025', 'Q2 2025' or 'FY 2024-25'."""
    return period_label(month, report.frequency)


def _periods_text(report: ExecutionReport, months: Sequence) -> str:
    return wording.join([_plabel(report, m) for m in months])


def _as_of_words(report: ExecutionReport) -> str:
    """Monthly data: 'March 2025'. Quarterly: 'the end of Q2 2025 (June 2025)'."""
    if _monthly(report) or report.as_of is None:
        return month_label(report.month)
    return f"the end of {_plabel(report, report.as_of)} ({month_label(report.as_of)})"


def _to_date_span(report: ExecutionReport) -> str:
    """The part of the fiscal year the position covers: '<first month> to <as-of month>'."""
    at = report.month if _monthly(report) or report.as_of is None else report.as_of
    return _span(at)


def _basis(report: ExecutionReport) -> str:
    """What an incomplete year's projection rests on: 'spending in Q1 to Q2 2025, 2 of 4
    quarters' (quarterly and annual data)."""
    got = report.coverage.loc[~report.coverage["status"].isin(["missing", "awaited"]), "month"]
    if not len(got):
        return "no reported period"
    first, last = _plabel(report, got.min()), _plabel(report, got.max())
    if first == last:
        span = first
    elif first.split(" ", 1)[-1] == last.split(" ", 1)[-1] and report.frequency == "quarterly":
        span = f"{first.split(' ', 1)[0]} to {last}"  # 'Q1 to Q2 2025'
    else:
        span = f"{first} to {last}"
    n = len(got)
    total = 12 // report.period_months
    return f"spending in {span}, {n} of {total} {_word(report, True)}"


# --------------------------------------------------------------------------------------------
# Wording helpers
# --------------------------------------------------------------------------------------------


def _pkr(x) -> str:
    """An amount in whole held units, e.g. '<code> 1,235m' for a million unit."""
    return "n/a" if not wording.ok(x) else fmt_money(float(x), digits=0)


def _months_text(months: Sequence) -> str:
    return wording.join([month_label(m) for m in months])


def _span(month) -> str:
    """'<first month of the fiscal year> to <Month YYYY>' (the fiscal year to date)."""
    return f"{fy_start_name()} to {month_label(month)}"


def _range_text(low: float, high: float) -> str:
    lo, hi = round(low * 100), round(high * 100)
    return f"{lo}%" if lo == hi else f"{lo}-{hi}%"


def projection_text(report: ExecutionReport) -> str:
    """'86-91% of the estimate' / 'about 88% of the estimate' / '' (no projection)."""
    p = report.projection
    if not wording.ok(p.point_be):
        return ""
    if p.has_interval and wording.ok(p.low_be):
        return f"{_range_text(p.low_be, p.high_be)} of the estimate"
    return f"about {wording.pct(p.point_be)} of the estimate"


def _annual_messages(report: ExecutionReport, department_name: str) -> list[str]:
    """Annual data: executed against approved (BE) per year; no within-year projection."""
    tr = report.trend
    done = tr.loc[tr["status"] == "reported"].sort_values("month")
    out: list[str] = []
    if len(done):
        last = done.iloc[-1]
        fy = last["fiscal_year"]
        out.append(
            f"In FY {fy}, the latest year with executed figures, {department_name} spent "
            f"{wording.pct(last['cum_util_be'])} of its approved budget (executed {_pkr(last['expenditure'])} "
            f"against a budget estimate of {_pkr(last['budget_estimate'])})."
        )
        earlier = done.iloc[-4:-1]
        if len(earlier):
            parts = [
                f"{wording.pct(r.cum_util_be)} in FY {r.fiscal_year}"
                for r in earlier.itertuples(index=False)
            ]
            out.append(f"Earlier years: {wording.join(parts)}.")
    if not report.year_complete:
        be = report.total["budget_estimate"]
        out.append(
            f"FY {report.fiscal_year}: budget estimate {_pkr(be)}; the data are annual, so the "
            "year's executed amount is known only once the year is closed, and no within-year "
            "projection is made."
        )
    if not out:
        out.append(f"{department_name} has no budget data to report for FY {report.fiscal_year}.")
    return out


def _period_first_sentence(
    report: ExecutionReport, department_name: str, gaps: str, where: str
) -> str:
    """Quarterly data: the position at the last reported quarter's end, and the outturn (a
    complete year), the projection with its basis, or why none is shown."""
    t = report.total
    p = report.projection
    first = (
        f"{department_name} had spent {wording.pct(t['util_be'])} of its budget estimate by "
        f"{_as_of_words(report)}, the latest {_word(report)} reported{gaps}{where}"
    )
    proj = projection_text(report)
    if report.year_complete:
        first += (
            f"; the year is complete: its outturn is {wording.pct(t['util_be'])} of the estimate"
        )
    elif p.withheld:
        first += (
            f"; no year-end projection is shown, as it would exceed {PLAUSIBLE_MAX:.0%} of the "
            "estimate (see Data notes)"
        )
    elif proj:
        first += (
            f"; at this pace it ends the year at {proj} (projection: {p.label.lower()}, from "
            f"{_basis(report)})"
        )
    return first + "."


def _track_record_sentence(report: ExecutionReport) -> str:
    """How far the projection made at the same point of the last closed year was from that
    year's outturn ('' without a record for that month)."""
    rec = report.forecast
    if rec is None or not len(rec.table):
        return ""
    row = rec.table.loc[rec.table["fy_m"] == report.fy_m]
    if not len(row) or not wording.ok(row["error"].iloc[0]):
        return ""
    return (
        f"A year earlier, the projection made in {month_label(row['month'].iloc[0])} was "
        f"{_off(float(row['error'].iloc[0]))} FY {rec.fiscal_year}'s outturn."
    )


def key_message_sentences(report: ExecutionReport, department_name: str) -> list[str]:
    """Plain sentences that open the report, written from the numbers in ``report``."""
    if report.frequency == "annual":
        return _annual_messages(report, department_name)
    t = report.total
    when = month_label(report.month)
    out: list[str] = []

    gap = t["gap_be"]
    if not wording.ok(gap):
        where = "; the budget estimate is zero, so utilisation cannot be measured"
    elif wording.in_line(gap):
        where = f", in line with the {wording.pct(report.benchmark)} time-elapsed benchmark"
    else:
        side = "behind" if gap < 0 else "ahead of"
        where = f", {wording.pts(gap)} {side} the {wording.pct(report.benchmark)} time-elapsed benchmark"
    gaps = ""
    if report.missing_months:
        gaps = (
            f" (reported {_word(report, True)} only: no data for "
            f"{_periods_text(report, report.missing_months)})"
        )
    if not _monthly(report):
        if report.as_of is None:
            return [
                f"{department_name} has no {report.frequency} spending data for FY "
                f"{report.fiscal_year} yet: its budget estimate is {_pkr(t['budget_estimate'])}."
            ]
        out.append(_period_first_sentence(report, department_name, gaps, where))
        when = month_label(report.as_of)
    else:
        first = (
            f"{department_name} has spent {wording.pct(t['util_be'])} of its budget estimate by {when}"
            f"{gaps}{where}"
        )
        proj = projection_text(report)
        if proj and not report.year_complete:
            if report.projection.method == "pace":
                first += f"; on a straight-line pace it ends the year at {proj}"
            else:
                first += (
                    f"; at this pace it ends the year at {proj} "
                    f"(projection: {report.projection.label.lower()})"
                )
        out.append(first + ".")
        if proj and not report.year_complete:
            track = _track_record_sentence(report)
            if track:
                out.append(track)

    unspent = t["released_unspent"]
    if wording.ok(unspent) and unspent < 0:
        lag = f"spending exceeds releases by {_pkr(-unspent)}"
    else:
        lag = f"leaving {_pkr(unspent)} released but unspent"
    on_releases = (
        f"against releases of {_pkr(t['releases'])}, {wording.pct(t['util_releases'])}, {lag}"
    )
    if wording.ok(t["final_grant"]):
        out.append(
            f"Against the final grant of {_pkr(t['final_grant'])} it has spent "
            f"{wording.pct(t['util_final_grant'])}"
            + (f"; {on_releases}." if report.releases else ".")
        )
    elif report.releases:
        out.append(
            f"The final grant is not yet known at {when}. Against releases of "
            f"{_pkr(t['releases'])} it has spent {wording.pct(t['util_releases'])}, {lag}."
        )

    comps = report.position.loc[
        report.position["scope"].isin(["salary", "non_salary", "development"])
        & report.position["util_be"].notna()
    ]
    if len(comps) > 1:
        low = comps.sort_values("util_be").iloc[0]
        high = comps.sort_values("util_be").iloc[-1]
        labels = scope_labels()
        out.append(
            f"{labels[low['scope']].split(' (')[0]} spending is the furthest behind at "
            f"{wording.pct(low['util_be'])} of its estimate; "
            f"{labels[high['scope']].split(' (')[0].lower()} is at "
            f"{wording.pct(high['util_be'])}."
        )

    if wording.ok(t["last_year_util_be"]):
        diff = t["change_vs_last_year"]
        if wording.in_line(diff):
            cmp = "about the same as this year"
        else:
            cmp = f"{wording.pts(diff)} {'more' if diff < 0 else 'less'} than this year"
        out.append(
            f"At the same point last year it had spent {wording.pct(t['last_year_util_be'])} of that "
            f"year's estimate, {cmp}."
        )

    seas = report.seasonality.dropna(subset=["june_share"])
    if len(seas) and not _monthly(report):
        out.append(
            f"Spending bunches at the year end: in {wording.join(list(seas['fiscal_year']))} the last "
            f"{_word(report)} alone took {wording.pct(seas['june_share'].mean())} of the year's "
            "spending on average."
        )
    elif len(seas):
        out.append(
            f"Spending bunches at the year end: in {wording.join(list(seas['fiscal_year']))} "
            f"{fy_end_name()} alone took {wording.pct(seas['june_share'].mean())} of the year's "
            f"spending on average ({fy_end_pair(' and ')} together "
            f"{wording.pct(seas['may_june_share'].mean())})."
        )

    flags = report.flags.loc[
        ~report.flags["kind"].isin(["missing_months", "incomplete_months", "awaited_periods"])
    ]
    if len(flags):
        kinds = wording.join(
            [_FLAG_LABELS[k].lower() for k in dict.fromkeys(flags["kind"]) if k in _FLAG_LABELS]
        )
        out.append(
            f"{len(flags)} flag{'s need' if len(flags) > 1 else ' needs'} attention ({kinds}); "
            "see Flags."
        )
    if report.incomplete_months:
        out.append(
            f"Some object classes were not reported in "
            f"{_periods_text(report, report.incomplete_months)}; those figures are incomplete."
        )
    if not _monthly(report) and report.awaited_periods:
        out.append(
            f"{_periods_text(report, report.awaited_periods)} ended by {month_label(report.month)} "
            f"but {'is' if len(report.awaited_periods) == 1 else 'are'} not in the data yet: the "
            f"figures are as of {_as_of_words(report)}."
        )
    return out


def headline_badge(report: ExecutionReport) -> headline:
    """The portal badge: utilisation and benchmark (ratios of BE) and the projection range;
    ``detail.flags`` lists the report's flags (kind, scope, message) for the dashboards."""
    flags = records(report.flags, {"kind": "kind", "scope": "scope", "message": "message"})
    return headline(**headline_values(report), detail={"flags": flags})


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


#: Labels of the release figures in the tables.
_RELEASE_WORDS = ("Release", "Expenditure / releases", "% of releases")


def _above_releases_rule(report: ExecutionReport) -> str:
    """The flag-rules note's clause on releases: none when the source gives no releases
    (``ExecutionReport.releases``; docs/methods.md 1.4)."""
    return " spending above cumulative releases;" if report.releases else ""


def _without_releases(df: pd.DataFrame, report: ExecutionReport) -> pd.DataFrame:
    if report.releases:
        return df
    return df.drop(columns=[c for c in df.columns if str(c).startswith(_RELEASE_WORDS)])


def figures_table(report: ExecutionReport) -> table:
    """Headline figures for the department: amounts, utilisation against each denominator."""
    t = report.total
    p = report.projection
    rows = [
        ("Budget estimate (BE)", t["budget_estimate"], None),
        ("Final grant (revised estimate)", t["final_grant"], None),
        ("Releases to date", t["releases"], None),
        ("Expenditure to date", t["expenditure"], None),
        ("Released but unspent", t["released_unspent"], None),
        ("Expenditure / BE", None, t["util_be"]),
        ("Expenditure / final grant", None, t["util_final_grant"]),
        ("Expenditure / releases", None, t["util_releases"]),
        ("Time-elapsed benchmark", None, report.benchmark),
        ("Same point last year (expenditure / last year's BE)", None, t["last_year_util_be"]),
        (f"Projected year-end expenditure ({p.label.lower()})", p.point, p.point_be),
        ("Projection, low", p.low, p.low_be),
        ("Projection, high", p.high, p.high_be),
    ]
    if report.frequency == "annual":  # no benchmark, same point last year or projection
        rows = [
            ("Executed / BE (outturn)", None, t["util_be"]) if r[0] == "Expenditure / BE" else r
            for r in rows[:8]
        ]
        rows.append(("Last year (executed / last year's BE)", None, t["last_year_util_be"]))
    if not report.releases:
        rows = [r for r in rows if not r[0].startswith(_RELEASE_WORDS)]
    money = money_label()
    df = pd.DataFrame(rows, columns=["Figure", money, "% of BE / ratio"])
    df[money] = df[money].astype("float64")
    df["% of BE / ratio"] = df["% of BE / ratio"].astype("float64")
    when = month_label(report.month)
    if report.frequency == "annual":
        when = "annual data" + (
            "" if report.year_complete else ", the year's executed amount not yet in the data"
        )
    elif not _monthly(report):
        when = (
            f"as of {_as_of_words(report)}, report month {month_label(report.month)}"
            if report.as_of is not None
            else f"report month {month_label(report.month)}, no {_word(report)} reported yet"
        )
    return table(
        df,
        caption=f"Headline figures, {when} (FY {report.fiscal_year})",
        units=f"{money}; ratios as %",
        formats={money: "{:,.1f}", "% of BE / ratio": "pct"},
    )


def position_table(report: ExecutionReport) -> table:
    """Cumulative position by scope: total, current, salary, non-salary, development."""
    p = report.position
    df = pd.DataFrame(
        {
            "Scope": p["label"],
            "BE": p["budget_estimate"],
            "Final grant": p["final_grant"],
            "Releases": p["releases"],
            "Expenditure": p["expenditure"],
            "% of BE": p["util_be"],
            "% of final grant": p["util_final_grant"],
            "% of releases": p["util_releases"],
            "Gap to benchmark": p["gap_be"],
            "Last year, % of BE": p["last_year_util_be"],
        }
    )
    money = "{:,.1f}"
    caption = (
        f"Cumulative spending by fund and component, {_to_date_span(report)}, "
        f"against a {wording.pct(report.benchmark)} benchmark"
    )
    df = _without_releases(df, report)
    if report.frequency == "annual":
        df = df.drop(columns=["Gap to benchmark"]).rename(columns={"Expenditure": "Executed"})
        money_cols = {"Executed": money}
        caption = f"Executed against approved by fund and component, FY {report.fiscal_year}"
    else:
        money_cols = {"Expenditure": money}
    return table(
        df,
        caption=caption,
        units=f"{money_label()}; utilisation as % of the named denominator; gap in percentage points",
        formats={
            "BE": money,
            "Final grant": money,
            "Releases": money,
            **money_cols,
            "% of BE": "pct",
            "% of final grant": "pct",
            "% of releases": "pct",
            **({} if report.frequency == "annual" else {"Gap to benchmark": "pp"}),
            "Last year, % of BE": "pct",
        },
    )


def object_class_table(report: ExecutionReport) -> table:
    """Cumulative position by object class (both funds)."""
    o = report.by_object_class
    df = pd.DataFrame(
        {
            "Class": o["object_class"],
            "Description": o["label"],
            "BE": o["budget_estimate"],
            "Releases": o["releases"],
            "Expenditure": o["expenditure"],
            "% of BE": o["util_be"],
            "% of releases": o["util_releases"],
            "Share of spending": o["share_of_spending"],
            "Gap to benchmark": o["gap_be"],
        }
    )
    return table(
        _without_releases(df, report),
        caption=(
            f"Executed against approved by object class, FY {report.fiscal_year}"
            if report.frequency == "annual"
            else f"Spending by object class, {_to_date_span(report)}"
        ),
        units=f"{money_label()}; gap in percentage points",
        formats={
            "BE": "{:,.1f}",
            "Releases": "{:,.1f}",
            "Expenditure": "{:,.1f}",
            "% of BE": "pct",
            "% of releases": "pct",
            "Share of spending": "pct",
            "Gap to benchmark": "pp",
        },
    )


def monthly_table(report: ExecutionReport) -> table:
    """This fiscal year's monthly releases and expenditure, missing months marked."""
    if report.frequency == "annual":
        return annual_table(report)
    tr = report.trend.loc[report.trend["fiscal_year"] == report.fiscal_year]
    col = _word(report).capitalize()
    df = pd.DataFrame(
        {
            col: [_plabel(report, m) for m in tr["month"]],
            "Data": tr["status"].to_numpy(),
            "Releases": tr["release"].to_numpy(),
            "Expenditure": tr["expenditure"].to_numpy(),
            "Cumulative expenditure": tr["cum_expenditure"].to_numpy(),
            "Cumulative % of BE": tr["cum_util_be"].to_numpy(),
            "Benchmark": tr["fy_m"].to_numpy() / 12,
        }
    )
    classes = ["kp-missing" if s in ("missing", "awaited") else "" for s in tr["status"]]
    freq_word = {"monthly": "Monthly", "quarterly": "Quarterly"}[report.frequency]
    flows = "releases and expenditure" if report.releases else "expenditure"
    return table(
        _without_releases(df, report),
        caption=f"{freq_word} {flows}, FY {report.fiscal_year}",
        units=(
            f"{money_label()}; a missing {_word(report)} shows a dash and is not counted as zero"
            + ("" if _monthly(report) else "; benchmark at the quarter's end")
        ),
        formats={
            "Releases": "{:,.1f}",
            "Expenditure": "{:,.1f}",
            "Cumulative expenditure": "{:,.1f}",
            "Cumulative % of BE": "pct",
            "Benchmark": "pct",
        },
        row_classes=classes,
    )


def annual_table(report: ExecutionReport) -> table | note:
    """Annual data: approved (BE) against executed, one row per fiscal year."""
    tr = report.trend.sort_values("month")
    if tr.empty:
        return note("No fiscal year with a budget in the data.")
    df = pd.DataFrame(
        {
            "Fiscal year": tr["fiscal_year"].to_numpy(),
            "Budget estimate (approved)": tr["budget_estimate"].to_numpy(),
            "Executed": tr["expenditure"].to_numpy(),
            "Executed, % of BE": tr["cum_util_be"].where(tr["status"] == "reported").to_numpy(),
            "Data": [
                "executed" if st == "reported" else ("partial" if st == "incomplete" else "not yet")
                for st in tr["status"]
            ],
        }
    )
    return table(
        df,
        caption="Executed against approved budget, by fiscal year (annual data)",
        units=f"{money_label()}; a year without executed figures shows a dash, not zero",
        formats={
            "Budget estimate (approved)": "{:,.1f}",
            "Executed": "{:,.1f}",
            "Executed, % of BE": "pct",
        },
        row_classes=["" if st == "reported" else "kp-missing" for st in tr["status"]],
    )


def section_title(report: ExecutionReport, section: str) -> str:
    """Section headings that follow the data's frequency (``trend``, ``projection``)."""
    if section == "trend":
        return {
            "monthly": "Monthly trend and year-end bunching",
            "quarterly": "Quarterly trend and year-end bunching",
            "annual": "Executed against approved, by year",
        }[report.frequency]
    if section == "projection":
        return "Year-end outturn" if report.frequency == "annual" else "Year-end projection"
    if section == "position":
        return (
            "Executed against the approved budget"
            if report.frequency == "annual"
            else "Spending against the benchmark"
        )
    raise ValueError(f"unknown section {section!r}")


def seasonality_table(report: ExecutionReport) -> table | note:
    """Shares of annual spending booked in the fiscal year's last month and last two months,
    in past years."""
    s = report.seasonality
    last, pair = fy_end_name(), fy_end_pair()
    if report.frequency == "annual":
        return note("Annual data: there is no within-year spending profile to show.")
    if report.frequency == "quarterly":
        if s.empty:
            return note(
                "No completed past fiscal year in the data: the last quarter's share "
                "cannot be shown."
            )
        df = pd.DataFrame(
            {
                "Fiscal year": s["fiscal_year"],
                "Annual expenditure": s["annual_expenditure"],
                "Last quarter's share": s["june_share"],
                "Complete data": s["complete"],
            }
        )
        return table(
            df,
            caption="Year-end bunching: share of annual spending booked in the last quarter",
            units=f"{money_label()}; shares of the year's expenditure",
            formats={"Annual expenditure": "{:,.1f}", "Last quarter's share": "pct"},
        )
    if s.empty:
        return note(f"No completed past fiscal year in the data: the {last} share cannot be shown.")
    df = pd.DataFrame(
        {
            "Fiscal year": s["fiscal_year"],
            "Annual expenditure": s["annual_expenditure"],
            f"{last} share": s["june_share"],
            f"{pair} share": s["may_june_share"],
            "Complete data": s["complete"],
        }
    )
    return table(
        df,
        caption=f"Year-end bunching: share of annual spending booked in {last} and in {pair}",
        units=(
            f"{money_label()}; shares of the year's expenditure "
            "(a year with missing months is not shown)"
        ),
        formats={"Annual expenditure": "{:,.1f}", f"{last} share": "pct", f"{pair} share": "pct"},
    )


def projection_view(report: ExecutionReport) -> list:
    """The projection section's chart and note (annual data: the note alone)."""
    if report.frequency == "annual":
        return [projection_note(report)]
    return [projection_chart(report), projection_note(report)]


def projection_details(report: ExecutionReport) -> list:
    """Both methods and their back-test (annual data: nothing, there is no projection)."""
    if report.frequency == "annual":
        return []
    return [projection_table(report), backtest_table(report)]


def projection_table(report: ExecutionReport) -> table | note:
    """Both projection methods with their intervals and back-test error."""
    if report.frequency == "annual":
        return note(
            "Annual data: no within-year projection. A year's outturn is its executed amount, "
            "shown once the year is in the data."
        )
    m = report.projection.methods
    df = pd.DataFrame(
        {
            "Method": m["label"],
            "Used in headline": m["method"] == report.projection.method,
            "Projection": m["point"],
            "Low": m["low"],
            "High": m["high"],
            "Projection, % of BE": m["point_be"],
            "Back-test MAPE": m["backtest_mape"],
            "Years tested": m["backtest_years"].astype("int64"),
            "Note": m["note"],
        }
    )
    return table(
        df,
        caption=(
            f"Year-end projection for FY {report.fiscal_year} by method "
            f"(back-test: the method applied at fiscal month "
            f"{report.fy_m if _monthly(report) else report.projection.as_of_m} of past years)"
        ),
        units=f"{money_label()}; MAPE = mean absolute percentage error against the actual outturn",
        formats={
            "Projection": "{:,.1f}",
            "Low": "{:,.1f}",
            "High": "{:,.1f}",
            "Projection, % of BE": "pct",
            "Back-test MAPE": "pct",
        },
    )


def backtest_table(report: ExecutionReport) -> table | note:
    """Each past year's back-test projection against the actual outturn."""
    b = report.projection.backtest
    if report.frequency == "annual":
        return note("Annual data: no back-test (there is no within-year projection).")
    if b.empty:
        return note(
            "No back-test was possible: it needs a complete past year with at least one "
            "complete year before it."
        )
    labels = report.projection.methods.set_index("method")["label"]
    df = pd.DataFrame(
        {
            "Fiscal year": b["fiscal_year"],
            "Method": b["method"].map(labels),
            "Projection": b["projection"],
            "Low": b["low"],
            "High": b["high"],
            "Actual outturn": b["actual"],
            "Absolute error": b["ape"],
            "Actual inside interval": b["covered"].map(
                lambda v: "n/a" if v is None or pd.isna(v) else ("yes" if v else "no")
            ),
        }
    )
    return table(
        df,
        caption=(
            f"Back-test at fiscal month "
            f"{report.fy_m if _monthly(report) else report.projection.as_of_m}: projection "
            "against actual outturn"
        ),
        units=f"{money_label()}; absolute error as % of the actual outturn",
        formats={
            "Projection": "{:,.1f}",
            "Low": "{:,.1f}",
            "High": "{:,.1f}",
            "Actual outturn": "{:,.1f}",
            "Absolute error": "pct",
        },
    )


def projection_note(report: ExecutionReport) -> note:
    """Which method the headline uses and why."""
    p = report.projection
    if report.frequency == "annual" and not report.year_complete:
        return note(
            f"Annual data: FY {report.fiscal_year}'s executed amount is not in the data yet; "
            "no within-year projection is made."
        )
    if p.withheld:
        return note(
            f"No headline projection: {p.withheld}. The rule: a projection above "
            f"{PLAUSIBLE_MAX:.0%} of the budget estimate is not plausible and is withheld; "
            "the reported position stands.",
            kind="warning",
        )
    if report.frequency == "annual":
        return note(
            f"FY {report.fiscal_year} is closed: executed {_pkr(p.reported_to_date)} "
            f"({wording.pct(p.reported_to_date / p.budget_estimate)} of BE), the year's outturn. "
            "Annual data have no within-year projection."
        )
    if report.year_complete:
        return note(
            f"The fiscal year is complete: year-end expenditure was {_pkr(p.reported_to_date)} "
            f"({wording.pct(p.reported_to_date / p.budget_estimate)} of BE), so no projection is made. "
            "The methods and back-tests below show how the projections of earlier months did."
        )
    basis = "" if _monthly(report) else f" Based on {_basis(report)}."
    if p.method == "pace":
        return note(
            f"Headline projection: straight-line pace. {p.reason[0].upper()}{p.reason[1:]}." + basis
        )
    interval = (
        f" The range shown is {_pkr(p.low)} to {_pkr(p.high)}."
        if p.has_interval
        else " No interval can be given (it needs two prior years with complete data)."
    )
    return note(
        f"Headline projection: {p.label.lower()}, {_pkr(p.point)} ({wording.pct(p.point_be)} of BE), "
        f"chosen because {p.reason}.{interval}{basis}"
    )


def flags_table(report: ExecutionReport) -> table | note:
    """The flags a reader should not miss."""
    f = report.flags
    if f.empty:
        word = "month" if _monthly(report) else _word(report)
        return note(
            "No flags: spending is within the under-spending margin, not above releases, "
            f"without unusual {'monthly' if _monthly(report) else word + '-on-' + word} changes "
            f"and with every {word} reported."
        )
    df = pd.DataFrame(
        {
            "Flag": f["kind"].map(_flag_labels(report)).fillna(f["kind"]),
            "Where": f["scope"].map(scope_labels()).fillna(f["scope"]),
            "Detail": f["message"],
        }
    )
    return table(df, caption=f"Flags, {month_label(report.month)}", units="rules in Data notes")


def pefa_table(pefa: PefaResult) -> table | note:
    """PI-1 outturn, PI-2 variance (and PI-2.3 when the chart has a contingency line) for each
    of the last three completed years."""
    y = pefa.years
    if y.empty:
        return note("PEFA: no completed fiscal year in the data yet.")
    dim = pefa.pi2_dimension
    cols = {
        "Fiscal year": y["fiscal_year"],
        "Budget estimate": y["budget_estimate"],
        "Actual": y["actual"],
        "PI-1 outturn (actual / BE)": y["outturn"],
        f"{dim} composition variance": y["variance"],
    }
    has_23 = "contingency_share" in y and y["contingency_share"].notna().any()
    if has_23:
        cols["PI-2.3 contingency (% of BE)"] = y["contingency_share"]
    cols["Complete data"] = y["complete"]
    scores = f"PI-1 score {pefa.pi1 or 'not scored'}, {dim} score {pefa.pi2 or 'not scored'}"
    if has_23:
        scores += f", PI-2.3 score {pefa.pi23 or 'not scored'}"
    return table(
        pd.DataFrame(cols),
        caption=f"PEFA budget reliability: {scores}",
        units=f"{money_label()}; original budget estimates (BE), principal repayments left out",
        formats={
            "Budget estimate": "{:,.1f}",
            "Actual": "{:,.1f}",
            "PI-1 outturn (actual / BE)": "pct",
            f"{dim} composition variance": "pct",
            "PI-2.3 contingency (% of BE)": "pct",
        },
    )


def _classes_text(codes: Sequence[str]) -> str:
    names = profile.active().chart.names
    return wording.join([f"{c} ({names.get(c, c).lower()})" for c in codes]) if codes else "none"


def pefa_scope_text(pefa: PefaResult) -> str:
    """What each measure leaves out (from the chart of accounts' roles) and, for PI-2.1, how
    many heads were aggregated into one line."""
    dim = pefa.pi2_dimension
    out1 = pefa.excluded.get("PI-1", ())
    out2 = pefa.excluded.get(dim, ())
    interest = profile.active().chart.with_role("interest")
    text = (
        f"PI-1 leaves out repayment of debt principal: {_classes_text(out1)}. "
        f"{dim} leaves out {_classes_text(out2)}"
    )
    if dim == "PI-2.2" and interest:
        text += f"; interest ({', '.join(interest)}) stays in"
    text += "."
    y = pefa.years
    if dim == "PI-2.1" and len(y) and (y["residual_heads"] > 0).any():
        r = y.loc[y["residual_heads"] > 0].iloc[-1]
        text += (
            f" With more than {PI2_MAX_HEADS} departments, PI-2.1 takes the largest that make "
            f"up {PI2_HEAD_SHARE:.0%} of the budget (at least {PI2_MAX_HEADS}) one by one and "
            f"the other {int(r['residual_heads'])} as one line (FY {r['fiscal_year']}: "
            f"{int(r['heads']) - 1} heads plus the residual line)."
        )
    return text


def pefa_notes(pefa: PefaResult) -> list[note]:
    """The scoring rules, what each measure covers, and why a score is (not) given."""
    rule = (
        "PEFA 2016 (Field Guide, 2nd ed. 2018). PI-1: A when outturn is 95-105% of BE in at "
        "least two of the three years, B 90-110%, C 85-115%, else D. PI-2: composition "
        "variance = sum |A_i - AdjB_i| / sum AdjB_i with AdjB_i = B_i x (total actual / total "
        "BE); A below 5% in two of three years, B below 10%, C below 15%, else D. PI-2.3: "
        "spending charged to contingency, on average over the three years, below 3% of the "
        "original budget A, 3-6% B, above 6% and below 10% C, else D."
    )
    texts = [pefa.note, pefa_scope_text(pefa), pefa.pi23_note, rule]
    return [note(t) for t in texts if t] + pi3_view(pefa.revenue)


# --------------------------------------------------------------------------------------------
# PEFA PI-3 revenue outturn (shown after the PI-1/PI-2 notes by pefa_notes)
# --------------------------------------------------------------------------------------------

PI3_RULE = (
    "PEFA 2016 PI-3 (revenue outturn, dimensions 3.1 and 3.2). PI-3.1: actual revenue 97-106% "
    "of the originally budgeted revenue in at least two of the last three completed years A, "
    "94-112% B, 92-116% C, else D. PI-3.2: composition variance over the revenue categories "
    "(computed as for PI-2) below 5% in two of the three years A, below 10% B, below 15% C, "
    "else D. All revenue counts, current and capital, including transfers that pass through "
    "the budget."
)


def _pi3_largest_gap(rev: RevenueResult) -> str:
    """The category furthest from its budget (in amount) in the latest year used."""
    d = rev.detail
    if d is None or d.empty or not rev.years["actual"].notna().any():
        return ""
    fy = rev.years.loc[rev.years["actual"].notna(), "fiscal_year"].iloc[-1]
    g = d.loc[(d["fiscal_year"] == fy) & d["actual"].notna()].copy()
    if g.empty:
        return ""
    g["gap"] = g["actual"] - g["budget_estimate"]
    r = g.loc[g["gap"].abs().idxmax()]
    if r["gap"] == 0:
        return ""
    word = "shortfall" if r["gap"] < 0 else "over-realisation"
    share = f", {r['outturn']:.0%} of budget" if math.isfinite(r["outturn"]) else ""
    return (
        f"Largest {word} in {fy}: {r['category']}, {fmt_money(abs(float(r['gap'])), 'auto')} "
        f"({fmt_money(float(r['actual']), 'auto')} against "
        f"{fmt_money(float(r['budget_estimate']), 'auto')}"
        f"{share})."
    )


def pi3_view(rev: RevenueResult | None) -> list:
    """PI-3.1 and PI-3.2 with their figures (one row per year), the largest deviation and the
    rule; one note when PI-3 is not assessed. Nothing when the caller did not assess PI-3."""
    if rev is None:
        return []
    if rev.years.empty:
        return [note(rev.note)]
    y = rev.years
    whose = (
        "receipts this department collects"
        if rev.scope
        else f"{profile.active().scope_adjective} revenue"
    )
    df = pd.DataFrame(
        {
            "Fiscal year": y["fiscal_year"],
            "Budgeted revenue": y["budget_estimate"],
            "Actual revenue": y["actual"],
            "PI-3.1 outturn (actual / budget)": y["outturn"],
            "PI-3.2 composition variance": y["variance"],
            "Categories": y["categories"].astype(int),
        }
    )
    out: list = [
        table(
            df,
            caption=(
                f"PEFA revenue outturn ({whose}): PI-3.1 score {rev.pi31 or 'not scored'}, "
                f"PI-3.2 score {rev.pi32 or 'not scored'}"
            ),
            units=f"{money_label()}; originally budgeted revenue",
            formats={
                "Budgeted revenue": "{:,.1f}",
                "Actual revenue": "{:,.1f}",
                "PI-3.1 outturn (actual / budget)": "pct",
                "PI-3.2 composition variance": "pct",
            },
        )
    ]
    texts = [rev.note, _pi3_largest_gap(rev)]
    if rev.scope:
        texts.append(
            "PEFA scores PI-3 for the whole government (see the overview); here its method is "
            "applied to the receipts the revenue book assigns to this department."
        )
    texts.append(PI3_RULE)
    return out + [note(t) for t in texts if t]


_RECORD_METHODS = {
    "profile": "prior-year profile",
    "model": "regression",
    "pace": "straight-line pace",
    "outturn": "outturn",
    "none": "none shown",
}


def _record_month(fy: str, fy_m: int, freq: str) -> str:
    return period_label(fy_months(fy)[fy_m - 1], freq)


def forecast_sentence(record: ForecastRecord | None, who: str = "the projection") -> str:
    """'In FY 2023-24 the projection missed the outturn by 12% on average; by March 2024 it
    was 3% below.' ('' when there is no record)."""
    if record is None:
        return ""
    t = record.province if record.province is not None else record.table
    t = t.dropna(subset=["error"]) if len(t) else t
    if not len(t):
        return ""
    last = t.iloc[-1]
    return (
        f"In FY {record.fiscal_year} {who} missed the outturn by "
        f"{_miss(record.mean_abs_error)} on average; in "
        f"{month_label(last['month'])} it was {_off(float(last['error']))} the outturn."
    )


def _miss(x: float) -> str:
    """A size of miss: one decimal below 10% ('0.6%'), whole percent above ('12%')."""
    return f"{x:.1%}" if abs(x) < 0.1 else f"{x:.0%}"


#: A projection whose relative error is below this reads as "within 0.5% of" the outturn (a
#: relative error, not the percentage-point gap of :data:`wording.IN_LINE`).
_CLOSE = 0.005


def _off(error: float) -> str:
    """'3.2% above' / '12% below' / 'within 0.5% of'."""
    if abs(error) < _CLOSE:
        return f"within {_CLOSE:.1%} of"
    return f"{_miss(abs(error))} {'above' if error > 0 else 'below'}"


def forecast_table(record: ForecastRecord | None, frequency: str = "monthly") -> table | note:
    """Each month's year-end projection of the closed year against its outturn (department;
    the province line when the record has one)."""
    if record is None:
        return note("No record of past projections.")
    t = record.province if record.province is not None else record.table
    if not len(t):
        return note(f"How past projections did: {record.note}")
    df = pd.DataFrame(
        {
            "Projection made in": [
                _record_month(record.fiscal_year, int(m), frequency) for m in t["fy_m"]
            ],
            "Projected year-end": t["projection"],
            "Outturn": t["outturn"],
            "Projection - outturn (% of outturn)": t["error"],
            "Same, points of BE": t["error_be"],
        }
    )
    if record.province is None:
        df["Method"] = t["method"].map(_RECORD_METHODS).fillna(t["method"])
    return table(
        df,
        caption=f"How the year-end projections of FY {record.fiscal_year} compared with its outturn",
        units=money_label(),
        formats={
            "Projected year-end": "{:,.1f}",
            "Outturn": "{:,.1f}",
            "Projection - outturn (% of outturn)": "pct",
            "Same, points of BE": "pp",
        },
    )


def forecast_view(
    record: ForecastRecord | None, frequency: str = "monthly", who: str = "the projection"
) -> list:
    """The forecast-accuracy section: a sentence, the table and how it is computed."""
    if record is None:
        return [note("No record of past projections.")]
    out = []
    sentence = forecast_sentence(record, who)
    if sentence:
        out.append(note(sentence))
    out.append(forecast_table(record, frequency))
    t = record.province if record.province is not None else record.table
    if len(t):
        out.append(note(record.note))
    return out


def as_of_text(report: ExecutionReport) -> str:
    """The title block's data as-of: the department's last reported month this fiscal year."""
    last = report.last_reported_month
    return month_label(last) if last is not None else f"no data for FY {report.fiscal_year} yet"


def _definitions_text() -> str:
    """Scope definitions from the active chart of accounts (KP: 'Salary = current fund, object
    class A01; non-salary = other current classes; development = ADP.')."""
    chart = profile.active().chart
    cur = current_fund()
    sal = salary_classes()
    sal_text = f"object class{'es' if len(sal) > 1 else ''} {', '.join(sal)}" if sal else "no class"
    if chart == profile.KP_CHART:
        dev = "ADP"
    else:
        others = [f for f in chart.funds if f != cur]
        dev = " and ".join(f"the {f} fund" for f in others) or "none"
        dev_classes = chart.with_role("development")
        if dev_classes:
            dev += f", and classes {', '.join(dev_classes)} in any fund"
    return (
        f"Salary = {cur} fund, {sal_text}; non-salary = other {cur} classes; development = {dev}."
    )


def _period_data_notes(report: ExecutionReport) -> list[note]:
    """Data notes for quarterly and annual data: the as-of, the periods, the rules."""
    word, words = _word(report), _word(report, True)
    money = f"Amounts in {money_label()}."
    out = []
    if report.as_of is not None:
        out.append(
            note(
                f"Budget data are {report.frequency}. Data as of {_as_of_words(report)}: the "
                f"end of the department's last {word} with data, up to the report month "
                f"{month_label(report.month)}. Utilisation, the benchmark and the projection "
                f"are all taken at that date. {money}"
            )
        )
    else:
        out.append(
            note(
                f"Budget data are {report.frequency}. No {word} of FY {report.fiscal_year} had "
                f"been reported by {month_label(report.month)}. {money}"
            )
        )
    if report.missing_months:
        out.append(
            note(
                f"Missing {words} this fiscal year: "
                f"{_periods_text(report, report.missing_months)}. No data were received for "
                f"them; cumulative figures cover reported {words} only and understate spending.",
                kind="warning",
            )
        )
    if report.awaited_periods:
        out.append(
            note(
                f"Not yet reported: {_periods_text(report, report.awaited_periods)} (ended by the "
                f"report month, no data yet); the report is as of the last reported {word}.",
                kind="warning",
            )
        )
    if report.incomplete_months:
        out.append(
            note(
                f"Incomplete {words} (some budgeted object classes without a row): "
                f"{_periods_text(report, report.incomplete_months)}.",
                kind="warning",
            )
        )
    if report.frequency == "quarterly":
        out.append(
            note(
                "Months inside a reported quarter are not missing: the data give quarters, and "
                "each quarter is counted at its last month."
            )
        )
    bench = (
        ""
        if report.frequency == "annual"
        else f"benchmark = months elapsed at the as-of date / 12 ({fy_start_name()} = 1; the "
        "end of Q2 = 50%). "
    )
    out.append(
        note(
            f"Definitions: {bench}BE = original budget estimate; final grant = revised "
            f"estimate, shown only once it is known for every line of the scope. "
            f"{_definitions_text()}"
        )
    )
    if report.frequency == "annual":
        out.append(
            note(
                "Annual data: each year's executed amount is compared with its approved budget "
                "(BE); a year without its executed amount has no outturn, and no within-year "
                "projection is made."
            )
        )
    else:
        out.append(
            note(
                "Projection methods, on the data's quarters: (1) prior-year quarterly profile - "
                "spending in the reported quarters divided by the share of annual spending "
                "those quarters took in up to three complete prior years; (2) seasonal "
                "regression with quarter effects; without a usable prior year, the straight-line "
                "pace = reported spending / (months covered by the reported quarters / 12). "
                f"A projection above {PLAUSIBLE_MAX:.0%} of BE is withheld as implausible."
            )
        )
    out.append(
        note(
            f"Flag rules: under-spending when utilisation of BE is more than "
            f"{report.underspend_margin * 100:.0f} points below the benchmark;"
            f"{_above_releases_rule(report)} "
            f"a {word} at least {JUMP_RATIO:g} times the previous reported "
            f"{word} (or at most 1/{JUMP_RATIO:g} of it) when the change is at least "
            f"{JUMP_MIN_SHARE:.0%} of the annual BE; missing, incomplete or not yet reported "
            f"{words}."
        )
    )
    return out


def data_notes(report: ExecutionReport) -> list[note]:
    """Data coverage, as-of date, definitions and flag rules."""
    if not _monthly(report):
        return _period_data_notes(report)
    last = report.last_reported_month
    out = [
        note(
            f"Data as of {month_label(last)} (the department's last month with budget data). "
            f"Amounts in {money_label()}."
            if last is not None
            else f"No budget data have been received for FY {report.fiscal_year} yet. "
            f"Amounts in {money_label()}."
        )
    ]
    if report.missing_months:
        out.append(
            note(
                f"Missing months this fiscal year: {_months_text(report.missing_months)}. "
                "No data were received for them; cumulative figures cover reported months only "
                "and understate spending. The projection estimates the missing months from the "
                "usual monthly profile.",
                kind="warning",
            )
        )
    else:
        out.append(note(f"Every month from {_span(report.month)} was reported."))
    if report.incomplete_months:
        partial = report.projection.incomplete_m
        tail = (
            " The projection leaves the partial months' spending out and projects them like "
            "missing months (their share of the year would otherwise count in full against "
            "part of their spending)."
            if partial
            else ""
        )
        out.append(
            note(
                f"Incomplete months (some budgeted object classes without a row): "
                f"{_months_text(report.incomplete_months)}.{tail}",
                kind="warning",
            )
        )
    out.append(
        note(
            f"Definitions: benchmark = months elapsed / 12 ({fy_start_name()} = 1). BE = original budget "
            "estimate; final grant = revised estimate, shown only once it is known for every "
            f"line of the scope at the report month. {_definitions_text()}"
        )
    )
    out.append(
        note(
            f"Flag rules: under-spending when utilisation of BE is more than "
            f"{report.underspend_margin * 100:.0f} points below the benchmark;"
            + _above_releases_rule(report)
            + f" a month at least {JUMP_RATIO:g} times the previous reported "
            f"month (or at most 1/{JUMP_RATIO:g} of it) when the change is at least "
            f"{JUMP_MIN_SHARE:.0%} of the annual BE, and any month with negative net spending; "
            "missing or incomplete months."
        )
    )
    out.append(
        note(
            "Projection methods: (1) prior-year monthly profile - spending in the reported months "
            "divided by the share of annual spending those months took in up to three complete "
            "prior years; the range uses each prior year's profile alone. (2) Seasonal "
            "regression - statsmodels OLS of log monthly spending on fiscal-year and month "
            f"effects; {MODEL_INTERVAL:.0%} simulated interval. The regression is used in the "
            "headline only when its back-test error is clearly lower. A month in which some "
            "lines were reported and others that the department reports in other months were "
            "not is a partial month: both methods leave it out and project it."
        )
    )
    return out


# --------------------------------------------------------------------------------------------
# Charts
# --------------------------------------------------------------------------------------------


def _fy_axis(ax) -> None:
    ax.set_xticks(range(1, 13))
    ax.set_xticklabels(fy_month_ticks())
    ax.set_xlim(0.5, 12.5)
    ax.set_xlabel("Month of the fiscal year")


def _pkr_axis(ax, axis: str = "y") -> None:
    def fmt(v, _pos=None):
        return f"{v:,.0f}"

    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(fmt)


def _year_trend(report: ExecutionReport, fy: str) -> pd.DataFrame:
    return report.trend.loc[report.trend["fiscal_year"] == fy].sort_values("fy_m")


def _gapped(t: pd.DataFrame, column: str) -> pd.Series:
    """A cumulative column with missing months blanked, so the line breaks at a gap."""
    return t[column].where(~t["status"].isin(["missing", "awaited"]))


def _previous(report: ExecutionReport) -> str | None:
    years = sorted(y for y in set(report.trend["fiscal_year"]) if y < report.fiscal_year)
    return years[-1] if years else None


def annual_chart(report: ExecutionReport) -> figure | note:
    """Annual data: approved (BE) and executed per fiscal year, executed as % of BE on top."""
    tr = report.trend.sort_values("month")
    if tr.empty:
        return note("No fiscal year with a budget in the data.")
    years = list(tr["fiscal_year"])
    x = np.arange(len(years))
    done = tr["status"].eq("reported").to_numpy()
    executed = tr["expenditure"].where(done)
    fig, ax = svgplot.subplots(figsize=(8, 4.2))
    ax.bar(x - 0.2, tr["budget_estimate"], width=0.4, color=PALETTE[5], label="Approved (BE)")
    ax.bar(x + 0.2, executed.fillna(0), width=0.4, color=PALETTE[0], label="Executed")
    for xi, v, util, ok in zip(x, executed, tr["cum_util_be"], done, strict=True):
        if ok and wording.ok(util):
            ax.annotate(
                wording.pct(util),
                (xi + 0.2, v),
                xytext=(0, 3),
                textcoords="offset points",
                ha="center",
                fontsize=8,
            )
        elif not ok:
            ax.annotate(
                "not yet",
                (xi + 0.2, 0),
                xytext=(0, 3),
                textcoords="offset points",
                ha="center",
                fontsize=8,
                rotation=90,
                color=STATUS_COLOURS["bad"],
            )
    ax.set_xticks(x)
    ax.set_xticklabels(
        years, rotation=45 if len(years) > 6 else 0, ha="right" if len(years) > 6 else "center"
    )
    _pkr_axis(ax)
    ax.set_ylabel(money_label())
    ax.set_title("Executed against approved budget, by fiscal year")
    ax.legend(loc="upper left", fontsize=9)
    shown = tr.loc[done]
    alt = "Bar chart of approved and executed budget per fiscal year" + (
        "; executed as % of approved: "
        + "; ".join(
            f"{r.fiscal_year} {wording.pct(r.cum_util_be)}" for r in shown.itertuples(index=False)
        )
        + "."
        if len(shown)
        else "; no year has executed figures yet."
    )
    return figure(
        fig, alt=alt, caption="Annual data: labels give executed as % of the approved budget (BE)."
    )


def cumulative_chart(report: ExecutionReport) -> figure | note:
    """Cumulative spending as % of BE this year and last year against the benchmark path
    (annual data: :func:`annual_chart`)."""
    if report.frequency == "annual":
        return annual_chart(report)
    fig, ax = svgplot.subplots()
    ax.plot([0, 12], [0, 1], color=_BENCH_COLOUR, ls=":", lw=1.5, label="Time-elapsed benchmark")
    prev = _previous(report)
    if prev:
        t = _year_trend(report, prev)
        ax.plot(
            t["fy_m"],
            _gapped(t, "cum_util_be"),
            color=PALETTE[5],
            ls="--",
            lw=1.8,
            label=f"FY {prev}",
        )
    t = _year_trend(report, report.fiscal_year)
    ax.plot(
        t["fy_m"],
        _gapped(t, "cum_util_be"),
        color=PALETTE[0],
        lw=2.5,
        marker="o",
        label=f"FY {report.fiscal_year}",
    )
    miss = t.loc[t["status"] == "missing"]
    if len(miss):
        ax.scatter(
            miss["fy_m"],
            miss["cum_util_be"],
            s=80,
            facecolors="white",
            edgecolors=STATUS_COLOURS["bad"],
            zorder=5,
            label=f"{_word(report).capitalize()} missing (no data; total so far shown)",
        )
    ax.yaxis.set_major_formatter(svgplot.percent_format())
    ax.set_ylim(bottom=0)
    _fy_axis(ax)
    ax.set_ylabel("Cumulative expenditure, % of budget estimate")
    ax.set_title("Cumulative spending against the time-elapsed benchmark")
    ax.legend(loc="upper left", fontsize=9)
    tot = report.total
    alt = (
        f"Line chart: cumulative expenditure reached {wording.pct(tot['util_be'])} of the budget "
        f"estimate by {_as_of_words(report)} against a {wording.pct(report.benchmark)} benchmark"
        + (
            f"; last year at the same point {wording.pct(tot['last_year_util_be'])}."
            if wording.ok(tot["last_year_util_be"])
            else "."
        )
    )
    return figure(fig, alt=alt, caption="Expenditure as % of the original budget estimate (BE).")


def _draw_years(ax, report: ExecutionReport, step: int) -> pd.DataFrame:
    """Past three years as lines and this year as bars, per fiscal month (``step`` 1) or per
    period of ``step`` months; returns this year's trend rows."""
    past = sorted(y for y in set(report.trend["fiscal_year"]) if y < report.fiscal_year)[-3:]
    for i, fy in enumerate(past):
        t = _year_trend(report, fy)
        ax.plot(
            t["fy_m"] // step,
            t["expenditure"],
            lw=1.6,
            marker=".",
            color=PALETTE[(i + 1) % 8],
            label=f"FY {fy}",
        )
    t = _year_trend(report, report.fiscal_year)
    ax.bar(
        t["fy_m"] // step,
        t["expenditure"].fillna(0),
        color=PALETTE[0],
        alpha=0.45,
        label=f"FY {report.fiscal_year}",
    )
    return t


def monthly_chart(report: ExecutionReport) -> figure | note:
    """Monthly expenditure this year (bars) and in past years (lines), the year's last two
    months highlighted (quarterly data: per quarter, the last quarter highlighted)."""
    if report.frequency == "annual":
        return note("Annual data: no within-year spending to chart (see the table below).")
    if not _monthly(report):
        return _period_chart(report)
    fig, ax = svgplot.subplots()
    t = _draw_years(ax, report, 1)
    for m in t.loc[t["status"] == "missing", "fy_m"]:
        ax.annotate(
            "no data",
            (m, 0),
            xytext=(0, 4),
            textcoords="offset points",
            ha="center",
            fontsize=8,
            color=STATUS_COLOURS["bad"],
            rotation=90,
        )
    ax.axvspan(10.5, 12.5, color=STATUS_COLOURS["watch"], alpha=0.12, label=fy_end_pair())
    _fy_axis(ax)
    _pkr_axis(ax)
    ax.set_ylabel(f"Expenditure in the month ({money_label()})")
    ax.set_title(f"Monthly expenditure: year-end bunching in {fy_end_pair()}")
    ax.legend(loc="upper left", fontsize=9)
    s = report.seasonality.dropna(subset=["june_share"])
    alt = "Chart of monthly expenditure by fiscal month" + (
        f"; {fy_end_name()} took {wording.pct(s['june_share'].mean())} of annual spending in past "
        "years on average."
        if len(s)
        else "."
    )
    return figure(
        fig,
        alt=alt,
        caption="Bars: this year; lines: past years. Missing months are not drawn as zero.",
    )


def _period_chart(report: ExecutionReport) -> figure:
    """Quarterly expenditure this year (bars) and in past years (lines), by fiscal quarter."""
    n = report.period_months
    fig, ax = svgplot.subplots()
    t = _draw_years(ax, report, n)
    for q, st in zip(t["fy_m"] // n, t["status"], strict=True):
        if st in ("missing", "awaited"):
            ax.annotate(
                "no data" if st == "missing" else "not yet",
                (q, 0),
                xytext=(0, 4),
                textcoords="offset points",
                ha="center",
                fontsize=8,
                color=STATUS_COLOURS["bad"],
                rotation=90,
            )
    k = 12 // n
    ax.set_xticks(range(1, k + 1))
    ax.set_xticklabels([f"Q{i}" for i in range(1, k + 1)])
    ax.set_xlim(0.5, k + 0.5)
    ax.set_xlabel("Quarter of the fiscal year")
    ax.axvspan(k - 0.5, k + 0.5, color=STATUS_COLOURS["watch"], alpha=0.12, label="Last quarter")
    _pkr_axis(ax)
    ax.set_ylabel(f"Expenditure in the quarter ({money_label()})")
    ax.set_title("Quarterly expenditure")
    ax.legend(loc="upper left", fontsize=9)
    return figure(
        fig,
        alt="Chart of quarterly expenditure by fiscal quarter, this year and past years.",
        caption="Bars: this year; lines: past years. Quarters without data are not drawn as zero.",
    )


def _bench_label(report: ExecutionReport) -> str:
    if report.frequency == "annual":
        return "Approved budget (100%)"
    return f"Benchmark {wording.pct(report.benchmark)}"


def components_chart(report: ExecutionReport) -> figure:
    """Utilisation of BE and of releases by component against the benchmark (of BE only when
    the source gives no releases)."""
    p = report.position.loc[report.position["scope"] != "current"].iloc[::-1]
    labels = [scope_labels()[s].split(" (")[0] for s in p["scope"]]
    y = np.arange(len(p))
    releases = report.releases
    be_y, height = (y + 0.2, 0.4) if releases else (y, 0.6)
    fig, ax = svgplot.subplots()
    ax.barh(
        be_y, p["util_be"].fillna(0), height=height, color=PALETTE[0], label="% of budget estimate"
    )
    if releases:
        ax.barh(
            y - 0.2,
            p["util_releases"].fillna(0),
            height=0.4,
            color=PALETTE[1],
            label="% of releases",
        )
    for yi, v in zip(be_y, p["util_be"], strict=True):
        if wording.ok(v):
            ax.annotate(
                wording.pct(v),
                (v, yi),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
            )
    if wording.ok(report.benchmark):
        ax.axvline(
            report.benchmark,
            color=_BENCH_COLOUR,
            ls=":",
            lw=1.5,
            label=_bench_label(report),
        )
    ax.set_yticks(y)
    ax.set_yticklabels(labels)
    ax.xaxis.set_major_formatter(svgplot.percent_format())
    ax.set_xlabel("Cumulative expenditure, % of the named denominator")
    ax.set_title(
        "Salary, non-salary and development: executed as % of approved"
        if report.frequency == "annual"
        else "Salary, non-salary and development against the benchmark"
    )
    ax.legend(loc="lower right", fontsize=8)
    parts = [
        f"{lab} {wording.pct(v)}"
        for lab, v in zip(labels[::-1], p["util_be"].iloc[::-1], strict=True)
    ]
    return figure(
        fig, alt="Bar chart of utilisation of the budget estimate: " + "; ".join(parts) + "."
    )


def object_class_chart(report: ExecutionReport) -> figure:
    """Utilisation of BE by object class against the benchmark."""
    o = report.by_object_class.loc[report.by_object_class["budget_estimate"] > 0].iloc[::-1]
    labels = [
        f"{c} {textwrap.shorten(lab, 34, placeholder='...')}"
        for c, lab in zip(o["object_class"], o["label"], strict=True)
    ]
    fig, ax = svgplot.subplots(figsize=(8, max(3.0, 0.42 * len(o) + 1.2)))
    colours = [
        STATUS_COLOURS["bad"] if wording.ok(g) and g < -report.underspend_margin else PALETTE[0]
        for g in o["gap_be"]
    ]
    ax.barh(labels, o["util_be"].fillna(0), color=colours)
    if wording.ok(report.benchmark):
        ax.axvline(
            report.benchmark,
            color=_BENCH_COLOUR,
            ls=":",
            lw=1.5,
            label=_bench_label(report),
        )
    for i, v in enumerate(o["util_be"]):
        if wording.ok(v):
            ax.annotate(
                wording.pct(v),
                (v, i),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
            )
    ax.xaxis.set_major_formatter(svgplot.percent_format())
    ax.set_xlabel("Cumulative expenditure, % of budget estimate")
    ax.set_title(
        "Spending by object class: executed as % of approved"
        if report.frequency == "annual"
        else "Spending by object class against the benchmark"
    )
    if wording.ok(report.benchmark):
        ax.legend(loc="lower right", fontsize=8)
    behind = o.loc[o["gap_be"] < -report.underspend_margin, "object_class"].tolist()[::-1]
    alt = "Bar chart of utilisation by object class" + (
        f"; more than {report.underspend_margin * 100:.0f} points behind: {', '.join(behind)}."
        if behind
        else "."
    )
    return figure(
        fig, alt=alt, caption="Red bars: more than the under-spending margin behind the benchmark."
    )


def projection_chart(report: ExecutionReport) -> figure | note:
    """Cumulative spending this year with the projected year end and its interval."""
    if report.frequency == "annual":
        return note(
            "Annual data: no within-year projection; the chart above shows each year's outturn."
        )
    p = report.projection
    fig, ax = svgplot.subplots()
    prev = _previous(report)
    if prev:
        t = _year_trend(report, prev)
        ax.plot(
            t["fy_m"],
            _gapped(t, "cum_expenditure"),
            color=PALETTE[5],
            ls="--",
            lw=1.5,
            label=f"FY {prev} actual",
        )
    t = _year_trend(report, report.fiscal_year)
    ax.plot(
        t["fy_m"],
        _gapped(t, "cum_expenditure"),
        color=PALETTE[0],
        lw=2.5,
        marker="o",
        label=f"FY {report.fiscal_year} to date",
    )
    if wording.ok(p.point) and len(t) and not report.year_complete:
        last_m = int(t["fy_m"].max())
        last_v = float(t["cum_expenditure"].iloc[-1])
        if not _monthly(report):  # from the as-of (the last reported quarter's end)
            last_m = report.as_of_m
            last_v = float(report.total["expenditure"])
        ax.plot(
            [last_m, 12],
            [last_v, p.point],
            color=PALETTE[0],
            ls=":",
            lw=2,
            label=f"Projection ({p.label.lower()})",
        )
        if p.has_interval:
            ax.fill_between(
                [last_m, 12],
                [last_v, p.low],
                [last_v, p.high],
                color=PALETTE[0],
                alpha=0.15,
                label="Projection range",
            )
            ax.errorbar(
                [12],
                [p.point],
                yerr=[[max(p.point - p.low, 0.0)], [max(p.high - p.point, 0.0)]],
                color=PALETTE[0],
                capsize=4,
            )
    ax.axhline(p.budget_estimate, color=PALETTE[3], lw=1.2, label="Budget estimate")
    fg = report.total["final_grant"]
    if wording.ok(fg):
        ax.axhline(fg, color=PALETTE[2], lw=1.2, ls="-.", label="Final grant")
    _fy_axis(ax)
    _pkr_axis(ax)
    ax.set_ylim(bottom=0)
    ax.set_ylabel(f"Cumulative expenditure ({money_label()})")
    ax.set_title("Year-end projection")
    ax.legend(loc="lower right", fontsize=8)
    alt = (
        f"Line chart of cumulative expenditure with the projected year end of {_pkr(p.point)} "
        f"({wording.pct(p.point_be)} of the budget estimate"
        + (f", range {_range_text(p.low_be, p.high_be)}" if p.has_interval else "")
        + f"), method: {p.label.lower()}."
    )
    return figure(fig, alt=alt)
