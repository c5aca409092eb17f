"""Budget analysis settings: the active chart of accounts, data frequencies and the named
constants (benchmark, jump rule, projection settings) every other budget module reads.

Also the time-elapsed benchmark (:func:`time_benchmark`).
"""

from __future__ import annotations

import math

from helpers import profile
from helpers.data import tables
from helpers.data.calendar import (
    fiscal_year,
    fy_month_index,
    month_label,
    quarter_label,
)

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


def time_benchmark(month) -> float:
    """Time-elapsed benchmark: fiscal month index / 12 (first month = 1/12, ninth = 0.75)."""
    return fy_month_index(month) / 12
