"""Budget execution presentation: key-message sentences, display-ready tables and charts.

Everything here reads a :class:`helpers.analysis.budget.ExecutionReport` (or the province
frames); it formats, orders and words what the analysis computed and computes nothing new.
Amounts are in the active profile's currency unit; ratios are shown as percentages with their denominator named.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, PercentFormatter

from helpers.analysis.budget import (
    JUMP_MIN_SHARE,
    JUMP_RATIO,
    MODEL_INTERVAL,
    SCOPE_LABELS,
    ExecutionReport,
    PefaResult,
    headline_values,
)
from helpers.data.calendar import fy_months, fy_start_name, month_label
from helpers.present.display import figure, headline, note, table
from helpers.present.theme import (
    PALETTE,
    STATUS_COLOURS,
    fmt_money,
    fy_end_name,
    fy_end_pair,
    fy_month_ticks,
    money_label,
)

_BENCH_COLOUR = "#6B7280"
_FLAG_LABELS = {
    "underspend": "Under-spending",
    "above_releases": "Spending above releases",
    "jump": "Unusual month-on-month change",
    "missing_months": "Missing months",
    "incomplete_months": "Incomplete months",
}


# --------------------------------------------------------------------------------------------
# Wording helpers
# --------------------------------------------------------------------------------------------


def _ok(x) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x)) and not pd.isna(x)


def _pct(x, digits: int = 0) -> str:
    return "n/a" if not _ok(x) else f"{float(x) * 100:.{digits}f}%"


def _pts(x) -> str:
    n = abs(float(x)) * 100
    return f"{n:.0f} point{'s' if round(n) != 1 else ''}"


def _pkr(x) -> str:
    """An amount in whole held units, e.g. '<code> 1,235m' for a million unit."""
    return "n/a" if not _ok(x) else fmt_money(float(x), digits=0)


def _join(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _months_text(months: Sequence) -> str:
    return _join([month_label(m) for m in months])


def _span(month) -> str:
    """'<first month of the fiscal year> to <Month YYYY>' (the fiscal year to date)."""
    return f"{fy_start_name()} to {month_label(month)}"


def _range_text(low: float, high: float) -> str:
    lo, hi = round(low * 100), round(high * 100)
    return f"{lo}%" if lo == hi else f"{lo}-{hi}%"


def projection_text(report: ExecutionReport) -> str:
    """'86-91% of the estimate' / 'about 88% of the estimate' / '' (no projection)."""
    p = report.projection
    if not _ok(p.point_be):
        return ""
    if p.has_interval and _ok(p.low_be):
        return f"{_range_text(p.low_be, p.high_be)} of the estimate"
    return f"about {_pct(p.point_be)} of the estimate"


def key_message_sentences(report: ExecutionReport, department_name: str) -> list[str]:
    """Plain sentences that open the report, written from the numbers in ``report``."""
    t = report.total
    when = month_label(report.month)
    out: list[str] = []

    gap = t["gap_be"]
    if not _ok(gap):
        where = "; the budget estimate is zero, so utilisation cannot be measured"
    elif abs(gap) < 0.005:
        where = f", in line with the {_pct(report.benchmark)} time-elapsed benchmark"
    else:
        side = "behind" if gap < 0 else "ahead of"
        where = f", {_pts(gap)} {side} the {_pct(report.benchmark)} time-elapsed benchmark"
    gaps = ""
    if report.missing_months:
        gaps = f" (reported months only: no data for {_months_text(report.missing_months)})"
    first = (
        f"{department_name} has spent {_pct(t['util_be'])} of its budget estimate by {when}"
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

    unspent = t["released_unspent"]
    if _ok(unspent) and unspent < 0:
        lag = f"spending exceeds releases by {_pkr(-unspent)}"
    else:
        lag = f"leaving {_pkr(unspent)} released but unspent"
    if _ok(t["final_grant"]):
        out.append(
            f"Against the final grant of {_pkr(t['final_grant'])} it has spent "
            f"{_pct(t['util_final_grant'])}; against releases of {_pkr(t['releases'])}, "
            f"{_pct(t['util_releases'])}, {lag}."
        )
    else:
        out.append(
            f"The final grant is not yet known at {when}. Against releases of "
            f"{_pkr(t['releases'])} it has spent {_pct(t['util_releases'])}, {lag}."
        )

    comps = report.position.loc[
        report.position["scope"].isin(["salary", "non_salary", "development"])
        & report.position["util_be"].notna()
    ]
    if len(comps) > 1:
        low = comps.sort_values("util_be").iloc[0]
        high = comps.sort_values("util_be").iloc[-1]
        out.append(
            f"{SCOPE_LABELS[low['scope']].split(' (')[0]} spending is the furthest behind at "
            f"{_pct(low['util_be'])} of its estimate; "
            f"{SCOPE_LABELS[high['scope']].split(' (')[0].lower()} is at "
            f"{_pct(high['util_be'])}."
        )

    if _ok(t["last_year_util_be"]):
        diff = t["change_vs_last_year"]
        if abs(diff) < 0.005:
            cmp = "about the same as this year"
        else:
            cmp = f"{_pts(diff)} {'more' if diff < 0 else 'less'} than this year"
        out.append(
            f"At the same point last year it had spent {_pct(t['last_year_util_be'])} of that "
            f"year's estimate, {cmp}."
        )

    seas = report.seasonality.dropna(subset=["june_share"])
    if len(seas):
        out.append(
            f"Spending bunches at the year end: in {_join(list(seas['fiscal_year']))} "
            f"{fy_end_name()} alone took {_pct(seas['june_share'].mean())} of the year's "
            f"spending on average ({fy_end_pair(' and ')} together "
            f"{_pct(seas['may_june_share'].mean())})."
        )

    flags = report.flags.loc[~report.flags["kind"].isin(["missing_months", "incomplete_months"])]
    if len(flags):
        kinds = _join(
            [_FLAG_LABELS[k].lower() for k in dict.fromkeys(flags["kind"]) if k in _FLAG_LABELS]
        )
        out.append(
            f"{len(flags)} flag{'s need' if len(flags) > 1 else ' needs'} attention ({kinds}); "
            "see Flags."
        )
    if report.incomplete_months:
        out.append(
            f"Some object classes were not reported in {_months_text(report.incomplete_months)}; "
            "those figures are incomplete."
        )
    return out


def headline_badge(report: ExecutionReport) -> headline:
    """The portal badge: utilisation and benchmark (ratios of BE) and the projection range."""
    return headline(**headline_values(report))


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


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
    money = money_label()
    df = pd.DataFrame(rows, columns=["Figure", money, "% of BE / ratio"])
    df[money] = df[money].astype("float64")
    df["% of BE / ratio"] = df["% of BE / ratio"].astype("float64")
    return table(
        df,
        caption=f"Headline figures, {month_label(report.month)} (FY {report.fiscal_year})",
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
    return table(
        df,
        caption=(
            f"Cumulative spending by fund and component, {_span(report.month)}, "
            f"against a {_pct(report.benchmark)} benchmark"
        ),
        units=f"{money_label()}; utilisation as % of the named denominator; gap in percentage points",
        formats={
            "BE": money,
            "Final grant": money,
            "Releases": money,
            "Expenditure": money,
            "% of BE": "pct",
            "% of final grant": "pct",
            "% of releases": "pct",
            "Gap to benchmark": "pp",
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
        df,
        caption=f"Spending by object class, {_span(report.month)}",
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
    tr = report.trend.loc[report.trend["fiscal_year"] == report.fiscal_year]
    df = pd.DataFrame(
        {
            "Month": [month_label(m) for m in tr["month"]],
            "Data": tr["status"].to_numpy(),
            "Releases": tr["release"].to_numpy(),
            "Expenditure": tr["expenditure"].to_numpy(),
            "Cumulative expenditure": tr["cum_expenditure"].to_numpy(),
            "Cumulative % of BE": tr["cum_util_be"].to_numpy(),
            "Benchmark": tr["fy_m"].to_numpy() / 12,
        }
    )
    classes = ["kp-missing" if s == "missing" else "" for s in tr["status"]]
    return table(
        df,
        caption=f"Monthly releases and expenditure, FY {report.fiscal_year}",
        units=f"{money_label()}; a missing month shows a dash and is not counted as zero",
        formats={
            "Releases": "{:,.1f}",
            "Expenditure": "{:,.1f}",
            "Cumulative expenditure": "{:,.1f}",
            "Cumulative % of BE": "pct",
            "Benchmark": "pct",
        },
        row_classes=classes,
    )


def seasonality_table(report: ExecutionReport) -> table | note:
    """Shares of annual spending booked in the fiscal year's last month and last two months,
    in past years."""
    s = report.seasonality
    last, pair = fy_end_name(), fy_end_pair()
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


def projection_table(report: ExecutionReport) -> table:
    """Both projection methods with their intervals and back-test error."""
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
            f"(back-test: the method applied at fiscal month {report.fy_m} of past years)"
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
        caption=f"Back-test at fiscal month {report.fy_m}: projection against actual outturn",
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
    if report.year_complete:
        return note(
            f"The fiscal year is complete: year-end expenditure was {_pkr(p.reported_to_date)} "
            f"({_pct(p.reported_to_date / p.budget_estimate)} of BE), so no projection is made. "
            "The methods and back-tests below show how the projections of earlier months did."
        )
    if p.method == "pace":
        return note(
            f"Headline projection: straight-line pace. {p.reason[0].upper()}{p.reason[1:]}."
        )
    interval = (
        f" The range shown is {_pkr(p.low)} to {_pkr(p.high)}."
        if p.has_interval
        else " No interval can be given (it needs two prior years with complete data)."
    )
    return note(
        f"Headline projection: {p.label.lower()}, {_pkr(p.point)} ({_pct(p.point_be)} of BE), "
        f"chosen because {p.reason}.{interval}"
    )


def flags_table(report: ExecutionReport) -> table | note:
    """The flags a reader should not miss."""
    f = report.flags
    if f.empty:
        return note(
            "No flags: spending is within the under-spending margin, not above releases, "
            "without unusual monthly changes and with every month reported."
        )
    df = pd.DataFrame(
        {
            "Flag": f["kind"].map(_FLAG_LABELS).fillna(f["kind"]),
            "Where": f["scope"].map(SCOPE_LABELS).fillna(f["scope"]),
            "Detail": f["message"],
        }
    )
    return table(df, caption=f"Flags, {month_label(report.month)}", units="rules in Data notes")


def pefa_table(pefa: PefaResult) -> table | note:
    """PI-1 outturn and PI-2 variance for each of the last three completed years."""
    y = pefa.years
    if y.empty:
        return note("PEFA: no completed fiscal year in the data yet.")
    df = pd.DataFrame(
        {
            "Fiscal year": y["fiscal_year"],
            "Budget estimate": y["budget_estimate"],
            "Actual": y["actual"],
            "PI-1 outturn (actual / BE)": y["outturn"],
            f"{pefa.pi2_dimension} composition variance": y["variance"],
            "Complete data": y["complete"],
        }
    )
    return table(
        df,
        caption=(
            f"PEFA budget reliability: PI-1 score {pefa.pi1 or 'not scored'}, "
            f"{pefa.pi2_dimension} score {pefa.pi2 or 'not scored'}"
        ),
        units=f"{money_label()}; original budget estimates (BE)",
        formats={
            "Budget estimate": "{:,.1f}",
            "Actual": "{:,.1f}",
            "PI-1 outturn (actual / BE)": "pct",
            f"{pefa.pi2_dimension} composition variance": "pct",
        },
    )


def pefa_notes(pefa: PefaResult) -> list[note]:
    """The scoring rules and why a score is (not) given."""
    rule = (
        "PEFA 2016. PI-1: A when outturn is 95-105% of BE in at least two of the three years, "
        "B 90-110%, C 85-115%, else D. PI-2: composition variance = sum |A_i - AdjB_i| / "
        "sum AdjB_i with AdjB_i = B_i x (total actual / total BE); A below 5% in two of three "
        "years, B below 10%, C below 15%, else D."
    )
    return [note(pefa.note), note(rule)]


def as_of_text(report: ExecutionReport) -> str:
    """The title block's data as-of: the department's last reported month this fiscal year."""
    last = report.last_reported_month
    return month_label(last) if last is not None else f"no data for FY {report.fiscal_year} yet"


def data_notes(report: ExecutionReport) -> list[note]:
    """Data coverage, as-of date, definitions and flag rules."""
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
        out.append(
            note(
                f"Incomplete months (some budgeted object classes without a row): "
                f"{_months_text(report.incomplete_months)}.",
                kind="warning",
            )
        )
    out.append(
        note(
            f"Definitions: benchmark = months elapsed / 12 ({fy_start_name()} = 1). BE = original budget "
            "estimate; final grant = revised estimate, shown only once it is known for every "
            "line of the scope at the report month. Salary = current fund, object class A01; "
            "non-salary = other current classes; development = ADP."
        )
    )
    out.append(
        note(
            f"Flag rules: under-spending when utilisation of BE is more than "
            f"{report.underspend_margin * 100:.0f} points below the benchmark; spending above "
            f"cumulative releases; a month at least {JUMP_RATIO:g} times the previous reported "
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
            "headline only when its back-test error is clearly lower."
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
    fmt = FuncFormatter(lambda v, _p: f"{v:,.0f}")
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(fmt)


def _year_trend(report: ExecutionReport, fy: str) -> pd.DataFrame:
    return report.trend.loc[report.trend["fiscal_year"] == fy].sort_values("fy_m")


def _gapped(t: pd.DataFrame, column: str) -> pd.Series:
    """A cumulative column with missing months blanked, so the line breaks at a gap."""
    return t[column].where(t["status"] != "missing")


def _previous(report: ExecutionReport) -> str | None:
    years = sorted(y for y in set(report.trend["fiscal_year"]) if y < report.fiscal_year)
    return years[-1] if years else None


def cumulative_chart(report: ExecutionReport) -> figure:
    """Cumulative spending as % of BE this year and last year against the benchmark path."""
    fig, ax = plt.subplots()
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
            label="Month missing (no data; total so far shown)",
        )
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_ylim(bottom=0)
    _fy_axis(ax)
    ax.set_ylabel("Cumulative expenditure, % of budget estimate")
    ax.set_title("Cumulative spending against the time-elapsed benchmark")
    ax.legend(loc="upper left", fontsize=9)
    tot = report.total
    alt = (
        f"Line chart: cumulative expenditure reached {_pct(tot['util_be'])} of the budget "
        f"estimate by {month_label(report.month)} against a {_pct(report.benchmark)} benchmark"
        + (
            f"; last year at the same point {_pct(tot['last_year_util_be'])}."
            if _ok(tot["last_year_util_be"])
            else "."
        )
    )
    return figure(fig, alt=alt, caption="Expenditure as % of the original budget estimate (BE).")


def monthly_chart(report: ExecutionReport) -> figure:
    """Monthly expenditure this year (bars) and in past years (lines), the year's last two
    months highlighted."""
    fig, ax = plt.subplots()
    past = sorted(y for y in set(report.trend["fiscal_year"]) if y < report.fiscal_year)[-3:]
    for i, fy in enumerate(past):
        t = _year_trend(report, fy)
        ax.plot(
            t["fy_m"],
            t["expenditure"],
            lw=1.6,
            marker=".",
            color=PALETTE[(i + 1) % 8],
            label=f"FY {fy}",
        )
    t = _year_trend(report, report.fiscal_year)
    ax.bar(
        t["fy_m"],
        t["expenditure"].fillna(0),
        color=PALETTE[0],
        alpha=0.45,
        label=f"FY {report.fiscal_year}",
    )
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
        f"; {fy_end_name()} took {_pct(s['june_share'].mean())} of annual spending in past "
        "years on average."
        if len(s)
        else "."
    )
    return figure(
        fig,
        alt=alt,
        caption="Bars: this year; lines: past years. Missing months are not drawn as zero.",
    )


def components_chart(report: ExecutionReport) -> figure:
    """Utilisation of BE and of releases by component against the benchmark."""
    p = report.position.loc[report.position["scope"] != "current"].iloc[::-1]
    labels = [SCOPE_LABELS[s].split(" (")[0] for s in p["scope"]]
    y = np.arange(len(p))
    fig, ax = plt.subplots()
    ax.barh(
        y + 0.2, p["util_be"].fillna(0), height=0.4, color=PALETTE[0], label="% of budget estimate"
    )
    ax.barh(
        y - 0.2, p["util_releases"].fillna(0), height=0.4, color=PALETTE[1], label="% of releases"
    )
    for yi, v in zip(y, p["util_be"], strict=True):
        if _ok(v):
            ax.annotate(
                _pct(v),
                (v, yi + 0.2),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
            )
    ax.axvline(
        report.benchmark,
        color=_BENCH_COLOUR,
        ls=":",
        lw=1.5,
        label=f"Benchmark {_pct(report.benchmark)}",
    )
    ax.set_yticks(y)
    ax.set_yticklabels(labels)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel("Cumulative expenditure, % of the named denominator")
    ax.set_title("Salary, non-salary and development against the benchmark")
    ax.legend(loc="lower right", fontsize=8)
    parts = [
        f"{lab} {_pct(v)}" for lab, v in zip(labels[::-1], p["util_be"].iloc[::-1], strict=True)
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
    fig, ax = plt.subplots(figsize=(8, max(3.0, 0.42 * len(o) + 1.2)))
    colours = [
        STATUS_COLOURS["bad"] if _ok(g) and g < -report.underspend_margin else PALETTE[0]
        for g in o["gap_be"]
    ]
    ax.barh(labels, o["util_be"].fillna(0), color=colours)
    ax.axvline(
        report.benchmark,
        color=_BENCH_COLOUR,
        ls=":",
        lw=1.5,
        label=f"Benchmark {_pct(report.benchmark)}",
    )
    for i, v in enumerate(o["util_be"]):
        if _ok(v):
            ax.annotate(
                _pct(v), (v, i), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8
            )
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel("Cumulative expenditure, % of budget estimate")
    ax.set_title("Spending by object class against the benchmark")
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


def projection_chart(report: ExecutionReport) -> figure:
    """Cumulative spending this year with the projected year end and its interval."""
    p = report.projection
    fig, ax = plt.subplots()
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
    if _ok(p.point) and len(t) and not report.year_complete:
        last_m = int(t["fy_m"].max())
        last_v = float(t["cum_expenditure"].iloc[-1])
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
    if _ok(fg):
        ax.axhline(fg, color=PALETTE[2], lw=1.2, ls="-.", label="Final grant")
    _fy_axis(ax)
    _pkr_axis(ax)
    ax.set_ylim(bottom=0)
    ax.set_ylabel(f"Cumulative expenditure ({money_label()})")
    ax.set_title("Year-end projection")
    ax.legend(loc="lower right", fontsize=8)
    alt = (
        f"Line chart of cumulative expenditure with the projected year end of {_pkr(p.point)} "
        f"({_pct(p.point_be)} of the budget estimate"
        + (f", range {_range_text(p.low_be, p.high_be)}" if p.has_interval else "")
        + f"), method: {p.label.lower()}."
    )
    return figure(fig, alt=alt)


def fy_month_labels(fy: str) -> list[str]:
    """'Mon YYYY' for each month of a fiscal year, from its first month (chart and table
    labels)."""
    return [m.strftime("%b %Y") for m in fy_months(fy)]
