"""Budget execution analysis: utilisation, seasonality, year-end projection, flags and PEFA.

Pure functions on tidy DataFrames with the columns of the warehouse tables
``budget_allocations`` and ``budget_monthly`` (docs/architecture.md). No I/O. Amounts are in
the active profile's currency unit throughout (``profile.active().currency``); ratios are floats
(0.61 = 61%). The fiscal year is the profile's (:mod:`helpers.data.calendar`).

Definitions and settings (each a named module constant or a parameter):

- Time-elapsed benchmark for fiscal month m (the fiscal year's first month = 1) is m / 12.
- Utilisation is always reported with its denominator: budget estimate (BE, original),
  final grant (revised estimate, only when known at the report month: ``revised_month`` on or
  before it, for every row of the scope), and cumulative releases.
- Scopes from the active profile's chart of accounts: salary = current (first) fund, classes
  with role salary (KP: A01); non-salary = current fund, other classes; development = any
  other fund (KP: ADP), or a class with role development.
- Frequency (``frequency`` argument, from ``load_info['budget.frequency']``; monthly by
  default): quarterly and annual data are read by their own periods, at the end of the last
  reported period (docs/methods.md, 1.10). A year-end projection above ``PLAUSIBLE_MAX`` x BE
  is withheld.
- A month with no ``budget_monthly`` row for the department is *missing*; a month with some rows
  but not one for every (fund, object class) budgeted that year is *incomplete*. Gaps are never
  read as zero: cumulative figures cover reported rows only and say so; the year-end projection
  scales reported spending by the share of the year those months usually account for.
- Year-end projection: two methods, both computed, one chosen for the headline
  (:func:`project_year_end`). PEFA scores use BE, never revised figures.

The package follows the analysis's own sections (one module each): ``common`` (chart of
accounts, frequencies, settings), ``prepare`` (input validation), ``coverage``, ``utilisation``,
``trend`` (monthly trend, seasonality), ``projection`` (year-end), ``forecast`` (forecast-accuracy
record), ``flags``, ``pefa`` (PI-1, PI-2, PI-2.3), ``revenue`` (PI-3) and ``report`` (the
department report, headline values, province summary). Code inside ``helpers`` imports from
``helpers.analysis.budget`` (this package); notebooks use the public :mod:`helpers.budget`.
"""

from helpers.analysis.budget.common import (
    ALLOCATION_COLUMNS,
    CHOICE_TOLERANCE,
    DEFAULT_UNDERSPEND_MARGIN,
    FREQUENCIES,
    JUMP_MIN_SHARE,
    JUMP_RATIO,
    MIN_MODEL_DF,
    MODEL_INTERVAL,
    MONTHLY_COLUMNS,
    PERIOD_MONTHS,
    PERIOD_WORDS,
    PLAUSIBLE_MAX,
    PROJECTION_LOOKBACK,
    check_frequency,
    current_fund,
    development_classes,
    frequency_of,
    funds,
    object_classes,
    period_end_m,
    period_label,
    periods_in_year,
    salary_classes,
    scope_labels,
    time_benchmark,
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
    FORECAST_COLUMNS,
    FORECAST_OVERVIEW_MONTHS,
    ForecastRecord,
    closed_year,
    forecast_record,
    province_forecast_record,
)
from helpers.analysis.budget.pefa import (
    PEFA_EXCLUDED_ROLES,
    PEFA_YEAR_COLUMNS,
    PI2_HEAD_SHARE,
    PI2_MAX_HEADS,
    RESIDUAL_HEAD,
    PefaResult,
    aggregate_outturn,
    composition_variance,
    contingency_classes,
    pefa_department,
    pefa_excluded_classes,
    pefa_heads,
    pefa_pi1_score,
    pefa_pi2_score,
    pefa_pi23_score,
    pefa_province,
)
from helpers.analysis.budget.prepare import (
    department_rows,
    is_prepared,
    months_upto,
    prepare_allocations,
    prepare_monthly,
    take_rows,
)
from helpers.analysis.budget.projection import (
    Projection,
    project_year_end,
)
from helpers.analysis.budget.report import (
    ExecutionReport,
    execution_report,
    headline_values,
    province_summary,
)
from helpers.analysis.budget.revenue import (
    PI3_NOT_PROVIDED,
    PI31_BANDS,
    REVENUE_COLUMNS,
    REVENUE_YEAR_COLUMNS,
    RevenueResult,
    pefa_pi31_score,
    pefa_revenue,
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

__all__ = [
    "ALLOCATION_COLUMNS",
    "MONTHLY_COLUMNS",
    "FREQUENCIES",
    "PLAUSIBLE_MAX",
    "check_frequency",
    "frequency_of",
    "period_label",
    "object_classes",
    "scope_labels",
    "DEFAULT_UNDERSPEND_MARGIN",
    "JUMP_RATIO",
    "JUMP_MIN_SHARE",
    "PROJECTION_LOOKBACK",
    "MODEL_INTERVAL",
    "ExecutionReport",
    "Projection",
    "PefaResult",
    "aggregate_outturn",
    "composition_variance",
    "pefa_pi1_score",
    "pefa_pi2_score",
    "pefa_pi23_score",
    "pefa_pi31_score",
    "pefa_revenue",
    "RevenueResult",
    "REVENUE_COLUMNS",
    "REVENUE_YEAR_COLUMNS",
    "PI31_BANDS",
    "with_revenue",
    "pefa_heads",
    "pefa_excluded_classes",
    "PEFA_EXCLUDED_ROLES",
    "PI2_MAX_HEADS",
    "PI2_HEAD_SHARE",
    "time_benchmark",
    "prepare_allocations",
    "prepare_monthly",
    "month_coverage",
    "utilisation",
    "utilisation_by_object_class",
    "monthly_trend",
    "seasonality",
    "project_year_end",
    "budget_flags",
    "pefa_department",
    "pefa_province",
    "execution_report",
    "province_summary",
    "ForecastRecord",
    "FORECAST_OVERVIEW_MONTHS",
    "closed_year",
    "forecast_record",
    "province_forecast_record",
    "headline_values",
    # used inside helpers (present, overview), not part of the public helpers.budget API
    "department_rows",
    "is_prepared",
    "months_upto",
    "take_rows",
    "funds",
    "current_fund",
    "salary_classes",
    "development_classes",
    "PERIOD_MONTHS",
    "PERIOD_WORDS",
    "period_end_m",
    "periods_in_year",
    "CHOICE_TOLERANCE",
    "MIN_MODEL_DF",
    "as_of_month",
    "position_benchmark",
    "FORECAST_COLUMNS",
    "RESIDUAL_HEAD",
    "contingency_classes",
    "PEFA_YEAR_COLUMNS",
    "PI3_NOT_PROVIDED",
]


def __getattr__(name: str):
    # FUNDS, OBJECT_CLASSES and SCOPE_LABELS follow the active profile (read when asked).
    if name == "FUNDS":
        return funds()
    if name == "OBJECT_CLASSES":
        return object_classes()
    if name == "SCOPE_LABELS":
        return scope_labels()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
