"""One chart theme for every report: colour-blind-safe palette, readable sizes, money formatting
in the active profile's currency."""

import datetime as dt
import math
import re
from functools import lru_cache
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
from cycler import cycler
from matplotlib.colors import to_rgb

from helpers import profile
from helpers.data import calendar

# Okabe-Ito colour-blind-safe palette.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
STATUS_COLOURS = {"good": "#009E73", "watch": "#E69F00", "bad": "#D55E00", "neutral": "#6B7280"}
RATING_COLOURS = {
    "Green": "#1A9850",
    "Amber-Green": "#A6D96A",
    "Amber-Red": "#FDAE61",
    "Red": "#D73027",
}


# What seaborn's ``set_theme(style="whitegrid", palette=PALETTE, context="notebook")`` sets
# (seaborn 0.13), set here without importing seaborn and pyplot (half a second before a
# kernel's first report; the report charts are svgplot's and read none of it), except
# ``image.cmap``: seaborn's "rocket" exists only once seaborn is imported, and matplotlib's
# default stays. tests/unit/test_theme.py checks it against seaborn itself.
_WHITEGRID_NOTEBOOK = {
    "axes.axisbelow": True,
    "axes.edgecolor": ".8",
    "axes.facecolor": "white",
    "axes.grid": True,
    "axes.labelcolor": ".15",
    "axes.labelsize": 12,
    "axes.linewidth": 1.25,
    "axes.spines.bottom": True,
    "axes.spines.left": True,
    "axes.spines.right": True,
    "axes.spines.top": True,
    "axes.titlesize": 12,
    "figure.facecolor": "white",
    "font.family": "sans-serif",
    "font.sans-serif": [
        "Arial",
        "DejaVu Sans",
        "Liberation Sans",
        "Bitstream Vera Sans",
        "sans-serif",
    ],
    "font.size": 12,
    "grid.color": ".8",
    "grid.linestyle": "-",
    "grid.linewidth": 1,
    "legend.fontsize": 11,
    "legend.title_fontsize": 12,
    "lines.linewidth": 1.5,
    "lines.markersize": 6,
    "lines.solid_capstyle": "round",
    "patch.edgecolor": "w",
    "patch.force_edgecolor": True,
    "patch.linewidth": 1,
    "text.color": ".15",
    "xtick.bottom": False,
    "xtick.color": ".15",
    "xtick.direction": "out",
    "xtick.labelsize": 11,
    "xtick.major.size": 6,
    "xtick.major.width": 1.25,
    "xtick.minor.size": 4,
    "xtick.minor.width": 1,
    "xtick.top": False,
    "ytick.color": ".15",
    "ytick.direction": "out",
    "ytick.labelsize": 11,
    "ytick.left": False,
    "ytick.major.size": 6,
    "ytick.major.width": 1.25,
    "ytick.minor.size": 4,
    "ytick.minor.width": 1,
    "ytick.right": False,
}
_PALETTE_CYCLE = cycler(color=[to_rgb(c) for c in PALETTE])  # seaborn's set_palette(PALETTE)


# The report stylesheet (the publishers' template folder; read as a file, no import of publish).
REPORT_CSS = Path(__file__).resolve().parents[1] / "publish" / "templates" / "kp.css"
# Selectors of what the display objects and DataFrames render inside a notebook's outputs.
_NOTEBOOK_SELECTOR = re.compile(r"^(:root$|table\.kp-table|table\.dataframe|\.kp-|\.key-messages)")
_notebook_css = {"on": True}


def set_notebook_css(on: bool) -> None:
    """Whether :func:`apply_theme` emits the report's table CSS into the notebook. The batch
    engine turns it off (its published pages carry the full stylesheet already)."""
    _notebook_css["on"] = bool(on)


@lru_cache(maxsize=1)
def notebook_css() -> str:
    """The rules of the report stylesheet that style notebook outputs (tables, notes, key
    messages, figures) and its colour variables; no page-level rules (``body``, ``@media``), so
    JupyterLab's own interface is untouched."""
    text = re.sub(r"/\*.*?\*/", "", REPORT_CSS.read_text(encoding="utf-8"), flags=re.S)
    rules, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                rules.append(text[start : i + 1].strip())
                start = i + 1
    kept = []
    for rule in rules:
        selector = rule.split("{", 1)[0].strip()
        if selector.startswith("@"):
            continue
        parts = [p.strip() for p in selector.split(",")]
        if all(_NOTEBOOK_SELECTOR.match(p) for p in parts):
            kept.append(rule)
    return "\n".join(kept + [_JUPYTERLAB_OVERRIDES])


# JupyterLab right-aligns every table cell (.jp-RenderedHTMLCommon); the report aligns text left
# and numbers right.
_JUPYTERLAB_OVERRIDES = (
    ".jp-OutputArea table.kp-table th, .jp-OutputArea table.kp-table td { text-align: left; }\n"
    ".jp-OutputArea table.kp-table th.num, .jp-OutputArea table.kp-table td.num "
    "{ text-align: right; }"
)


def _emit_notebook_css() -> None:
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):  # a plain script or terminal IPython
        return
    html = f'<style id="kp-report-css">\n{notebook_css()}\n</style>'
    display({"text/html": html}, raw=True)


def apply_theme() -> None:
    """Set the house chart style (idempotent; the batch engine calls it after each reset).

    In JupyterLab it also emits the report's table stylesheet once (as the cell's output), so
    tables look as they will in the published report.
    """
    if _notebook_css["on"]:
        _emit_notebook_css()
    matplotlib.rcParams.update(_WHITEGRID_NOTEBOOK)
    matplotlib.rcParams["axes.prop_cycle"] = _PALETTE_CYCLE
    matplotlib.rcParams.update(
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
