"""Fiscal calendar of the active profile (``fiscal_year.start_month`` and ``label`` in its
profile.yaml): a year may start in any month (January, April, the seventh month ...).
Months are first-of-month dates.

Fiscal-year labels depend on the profile's ``label`` style: ``start-end`` gives '2024-25' (the
year it starts, and the last two digits of the year it ends), ``start`` gives '2024' and ``end``
gives '2025'. Every function that takes a label reads it in the same style.
"""

from __future__ import annotations

import datetime as dt
import re

from helpers import profile as _profile

_MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def _cal() -> tuple[int, str]:
    p = _profile.active()
    return p.fy_start_month, p.fy_label


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


def fy_label_of(start_year: int, start_month: int | None = None, style: str | None = None) -> str:
    """The label of the fiscal year that starts in ``start_year``."""
    s, lab = _cal()
    start_month = start_month or s
    style = style or lab
    end_year = start_year + (1 if start_month != 1 else 0)
    if style == "start":
        return str(start_year)
    if style == "end":
        return str(end_year)
    return f"{start_year}-{str(end_year)[-2:]}"


def fy_start_year(fy: str) -> int:
    """The calendar year a fiscal year (label) starts in."""
    s, lab = _cal()
    year = int(str(fy)[:4])
    return year - 1 if lab == "end" and s != 1 else year


def fiscal_year(month) -> str:
    """The fiscal year label of a month: 2025-03 -> '2024-25' (an April year, start-end label)."""
    s, _ = _cal()
    m = as_month(month)
    return fy_label_of(m.year if m.month >= s else m.year - 1)


def is_fy_label(text: str) -> bool:
    """Whether ``text`` is a fiscal-year label in the profile's style."""
    t = str(text)
    if not re.fullmatch(r"\d{4}(-\d{2})?", t):
        return False
    return fy_label_of(fy_start_year(t)) == t


def fy_label_example() -> str:
    """A label in the profile's style, for messages: 'YYYY-YY, e.g. 2024-25'."""
    s, lab = _cal()
    return ("YYYY-YY, e.g. " if lab == "start-end" and s != 1 else "YYYY, e.g. ") + fy_label_of(
        2024
    )


def fy_start(fy: str) -> dt.date:
    """First month of a fiscal year."""
    s, _ = _cal()
    return dt.date(fy_start_year(fy), s, 1)


def fy_end(fy: str) -> dt.date:
    """Last month of a fiscal year."""
    return add_months(fy_start(fy), 11)


def fy_month_index(month) -> int:
    """Month number within the fiscal year: the start month = 1 ... 12."""
    s, _ = _cal()
    m = as_month(month)
    return (m.month - s) % 12 + 1


def fy_months(fy: str) -> list[dt.date]:
    """The twelve month starts of a fiscal year."""
    start = fy_start(fy)
    return [add_months(start, i) for i in range(12)]


def add_months(month, n: int) -> dt.date:
    m = as_month(month)
    total = m.year * 12 + (m.month - 1) + n
    return dt.date(total // 12, total % 12 + 1, 1)


def month_label(month) -> str:
    """date(2025, 3, 1) -> 'March 2025'."""
    return as_month(month).strftime("%B %Y")


def fy_start_month() -> int:
    """Calendar month number (1-12) the fiscal year starts in."""
    return _cal()[0]


def fy_start_name() -> str:
    """Name of the month the fiscal year starts in ('April' for an April year)."""
    return _profile.active().fy_start_name


def fy_start_abbr() -> str:
    """Three-letter name of the fiscal year's first month ('Jul')."""
    return fy_start_name()[:3]


def span_label(month) -> str:
    """The fiscal year to date in words: 'April to June' ('April' in the first month)."""
    m = as_month(month)
    first = fy_start_name()
    return first if fy_month_index(m) == 1 else f"{first} to {m:%B}"


def fiscal_quarter(date) -> int:
    """Quarter of the fiscal year (1-4) a date falls in."""
    return (fy_month_index(date) - 1) // 3 + 1


def quarter_label(date) -> str:
    """Fiscal quarter of a date: 2024-12-31 -> 'Q3 2024-25' (April year), 'Q4 2024' (January)."""
    return f"Q{fiscal_quarter(date)} {fiscal_year(date)}"
