"""Coverage: which periods of the fiscal year a department reported (reported, incomplete,
missing, awaited), the date the report's position describes and its time-elapsed benchmark.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd

from helpers.analysis.budget.common import (
    PERIOD_MONTHS,
    check_frequency,
    time_benchmark,
)
from helpers.analysis.budget.prepare import (
    _dept_rows,
    _ts,
    prepare_allocations,
    prepare_monthly,
    rows_where,
)
from helpers.data.calendar import (
    fiscal_year,
    fy_month_index,
    fy_months,
)


def month_coverage(
    allocations: pd.DataFrame,
    monthly: pd.DataFrame,
    department: str,
    month,
    frequency: str = "monthly",
) -> pd.DataFrame:
    """Reporting status of each period of the fiscal year up to ``month`` for one department.

    One row per period of the data's ``frequency`` that has ended by ``month`` (monthly: every
    month to ``month``; quarterly: the quarters whose last month is on or before it; annual:
    the year, once ``month`` is its last month). A period is *reported* when it has a row for
    every (fund, object class) budgeted that year, *incomplete* when it has some rows,
    *missing* when it has none. For quarterly and annual data, periods without rows after the
    last period with rows are *awaited* (ended, not yet received): the report is as of the last
    reported period, and they are not gaps. A month inside a reported quarter is never missing:
    only periods are. Columns: month (Timestamp of the period's last month), fy_m (its fiscal
    month), rows, expected_rows, status in {reported, incomplete, missing, awaited}.
    """
    f = check_frequency(frequency)
    n = PERIOD_MONTHS[f]
    alloc = prepare_allocations(allocations)
    mon = prepare_monthly(monthly)
    fy = fiscal_year(month)
    m = fy_month_index(month)
    expected = _dept_rows(alloc, department)
    expected = rows_where(expected, "fiscal_year", fy)[["fund", "object_class"]]
    expected_keys = set(map(tuple, expected.to_numpy().tolist()))
    rows = _dept_rows(mon, department)
    rows = rows_where(rows, "fiscal_year", fy)
    months = fy_months(fy)
    # rows per period end, read once (plain Python over the arrays: this runs many times)
    by_end: dict[int, list] = {}
    for fm, fund, oc in zip(
        rows["fy_m"].to_numpy().tolist(),
        rows["fund"].to_numpy().tolist(),
        rows["object_class"].to_numpy().tolist(),
        strict=True,
    ):
        by_end.setdefault(-(-int(fm) // n) * n, []).append((fund, oc))
    out = []
    for end in range(n, m + 1, n):
        here = by_end.get(end, [])
        keys = set(here)
        if not here:
            status = "missing"
        elif expected_keys - keys:
            status = "incomplete"
        else:
            status = "reported"
        out.append(
            {
                "month": pd.Timestamp(months[end - 1]),
                "fy_m": end,
                "rows": len(here),
                "expected_rows": len(expected_keys),
                "status": status,
            }
        )
    if f != "monthly":
        for r in reversed(out):
            if r["status"] != "missing":
                break
            r["status"] = "awaited"
    df = pd.DataFrame(out, columns=["month", "fy_m", "rows", "expected_rows", "status"])
    if not out:  # no period ended yet (annual data before the year's last month)
        df["month"] = pd.Series(dtype=mon["month"].dtype)
        df["fy_m"] = pd.Series(dtype="int64")
    return df


def as_of_month(coverage: pd.DataFrame, month, frequency: str = "monthly") -> pd.Timestamp | None:
    """The date the report's position describes (its "as of"), from :func:`month_coverage`.

    Monthly data: the report month itself (a month without rows there is a *missing* month,
    as it always was). Quarterly and annual data: the last month of the latest period with
    rows (e.g. June for data up to Q2 of a January year, also when the report month is
    August); None when no period of the year has rows yet.
    """
    if check_frequency(frequency) == "monthly":
        return _ts(month)
    got = coverage.loc[~coverage["status"].isin(["missing", "awaited"]), "month"]
    return pd.Timestamp(got.max()) if len(got) else None


#: Position figures that are unknown (NaN, never 0) before anything of the year is reported.
_UNKNOWN_BEFORE_REPORTING = (
    "releases",
    "expenditure",
    "util_be",
    "util_final_grant",
    "util_releases",
    "released_unspent",
)


def position_benchmark(coverage: pd.DataFrame, month, frequency: str = "monthly") -> float:
    """Time-elapsed benchmark at the report's as-of (:func:`as_of_month`): its fiscal month
    / 12 (monthly: the report month, 3/12 = 25% in June of an April year; quarterly: 50% at the
    end of Q2). NaN when nothing has been reported this year (quarterly or annual data)."""
    at = as_of_month(coverage, month, frequency)
    return math.nan if at is None else time_benchmark(at)


def _complete_years(
    alloc: pd.DataFrame,
    mon: pd.DataFrame,
    department: str,
    years: Iterable[str],
    frequency: str = "monthly",
) -> dict[str, bool]:
    out = {}
    for fy in years:
        cov = month_coverage(alloc, mon, department, fy_months(fy)[-1], frequency)
        out[fy] = bool((cov["status"] == "reported").all())
    return out
