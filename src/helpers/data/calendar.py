"""Fiscal calendar: the fiscal year runs 1 July to 30 June; months are first-of-month dates."""

from __future__ import annotations

import datetime as dt
import re

_MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_month(text: str) -> dt.date:
    """'2025-03' -> date(2025, 3, 1). Raises ValueError for anything else."""
    m = _MONTH_RE.match(str(text))
    if not m:
        raise ValueError(f"month must be YYYY-MM, got {text!r}")
    return dt.date(int(m.group(1)), int(m.group(2)), 1)


def as_month(value) -> dt.date:
    """Accept 'YYYY-MM', a date or a Timestamp; return the first of that month."""
    if isinstance(value, str):
        return parse_month(value[:7]) if len(value) >= 7 else parse_month(value)
    if hasattr(value, "date") and not isinstance(value, dt.date):
        value = value.date()
    if isinstance(value, dt.datetime):
        value = value.date()
    return dt.date(value.year, value.month, 1)


def fiscal_year(month) -> str:
    """The fiscal year label of a month: 2025-03 -> '2024-25'."""
    m = as_month(month)
    start = m.year if m.month >= 7 else m.year - 1
    return f"{start}-{str(start + 1)[-2:]}"


def fy_start(fy: str) -> dt.date:
    return dt.date(int(fy[:4]), 7, 1)


def fy_month_index(month) -> int:
    """Month number within the fiscal year, July = 1 ... June = 12."""
    m = as_month(month)
    return (m.month - 7) % 12 + 1


def fy_months(fy: str) -> list[dt.date]:
    """The twelve month starts of a fiscal year."""
    start = fy_start(fy)
    return [add_months(start, i) for i in range(12)]


def add_months(month, n: int) -> dt.date:
    m = as_month(month)
    total = m.year * 12 + (m.month - 1) + n
    return dt.date(total // 12, total % 12 + 1, 1)


def previous_fy(fy: str, n: int = 1) -> str:
    start = int(fy[:4]) - n
    return f"{start}-{str(start + 1)[-2:]}"


def month_label(month) -> str:
    """date(2025, 3, 1) -> 'March 2025'."""
    return as_month(month).strftime("%B %Y")
