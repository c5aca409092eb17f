"""Flags: the rule-based warnings of the budget execution report (under-spending against the
benchmark, spending above releases, month-on-month jumps, missing, incomplete and awaited
periods).
"""

from __future__ import annotations

import math

import pandas as pd

from helpers.analysis.budget.common import (
    _EPS,
    DEFAULT_UNDERSPEND_MARGIN,
    JUMP_MIN_SHARE,
    JUMP_RATIO,
    PERIOD_WORDS,
    check_frequency,
    period_label,
    scope_labels,
)
from helpers.analysis.budget.prepare import (
    _money,
)


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
