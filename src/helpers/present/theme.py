"""One chart theme for every report: colour-blind-safe palette, readable sizes, money formatting
in the active profile's currency."""

import datetime as dt
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from helpers import profile  # noqa: E402
from helpers.data import calendar  # noqa: E402

# Okabe-Ito colour-blind-safe palette.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
STATUS_COLOURS = {"good": "#009E73", "watch": "#E69F00", "bad": "#D55E00", "neutral": "#6B7280"}
RATING_COLOURS = {
    "Green": "#1A9850",
    "Amber-Green": "#A6D96A",
    "Amber-Red": "#FDAE61",
    "Red": "#D73027",
}


def apply_theme() -> None:
    """Set the house chart style (idempotent; the batch engine calls it after each reset)."""
    sns.set_theme(style="whitegrid", palette=PALETTE, context="notebook")
    plt.rcParams.update(
        {
            "figure.figsize": (8, 4.2),
            "figure.dpi": 100,
            "savefig.dpi": 110,
            "axes.titlesize": 12,
            "axes.titleweight": "bold",
            "axes.labelsize": 10,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "font.family": "DejaVu Sans",
            "svg.hashsalt": "kp-reports",
        }
    )


def money_label() -> str:
    """The unit amounts are held in, for table units and axis labels (the profile's currency
    label, e.g. '<code> million')."""
    return profile.active().currency.label


def fmt_money(value: float | None, unit: str = "m", digits: int = 1) -> str:
    """Format an amount held in the profile's currency unit: '<code> 1,234.5m' (in the held unit),
    or with ``unit='auto'`` amounts of 1,000 units or more in the next unit up ('<code> 12.3bn'
    for a million unit). None or NaN gives 'n/a'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return profile.active().currency.fmt(value, compact=unit == "auto", digits=digits)


# The name the suite used before profiles (kept for notebooks written against it).
fmt_pkr = fmt_money


def fmt_pct(value: float | None, digits: int = 0) -> str:
    """Format a ratio (0.61) as a percentage ('61%')."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value * 100:.{digits}f}%"


# Calendar words of the active profile's fiscal year: it runs from calendar.fy_start_name() to
# fy_end_name(), the month before the start month.


def _month_name(number: int) -> str:
    return dt.date(2000, (number - 1) % 12 + 1, 1).strftime("%B")


def fy_end_name() -> str:
    """Name of the last month of the fiscal year (the month before the start month)."""
    return _month_name(calendar.fy_start_month() - 1)


def fy_end_pair(sep: str = "-") -> str:
    """The fiscal year's last two months: 'April-May' style with ``sep='-'``, or joined by
    ``sep`` (e.g. ' and ')."""
    return f"{_month_name(calendar.fy_start_month() - 2)}{sep}{fy_end_name()}"


def fy_month_ticks() -> list[str]:
    """Three-letter month names in fiscal-year order, starting with the start month."""
    s = calendar.fy_start_month()
    return [_month_name(s + i)[:3] for i in range(12)]
