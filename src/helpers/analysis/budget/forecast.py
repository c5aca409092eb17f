"""Forecast-accuracy record: how far each month's year-end projection of a closed fiscal year was
from its outturn (department and province).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from helpers.analysis.budget.common import (
    PERIOD_MONTHS,
    PERIOD_WORDS,
    check_frequency,
)
from helpers.analysis.budget.coverage import (
    month_coverage,
)
from helpers.analysis.budget.prepare import (
    _dept_rows,
    _ratio,
    _ts,
    department_rows,
    prepare_allocations,
    prepare_monthly,
    rows_where,
)
from helpers.analysis.budget.projection import (
    past_years,
    project_year_end,
)
from helpers.analysis.budget.trend import (
    _monthly_totals,
)
from helpers.data.calendar import (
    add_months,
    fiscal_year,
    fy_months,
)

#: Fiscal months at which the province overview takes the record (the department report takes
#: every month but the last): the ends of the first three quarters, and May.
FORECAST_OVERVIEW_MONTHS = (3, 6, 9, 11)


FORECAST_COLUMNS = [
    "department",
    "fy_m",
    "month",
    "method",
    "projection",
    "outturn",
    "budget_estimate",
    "error",
    "error_be",
]


@dataclass
class ForecastRecord:
    """Year-end projections made during a closed fiscal year against its outturn.

    ``table``: one row per department and fiscal month m (the report month the projection is
    for): department, fy_m, month, method (the headline method at m), projection (the
    headline point, NaN when none was shown), outturn (the year's actual expenditure),
    budget_estimate, error = (projection - outturn) / outturn, error_be = (projection -
    outturn) / BE (points of BE). ``province``: the same per month for the departments'
    totals (province record only). Every projection is recomputed from the data with the rows
    after m dropped (:func:`forecast_record`), never read from earlier outputs.
    """

    fiscal_year: str
    table: pd.DataFrame
    note: str
    province: pd.DataFrame | None = None

    @property
    def mean_abs_error(self) -> float:
        """Mean |error| over the months with a projection (NaN when none)."""
        t = self.province if self.province is not None else self.table
        e = t["error"].dropna().abs() if len(t) else pd.Series(dtype="float64")
        return float(e.mean()) if len(e) else math.nan


def closed_year(month) -> str:
    """The last fiscal year closed before the fiscal year of ``month``."""
    return fiscal_year(add_months(fy_months(fiscal_year(month))[0], -1))


def _record_rows(
    alloc: pd.DataFrame,
    mon: pd.DataFrame,
    department: str,
    fy: str,
    ends: Sequence[int],
    freq: str,
) -> tuple[list[dict], str]:
    a = _dept_rows(alloc, department)
    a = rows_where(a, "fiscal_year", fy)
    if a.empty:
        return [], f"no closed fiscal year in the data yet (FY {fy} has no budget)"
    cov = month_coverage(alloc, mon, department, fy_months(fy)[-1], freq)
    if not (cov["status"] == "reported").all():
        return (
            [],
            f"FY {fy} has missing or incomplete {PERIOD_WORDS[freq][1]}: its outturn is not known",
        )
    be = float(a["budget_estimate"].sum())
    mo = _dept_rows(mon, department)
    outturn = float(rows_where(mo, "fiscal_year", fy)["expenditure"].sum())
    rows = []
    # the same at every month of the year: worked out once
    past = past_years(alloc, mon, department, fy, freq)
    totals = _monthly_totals(mon, department, _ts(fy_months(fy)[-1]), freq)
    for e in ends:
        at = fy_months(fy)[e - 1]
        # project_year_end reads no row after ``at`` (tested): the whole frame gives the
        # projection the data as of ``at`` gave, without cutting a frame for every month
        p = project_year_end(alloc, mon, department, at, frequency=freq, past=past, totals=totals)
        point = p.point if math.isfinite(p.point) else math.nan
        rows.append(
            {
                "department": str(department),
                "fy_m": int(e),
                "month": pd.Timestamp(at),
                "method": p.method if math.isfinite(point) else "none",
                "projection": point,
                "outturn": outturn,
                "budget_estimate": be,
                "error": _ratio(point - outturn, outturn) if outturn > 0 else math.nan,
                "error_be": _ratio(point - outturn, be),
            }
        )
    return rows, ""


def _record_ends(freq: str, months: Sequence[int] | None) -> list[int]:
    n = PERIOD_MONTHS[freq]
    ends = list(range(n, 12, n))
    if months is not None:
        ends = [e for e in ends if e in set(months)]
    return ends


def _record_note(fy: str, freq: str) -> str:
    word = PERIOD_WORDS[freq][0]
    return (
        f"Each projection is recomputed for FY {fy} from the data held now, with the rows after "
        f"its report {word} dropped, by the headline method the current rules choose at that "
        "point; the data keep no record of when a return arrived, so a late or revised return "
        "counts as on time."
    )


def forecast_record(
    allocations: pd.DataFrame,
    monthly: pd.DataFrame,
    department: str,
    month,
    frequency: str = "monthly",
    months: Sequence[int] | None = None,
) -> ForecastRecord:
    """How far each year-end projection of the last closed fiscal year (before the fiscal year
    of ``month``) was from its outturn, for one department.

    For each fiscal month m of that year (every month but the last, or the fiscal months in
    ``months``; quarterly data: the first three quarter ends), the headline projection of
    :func:`project_year_end` with the data as of m (it reads no row after m: the same inputs
    and code give the same figure), against the year's actual expenditure. Only a year with every
    period reported has an outturn; otherwise the table is empty and ``note`` says why.
    Annual data: no within-year projection, no record.
    """
    freq = check_frequency(frequency)
    alloc = department_rows(prepare_allocations(allocations), department)
    mon = department_rows(prepare_monthly(monthly), department)
    fy = closed_year(month)
    if freq == "annual":
        return ForecastRecord(
            fy,
            pd.DataFrame(columns=FORECAST_COLUMNS),
            "annual data: no within-year projection to check",
        )
    rows, why = _record_rows(alloc, mon, department, fy, _record_ends(freq, months), freq)
    note = why or _record_note(fy, freq)
    return ForecastRecord(fy, pd.DataFrame(rows, columns=FORECAST_COLUMNS), note)


def province_forecast_record(
    allocations: pd.DataFrame,
    monthly: pd.DataFrame,
    month,
    frequency: str = "monthly",
    months: Sequence[int] | None = FORECAST_OVERVIEW_MONTHS,
) -> ForecastRecord:
    """:func:`forecast_record` for every department budgeted in the closed year, and the
    province line: at each month, the sum of the departments' projections against the sum of
    their outturns. Departments whose closed year has gaps (no outturn) are left out of the
    province line (the note counts them); a month at which an included department showed no
    projection has no province figure."""
    freq = check_frequency(frequency)
    alloc = prepare_allocations(allocations)
    mon = prepare_monthly(monthly)
    fy = closed_year(month)
    empty_prov = pd.DataFrame(
        columns=[
            "fy_m",
            "month",
            "projection",
            "outturn",
            "budget_estimate",
            "error",
            "error_be",
            "departments",
        ]
    )
    if freq == "annual":
        return ForecastRecord(
            fy,
            pd.DataFrame(columns=FORECAST_COLUMNS),
            "annual data: no within-year projection to check",
            empty_prov,
        )
    ends = _record_ends(freq, months)
    rows, left_out = [], []
    for dept in sorted(set(alloc.loc[alloc["fiscal_year"] == fy, "department"])):
        a1, m1 = department_rows(alloc, dept), department_rows(mon, dept)
        r, why = _record_rows(a1, m1, dept, fy, ends, freq)
        if why:
            left_out.append(dept)
        rows += r
    table = pd.DataFrame(rows, columns=FORECAST_COLUMNS)
    prov = []
    for e, g in table.groupby("fy_m", sort=True):
        point = float(g["projection"].sum()) if g["projection"].notna().all() else math.nan
        outturn, be = float(g["outturn"].sum()), float(g["budget_estimate"].sum())
        prov.append(
            {
                "fy_m": int(e),
                "month": g["month"].iloc[0],
                "projection": point,
                "outturn": outturn,
                "budget_estimate": be,
                "error": _ratio(point - outturn, outturn) if outturn > 0 else math.nan,
                "error_be": _ratio(point - outturn, be),
                "departments": len(g),
            }
        )
    province = pd.DataFrame(prov, columns=empty_prov.columns) if prov else empty_prov
    note = _record_note(fy, freq)
    if left_out:
        note += (
            f" {len(left_out)} department{'s' if len(left_out) > 1 else ''} with gaps in FY {fy}"
            f" (no outturn) {'are' if len(left_out) > 1 else 'is'} left out: {', '.join(left_out)}."
        )
    if table.empty:
        note = f"No department has a complete FY {fy}: no outturn to compare projections with."
    return ForecastRecord(fy, table, note, province)
