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
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.api as sm

from helpers import profile
from helpers.data import tables
from helpers.data.calendar import (
    add_months,
    as_month,
    fiscal_year,
    fy_label_of,
    fy_month_index,
    fy_months,
    fy_start_month,
    month_label,
    quarter_label,
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
]

ALLOCATION_COLUMNS = tables.columns("budget_allocations")
MONTHLY_COLUMNS = tables.columns("budget_monthly")


def _chart() -> profile.ChartOfAccounts:
    """The active profile's chart of accounts (funds, object classes and their roles)."""
    return profile.active().chart


def funds() -> tuple[str, ...]:
    """The funds of the active profile's chart of accounts (KP: current, development)."""
    return _chart().funds


def current_fund() -> str:
    """The chart's first fund is the current (recurrent) fund; every other fund is development
    (capital) spending."""
    return _chart().funds[0]


def salary_classes() -> tuple[str, ...]:
    """Object classes with role ``salary`` (KP: A01)."""
    return _chart().with_role("salary")


def development_classes() -> tuple[str, ...]:
    """Object classes with role ``development``: development spending in any fund."""
    return _chart().with_role("development")


def object_classes() -> dict[str, str]:
    """Object class code -> name, from the active profile's chart of accounts."""
    return dict(_chart().names)


def scope_labels() -> dict[str, str]:
    """Reporting scopes, in display order, labelled from the active chart of accounts. They
    overlap (total = current + development). KP: 'Salary (current, A01)', 'Development (ADP)'."""
    chart = _chart()
    cur = current_fund()
    other = [f for f in chart.funds if f != cur]
    sal = ", ".join(salary_classes()) or "no salary class"
    if chart == profile.KP_CHART:
        dev = "Development (ADP)"
    else:
        parts = [f"{f} fund" for f in other] + list(development_classes())
        dev = f"Development ({', '.join(parts)})" if parts else "Development"
    return {
        "total": "Total",
        "current": cur[:1].upper() + cur[1:],
        "salary": f"Salary ({cur}, {sal})",
        "non_salary": f"Non-salary ({cur}, other classes)",
        "development": dev,
    }


def __getattr__(name: str):
    # FUNDS, OBJECT_CLASSES and SCOPE_LABELS follow the active profile (read when asked).
    if name == "FUNDS":
        return funds()
    if name == "OBJECT_CLASSES":
        return object_classes()
    if name == "SCOPE_LABELS":
        return scope_labels()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Frequencies budget data may come in (``load_info['budget.frequency']``), and the months in
#: one period of each.
FREQUENCIES = ("monthly", "quarterly", "annual")
PERIOD_MONTHS = {"monthly": 1, "quarterly": 3, "annual": 12}
PERIOD_WORDS = {
    "monthly": ("month", "months"),
    "quarterly": ("quarter", "quarters"),
    "annual": ("year", "years"),
}
#: A year-end projection above this multiple of BE is withheld as implausible (2.0 = 200%);
#: the report gives the reported position and a data note instead. An actual outturn (a
#: complete year) is never withheld.
PLAUSIBLE_MAX = 2.0


def check_frequency(frequency: str | None) -> str:
    """'monthly' (also for None or ''), 'quarterly' or 'annual'; ValueError otherwise."""
    f = str(frequency or "monthly").strip().lower()
    if f not in FREQUENCIES:
        raise ValueError(
            f"budget frequency must be one of {', '.join(FREQUENCIES)}, got {frequency!r}"
        )
    return f


def frequency_of(load_info) -> str:
    """The budget data's frequency from the warehouse's ``load_info`` (``budget.frequency``;
    monthly when absent)."""
    return check_frequency((load_info or {}).get("budget.frequency"))


def period_end_m(fy_m: int, frequency: str = "monthly") -> int:
    """Fiscal month (1-12) at which the period holding fiscal month ``fy_m`` ends."""
    n = PERIOD_MONTHS[check_frequency(frequency)]
    return int(math.ceil(int(fy_m) / n) * n)


def period_label(month, frequency: str = "monthly") -> str:
    """'March 2025' (monthly), 'Q2 2025' (quarterly: the fiscal quarter and year), 'FY 2024-25'
    (annual) for the period that holds ``month``."""
    f = check_frequency(frequency)
    if f == "monthly":
        return month_label(month)
    if f == "quarterly":
        return quarter_label(month)
    return f"FY {fiscal_year(month)}"


def periods_in_year(frequency: str = "monthly") -> int:
    return 12 // PERIOD_MONTHS[check_frequency(frequency)]


#: Flag under-spending when utilisation of BE is more than this below the benchmark.
DEFAULT_UNDERSPEND_MARGIN = 0.10
#: Month-on-month jump rule: a month's department expenditure is at least JUMP_RATIO times the
#: previous reported month's (or at most 1/JUMP_RATIO of it) AND the change is at least
#: JUMP_MIN_SHARE of the annual BE. Only consecutive reported months are compared.
JUMP_RATIO = 2.0
JUMP_MIN_SHARE = 0.02
#: Number of prior fiscal years the projection methods learn from.
PROJECTION_LOOKBACK = 3
#: Coverage of the statsmodels projection interval (central, simulated).
MODEL_INTERVAL = 0.80
#: The regression replaces the profile method in the headline only when its back-test MAPE is
#: lower by more than this (a ratio: 0.005 = half a percentage point).
CHOICE_TOLERANCE = 0.005
#: Fewest residual degrees of freedom for which the regression projection is attempted.
MIN_MODEL_DF = 3
_SIMULATIONS = 2000
_SEED = 20250301
_EPS = 1e-9  # values within this of a PEFA band edge count as on the edge (inclusive)


# --------------------------------------------------------------------------------------------
# PEFA primitives (public, re-exported by helpers.budget)
# --------------------------------------------------------------------------------------------


def _finite_float(value, what: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be a number, got {value!r}") from exc
    if not math.isfinite(out):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return out


def _total(value, what: str) -> float:
    """A scalar, or the sum of an array-like (NaN entries are an error, not zero)."""
    if isinstance(value, (int, float, np.integer, np.floating)):
        return _finite_float(value, what)
    arr = pd.Series(value, dtype="float64") if not isinstance(value, pd.Series) else value
    arr = pd.to_numeric(arr, errors="raise").astype("float64")
    if arr.empty:
        raise ValueError(f"{what} is empty")
    if arr.isna().any():
        raise ValueError(f"{what} contains missing values")
    return _finite_float(arr.sum(), what)


def aggregate_outturn(actual, budget) -> float:
    """PEFA PI-1 aggregate expenditure outturn: total actual / total original budget (BE).

    ``actual`` and ``budget`` are amounts (scalars) or array-likes that are summed.
    Returns a ratio, e.g. 0.93. Raises ``ValueError`` if the budget is not positive or a value
    is missing or not finite.
    """
    a = _total(actual, "actual")
    b = _total(budget, "budget")
    if b <= 0:
        raise ValueError(f"budget must be positive, got {b}")
    return a / b


def composition_variance(actual: pd.Series, budget: pd.Series) -> float:
    """PEFA PI-2 expenditure composition variance, as a ratio (0.1667 = 16.7%).

    ``actual`` and ``budget`` are aligned pandas Series with one entry per head (administrative
    unit for PI-2.1, object class for PI-2.2) and the same index labels (order may differ).
    Adjusted budget AdjB_i = B_i x (sum A / sum B); variance = sum |A_i - AdjB_i| / sum AdjB_i.

    A head with zero budget is allowed (unbudgeted spending counts in full). Raises
    ``ValueError`` on empty input, misaligned or duplicated index labels, missing values, a
    negative budget entry, a non-positive total budget or a non-positive total actual.
    """
    if not isinstance(actual, pd.Series) or not isinstance(budget, pd.Series):
        raise ValueError("actual and budget must be pandas Series")
    if actual.empty or budget.empty:
        raise ValueError("actual and budget must not be empty")
    if actual.index.has_duplicates or budget.index.has_duplicates:
        raise ValueError("actual and budget must have unique index labels (one per head)")
    if len(actual) != len(budget) or set(actual.index) != set(budget.index):
        missing_a = sorted(map(str, set(budget.index) - set(actual.index)))
        missing_b = sorted(map(str, set(actual.index) - set(budget.index)))
        raise ValueError(
            "actual and budget are not aligned: "
            f"heads without actual {missing_a}, heads without budget {missing_b}"
        )
    a = pd.to_numeric(actual, errors="raise").astype("float64")
    b = pd.to_numeric(budget, errors="raise").astype("float64").reindex(a.index)
    if a.isna().any() or b.isna().any():
        raise ValueError("actual and budget must not contain missing values")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("actual and budget must be finite")
    if (b < 0).any():
        raise ValueError("budget entries must not be negative")
    sum_a, sum_b = float(a.sum()), float(b.sum())
    if sum_b <= 0:
        raise ValueError(f"total budget must be positive, got {sum_b}")
    if sum_a <= 0:
        raise ValueError(f"total actual must be positive, got {sum_a}")
    adj = b * (sum_a / sum_b)
    return float((a - adj).abs().sum() / adj.sum())


def _three(values, what: str) -> list[float]:
    vals = list(values)
    if len(vals) != 3:
        raise ValueError(
            f"{what}: PEFA scores need exactly 3 completed years, got {len(vals)}; "
            "report the values without a score when fewer years are available"
        )
    out = [_finite_float(v, what) for v in vals]
    if any(v < 0 for v in out):
        raise ValueError(f"{what} must not be negative, got {out}")
    return out


def pefa_pi1_score(outturns: Sequence[float]) -> str:
    """PEFA 2016 PI-1 score from exactly three yearly outturn ratios (actual / BE).

    A: 95-105% in at least two of the three years; B: 90-110%; C: 85-115%; else D.
    Band edges are inclusive (0.95 and 1.05 are inside A). Raises ``ValueError`` unless
    exactly three finite, non-negative ratios are given (fewer years: do not score).
    """
    vals = _three(outturns, "outturns")
    for grade, half_width in (("A", 0.05), ("B", 0.10), ("C", 0.15)):
        inside = sum(1 - half_width - _EPS <= v <= 1 + half_width + _EPS for v in vals)
        if inside >= 2:
            return grade
    return "D"


def pefa_pi2_score(variances: Sequence[float]) -> str:
    """PEFA 2016 PI-2.1 / PI-2.2 score from exactly three yearly composition variances.

    A: variance < 5% in at least two of the three years; B: < 10%; C: < 15%; else D.
    Edges are exclusive (exactly 0.05 is B). Ratios, not percentages. Raises ``ValueError``
    unless exactly three finite, non-negative values are given.
    """
    vals = _three(variances, "variances")
    for grade, limit in (("A", 0.05), ("B", 0.10), ("C", 0.15)):
        if sum(v < limit - _EPS for v in vals) >= 2:
            return grade
    return "D"


def time_benchmark(month) -> float:
    """Time-elapsed benchmark: fiscal month index / 12 (first month = 1/12, ninth = 0.75)."""
    return fy_month_index(month) / 12


# --------------------------------------------------------------------------------------------
# Input preparation
# --------------------------------------------------------------------------------------------


def _require(df: pd.DataFrame, columns: Iterable[str], name: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"{name} must be a DataFrame")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{name} is missing columns {missing}")


def _month_starts(values: pd.Series, name: str, allow_missing: bool = False) -> pd.Series:
    ts = pd.to_datetime(values)
    if not allow_missing and ts.isna().any():
        raise ValueError(f"{name} has missing dates")
    return ts.dt.to_period("M").dt.to_timestamp()


def _fy_of_timestamps(ts: pd.Series) -> pd.Series:
    """The fiscal-year label of each month start (the profile's calendar and label style)."""
    s = fy_start_month()
    start = ts.dt.year.where(ts.dt.month >= s, ts.dt.year - 1)
    labels = {int(y): fy_label_of(int(y)) for y in start.dropna().unique()}
    return start.map(labels)


def _fy_m(ts: pd.Series) -> pd.Series:
    """Month number within the fiscal year (its first month = 1 ... 12)."""
    return ((ts.dt.month - fy_start_month()) % 12 + 1).astype("int64")


def _money(value: float) -> str:
    """An amount in the profile's currency with one decimal, in the unit it is held in."""
    return profile.active().currency.fmt(value)


def _fund_check(df: pd.DataFrame, name: str) -> None:
    known = funds()
    bad = sorted(set(df["fund"].dropna().astype(str)) - set(known))
    if bad or df["fund"].isna().any():
        raise ValueError(f"{name}: fund must be one of {known}, found {bad or 'missing'}")


def _is_prepared(df: pd.DataFrame) -> bool:
    return bool(df.attrs.get("kp_prepared"))


def prepare_allocations(allocations: pd.DataFrame) -> pd.DataFrame:
    """Validate and normalise ``budget_allocations`` rows (returns a new frame).

    Raises ``ValueError`` on missing columns, unknown funds, duplicated keys, missing or negative
    budget estimates.
    """
    if isinstance(allocations, pd.DataFrame) and _is_prepared(allocations):
        return allocations
    _require(allocations, ALLOCATION_COLUMNS, "budget_allocations")
    df = allocations.loc[:, list(ALLOCATION_COLUMNS)].copy()
    df["department"] = df["department"].astype(str)
    df["fiscal_year"] = df["fiscal_year"].astype(str)
    df["object_class"] = df["object_class"].astype(str)
    _fund_check(df, "budget_allocations")
    df["fund"] = df["fund"].astype(str)
    df["budget_estimate"] = pd.to_numeric(df["budget_estimate"]).astype("float64")
    df["revised_estimate"] = pd.to_numeric(df["revised_estimate"]).astype("float64")
    df["revised_month"] = _month_starts(df["revised_month"], "revised_month", allow_missing=True)
    if df["budget_estimate"].isna().any():
        raise ValueError("budget_allocations: budget_estimate is missing on some rows")
    if (df["budget_estimate"] < 0).any():
        raise ValueError("budget_allocations: budget_estimate must not be negative")
    key = ["department", "fiscal_year", "fund", "object_class"]
    if df.duplicated(key).any():
        dups = df.loc[df.duplicated(key, keep=False), key].head(3).to_dict("records")
        raise ValueError(f"budget_allocations: duplicated keys, e.g. {dups}")
    df["component"] = _components(df)
    df.attrs["kp_prepared"] = True
    return df


def prepare_monthly(monthly: pd.DataFrame) -> pd.DataFrame:
    """Validate and normalise ``budget_monthly`` rows (returns a new frame).

    Adds ``fy_m`` (fiscal month, the year's first month = 1) and ``component``. Raises ``ValueError`` on missing
    columns, unknown funds, duplicated keys, a fiscal year inconsistent with the month, or
    missing release/expenditure values (a data gap is a missing row, never a NULL amount).
    """
    if isinstance(monthly, pd.DataFrame) and _is_prepared(monthly):
        return monthly
    _require(monthly, MONTHLY_COLUMNS, "budget_monthly")
    df = monthly.loc[:, list(MONTHLY_COLUMNS)].copy()
    df["department"] = df["department"].astype(str)
    df["fiscal_year"] = df["fiscal_year"].astype(str)
    df["object_class"] = df["object_class"].astype(str)
    _fund_check(df, "budget_monthly")
    df["fund"] = df["fund"].astype(str)
    df["month"] = _month_starts(df["month"], "budget_monthly.month")
    for col in ("release", "expenditure"):
        df[col] = pd.to_numeric(df[col]).astype("float64")
        if df[col].isna().any():
            raise ValueError(f"budget_monthly: {col} is missing on some rows")
    if len(df):
        wrong = df["fiscal_year"] != _fy_of_timestamps(df["month"])
        if wrong.any():
            row = df.loc[wrong].iloc[0]
            raise ValueError(
                f"budget_monthly: fiscal_year {row['fiscal_year']} does not match month "
                f"{row['month']:%Y-%m}"
            )
    key = ["department", "month", "fund", "object_class"]
    if df.duplicated(key).any():
        dups = df.loc[df.duplicated(key, keep=False), key].head(3).to_dict("records")
        raise ValueError(f"budget_monthly: duplicated keys, e.g. {dups}")
    df["fy_m"] = _fy_m(df["month"])
    df["component"] = _components(df)
    df.attrs["kp_prepared"] = True
    return df


def _components(df: pd.DataFrame) -> pd.Series:
    dev = (df["fund"] != current_fund()) | df["object_class"].isin(development_classes())
    comp = np.where(
        dev,
        "development",
        np.where(df["object_class"].isin(salary_classes()), "salary", "non_salary"),
    )
    return pd.Series(comp, index=df.index, dtype="str")


_SCOPE_COMPONENTS = {
    "total": ("salary", "non_salary", "development"),
    "current": ("salary", "non_salary"),
    "salary": ("salary",),
    "non_salary": ("non_salary",),
    "development": ("development",),
}


def _ratio(num: float, den: float) -> float:
    if den is None or num is None:
        return math.nan
    if not (math.isfinite(num) and math.isfinite(den)) or den <= 0:
        return math.nan
    return num / den


def _ts(month) -> pd.Timestamp:
    return pd.Timestamp(as_month(month))


def _dept_rows(df: pd.DataFrame, department: str) -> pd.DataFrame:
    return df.loc[df["department"] == str(department)]


def _only(df: pd.DataFrame, department: str) -> pd.DataFrame:
    """A prepared frame cut to one department (still marked prepared): later filters then run
    on that department's rows only."""
    out = _dept_rows(df, department)
    out.attrs["kp_prepared"] = True
    return out


# --------------------------------------------------------------------------------------------
# Coverage (missing months)
# --------------------------------------------------------------------------------------------


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
    expected = expected.loc[expected["fiscal_year"] == fy, ["fund", "object_class"]]
    expected_keys = set(map(tuple, expected.to_numpy().tolist()))
    rows = _dept_rows(mon, department)
    rows = rows.loc[rows["fiscal_year"] == fy]
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


# --------------------------------------------------------------------------------------------
# Utilisation
# --------------------------------------------------------------------------------------------


def _position_rows(
    alloc_fy: pd.DataFrame, mon_to_date: pd.DataFrame, month: pd.Timestamp, groups: dict
) -> list[dict]:
    rows = []
    for key, mask_fn in groups.items():
        a = alloc_fy.loc[mask_fn(alloc_fy)]
        mo = mon_to_date.loc[mask_fn(mon_to_date)]
        be = float(a["budget_estimate"].sum())
        known = a["revised_estimate"].notna() & (a["revised_month"] <= month)
        final = float(a["revised_estimate"].sum()) if len(a) and known.all() else math.nan
        spent = float(mo["expenditure"].sum())
        released = float(mo["release"].sum())
        if not len(a) and not len(mo):
            continue
        rows.append(
            {
                "key": key,
                "budget_estimate": be,
                "final_grant": final,
                "releases": released,
                "expenditure": spent,
                "util_be": _ratio(spent, be),
                "util_final_grant": _ratio(spent, final),
                "util_releases": _ratio(spent, released),
                "released_unspent": released - spent,
                "release_share_of_be": _ratio(released, be),
            }
        )
    return rows


def _scope_groups() -> dict:
    return {
        scope: (lambda df, comps=comps: df["component"].isin(comps))
        for scope, comps in _SCOPE_COMPONENTS.items()
    }


def _position_date(alloc, mon, department, month, frequency) -> pd.Timestamp | None:
    if check_frequency(frequency) == "monthly":
        return _ts(month)
    return as_of_month(month_coverage(alloc, mon, department, month, frequency), month, frequency)


def utilisation(
    allocations: pd.DataFrame,
    monthly: pd.DataFrame,
    department: str,
    month,
    frequency: str = "monthly",
) -> pd.DataFrame:
    """Cumulative position at ``month`` for one department, one row per scope.

    With quarterly or annual data the position is at the report's as-of (the end of the last
    reported period, :func:`as_of_month`) and so is the benchmark; with nothing reported yet
    this year the spending columns are NaN (unknown), not zero.

    Scopes: total, current, salary, non_salary, development (scopes with no budget and no
    spending are left out). Columns: scope, label, budget_estimate, final_grant (NaN until the
    revised estimate is known at ``month``), releases, expenditure (cumulative, reported rows
    only), util_be, util_final_grant, util_releases, released_unspent, release_share_of_be,
    benchmark, gap_be (util_be - benchmark), last_year_util_be (same fiscal month last year,
    against last year's BE), change_vs_last_year (points).
    """
    alloc = prepare_allocations(allocations)
    mon = prepare_monthly(monthly)
    month_ts = _ts(month)
    fy = fiscal_year(month)
    a = _dept_rows(alloc, department)
    if a.loc[a["fiscal_year"] == fy].empty:
        raise ValueError(f"no budget allocations for {department!r} in {fy}")
    groups = _scope_groups()
    at = _position_date(alloc, mon, department, month, frequency)
    upto = at if at is not None else _ts(add_months(fy_months(fy)[0], -1))
    rows = _position_rows(
        a.loc[a["fiscal_year"] == fy], _to_date(mon, department, fy, upto), month_ts, groups
    )
    out = pd.DataFrame(rows).rename(columns={"key": "scope"})
    out.insert(1, "label", out["scope"].map(scope_labels()))
    if at is None:
        for col in (*_UNKNOWN_BEFORE_REPORTING, "release_share_of_be"):
            out[col] = math.nan
    out["benchmark"] = time_benchmark(at) if at is not None else math.nan
    out["gap_be"] = out["util_be"] - out["benchmark"]
    last = _last_year_point(alloc, mon, department, at if at is not None else month, groups)
    out["last_year_util_be"] = out["scope"].map(last).astype("float64")
    out["change_vs_last_year"] = out["util_be"] - out["last_year_util_be"]
    return out.reset_index(drop=True)


def _to_date(mon: pd.DataFrame, department: str, fy: str, month_ts: pd.Timestamp) -> pd.DataFrame:
    rows = _dept_rows(mon, department)
    return rows.loc[(rows["fiscal_year"] == fy) & (rows["month"] <= month_ts)]


def _last_year_point(alloc, mon, department, month, groups) -> dict[str, float]:
    prev_month = add_months(month, -12)
    prev_fy = fiscal_year(prev_month)
    a = _dept_rows(alloc, department)
    a = a.loc[a["fiscal_year"] == prev_fy]
    if a.empty:
        return {}
    rows = _position_rows(
        a, _to_date(mon, department, prev_fy, _ts(prev_month)), _ts(prev_month), groups
    )
    if not _to_date(mon, department, prev_fy, _ts(prev_month)).shape[0]:
        return {}
    return {r["key"]: r["util_be"] for r in rows}


def utilisation_by_object_class(
    allocations: pd.DataFrame,
    monthly: pd.DataFrame,
    department: str,
    month,
    frequency: str = "monthly",
) -> pd.DataFrame:
    """Cumulative position by object class (both funds together) at ``month``.

    Columns: object_class, label, budget_estimate, final_grant, releases, expenditure,
    util_be, util_final_grant, util_releases, released_unspent, share_of_spending, benchmark,
    gap_be. Sorted by object class.
    """
    alloc = prepare_allocations(allocations)
    mon = prepare_monthly(monthly)
    month_ts = _ts(month)
    fy = fiscal_year(month)
    a = _dept_rows(alloc, department)
    a = a.loc[a["fiscal_year"] == fy]
    if a.empty:
        raise ValueError(f"no budget allocations for {department!r} in {fy}")
    at = _position_date(alloc, mon, department, month, frequency)
    mo = _to_date(
        mon,
        department,
        fy,
        at if at is not None else _ts(fy_months(fy)[0]) - pd.DateOffset(months=1),
    )
    classes = sorted(set(a["object_class"]) | set(mo["object_class"]))
    groups = {oc: (lambda df, oc=oc: df["object_class"] == oc) for oc in classes}
    out = pd.DataFrame(_position_rows(a, mo, month_ts, groups)).rename(
        columns={"key": "object_class"}
    )
    out.insert(1, "label", out["object_class"].map(object_classes()).fillna("Unknown class"))
    total = out["expenditure"].sum()
    out["share_of_spending"] = out["expenditure"] / total if total > 0 else math.nan
    if at is None:
        for col in (*_UNKNOWN_BEFORE_REPORTING, "share_of_spending"):
            out[col] = math.nan
    out["benchmark"] = time_benchmark(at) if at is not None else math.nan
    out["gap_be"] = out["util_be"] - out["benchmark"]
    return out.drop(columns=["release_share_of_be"]).reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Monthly trend and seasonality
# --------------------------------------------------------------------------------------------


def _monthly_totals(
    mon: pd.DataFrame, department: str, upto: pd.Timestamp, frequency: str = "monthly"
) -> pd.DataFrame:
    """Department totals per period (monthly: per month), dated at the period's last month;
    only periods ended by ``upto``."""
    rows = _dept_rows(mon, department)
    rows = rows.loc[rows["month"] <= upto]
    n = PERIOD_MONTHS[check_frequency(frequency)]
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
    return (
        rows.groupby(["fiscal_year", "fy_m", "month"], as_index=False)[["release", "expenditure"]]
        .sum()
        .sort_values("month")
        .reset_index(drop=True)
    )


def monthly_trend(
    allocations: pd.DataFrame,
    monthly: pd.DataFrame,
    department: str,
    month,
    frequency: str = "monthly",
) -> pd.DataFrame:
    """Department flows per period (monthly: per month) for every fiscal year with a budget,
    up to ``month``; with quarterly or annual data one row per quarter or year, dated at its
    last month (``fy_m`` = that fiscal month).

    One row per month (all twelve months of past years, months 1..m of the current year);
    missing months have NaN flows (never zero). Columns: fiscal_year, month, fy_m, status,
    release, expenditure, cum_expenditure, cum_release, budget_estimate, cum_util_be,
    share_of_year (expenditure / annual total, complete past years only).
    """
    alloc = prepare_allocations(allocations)
    mon = prepare_monthly(monthly)
    month_ts = _ts(month)
    fy_now = fiscal_year(month)
    a = _dept_rows(alloc, department)
    years = sorted(y for y in set(a["fiscal_year"]) if y <= fy_now)
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


# --------------------------------------------------------------------------------------------
# Year-end projection
# --------------------------------------------------------------------------------------------

_METHOD_LABELS = {
    "outturn": "Actual outturn",
    "profile": "Prior-year monthly profile",
    "model": "Seasonal regression (statsmodels OLS)",
    "pace": "Straight-line pace",
}


def _method_label(method: str, frequency: str = "monthly") -> str:
    """'Prior-year monthly profile' ('quarterly' for quarterly data, 'annual' for annual)."""
    word = {"monthly": "monthly", "quarterly": "quarterly", "annual": "annual"}[frequency]
    return _METHOD_LABELS[method].replace("monthly", word)


@dataclass
class Projection:
    """Year-end expenditure projection for one fiscal year (amounts in the profile's currency unit, and ratios of BE).

    ``methods`` has one row per method (profile, model) with columns method, label, available,
    point, low, high, point_be, low_be, high_be, backtest_mape, backtest_years, note;
    ``backtest`` one row per past year and method (fiscal_year, method, projection, low, high,
    actual, ape, covered). ``method`` is the method used for the headline and ``reason`` says
    why.
    """

    fiscal_year: str
    fy_m: int
    budget_estimate: float
    reported_to_date: float
    months_reported: int
    method: str
    label: str
    point: float
    low: float
    high: float
    reason: str
    methods: pd.DataFrame
    backtest: pd.DataFrame
    frequency: str = "monthly"
    #: why the headline projection was withheld ('' when it was not), see PLAUSIBLE_MAX
    withheld: str = ""
    #: the fiscal month of the as-of the projection starts from (monthly: the report month)
    as_of_m: int = 0
    #: fiscal months (period ends) of this year reported incomplete: left out of the reported
    #: spending the projection scales and projected like missing months (docs/methods.md 1.6)
    incomplete_m: tuple[int, ...] = ()

    @property
    def months_covered(self) -> int:
        """Months of the year covered by the reported periods (``months_reported`` counts
        periods: months, quarters or years)."""
        return self.months_reported * PERIOD_MONTHS[self.frequency]

    @property
    def point_be(self) -> float:
        return _ratio(self.point, self.budget_estimate)

    @property
    def low_be(self) -> float:
        return _ratio(self.low, self.budget_estimate)

    @property
    def high_be(self) -> float:
        return _ratio(self.high, self.budget_estimate)

    @property
    def has_interval(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)


def _incomplete_periods(
    alloc: pd.DataFrame,
    mon: pd.DataFrame,
    department: str,
    years: Iterable[str],
    month,
    frequency: str = "monthly",
) -> set[tuple[str, int]]:
    """(fiscal_year, fy_m of the period end) of every *partial* period of ``years`` up to
    ``month`` (the whole year for earlier years): an incomplete period (1.2) in which a
    budgeted line is unreported that the department does report in another period of the same
    year. A line never reported in the year is not a gap of one period (it is missing from
    every period alike), so it does not make a period partial."""
    f = check_frequency(frequency)
    n = PERIOD_MONTHS[f]
    fy_now = fiscal_year(month)
    a = _dept_rows(alloc, department)
    rows = _dept_rows(mon, department)
    out = set()
    for fy in years:
        last_m = fy_month_index(month) if fy == fy_now else 12
        expected = set(
            map(tuple, a.loc[a["fiscal_year"] == fy, ["fund", "object_class"]].to_numpy().tolist())
        )
        r = rows.loc[(rows["fiscal_year"] == fy) & (rows["fy_m"] <= last_m)]
        if r.empty or not expected:
            continue
        end = ((r["fy_m"] + n - 1) // n) * n
        keys = list(map(tuple, r[["fund", "object_class"]].to_numpy().tolist()))
        by_period: dict[int, set] = {}
        for e, k in zip(end.astype(int), keys, strict=True):
            by_period.setdefault(int(e), set()).add(k)
        seen = set(keys) & expected
        for e, have in by_period.items():
            if e > last_m:
                continue  # a period not yet ended is not read
            if (expected - have) & seen:
                out.add((fy, e))
    return out


def _profile_method(history: dict[str, np.ndarray], reported: dict[int, float], n: int = 1) -> dict:
    """Scale reported spending by the share of the year those months took in prior years.

    ``history`` maps complete prior fiscal years to their 12 monthly totals; ``reported`` maps
    fiscal months of the current year to expenditure. Point: mean profile; interval: the range of
    projections using each prior year's profile alone (needs two or more prior years).
    """
    usable = {fy: v for fy, v in history.items() if np.nansum(v) > 0}
    if not usable:
        return {"available": False, "note": "needs at least one complete prior year"}
    if not reported:
        return {"available": False, "note": "no month reported this year"}
    idx = np.array(sorted(reported)) // n - 1  # period ends (fiscal months) to period numbers
    cum = float(sum(reported.values()))
    shares = np.vstack([v / v.sum() for v in usable.values()])
    mean_share = shares.mean(axis=0)[idx].sum()
    if mean_share <= 0:
        return {"available": False, "note": "prior years show no spending in the reported months"}
    point = cum / mean_share
    per_year = [cum / s for s in shares[:, idx].sum(axis=1) if s > 0]
    if len(per_year) >= 2:
        low, high = min(per_year), max(per_year)
        note = f"range across {len(per_year)} prior-year profiles"
    else:
        low = high = math.nan
        note = "one prior year: no interval"
    return {"available": True, "point": point, "low": low, "high": high, "note": note}


def _model_method(
    history: pd.DataFrame,
    current: dict[int, float],
    interval: float = MODEL_INTERVAL,
    ends: Sequence[int] = tuple(range(1, 13)),
) -> dict:
    """OLS on log monthly spending with fiscal-year and fiscal-month fixed effects.

    ``history`` has columns fiscal_year, fy_m, expenditure (prior years, any reported months);
    ``current`` maps this year's reported fiscal months to expenditure. Months not reported this
    year are predicted from this year's level and the month effects; the interval is simulated
    (parameter uncertainty and residual noise, fixed seed). Months with non-positive spending are
    left out of the fit (log scale).
    """
    if not current:
        return {"available": False, "note": "no month reported this year"}
    cur = pd.DataFrame(
        {"fiscal_year": "__current__", "fy_m": list(current), "expenditure": list(current.values())}
    )
    data = pd.concat([history[["fiscal_year", "fy_m", "expenditure"]], cur], ignore_index=True)
    data = data.loc[data["expenditure"] > 0]
    to_predict = [k for k in ends if k not in current]
    if "__current__" not in set(data["fiscal_year"]):
        return {"available": False, "note": "no positive spending reported this year"}
    if data["fiscal_year"].nunique() < 2:
        return {"available": False, "note": "needs at least one prior year"}
    months = sorted(set(data["fy_m"]))
    if set(to_predict) - set(months):
        return {"available": False, "note": "some months never observed in prior years"}
    years = ["__current__"] + sorted(set(data["fiscal_year"]) - {"__current__"})
    n_params = 1 + (len(years) - 1) + (len(months) - 1)
    if len(data) - n_params < MIN_MODEL_DF:
        return {"available": False, "note": "too few months to fit"}
    x = _design(data["fiscal_year"], data["fy_m"], years, months)
    res = sm.OLS(np.log(data["expenditure"].to_numpy(dtype="float64")), x).fit()
    cum = float(sum(current.values()))
    if not to_predict:
        return {"available": True, "point": cum, "low": cum, "high": cum, "note": "year complete"}
    xp = _design(pd.Series(["__current__"] * len(to_predict)), pd.Series(to_predict), years, months)
    beta = np.asarray(res.params, dtype="float64")
    sigma2 = float(res.scale)
    point = cum + float(np.exp(xp @ beta + sigma2 / 2).sum())
    rng = np.random.default_rng(_SEED)
    betas = rng.multivariate_normal(beta, np.asarray(res.cov_params()), size=_SIMULATIONS)
    eps = rng.normal(0.0, math.sqrt(sigma2), size=(_SIMULATIONS, len(to_predict)))
    sums = cum + np.exp(betas @ xp.T + eps).sum(axis=1)
    tail = (1 - interval) / 2
    low, high = (float(q) for q in np.quantile(sums, [tail, 1 - tail]))
    return {
        "available": True,
        "point": point,
        "low": low,
        "high": high,
        "note": f"{interval:.0%} simulated interval, {int(res.df_resid)} residual df",
    }


def _design(fys: pd.Series, fms: pd.Series, years: list, months: list) -> np.ndarray:
    fys = list(fys)
    fms = list(fms)
    cols = [np.ones(len(fys))]
    cols += [np.array([y == year for y in fys], dtype="float64") for year in years[1:]]
    cols += [np.array([m == mm for m in fms], dtype="float64") for mm in months[1:]]
    return np.column_stack(cols)


def _year_inputs(totals: pd.DataFrame, fy: str, upto_m: int) -> dict[int, float]:
    t = totals.loc[(totals["fiscal_year"] == fy) & (totals["fy_m"] <= upto_m)]
    return dict(zip(t["fy_m"].astype(int), t["expenditure"].astype(float), strict=True))


def _run_methods(
    totals: pd.DataFrame,
    complete: dict[str, bool],
    fy: str,
    m: int,
    lookback: int,
    frequency: str = "monthly",
) -> dict[str, dict]:
    prior = sorted(y for y in complete if y < fy)[-lookback:]
    history = {}
    for y in prior:
        if complete[y]:
            t = totals.loc[totals["fiscal_year"] == y].sort_values("fy_m")
            history[y] = t["expenditure"].to_numpy(dtype="float64")
    reported = _year_inputs(totals, fy, m)
    hist_rows = totals.loc[totals["fiscal_year"].isin(prior)]
    n = PERIOD_MONTHS[frequency]
    if frequency == "annual":
        model = {"available": False, "note": "annual data: no within-year profile to model"}
    else:
        model = _model_method(hist_rows, reported, ends=tuple(range(n, 13, n)))
    return {"profile": _profile_method(history, reported, n), "model": model}


def project_year_end(
    allocations: pd.DataFrame,
    monthly: pd.DataFrame,
    department: str,
    month,
    lookback: int = PROJECTION_LOOKBACK,
    frequency: str = "monthly",
) -> Projection:
    """Project the department's full-year expenditure for the fiscal year of ``month``.

    Methods (both learn from up to ``lookback`` prior fiscal years of the department itself):

    - ``profile``: reported spending this year / the share of annual spending the same months
      took in complete prior years (mean profile); interval = range over single-year profiles.
    - ``model``: statsmodels OLS of log monthly spending on fiscal-year and fiscal-month effects,
      fitted on prior years and this year's reported months; 80% simulated interval.

    Back-test: each method is applied at the same fiscal month in every complete past year that
    has at least one complete year before it, using only data available then, and compared with
    that year's actual outturn (absolute percentage error; MAPE over years).

    Headline method: the regression when its back-test MAPE over the years both could be tested
    on is lower than the profile method's by more than ``CHOICE_TOLERANCE``, else the profile
    method; the profile method when there is no common back-test year (it is the simpler one); the
    model when the profile is unavailable; a straight-line pace (reported spending x 12 / months
    reported, no interval) when neither is available (e.g. no prior year).
    Missing months are handled by both methods (they are projected, not read as zero).

    Quarterly and annual data (``frequency``): the same methods on the data's own periods
    (quarterly: a prior-year quarterly profile; a regression with quarter effects), starting
    from the as-of (the last reported period's end, :func:`as_of_month`); the back-test is run
    at that same point. The straight-line pace is reported spending / the share of the year
    the reported periods cover (months covered / 12; monthly: x 12 / months reported). Annual
    data: no within-year projection; a year with its executed amount shows its outturn.
    A headline projection above ``PLAUSIBLE_MAX`` x BE (200%) is withheld (NaN, ``withheld``
    says why) unless the year is complete (an outturn is never withheld).
    """
    freq = check_frequency(frequency)
    n_months = PERIOD_MONTHS[freq]
    alloc = _only(prepare_allocations(allocations), department)
    mon = _only(prepare_monthly(monthly), department)
    fy = fiscal_year(month)
    m = fy_month_index(month)
    if freq != "monthly":
        at = _position_date(alloc, mon, department, month, freq)
        m = fy_month_index(at) if at is not None else 0
    a = _dept_rows(alloc, department)
    be = float(a.loc[a["fiscal_year"] == fy, "budget_estimate"].sum())
    if a.loc[a["fiscal_year"] == fy].empty:
        raise ValueError(f"no budget allocations for {department!r} in {fy}")
    totals = _monthly_totals(mon, department, _ts(month), freq)
    past = sorted(y for y in set(totals["fiscal_year"]) | set(a["fiscal_year"]) if y < fy)
    complete = _complete_years(alloc, mon, department, past, freq)
    # An incomplete period (some budgeted lines reported, others not) is treated like a missing
    # one: its partial total would enter the reported spending while the period's full share of
    # the year entered the divisor, understating the projection. Both methods project it instead.
    partial = _incomplete_periods(alloc, mon, department, [*past, fy], month, freq)
    if partial:
        key = list(zip(totals["fiscal_year"], totals["fy_m"].astype(int), strict=True))
        totals = totals.loc[[k not in partial for k in key]].reset_index(drop=True)
    incomplete_now = sorted(m_ for y, m_ in partial if y == fy)
    live = _run_methods(totals, complete, fy, m, lookback, freq)

    bt_rows = []
    for y in past:
        if not complete[y]:
            continue
        actual = float(totals.loc[totals["fiscal_year"] == y, "expenditure"].sum())
        if actual <= 0:
            continue
        earlier = {k: v for k, v in complete.items() if k < y}
        if not any(earlier.values()):
            continue
        res = _run_methods(totals, earlier, y, m, lookback, freq)
        for method, r in res.items():
            if not r["available"]:
                continue
            low, high = r["low"], r["high"]
            covered = (
                bool(low <= actual <= high) if math.isfinite(low) and math.isfinite(high) else None
            )
            bt_rows.append(
                {
                    "fiscal_year": y,
                    "method": method,
                    "projection": r["point"],
                    "low": low,
                    "high": high,
                    "actual": actual,
                    "ape": abs(r["point"] - actual) / actual,
                    "covered": covered,
                }
            )
    backtest = pd.DataFrame(
        bt_rows,
        columns=["fiscal_year", "method", "projection", "low", "high", "actual", "ape", "covered"],
    )

    method_rows = []
    for method in ("profile", "model"):
        r = live[method]
        bt = backtest.loc[backtest["method"] == method]
        method_rows.append(
            {
                "method": method,
                "label": _method_label(method, freq),
                "available": r["available"],
                "point": r.get("point", math.nan),
                "low": r.get("low", math.nan),
                "high": r.get("high", math.nan),
                "backtest_mape": float(bt["ape"].mean()) if len(bt) else math.nan,
                "backtest_years": len(bt),
                "note": r["note"],
            }
        )
    methods = pd.DataFrame(method_rows)
    for col in ("point", "low", "high"):
        methods[f"{col}_be"] = methods[col] / be if be > 0 else math.nan

    reported = _year_inputs(totals, fy, m)
    chosen, reason = _choose(live, backtest)
    if chosen == "pace":
        if not reported:
            point = math.nan
            reason = (
                "annual data: the year's executed amount is not in the data yet, and there is "
                "no within-year projection"
                if freq == "annual"
                else f"no {PERIOD_WORDS[freq][0]} reported this year: no projection"
            )
        else:
            point = float(sum(reported.values())) * 12 / (n_months * len(reported))
        low = high = math.nan
    else:
        point, low, high = (live[chosen][k] for k in ("point", "low", "high"))
    complete_now = m == 12 and bool(reported) and len(reported) == 12 // n_months
    if freq != "monthly" and complete_now:
        statuses = set(month_coverage(alloc, mon, department, month, freq)["status"])
        if statuses <= {"reported"}:
            # quarterly or annual data, the year closed: the figure is the actual outturn
            chosen = "outturn"
            point = low = high = float(sum(reported.values()))
            reason = "the year is complete: the figure is the actual outturn, not a projection"
    if chosen == "pace" and freq != "monthly":
        reason = reason.replace("reported months", f"reported {PERIOD_WORDS[freq][1]}")
    withheld = ""
    if not complete_now and be > 0 and math.isfinite(point) and point > PLAUSIBLE_MAX * be:
        withheld = (
            f"the {_method_label(chosen, freq).lower()} gives {point / be:.0%} of the budget estimate, "
            f"above the plausibility limit of {PLAUSIBLE_MAX:.0%}; no year-end projection is shown"
        )
        point = low = high = math.nan
    return Projection(
        fiscal_year=fy,
        fy_m=m,
        budget_estimate=be,
        reported_to_date=float(sum(reported.values())),
        months_reported=len(reported),
        method=chosen,
        label=_method_label(chosen, freq),
        point=float(point),
        low=float(low),
        high=float(high),
        reason=reason,
        methods=methods,
        backtest=backtest,
        frequency=freq,
        withheld=withheld,
        as_of_m=m,
        incomplete_m=tuple(incomplete_now),
    )


def _choose(live: dict[str, dict], backtest: pd.DataFrame) -> tuple[str, str]:
    prof, mod = live["profile"]["available"], live["model"]["available"]
    if prof and mod:
        p = backtest.loc[backtest["method"] == "profile"].set_index("fiscal_year")["ape"]
        q = backtest.loc[backtest["method"] == "model"].set_index("fiscal_year")["ape"]
        common = sorted(set(p.index) & set(q.index))
        if common:
            pm, qm = float(p[common].mean()), float(q[common].mean())
            years = f"{len(common)} past year{'s' if len(common) > 1 else ''}"
            if qm < pm - CHOICE_TOLERANCE:
                return "model", (
                    f"lower back-test error than the profile method ({qm:.1%} against {pm:.1%}, "
                    f"{years})"
                )
            return "profile", (
                f"back-test error {pm:.1%} against {qm:.1%} for the regression ({years}); the "
                "simpler method is kept unless the regression is clearly better"
            )
        return "profile", "no past year to back-test both methods on; the simpler method is used"
    if prof:
        return "profile", f"the regression model is unavailable ({live['model']['note']})"
    if mod:
        return "model", f"the profile method is unavailable ({live['profile']['note']})"
    return "pace", "no usable prior year: straight-line pace of reported months, no interval"


# --------------------------------------------------------------------------------------------
# Forecast-accuracy record (how far each month's year-end projection was from the outturn)
# --------------------------------------------------------------------------------------------

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
    a = a.loc[a["fiscal_year"] == fy]
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
    outturn = float(mo.loc[mo["fiscal_year"] == fy, "expenditure"].sum())
    rows = []
    for e in ends:
        at = fy_months(fy)[e - 1]
        upto = mon.loc[mon["month"] <= pd.Timestamp(at)]
        upto.attrs["kp_prepared"] = True
        p = project_year_end(alloc, upto, department, at, frequency=freq)
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
    :func:`project_year_end` with the data as of m (rows after m dropped: the same inputs and
    code give the same figure), against the year's actual expenditure. Only a year with every
    period reported has an outturn; otherwise the table is empty and ``note`` says why.
    Annual data: no within-year projection, no record.
    """
    freq = check_frequency(frequency)
    alloc = _only(prepare_allocations(allocations), department)
    mon = _only(prepare_monthly(monthly), department)
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
        a1, m1 = _only(alloc, dept), _only(mon, dept)
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


# --------------------------------------------------------------------------------------------
# Flags
# --------------------------------------------------------------------------------------------


def budget_flags(
    position: pd.DataFrame,
    trend: pd.DataFrame,
    coverage: pd.DataFrame,
    underspend_margin: float = DEFAULT_UNDERSPEND_MARGIN,
    jump_ratio: float = JUMP_RATIO,
    jump_min_share: float = JUMP_MIN_SHARE,
    frequency: str = "monthly",
) -> pd.DataFrame:
    """Things a reader should not miss, one row per flag: kind, scope, message.

    Rules:
    - ``underspend``: utilisation of BE below benchmark - ``underspend_margin`` (total, salary,
      non-salary, development).
    - ``above_releases``: cumulative expenditure above cumulative releases (same scopes).
    - ``jump``: month-on-month change in department expenditure this year where the month is
      at least ``jump_ratio`` times the previous reported month, or at most 1/``jump_ratio`` of
      it, and the change is at least ``jump_min_share`` of the annual BE; consecutive reported
      months only. A month with negative net expenditure is always flagged.
    - ``missing_months`` / ``incomplete_months``: months with no rows / with some rows missing.
      With quarterly or annual data the same rules apply to the data's periods (a month inside
      a reported quarter is never missing), and ``awaited_periods`` lists the periods ended
      after the last reported one (the report is as of that one).
    """
    freq = check_frequency(frequency)
    one, many = PERIOD_WORDS[freq]
    labels = scope_labels()
    if not 0 <= underspend_margin < 1:
        raise ValueError(f"underspend_margin must be in [0, 1), got {underspend_margin}")
    if jump_ratio <= 1:
        raise ValueError(f"jump_ratio must be above 1, got {jump_ratio}")
    flags: list[dict] = []
    for r in position.itertuples(index=False):
        if r.scope == "current":
            continue
        label = labels.get(r.scope, r.scope)
        if math.isfinite(r.util_be) and r.util_be < r.benchmark - underspend_margin - _EPS:
            if freq == "annual":
                flags.append(
                    {
                        "kind": "underspend",
                        "scope": r.scope,
                        "message": (
                            f"{label}: {r.util_be:.0%} of the budget estimate executed in the "
                            f"year ({(r.benchmark - r.util_be) * 100:.0f} points below the "
                            f"approved budget; margin {underspend_margin * 100:.0f} points)."
                        ),
                    }
                )
            else:
                flags.append(
                    {
                        "kind": "underspend",
                        "scope": r.scope,
                        "message": (
                            f"{label}: {r.util_be:.0%} of the budget estimate spent against a "
                            f"{r.benchmark:.0%} benchmark ({(r.benchmark - r.util_be) * 100:.0f} "
                            f"points behind; margin {underspend_margin * 100:.0f} points)."
                        ),
                    }
                )
        if r.expenditure > r.releases + _EPS * max(1.0, abs(r.releases)):
            flags.append(
                {
                    "kind": "above_releases",
                    "scope": r.scope,
                    "message": (
                        f"{label}: spending of {_money(r.expenditure)} is above releases of "
                        f"{_money(r.releases)} (by {_money(r.expenditure - r.releases)})."
                    ),
                }
            )
    fy_now = trend["fiscal_year"].max() if len(trend) else None
    this = trend.loc[trend["fiscal_year"] == fy_now].sort_values("fy_m")
    be = float(this["budget_estimate"].iloc[0]) if len(this) else math.nan
    prev = None
    for r in this.itertuples(index=False):
        if r.status == "missing" or not math.isfinite(r.expenditure):
            prev = None
            continue
        label = period_label(r.month, freq)
        if r.expenditure < 0:
            flags.append(
                {
                    "kind": "jump",
                    "scope": "total",
                    "message": (
                        f"{label}: net expenditure is negative ({_money(r.expenditure)}); "
                        "reversals exceed spending."
                    ),
                }
            )
        elif prev is not None and prev.expenditure > 0:
            ratio = r.expenditure / prev.expenditure
            change = r.expenditure - prev.expenditure
            big = math.isfinite(be) and abs(change) >= jump_min_share * be
            if big and (ratio >= jump_ratio or ratio <= 1 / jump_ratio):
                flags.append(
                    {
                        "kind": "jump",
                        "scope": "total",
                        "message": (
                            f"{label}: expenditure of {_money(r.expenditure)} is "
                            f"{ratio:.1f} times {period_label(prev.month, freq)}'s "
                            f"{_money(prev.expenditure)}."
                        ),
                    }
                )
        prev = r
    for status, kind, words in (
        ("missing", "missing_months", "no data"),
        ("incomplete", "incomplete_months", "some object classes not reported"),
    ):
        months = coverage.loc[coverage["status"] == status, "month"]
        if len(months):
            names = ", ".join(period_label(mm, freq) for mm in months)
            flags.append(
                {
                    "kind": kind,
                    "scope": "total",
                    "message": (
                        f"{len(months)} {one if len(months) == 1 else many} with {words}: "
                        f"{names}. Cumulative figures exclude them (not counted as zero)."
                    ),
                }
            )
    waiting = coverage.loc[coverage["status"] == "awaited", "month"]
    if len(waiting):
        names = ", ".join(period_label(mm, freq) for mm in waiting)
        flags.append(
            {
                "kind": "awaited_periods",
                "scope": "total",
                "message": (
                    f"{names} ended by the report month but {'has' if len(waiting) == 1 else 'have'}"
                    f" no data yet: the figures are as of the last reported {one}."
                ),
            }
        )
    return pd.DataFrame(flags, columns=["kind", "scope", "message"])


# --------------------------------------------------------------------------------------------
# PEFA
# --------------------------------------------------------------------------------------------

#: PEFA 2016 PI-2.1 (Field Guide, dimension 2.1, data requirements): with more than this many
#: main heads, the variance is assessed on the largest heads that together make up
#: PI2_HEAD_SHARE of the budget (at least PI2_MAX_HEADS of them), the rest as one line.
PI2_MAX_HEADS = 20
PI2_HEAD_SHARE = 0.75
#: Label of the line that aggregates the residual heads (PI-2.1).
RESIDUAL_HEAD = "(other heads)"

#: Chart-of-accounts roles left out of each PEFA measure (PEFA 2016 Field Guide): PI-1
#: excludes repayment of debt principal (1.1:7: expenditure includes interest but not
#: principal); PI-2.1 also excludes interest and contingency items (2.1:1); PI-2.2 includes
#: interest and excludes contingency items (2.2:1). Principal is out of PI-2 as it is out of
#: PI-1 (PI-2 adjusts the budget to the PI-1 aggregate).
PEFA_EXCLUDED_ROLES = {
    "PI-1": ("principal",),
    "PI-2.1": ("principal", "interest", "contingency"),
    "PI-2.2": ("principal", "contingency"),
}


def pefa_excluded_classes(measure: str) -> tuple[str, ...]:
    """Object classes of the active chart of accounts left out of ``measure`` ('PI-1',
    'PI-2.1', 'PI-2.2'), from the classes' roles (KP: A10 principal, A07 interest)."""
    chart = _chart()
    return tuple(c for role in PEFA_EXCLUDED_ROLES[measure] for c in chart.with_role(role))


def contingency_classes() -> tuple[str, ...]:
    """Object classes with role ``contingency`` (none in KP's chart)."""
    return _chart().with_role("contingency")


@dataclass
class PefaResult:
    """PEFA budget reliability over the last three completed fiscal years.

    ``years``: one row per year (fiscal_year, budget_estimate and actual of the PI-1 aggregate
    (principal repayments left out), outturn, variance (PI-2.1 or PI-2.2), heads (lines in the
    variance), residual_heads (heads aggregated into one line, PI-2.1), contingency (actual
    expenditure charged to contingency classes), contingency_share (of the PI-1 budget),
    complete, months_missing). ``pi1``/``pi2``/``pi23`` are the scores, or None with ``note``
    (``pi23_note`` for PI-2.3) saying why.
    """

    years: pd.DataFrame
    pi1: str | None
    pi2: str | None
    note: str
    pi2_dimension: str = "PI-2.2"
    extra: dict = field(default_factory=dict)
    pi23: str | None = None
    pi23_note: str = ""
    #: object classes left out, per measure ('PI-1', 'PI-2.1'/'PI-2.2')
    excluded: dict = field(default_factory=dict)
    #: PI-3 revenue outturn (:func:`with_revenue`); None when the caller did not assess it
    revenue: RevenueResult | None = None


PEFA_YEAR_COLUMNS = [
    "fiscal_year",
    "budget_estimate",
    "actual",
    "outturn",
    "variance",
    "heads",
    "residual_heads",
    "contingency",
    "contingency_share",
    "complete",
    "months_missing",
]


def pefa_heads(
    actual: pd.Series,
    budget: pd.Series,
    max_heads: int = PI2_MAX_HEADS,
    share: float = PI2_HEAD_SHARE,
) -> tuple[pd.Series, pd.Series, int]:
    """PI-2.1 heads: with more than ``max_heads`` heads, keep the largest (by original budget)
    that together make up ``share`` of the budget, at least ``max_heads`` of them, and add the
    others up into one line (:data:`RESIDUAL_HEAD`). Ties in budget are broken by head label.

    Returns the aligned actual and budget Series and the number of heads aggregated (0 when
    every head is kept). PEFA 2016 Field Guide, dimension 2.1, data requirements.
    """
    heads = sorted(set(budget.index) | set(actual.index), key=str)
    b = budget.reindex(heads, fill_value=0.0).astype("float64")
    a = actual.reindex(heads, fill_value=0.0).astype("float64")
    if len(heads) <= max_heads:
        return a, b, 0
    order = sorted(heads, key=lambda h: (-float(b[h]), str(h)))
    total = float(b.sum())
    cum, k = 0.0, 0
    for h in order:
        if k >= max_heads and total > 0 and cum >= share * total - _EPS * total:
            break
        cum += float(b[h])
        k += 1
    keep, rest = order[:k], order[k:]
    if not rest:
        return a, b, 0
    a2 = pd.concat([a[keep], pd.Series({RESIDUAL_HEAD: float(a[rest].sum())})])
    b2 = pd.concat([b[keep], pd.Series({RESIDUAL_HEAD: float(b[rest].sum())})])
    return a2, b2, len(rest)


def pefa_pi23_score(shares: Sequence[float]) -> str:
    """PEFA 2016 PI-2.3 score from exactly three yearly shares of actual expenditure charged
    to contingency votes in the original total budget (ratios).

    The simple average of the three (Field Guide 2.3:3): A below 3%; B 3% to 6% inclusive;
    C above 6% and below 10%; else D.
    """
    vals = _three(shares, "contingency shares")
    mean = sum(vals) / 3
    if mean < 0.03 - _EPS:
        return "A"
    if mean <= 0.06 + _EPS:
        return "B"
    if mean < 0.10 - _EPS:
        return "C"
    return "D"


def _completed_years(years: Iterable[str], month, n: int = 3) -> list[str]:
    fy = fiscal_year(month)
    return sorted(y for y in set(years) if y < fy)[-n:]


def _scores(
    table: pd.DataFrame, dimension: str, require_complete: bool
) -> tuple[str | None, str | None, str]:
    if len(table) < 3:
        return (
            None,
            None,
            (
                f"Not scored: PEFA needs three completed fiscal years and the data hold "
                f"{len(table)} ({', '.join(table['fiscal_year']) or 'none'})."
            ),
        )
    provisional = ""
    if not table["complete"].all():
        bad = list(table.loc[~table["complete"], "fiscal_year"])
        gaps = ", ".join(bad) + (" have" if len(bad) > 1 else " has")
        n = int(table["months_missing"].sum())
        if require_complete:
            return (
                None,
                None,
                (
                    f"Not scored: {gaps} missing monthly data ({n} month(s)), so the full-year "
                    "outturn is not known."
                ),
            )
        provisional = (
            f" Provisional: {gaps} {n} missing month(s) in all; scored on reported spending, "
            "which understates the outturn."
        )
    if table["outturn"].isna().any():
        return None, None, "Not scored: a year has no positive budget estimate."
    pi1 = pefa_pi1_score(table["outturn"])
    pi2 = pefa_pi2_score(table["variance"]) if table["variance"].notna().all() else None
    note = (
        f"PI-1 and {dimension} use original budget estimates (BE) for "
        f"{', '.join(table['fiscal_year'])}.{provisional}"
    )
    if pi2 is None:
        note += f" {dimension} not scored: the variance could not be computed for every year."
    return pi1, pi2, note


def _pefa_year(
    a_fy: pd.DataFrame, mo_fy: pd.DataFrame, head: str, dimension: str
) -> dict[str, float]:
    """One year's PEFA figures. ``head`` is the column the PI-2 heads come from (object_class
    for PI-2.2, department for PI-2.1); the roles of :data:`PEFA_EXCLUDED_ROLES` are left out
    of each measure; PI-2.1 aggregates residual heads (:func:`pefa_heads`)."""
    out1 = list(pefa_excluded_classes("PI-1"))
    out2 = list(pefa_excluded_classes(dimension))
    cont = list(contingency_classes())
    be1 = float(a_fy.loc[~a_fy["object_class"].isin(out1), "budget_estimate"].sum())
    act1 = float(mo_fy.loc[~mo_fy["object_class"].isin(out1), "expenditure"].sum())
    a2 = a_fy.loc[~a_fy["object_class"].isin(out2)]
    m2 = mo_fy.loc[~mo_fy["object_class"].isin(out2)]
    b = a2.groupby(head)["budget_estimate"].sum()
    act = m2.groupby(head)["expenditure"].sum()
    if dimension == "PI-2.1":
        act, b, residual = pefa_heads(act, b)
    else:
        heads = sorted(set(b.index) | set(act.index))
        b, act, residual = b.reindex(heads, fill_value=0.0), act.reindex(heads, fill_value=0.0), 0
    try:
        variance = composition_variance(act, b)
    except ValueError:
        variance = math.nan
    contingency = (
        float(mo_fy.loc[mo_fy["object_class"].isin(cont), "expenditure"].sum())
        if cont
        else math.nan
    )
    return {
        "budget_estimate": be1,
        "actual": act1,
        "outturn": _ratio(act1, be1),
        "variance": variance,
        "heads": len(b),
        "residual_heads": residual,
        "contingency": contingency,
        "contingency_share": _ratio(contingency, be1) if cont else math.nan,
    }


def _pi23(table: pd.DataFrame, pi1: str | None) -> tuple[str | None, str]:
    """PI-2.3 from the years table: scored when the chart has a contingency class and PI-1 is
    scored (three complete years with a positive budget)."""
    if not contingency_classes():
        return None, (
            "PI-2.3 (contingency) not assessed: the chart of accounts has no contingency line "
            "(an object class with role contingency)."
        )
    if pi1 is None or len(table) != 3 or table["contingency_share"].isna().any():
        return None, "PI-2.3 not scored: three completed years with full data are needed."
    shares = table["contingency_share"].tolist()
    mean = sum(shares) / 3
    return pefa_pi23_score(shares), (
        f"PI-2.3: on average {mean:.1%} of the original budget was charged to contingency "
        f"({', '.join(f'{s:.1%}' for s in shares)})."
    )


def _pefa_result(
    rows: list[dict], dimension: str, require_complete: bool, heads_word: str
) -> PefaResult:
    table = pd.DataFrame(rows, columns=PEFA_YEAR_COLUMNS)
    pi1, pi2, note = _scores(table, dimension, require_complete)
    pi23, pi23_note = _pi23(table, pi1)
    excluded = {m: pefa_excluded_classes(m) for m in ("PI-1", dimension)}
    return PefaResult(
        years=table,
        pi1=pi1,
        pi2=pi2,
        note=note,
        pi2_dimension=dimension,
        pi23=pi23,
        pi23_note=pi23_note,
        excluded=excluded,
        extra={"heads": heads_word},
    )


def pefa_department(
    allocations: pd.DataFrame,
    monthly: pd.DataFrame,
    department: str,
    month,
    require_complete: bool = True,
    frequency: str = "monthly",
) -> PefaResult:
    """PI-1 (aggregate outturn), PI-2.2 (composition by object class) and PI-2.3 (contingency)
    for one department.

    Uses the last three fiscal years completed before the fiscal year of ``month``; actual =
    full-year expenditure, budget = BE (funds together). Classes are left out by their role in
    the chart of accounts (:data:`PEFA_EXCLUDED_ROLES`): principal from PI-1; principal and
    contingency from PI-2.2. Not scored (None) when fewer than three years exist, or when a
    year has missing months and ``require_complete`` is True (with False, scores are computed
    on reported spending and marked provisional).
    """
    alloc = prepare_allocations(allocations)
    mon = prepare_monthly(monthly)
    a = _dept_rows(alloc, department)
    mo = _dept_rows(mon, department)
    years = _completed_years(a["fiscal_year"], month)
    n = PERIOD_MONTHS[check_frequency(frequency)]
    rows = []
    for fy in years:
        cov = month_coverage(alloc, mon, department, fy_months(fy)[-1], frequency)
        fig = _pefa_year(
            a.loc[a["fiscal_year"] == fy], mo.loc[mo["fiscal_year"] == fy], "object_class", "PI-2.2"
        )
        rows.append(
            {
                "fiscal_year": fy,
                **fig,
                "complete": bool((cov["status"] == "reported").all()),
                "months_missing": int((cov["status"] != "reported").sum()) * n,
            }
        )
    return _pefa_result(rows, "PI-2.2", require_complete, "object classes")


def pefa_province(
    allocations: pd.DataFrame,
    monthly: pd.DataFrame,
    month,
    require_complete: bool = True,
    frequency: str = "monthly",
) -> PefaResult:
    """Province-level PI-1, PI-2.1 (composition by administrative head = department) and
    PI-2.3 (contingency).

    Uses the last three fiscal years completed before the fiscal year of ``month``. PI-1 leaves
    out principal repayments; PI-2.1 also interest and contingency (by role in the chart of
    accounts). With more than :data:`PI2_MAX_HEADS` departments, PI-2.1 is computed on the
    largest that make up :data:`PI2_HEAD_SHARE` of the budget (at least 20) plus one line for
    the rest (:func:`pefa_heads`). A year counts as complete only when every department
    budgeted that year reported every month; ``months_missing`` counts department-months
    missing or incomplete. With ``require_complete`` False such years are scored on reported
    spending (note: provisional).
    """
    alloc = prepare_allocations(allocations)
    mon = prepare_monthly(monthly)
    years = _completed_years(alloc["fiscal_year"], month)
    n = PERIOD_MONTHS[check_frequency(frequency)]
    rows = []
    for fy in years:
        a = alloc.loc[alloc["fiscal_year"] == fy]
        gaps = 0
        for dept in sorted(set(a["department"])):
            cov = month_coverage(alloc, mon, dept, fy_months(fy)[-1], frequency)
            gaps += int((cov["status"] != "reported").sum()) * n
        fig = _pefa_year(a, mon.loc[mon["fiscal_year"] == fy], "department", "PI-2.1")
        rows.append({"fiscal_year": fy, **fig, "complete": gaps == 0, "months_missing": gaps})
    return _pefa_result(rows, "PI-2.1", require_complete, "departments")


# --------------------------------------------------------------------------------------------
# PEFA PI-3 revenue outturn (the optional revenue input: helpers.data.warehouse.revenue)
# --------------------------------------------------------------------------------------------

#: Columns of a revenue frame for :func:`pefa_revenue`: one row per fiscal year and revenue
#: category (GFS 3-digit or comparable: main tax types, non-tax revenue, grants, transfers),
#: amounts in the profile's currency unit; ``actual`` blank for a year not yet closed. A
#: ``department`` column (the collecting department: the warehouse's revenue table) is optional.
REVENUE_COLUMNS = ("fiscal_year", "category", "budget_estimate", "actual")
#: Columns of :attr:`RevenueResult.years`.
REVENUE_YEAR_COLUMNS = [
    "fiscal_year",
    "budget_estimate",
    "actual",
    "outturn",
    "variance",
    "categories",
]
#: PI-3.1 bands: (score, lowest, highest outturn), edges inclusive (PEFA 2016, dimension 3.1).
PI31_BANDS = (("A", 0.97, 1.06), ("B", 0.94, 1.12), ("C", 0.92, 1.16))
PI3_NOT_PROVIDED = (
    "PI-3 (revenue outturn) not assessed: revenue not provided (no revenue file among the "
    "budget inputs)."
)


def pefa_pi31_score(outturns: Sequence[float]) -> str:
    """PEFA 2016 PI-3.1 score from exactly three yearly revenue outturns (actual / originally
    budgeted revenue). A: 97-106% in at least two of the three years; B: 94-112%;
    C: 92-116%; else D. Band edges inclusive (as PI-1)."""
    vals = _three(outturns, "revenue outturns")
    for grade, low, high in PI31_BANDS:
        if sum(low - _EPS <= v <= high + _EPS for v in vals) >= 2:
            return grade
    return "D"


@dataclass
class RevenueResult:
    """PI-3.1 (aggregate revenue outturn) and PI-3.2 (revenue composition) over the last three
    completed fiscal years.

    ``years``: :data:`REVENUE_YEAR_COLUMNS` (budget and actual totals, outturn = actual /
    budget, variance = composition variance over the categories, categories = how many).
    ``detail``: the same years by category (fiscal_year, category, budget_estimate, actual,
    outturn). ``scope``: None for the whole government, else the collecting department's slug.
    ``provided``: False when the suite has no revenue input at all (then ``note`` says so).
    """

    years: pd.DataFrame
    pi31: str | None
    pi32: str | None
    note: str
    scope: str | None = None
    provided: bool = True
    detail: pd.DataFrame = field(default_factory=pd.DataFrame)


def _revenue_frame(revenue: pd.DataFrame) -> pd.DataFrame:
    _require(revenue, REVENUE_COLUMNS, "revenue")
    cols = list(REVENUE_COLUMNS) + (["department"] if "department" in revenue.columns else [])
    df = revenue.loc[:, cols].copy()
    df["fiscal_year"] = df["fiscal_year"].astype(str)
    df["category"] = df["category"].astype(str)
    for c in ("budget_estimate", "actual"):
        df[c] = pd.to_numeric(df[c]).astype("float64")
    if df["budget_estimate"].isna().any():
        raise ValueError("revenue: budget_estimate is missing on some rows")
    return df


def pefa_revenue(
    revenue: pd.DataFrame | None, month, department: str | None = None
) -> RevenueResult:
    """PEFA 2016 PI-3 from a tidy revenue frame (:data:`REVENUE_COLUMNS`), or a "not assessed"
    result when ``revenue`` is None (no revenue input).

    Years: the last three fiscal years with revenue rows before the fiscal year of ``month``.
    PI-3.1 = total actual / total originally budgeted revenue (Field Guide, dimension 3.1; all
    revenue, current and capital, 3:6; shared revenue passing through the budget included,
    3:8). PI-3.2 = the composition variance of :func:`composition_variance` over the
    categories (dimension 3.2: A below 5% in two of three years, B 10%, C 15%, as PI-2); a
    category's rows of several departments are added up. With ``department`` only that
    collecting department's rows count (PEFA's method applied to part of the budget). Not
    scored with fewer than three years, a year with a category's actual missing, or a year
    without positive budgeted revenue.
    """
    empty = pd.DataFrame(columns=REVENUE_YEAR_COLUMNS)
    if revenue is None:
        return RevenueResult(empty, None, None, PI3_NOT_PROVIDED, department, provided=False)
    df = _revenue_frame(revenue)
    if department is not None and "department" in df.columns:
        df = df.loc[df["department"] == department]
    if df.empty:
        return RevenueResult(
            empty,
            None,
            None,
            "PI-3 (revenue outturn) not assessed: "
            + (
                "the revenue book has no receipts collected by this department."
                if department
                else "the revenue book has no rows."
            ),
            department,
        )
    years = _completed_years(df["fiscal_year"], month)
    used = df.loc[df["fiscal_year"].isin(years)]
    # a category's actual is missing when any of its rows (departments) has none
    detail = (
        used.groupby(["fiscal_year", "category"], sort=True)
        .agg(
            budget_estimate=("budget_estimate", "sum"),
            actual=("actual", lambda s: s.sum() if s.notna().all() else math.nan),
        )
        .reset_index()
    )
    detail["outturn"] = [
        _ratio(a, b) if pd.notna(a) else math.nan
        for a, b in zip(detail["actual"], detail["budget_estimate"], strict=True)
    ]
    rows, unclosed = [], []
    for fy in years:
        g = detail.loc[detail["fiscal_year"] == fy].set_index("category")
        if g["actual"].isna().any():
            unclosed.append(f"{fy} ({int(g['actual'].isna().sum())} of {len(g)} categories)")
        b, a = float(g["budget_estimate"].sum()), float(g["actual"].sum())
        try:
            variance = composition_variance(g["actual"], g["budget_estimate"])
        except ValueError:
            variance = math.nan
        rows.append(
            {
                "fiscal_year": fy,
                "budget_estimate": b,
                "actual": a if not g["actual"].isna().any() else math.nan,
                "outturn": _ratio(a, b) if not g["actual"].isna().any() else math.nan,
                "variance": variance,
                "categories": len(g),
            }
        )
    table = pd.DataFrame(rows, columns=REVENUE_YEAR_COLUMNS)

    def result(pi31, pi32, note):
        return RevenueResult(table, pi31, pi32, note, department, detail=detail)

    if len(table) < 3:
        return result(
            None,
            None,
            f"PI-3 not scored: PEFA needs three completed fiscal years of revenue; the data "
            f"hold {len(table)} ({', '.join(table['fiscal_year']) or 'none'}).",
        )
    if unclosed:
        return result(
            None, None, f"PI-3 not scored: actual revenue missing for {'; '.join(unclosed)}."
        )
    if table["outturn"].isna().any():
        return result(None, None, "PI-3 not scored: a year has no positive budgeted revenue.")
    pi32 = pefa_pi2_score(table["variance"]) if table["variance"].notna().all() else None
    note = (
        f"PI-3 uses the originally budgeted revenue for {', '.join(table['fiscal_year'])}, by "
        f"{int(table['categories'].max())} revenue categories."
    )
    if pi32 is None:
        note += " PI-3.2 not scored: the variance could not be computed for every year."
    return result(pefa_pi31_score(table["outturn"]), pi32, note)


def with_revenue(
    pefa: PefaResult, revenue: pd.DataFrame | None, month, department: str | None = None
) -> PefaResult:
    """``pefa`` with its PI-3 (:attr:`PefaResult.revenue`) computed from ``revenue`` (None:
    no revenue input; the report then says PI-3 is not assessed). Returns ``pefa``."""
    pefa.revenue = pefa_revenue(revenue, month, department)
    return pefa


# --------------------------------------------------------------------------------------------
# The report and the province summary
# --------------------------------------------------------------------------------------------


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
    mon = mon.loc[mon["month"] <= pd.Timestamp(month_d)]
    mon.attrs["kp_prepared"] = True
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
    mon = mon.loc[mon["month"] <= pd.Timestamp(month_d)]
    mon.attrs["kp_prepared"] = True
    fy = fiscal_year(month_d)
    rows = []
    f = check_frequency(frequency)
    n = PERIOD_MONTHS[f]
    for dept in sorted(set(alloc.loc[alloc["fiscal_year"] == fy, "department"])):
        position = utilisation(alloc, mon, dept, month_d, f)
        trend = monthly_trend(alloc, mon, dept, month_d, f)
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
