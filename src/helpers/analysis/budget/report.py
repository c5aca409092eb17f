"""The department report (:func:`execution_report` -> :class:`ExecutionReport`), its headline
figures, and the province summary the overview reads.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import pandas as pd

from helpers.analysis.budget.common import (
    DEFAULT_UNDERSPEND_MARGIN,
    PERIOD_MONTHS,
    check_frequency,
)
from helpers.analysis.budget.coverage import (
    as_of_month,
    month_coverage,
    position_benchmark,
)
from helpers.analysis.budget.flags import (
    budget_flags,
)
from helpers.analysis.budget.forecast import (
    ForecastRecord,
    forecast_record,
)
from helpers.analysis.budget.pefa import (
    PefaResult,
    pefa_department,
)
from helpers.analysis.budget.prepare import (
    _dept_rows,
    months_upto,
    prepare_allocations,
    prepare_monthly,
)
from helpers.analysis.budget.projection import (
    Projection,
    project_year_end,
)
from helpers.analysis.budget.revenue import (
    with_revenue,
)
from helpers.analysis.budget.trend import (
    monthly_trend,
    seasonality,
)
from helpers.analysis.budget.utilisation import (
    utilisation,
    utilisation_by_object_class,
)
from helpers.data.calendar import (
    as_month,
    fiscal_year,
    fy_month_index,
)


@dataclass
class ExecutionReport:
    """Everything the budget execution notebook shows for one department and month."""

    department: str
    month: dt.date
    fiscal_year: str
    fy_m: int
    benchmark: float
    underspend_margin: float
    position: pd.DataFrame
    by_object_class: pd.DataFrame
    trend: pd.DataFrame
    seasonality: pd.DataFrame
    coverage: pd.DataFrame
    projection: Projection
    flags: pd.DataFrame
    pefa: PefaResult
    #: the budget data's frequency (``load_info['budget.frequency']``): monthly, quarterly, annual
    frequency: str = "monthly"
    #: the last closed year's projections against its outturn (:func:`forecast_record`)
    forecast: ForecastRecord | None = None
    #: whether the source gives releases for this department (a source without them, such as
    #: BOOST, leaves ``release`` blank: every release figure is then NaN, unknown)
    releases: bool = True

    @property
    def period_months(self) -> int:
        return PERIOD_MONTHS[self.frequency]

    @property
    def as_of(self) -> dt.date | None:
        """The date the position describes: the report month (monthly data) or the last month
        of the latest reported period (quarterly, annual); None when nothing is reported yet."""
        at = as_of_month(self.coverage, self.month, self.frequency)
        return at.date() if at is not None else None

    @property
    def as_of_m(self) -> int:
        """Fiscal month of :attr:`as_of` (0 when nothing is reported this year)."""
        at = self.as_of
        return fy_month_index(at) if at is not None else 0

    @property
    def awaited_periods(self) -> list[dt.date]:
        """Periods (their last months) ended by the report month and not yet reported, after
        the last reported one (quarterly and annual data only)."""
        c = self.coverage
        return [m.date() for m in c.loc[c["status"] == "awaited", "month"]]

    @property
    def total(self) -> pd.Series:
        """The 'total' row of :attr:`position`."""
        return self.position.set_index("scope").loc["total"]

    @property
    def missing_months(self) -> list[dt.date]:
        """Missing periods (for quarterly or annual data: the last month of each missing
        period; a month inside a reported quarter is never missing)."""
        return [m.date() for m in self.coverage.loc[self.coverage["status"] == "missing", "month"]]

    @property
    def incomplete_months(self) -> list[dt.date]:
        c = self.coverage
        return [m.date() for m in c.loc[c["status"] == "incomplete", "month"]]

    @property
    def months_reported(self) -> int:
        """Periods with data this year (months, quarters or years by the data's frequency)."""
        return int((~self.coverage["status"].isin(["missing", "awaited"])).sum())

    @property
    def year_complete(self) -> bool:
        """The position is at the fiscal year's last month and every period of the year was
        reported: the year-end figure is the actual outturn, not a projection."""
        if self.frequency == "monthly":
            return self.fy_m == 12 and not self.missing_months
        return self.as_of_m == 12 and not self.missing_months and not self.awaited_periods

    @property
    def last_reported_month(self) -> dt.date | None:
        """The latest month of the fiscal year, up to the report month, with any data for the
        department (the report's data as-of); None when nothing was reported this year."""
        got = self.coverage.loc[~self.coverage["status"].isin(["missing", "awaited"]), "month"]
        return got.max().date() if len(got) else None


def execution_report(
    allocations: pd.DataFrame,
    monthly: pd.DataFrame,
    department: str,
    month,
    underspend_margin: float = DEFAULT_UNDERSPEND_MARGIN,
    frequency: str = "monthly",
    revenue: pd.DataFrame | None = None,
) -> ExecutionReport:
    """Compute the whole budget execution report for one department and month.

    ``frequency`` is the budget data's (``load_info['budget.frequency']``, read by the caller):
    with quarterly or annual data every figure uses the data's own periods (see
    :func:`month_coverage`, :func:`as_of_month`, :func:`project_year_end`).

    ``allocations`` and ``monthly`` may hold several departments and years (prior years are
    needed for last year's point, seasonality, projection and PEFA); rows after ``month`` are
    ignored. ``revenue``: the revenue book (``helpers.data.warehouse.revenue``; None when not
    provided) for PI-3 on the receipts this department collects.
    """
    alloc = prepare_allocations(allocations)
    mon = prepare_monthly(monthly)
    month_d = as_month(month)
    mon = months_upto(mon, month_d)
    f = check_frequency(frequency)
    position = utilisation(alloc, mon, department, month_d, f)
    trend = monthly_trend(alloc, mon, department, month_d, f)
    coverage = month_coverage(alloc, mon, department, month_d, f)
    return ExecutionReport(
        department=str(department),
        month=month_d,
        fiscal_year=fiscal_year(month_d),
        fy_m=fy_month_index(month_d),
        benchmark=position_benchmark(coverage, month_d, f),
        underspend_margin=underspend_margin,
        position=position,
        by_object_class=utilisation_by_object_class(alloc, mon, department, month_d, f),
        trend=trend,
        seasonality=seasonality(trend, f),
        coverage=coverage,
        projection=project_year_end(alloc, mon, department, month_d, frequency=f),
        flags=budget_flags(position, trend, coverage, underspend_margin, frequency=f),
        pefa=with_revenue(
            pefa_department(alloc, mon, department, month_d, frequency=f),
            revenue,
            month_d,
            str(department),
        ),
        frequency=f,
        forecast=forecast_record(alloc, mon, department, month_d, frequency=f),
        releases=bool(_dept_rows(mon, department)["release"].notna().any()),
    )


def headline_values(report: ExecutionReport) -> dict[str, float | str | None]:
    """Values for ``helpers.present.headline``: utilisation and benchmark (ratios of BE),
    projection_low / projection_high (ratios of BE; None without an interval) and the method."""
    p = report.projection

    def clean(x: float) -> float | None:
        return None if x is None or not math.isfinite(x) else round(float(x), 4)

    return {
        "utilisation": clean(report.total["util_be"]),
        "benchmark": clean(report.benchmark),
        "projection_low": clean(p.low_be),
        "projection_high": clean(p.high_be),
        "projection_method": p.method,
    }


def province_summary(
    allocations: pd.DataFrame,
    monthly: pd.DataFrame,
    month,
    underspend_margin: float = DEFAULT_UNDERSPEND_MARGIN,
    frequency: str = "monthly",
) -> pd.DataFrame:
    """One row per department budgeted in the fiscal year of ``month``.

    ``benchmark`` is each department's own (at its as-of, :func:`position_benchmark`; the
    report month for monthly data); ``months_missing`` counts months in missing or incomplete
    periods (a missing quarter is three months; awaited periods are not counted).

    Columns: department, budget_estimate, expenditure (cumulative, reported rows), util_be,
    benchmark, gap (util_be - benchmark), projection_be (the headline projected outturn as
    a ratio of BE), projection_method, months_missing (missing or incomplete months this year),
    flags (count of :func:`budget_flags` rows). Sorted by gap, most behind first.
    """
    alloc = prepare_allocations(allocations)
    mon = prepare_monthly(monthly)
    month_d = as_month(month)
    mon = months_upto(mon, month_d)
    fy = fiscal_year(month_d)
    rows = []
    f = check_frequency(frequency)
    n = PERIOD_MONTHS[f]
    for dept in sorted(set(alloc.loc[alloc["fiscal_year"] == fy, "department"])):
        position = utilisation(alloc, mon, dept, month_d, f)
        # the flags read the current year's periods only
        trend = monthly_trend(alloc, mon, dept, month_d, f, years=[fy])
        coverage = month_coverage(alloc, mon, dept, month_d, f)
        proj = project_year_end(alloc, mon, dept, month_d, frequency=f)
        flags = budget_flags(position, trend, coverage, underspend_margin, frequency=f)
        total = position.set_index("scope").loc["total"]
        rows.append(
            {
                "department": dept,
                "budget_estimate": float(total["budget_estimate"]),
                "expenditure": float(total["expenditure"]),
                "util_be": float(total["util_be"]),
                "benchmark": position_benchmark(coverage, month_d, f),
                "gap": float(total["gap_be"]),
                "projection_be": proj.point_be,
                "projection_method": proj.method,
                "months_missing": int(coverage["status"].isin(["missing", "incomplete"]).sum() * n),
                "flags": len(flags),
            }
        )
    out = pd.DataFrame(
        rows,
        columns=[
            "department",
            "budget_estimate",
            "expenditure",
            "util_be",
            "benchmark",
            "gap",
            "projection_be",
            "projection_method",
            "months_missing",
            "flags",
        ],
    )
    return out.sort_values(["gap", "department"], na_position="last").reset_index(drop=True)
