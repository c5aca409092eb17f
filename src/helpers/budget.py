"""Public budget API: ``helpers.budget.aggregate_outturn`` and friends.

Re-exports the budget execution analysis (:mod:`helpers.analysis.budget`) under one stable
name: PEFA primitives (PI-1, PI-2, PI-2.3), the department report, and the province summary the
overview notebook uses. ``OBJECT_CLASSES`` and ``SCOPE_LABELS`` follow the active profile's
chart of accounts (read when asked; :func:`object_classes`, :func:`scope_labels`).
"""

from helpers.analysis.budget import (
    DEFAULT_UNDERSPEND_MARGIN,
    FREQUENCIES,
    JUMP_MIN_SHARE,
    JUMP_RATIO,
    MODEL_INTERVAL,
    PLAUSIBLE_MAX,
    PEFA_EXCLUDED_ROLES,
    PI2_HEAD_SHARE,
    PI2_MAX_HEADS,
    PROJECTION_LOOKBACK,
    ExecutionReport,
    PefaResult,
    Projection,
    aggregate_outturn,
    as_of_month,
    budget_flags,
    check_frequency,
    composition_variance,
    execution_report,
    frequency_of,
    headline_values,
    month_coverage,
    monthly_trend,
    object_classes,
    pefa_department,
    pefa_excluded_classes,
    pefa_heads,
    pefa_pi1_score,
    pefa_pi2_score,
    pefa_pi23_score,
    pefa_province,
    period_label,
    position_benchmark,
    prepare_allocations,
    prepare_monthly,
    project_year_end,
    province_summary,
    scope_labels,
    seasonality,
    time_benchmark,
    utilisation,
    utilisation_by_object_class,
)

__all__ = [
    "DEFAULT_UNDERSPEND_MARGIN",
    "JUMP_MIN_SHARE",
    "JUMP_RATIO",
    "FREQUENCIES",
    "MODEL_INTERVAL",
    "PLAUSIBLE_MAX",
    "PEFA_EXCLUDED_ROLES",
    "PI2_HEAD_SHARE",
    "PI2_MAX_HEADS",
    "PROJECTION_LOOKBACK",
    "ExecutionReport",
    "PefaResult",
    "Projection",
    "aggregate_outturn",
    "budget_flags",
    "composition_variance",
    "as_of_month",
    "check_frequency",
    "execution_report",
    "frequency_of",
    "headline_values",
    "month_coverage",
    "monthly_trend",
    "object_classes",
    "pefa_department",
    "pefa_excluded_classes",
    "pefa_heads",
    "pefa_pi1_score",
    "pefa_pi2_score",
    "pefa_pi23_score",
    "pefa_province",
    "period_label",
    "position_benchmark",
    "prepare_allocations",
    "prepare_monthly",
    "project_year_end",
    "province_summary",
    "scope_labels",
    "seasonality",
    "time_benchmark",
    "utilisation",
    "utilisation_by_object_class",
]


def __getattr__(name: str):
    if name == "OBJECT_CLASSES":
        return object_classes()
    if name == "SCOPE_LABELS":
        return scope_labels()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
