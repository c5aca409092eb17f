"""One chart theme for every report: colour-blind-safe palette, readable sizes, PKR formatting."""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

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


def fmt_pkr(value: float | None, unit: str = "m") -> str:
    """Format an amount held in PKR million: 'PKR 1,234.5m' or 'PKR 12.3bn' (unit='auto')."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if unit == "auto" and abs(value) >= 1000:
        return f"PKR {value / 1000:,.1f}bn"
    return f"PKR {value:,.1f}m"


def fmt_pct(value: float | None, digits: int = 0) -> str:
    """Format a ratio (0.61) as a percentage ('61%')."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value * 100:.{digits}f}%"
