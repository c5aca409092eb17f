"""Monthly trend and seasonality: spending per period of the fiscal year against the prior years'
average, and the typical share of the year each period accounts for.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd

from helpers.analysis.budget.common import (
    PERIOD_MONTHS,
    check_frequency,
    periods_in_year,
)
from helpers.analysis.budget.coverage import (
    month_coverage,
)
from helpers.analysis.budget.prepare import (
    _dept_rows,
    _ts,
    derived,
    prepare_allocations,
    prepare_monthly,
)
from helpers.data.calendar import (
    add_months,
    fiscal_year,
    fy_months,
)


def _monthly_totals(
    mon: pd.DataFrame, department: str, upto: pd.Timestamp, frequency: str = "monthly"
) -> pd.DataFrame:
    """Department totals per period (monthly: per month), dated at the period's last month;
    only periods ended by ``upto``. Worked out once per department frame and ``upto`` (a
    department's trend, projection and flags read the same totals)."""
    rows = _dept_rows(mon, department)
    n = PERIOD_MONTHS[check_frequency(frequency)]
    return derived(rows, ("period_totals", upto, n), lambda: _period_totals(rows, upto, n))


def _period_totals(rows: pd.DataFrame, upto: pd.Timestamp, n: int) -> pd.DataFrame:
    rows = rows.loc[rows["month"] <= upto]
    if n > 1:
        rows = rows.copy()
        end = ((rows["fy_m"] + n - 1) // n) * n
        shift = (end - rows["fy_m"]).astype("int64")
        rows["month"] = pd.to_datetime(
            pd.Series(
                [
                    pd.Timestamp(add_months(mm, int(k)))
                    for mm, k in zip(rows["month"], shift, strict=True)
                ],
                index=rows.index,
                dtype="datetime64[ns]",
            )
        ).astype(rows["month"].dtype)
        rows["fy_m"] = end.astype("int64")
        rows = rows.loc[rows["month"] <= upto]
    # A (period-end) month fixes its fiscal year and fiscal month (prepare_monthly checks the
    # fiscal year against the month): grouping by the month alone sums the same rows in the
    # same order as grouping by all three.
    g = rows.groupby("month", sort=True)
    sums = g[["release", "expenditure"]].sum(min_count=1)  # a source without releases: NaN
    keys = g[["fiscal_year", "fy_m"]].first()
    out = pd.concat([keys, sums], axis=1).reset_index()
    return out[["fiscal_year", "fy_m", "month", "release", "expenditure"]]


def monthly_trend(
    allocations: pd.DataFrame,
    monthly: pd.DataFrame,
    department: str,
    month,
    frequency: str = "monthly",
    years: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Department flows per period (monthly: per month) for every fiscal year with a budget,
    up to ``month``; with quarterly or annual data one row per quarter or year, dated at its
    last month (``fy_m`` = that fiscal month). ``years``: only these fiscal years (each year's
    rows are worked out from its own data alone, so they are the same as in the full trend).

    One row per month (all twelve months of past years, months 1..m of the current year);
    missing months have NaN flows (never zero). Columns: fiscal_year, month, fy_m, status,
    release, expenditure, cum_expenditure, cum_release, budget_estimate, cum_util_be,
    share_of_year (expenditure / annual total, complete past years only).
    """
    alloc = prepare_allocations(allocations)
    mon = prepare_monthly(monthly)
    month_ts = _ts(month)
    fy_now = fiscal_year(month)
    wanted = None if years is None else set(years)
    a = _dept_rows(alloc, department)
    years = sorted(
        y for y in set(a["fiscal_year"]) if y <= fy_now and (wanted is None or y in wanted)
    )
    totals = _monthly_totals(mon, department, month_ts, frequency)
    frames = []
    for fy in years:
        last = month if fy == fy_now else fy_months(fy)[-1]
        cov = month_coverage(alloc, mon, department, last, frequency)
        t = totals.loc[totals["fiscal_year"] == fy, ["month", "release", "expenditure"]]
        f = cov[["month", "fy_m", "status"]].merge(t, on="month", how="left")
        f.insert(0, "fiscal_year", fy)
        be = float(a.loc[a["fiscal_year"] == fy, "budget_estimate"].sum())
        f["cum_expenditure"] = f["expenditure"].cumsum(skipna=True).ffill()
        f["cum_release"] = f["release"].cumsum(skipna=True).ffill()
        f["budget_estimate"] = be
        f["cum_util_be"] = f["cum_expenditure"] / be if be > 0 else math.nan
        complete = fy != fy_now and (f["status"] == "reported").all()
        annual = f["expenditure"].sum()
        f["share_of_year"] = f["expenditure"] / annual if complete and annual > 0 else math.nan
        frames.append(f)
    if not frames:
        raise ValueError(f"no budget allocations for {department!r}")
    return pd.concat(frames, ignore_index=True)


def seasonality(trend: pd.DataFrame, frequency: str = "monthly") -> pd.DataFrame:
    """Share of annual spending in the fiscal year's last month (``june_share``: fiscal month
    12) and last two months (``may_june_share``: months 11 and 12), per
    complete past fiscal year.

    ``trend`` is the output of :func:`monthly_trend`. Years with missing months get NaN shares
    and ``complete`` False. Columns: fiscal_year, annual_expenditure, june_share,
    may_june_share, complete. Quarterly data: ``june_share`` is the last quarter's share and
    ``may_june_share`` is NaN (no month inside a quarter is known); annual data: no rows (there
    is no within-year profile).
    """
    f_ = check_frequency(frequency)
    out = []
    for fy, f in trend.groupby("fiscal_year", sort=True):
        if f_ == "annual" or len(f) < periods_in_year(f_):
            continue  # the current, unfinished year (or annual data: no profile)
        complete = bool((f["status"] == "reported").all())
        annual = float(f["expenditure"].sum())
        june = float(f.loc[f["fy_m"] == 12, "expenditure"].sum())
        may = float(f.loc[f["fy_m"] == 11, "expenditure"].sum())
        ok = complete and annual > 0
        out.append(
            {
                "fiscal_year": fy,
                "annual_expenditure": annual if complete else math.nan,
                "june_share": june / annual if ok else math.nan,
                "may_june_share": (may + june) / annual if ok and f_ == "monthly" else math.nan,
                "complete": complete,
            }
        )
    return pd.DataFrame(
        out,
        columns=["fiscal_year", "annual_expenditure", "june_share", "may_june_share", "complete"],
    )
