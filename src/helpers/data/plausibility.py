"""Plausibility checks on inputs that passed validation: warnings, never rejections.

Amounts that look like dates or years, lines far above their input's median, and year-on-year
jumps by orders of magnitude become notes (``data_notes``); the load goes on.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING

import numpy as np

from helpers.data import mapping as mappings
from helpers.data.readers import (
    _fmt_value,
)

if TYPE_CHECKING:  # validate imports this module
    from helpers.data.validate import Outcome


YEAR_RANGE = (1990, 2100)


LINE_MEDIAN_FACTOR = 10


YEAR_ON_YEAR_FACTOR = 1000


AMOUNTS = {
    "budget_allocations": ("budget_estimate", "revised_estimate"),
    "budget_monthly": ("release", "expenditure"),
    "revenue": ("budget_estimate", "actual"),
    "pse_returns": (
        "own_revenue",
        "grants_received",
        "expenditure",
        "liabilities",
        "assets",
        "cash",
    ),
}


def _looks_like_date(v: float) -> str | None:
    """'a year' for whole numbers 1990..2100 (not a multiple of 100); 'a date' for YYYYMMDD."""
    if not np.isfinite(v) or v != np.floor(v):
        return None
    n = int(abs(v))
    if YEAR_RANGE[0] <= n <= YEAR_RANGE[1] and n % 100:
        return "a year"
    if 19900101 <= n <= 21001231:
        try:
            dt.date(n // 10000, n // 100 % 100, n % 100)
            return "a date (YYYYMMDD)"
        except ValueError:
            return None
    return None


def plausibility(out: Outcome) -> list[mappings.Note]:
    """Warnings (the load goes on): zero BE with spending, a line over 10x its department's
    median line, amounts that look like years or dates, a total 1000x off the previous year."""
    notes: list[mappings.Note] = []

    def note(stem: str, index, column: str, rule: str, value) -> None:
        t = out.tables[stem]
        dept = str(t.at[index, "department"]) if "department" in t.columns else None
        raw = out.origin.get(stem)
        if raw is None:
            notes.append(mappings.Note(stem, None, column, rule, value, dept))
            return
        display, where, col = raw.where(index, column)
        m = re.match(r"(?:row|case)s? (\d+)", where)
        row = int(m.group(1)) if m else None
        notes.append(mappings.Note(display, row, col, rule, value, dept))

    for stem, cols in AMOUNTS.items():
        t = out.tables.get(stem)
        if t is None or not len(t):
            continue
        scale = out.scales.get(stem, {})
        for c in cols:
            v = t[c].dropna()
            src = v / scale.get(c, 1.0)  # as written in the source file
            kinds = src.map(_looks_like_date)
            for i, k in kinds.dropna().items():
                note(stem, i, c, f"amount looks like {k}", _fmt_value(float(src[i])))

    alloc = out.tables.get("budget_allocations")
    monthly = out.tables.get("budget_monthly")
    if alloc is not None and len(alloc):
        key = ["department", "fiscal_year", "fund", "object_class"]
        if monthly is not None and len(monthly):
            spent = monthly.groupby(key)["expenditure"].sum()
            j = alloc.join(spent.rename("_spent"), on=key)
            hit = (j["budget_estimate"] == 0) & (j["_spent"] > 0)
            for i in j.index[hit]:
                note(
                    "budget_allocations",
                    i,
                    "budget_estimate",
                    "zero budget estimate with spending",
                    f"spent {j.at[i, '_spent']:.6g}",
                )
        # a line over 10x the median of the same line (department, fund, object class) in
        # the other fiscal years: salary lines are routinely 10-50x a department's median
        # line in real budgets, so the median is taken over the line's own years
        be = alloc["budget_estimate"]
        line = ["department", "fund", "object_class"]
        pos = be.where(be > 0)
        n = pos.groupby([alloc[c] for c in line]).transform("count")
        med = pos.groupby([alloc[c] for c in line]).transform("median")
        hit = (be > LINE_MEDIAN_FACTOR * med) & (n >= 3)
        for i in alloc.index[hit]:
            note(
                "budget_allocations",
                i,
                "budget_estimate",
                f"line over {LINE_MEDIAN_FACTOR}x its median over the years",
                f"{be[i]:.6g} (median over {int(n[i])} years {med[i]:.6g})",
            )
        tot = alloc.groupby(["department", "fiscal_year"])["budget_estimate"].sum().reset_index()
        tot["_start"] = tot["fiscal_year"].map(calendar_start_year)
        tot = tot.sort_values(["department", "_start"])
        tot["_prev"] = tot.groupby("department")["budget_estimate"].shift(1)
        tot["_prev_start"] = tot.groupby("department")["_start"].shift(1)
        ratio = tot["budget_estimate"] / tot["_prev"]
        off = (
            (tot["_prev"] > 0)
            & (tot["budget_estimate"] > 0)
            & (tot["_start"] - tot["_prev_start"] == 1)
            & ((ratio > YEAR_ON_YEAR_FACTOR) | (ratio < 1 / YEAR_ON_YEAR_FACTOR))
        )
        for _, r in tot.loc[off].iterrows():
            first = alloc.index[
                (alloc["department"] == r["department"])
                & (alloc["fiscal_year"] == r["fiscal_year"])
            ][0]
            raw = out.origin.get("budget_allocations")
            display = raw.where(first, None)[0] if raw is not None else "budget_allocations"
            notes.append(
                mappings.Note(
                    display,
                    None,
                    "budget_estimate",
                    f"{r['department']} {r['fiscal_year']}: total {YEAR_ON_YEAR_FACTOR}x off "
                    "the previous year",
                    f"{r['budget_estimate']:.6g} against {r['_prev']:.6g}",
                    r["department"],
                )
            )
    return notes


def calendar_start_year(fy) -> int | None:
    from helpers.data import calendar

    try:
        return calendar.fy_start_year(str(fy))
    except (TypeError, ValueError):
        return None
