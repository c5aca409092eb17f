"""Charts drawn straight to SVG: the part of matplotlib's one-axes API the report charts use.

Why: matplotlib spends 0.2-0.4 s on a report chart (text layout and glyph rendering through
FreeType, tick locators, the layout engine, the PNG encoder); a month of reports draws about
700 of them. This module writes the same kind of chart as SVG text in a few milliseconds:

    fig, ax = svgplot.subplots(figsize=(8, 4.2))
    ax.plot(x, y, color=PALETTE[0], marker="o", label="Actual")
    ax.set_title("..."); ax.legend(loc="upper left")
    figure(fig, alt="...")            # helpers.present.display renders fig.svg()

Supported: ``plot`` (NaN breaks a line), ``bar``, ``barh`` (stacked with ``left``, category
labels), ``scatter``, ``fill_between``, ``axhline``/``axvline``, ``axhspan``/``axvspan``,
``annotate`` (data or axes-fraction points, offsets in points), ``errorbar`` (vertical), ticks
and tick labels (numbers, dates by month, categories, ``\\n`` for two lines, rotation), limits,
title, axis labels and a legend inside the axes ("best" or a corner) or outside on the right.
x values may be numbers, dates (``datetime64``/``Timestamp``) or strings (categories).

Text is SVG text in DejaVu Sans (the house font; Typst and browsers draw it), so it is escaped,
never parsed as math, and readable by the disclosure gate. Its width for the layout comes from
the font's own advance widths, read once per process. Units are points (the viewBox is the
figure size in inches x 72), the root's width and height are pixels at 110 dpi, as the PNG
charts were. The same chart gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from html import escape
from typing import Any

import numpy as np
import pandas as pd

DPI = 110
FONT = "DejaVu Sans, Verdana, Arial, sans-serif"
TEXT = "#262626"  # seaborn's '.15'
GRID = "#CCCCCC"  # seaborn whitegrid '.8'
TICK_SIZE = 11.0  # seaborn 'notebook' context
LABEL_SIZE = 10.0
TITLE_SIZE = 12.0
LINE_WIDTH = 1.5
MARKER_SIZE = 6.0
MARGIN = 0.05  # axes.xmargin / axes.ymargin
PAD = 5.0  # figure edge to the outermost text

# matplotlib's dash patterns, in multiples of the line width (lines.*_pattern, scaled).
_DASHES = {
    "-": None,
    "solid": None,
    "--": (3.7, 1.6),
    "dashed": (3.7, 1.6),
    ":": (1.0, 1.65),
    "dotted": (1.0, 1.65),
    "-.": (6.4, 1.6, 1.0, 1.6),
    "dashdot": (6.4, 1.6, 1.0, 1.6),
}
# Hatches drawn over a fill (matplotlib's '///' and '..'), as SVG patterns.
_HATCH_IDS = {"///": "hatch-lines", "..": "hatch-dots"}
_HATCH_DEFS = (
    '<pattern id="hatch-lines" patternUnits="userSpaceOnUse" width="5" height="5">'
    '<path d="M-1,1L1,-1M0,5L5,0M4,6L6,4" stroke="#6B7280" stroke-width="0.6"/></pattern>'
    '<pattern id="hatch-dots" patternUnits="userSpaceOnUse" width="4" height="4">'
    '<circle cx="2" cy="2" r="0.6" fill="#6B7280"/></pattern>'
)
_LOCS = {
    "upper right": (1.0, 1.0),
    "upper left": (0.0, 1.0),
    "lower left": (0.0, 0.0),
    "lower right": (1.0, 0.0),
    "right": (1.0, 0.5),
    "center left": (0.0, 0.5),
    "center right": (1.0, 0.5),
    "lower center": (0.5, 0.0),
    "upper center": (0.5, 1.0),
    "center": (0.5, 0.5),
}


# --------------------------------------------------------------------------- text metrics


@lru_cache(maxsize=2)
def _advances(bold: bool) -> tuple[dict[str, float], float]:
    """Advance widths (em) of DejaVu Sans (bold or book) for the printable ASCII range and
    Latin-1, and the mean for anything else: read once from the font matplotlib ships."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font, LoadFlags

    path = font_manager.findfont(
        font_manager.FontProperties(family="DejaVu Sans", weight="bold" if bold else "normal")
    )
    font = FT2Font(path)
    em = float(font.units_per_EM)
    widths = {}
    for code in list(range(32, 127)) + list(range(160, 256)) + [0x2212, 0x2013, 0x2014, 0x2026]:
        glyph = font.load_char(code, flags=LoadFlags.NO_SCALE)
        widths[chr(code)] = glyph.horiAdvance / em
    return widths, sum(widths.values()) / len(widths)


def text_width(text: str, size: float, bold: bool = False) -> float:
    """Width in points of the longest line of ``text`` at ``size`` points."""
    widths, mean = _advances(bold)
    return (
        max((sum(widths.get(c, mean) for c in line) for line in text.split("\n")), default=0) * size
    )


def text_height(text: str, size: float) -> float:
    """Height in points of ``text`` (its lines at matplotlib's 1.2 line spacing)."""
    return size * (1.2 * (text.count("\n")) + 1.0)


def _fmt(v: float) -> str:
    return f"{v:.2f}".rstrip("0").rstrip(".") if v == v else "0"


def _colour(c: Any) -> str:
    """An SVG colour from any matplotlib colour ('#0072B2', 'white', 'k', '0.8', an RGB tuple)."""
    if c is None or (isinstance(c, str) and c.lower() == "none"):
        return "none"
    if isinstance(c, str) and c.startswith("#") and len(c) == 7:
        return c
    from matplotlib.colors import to_hex

    return to_hex(c)


# --------------------------------------------------------------------------- values


def _values(v: Any) -> np.ndarray:
    """Numbers (float, NaN for missing) from numbers, dates (days since 1970) or a scalar."""
    if isinstance(v, pd.Series | pd.Index):
        v = v.to_numpy()
    if np.isscalar(v) or isinstance(v, dt.date | pd.Timestamp | np.datetime64):
        v = [v]
    a = np.asarray(v)
    if a.dtype.kind == "M":
        days = a.astype("datetime64[D]")
        out = days.astype("int64").astype(float)
        out[np.isnat(days)] = np.nan
        return out
    if a.dtype == object and len(a) and isinstance(a.flat[0], dt.date | pd.Timestamp):
        return _values(pd.to_datetime(a).to_numpy())
    return np.asarray(pd.to_numeric(pd.Series(a.ravel()), errors="coerce"), dtype=float)


def _is_dates(v: Any) -> bool:
    if isinstance(v, pd.Series | pd.Index):
        return v.dtype.kind == "M"
    if isinstance(v, dt.date | pd.Timestamp | np.datetime64):
        return True
    a = np.asarray(v) if not np.isscalar(v) else np.asarray([v])
    return a.dtype.kind == "M" or (
        a.dtype == object and len(a) > 0 and isinstance(a.flat[0], dt.date | pd.Timestamp)
    )


def _is_categories(v: Any) -> bool:
    a = v.to_numpy() if isinstance(v, pd.Series | pd.Index) else np.asarray(v, dtype=object)
    return len(a) > 0 and all(isinstance(x, str) for x in a.ravel())


# --------------------------------------------------------------------------- ticks


def nice_ticks(lo: float, hi: float, nbins: int) -> list[float]:
    """Tick positions at 1, 2, 2.5 or 5 x 10^k within [lo, hi], at most ``nbins`` intervals
    (matplotlib's MaxNLocator with its default steps)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / max(nbins, 1)
    scale = 10 ** math.floor(math.log10(raw))
    for step in (1, 2, 2.5, 5, 10, 20):
        s = step * scale
        first, last = math.ceil(lo / s - 1e-9), math.floor(hi / s + 1e-9)
        if last - first <= nbins:
            return [round(k * s, 12) for k in range(first, last + 1)]
    return [lo, hi]


def number_format(ticks: Sequence[float]) -> Callable[[float], str]:
    """Plain numbers with as many decimals as the tick step needs, thousands separated, and a
    true minus sign (as matplotlib's ScalarFormatter writes them)."""
    step = min((abs(b - a) for a, b in zip(ticks, ticks[1:], strict=False)), default=1.0)
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 0
    if step > 0 and abs(step * 10**decimals - round(step * 10**decimals)) > 1e-9:
        decimals += 1  # 2.5: one more
    decimals = min(decimals, 6)
    return lambda v: f"{v:,.{decimals}f}".replace("-", "\u2212")


def percent_format(decimals: int = 0) -> Callable[..., str]:
    """A ratio axis as per cent, 0.61 -> '61%' (:func:`helpers.present.theme.fmt_pct`, with a
    true minus); a formatter for :meth:`Axis.set_major_formatter`."""
    from helpers.present.theme import fmt_pct

    return lambda v, _pos=None: fmt_pct(v, decimals).replace("-", "\u2212")


def month_ticks(lo: float, hi: float, max_ticks: int) -> list[float]:
    """First days of months (as days since 1970) every 1, 2, 3, 4, 6 or 12 months within
    [lo, hi]: the shortest step that gives at most ``max_ticks``."""
    start = pd.Timestamp(dt.date(1970, 1, 1)) + pd.Timedelta(days=math.floor(lo))
    end = pd.Timestamp(dt.date(1970, 1, 1)) + pd.Timedelta(days=math.ceil(hi))
    months = pd.date_range(start.to_period("M").to_timestamp(), end, freq="MS")
    months = months[(months >= start) & (months <= end)]
    for step in (1, 2, 3, 4, 6, 12, 24, 60):
        picked = [m for m in months if (m.year * 12 + m.month - 1) % step == 0]
        if len(picked) <= max_ticks:
            return list(_values(pd.DatetimeIndex(picked).to_numpy()))
    return []


def _date_label(days: float, fmt: str) -> str:
    return (dt.date(1970, 1, 1) + dt.timedelta(days=int(round(days)))).strftime(fmt)


# --------------------------------------------------------------------------- artists


@dataclass
class _Item:
    kind: str  # line, bars, points, area, hline, vline, hspan, vspan, text, errorbar
    x: np.ndarray = field(default_factory=lambda: np.array([]))
    y: np.ndarray = field(default_factory=lambda: np.array([]))
    style: dict[str, Any] = field(default_factory=dict)
    label: str | None = None
    z: float = 2.0


class Axis:
    """What a chart says about one axis: limits, ticks, their labels, the label."""

    def __init__(self) -> None:
        self.lim: list[float | None] = [None, None]
        self.ticks: list[float] | None = None
        self.ticklabels: list[str] | None = None
        self.rotation = 0.0
        self.formatter: Callable[[float], str] | None = None
        self.dates: str | None = None  # a strftime format when the values are dates
        self.categories: list[str] = []
        self.label = ""
        self.labelsize = TICK_SIZE
        self.sticky: set[float] = set()
        self.log = False

    def t(self, v: Any) -> Any:
        """Values on the axis's scale (log10 on a log axis)."""
        if not self.log:
            return v
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log10(np.where(np.asarray(v, dtype=float) > 0, v, np.nan))

    def set_major_formatter(self, fmt: Callable[..., Any]) -> None:
        """How tick labels are written: ``fmt(value, position)``, as a matplotlib formatter
        (``FuncFormatter``, ``PercentFormatter``) is called."""
        self.formatter = lambda v: str(fmt(v, None))


class Axes:
    """One chart's axes (the matplotlib methods the report charts use)."""

    def __init__(self, figure: Figure) -> None:
        self.figure = figure
        self.items: list[_Item] = []
        self.xaxis, self.yaxis = Axis(), Axis()
        self.title = ""
        self._legend: dict[str, Any] | None = None
        self._handles: list[_Item] | None = None
        self._colour_cycle = 0
        self.axis_on = True
        self.equal_aspect = False

    # -- data in ------------------------------------------------------------------------
    def _x(self, v: Any, axis: Axis | None = None) -> np.ndarray:
        axis = axis or self.xaxis
        if np.isscalar(v) or isinstance(v, dt.date | pd.Timestamp | np.datetime64):
            v = [v]
        if _is_categories(v):
            values = []
            for c in np.asarray(v, dtype=object).ravel():
                if c not in axis.categories:
                    axis.categories.append(c)
                values.append(float(axis.categories.index(c)))
            return np.asarray(values)
        if _is_dates(v) and axis.dates is None:
            axis.dates = "%b %Y"
        return _values(v)

    def _next_colour(self) -> str:
        from helpers.present.theme import PALETTE

        c = PALETTE[self._colour_cycle % len(PALETTE)]
        self._colour_cycle += 1
        return c

    def _add(self, item: _Item) -> _Item:
        self.items.append(item)
        return item

    def plot(self, x, y, color=None, linestyle="-", linewidth=None, marker=None,
             markersize=None, label=None, ls=None, lw=None, alpha=1.0, zorder=2.0):  # fmt: skip
        """A line (NaN leaves a gap), with markers at its points when ``marker`` is given."""
        style = {
            "color": _colour(color) if color is not None else self._next_colour(),
            "dash": ls or linestyle,
            "width": lw or linewidth or LINE_WIDTH,
            "marker": marker,
            "msize": markersize or MARKER_SIZE,
            "alpha": alpha,
        }
        self._add(_Item("line", self._x(x), _values(y), style, label, zorder))

    def bar(self, x, height, width=0.8, color=None, alpha=1.0, label=None, bottom=None):
        """Vertical bars centred on ``x`` from ``bottom`` (0)."""
        xs, h = self._x(x), _values(height)
        b = np.zeros(len(xs)) if bottom is None else _values(bottom) * np.ones(len(xs))
        colours = _colours(color, len(xs)) or [self._next_colour()] * len(xs)
        self.yaxis.sticky.add(0.0)
        self._add(_Item("bars", xs, h, {"base": b, "size": width, "colours": colours,
                                        "alpha": alpha, "vertical": True}, label))  # fmt: skip

    def barh(self, y, width, height=0.8, left=None, color=None, alpha=1.0, label=None,
             xerr=None, error_kw=None):  # fmt: skip
        """Horizontal bars centred on ``y`` (numbers or category labels, the first at the
        bottom) from ``left`` (0), with error bars ``xerr`` (``error_kw``: ecolor, capsize)."""
        ys, w = self._x(y, self.yaxis), _values(width)
        if xerr is not None:
            self.errorbar(w, ys, xerr=xerr, **(error_kw or {}))
        b = np.zeros(len(ys)) if left is None else _values(left) * np.ones(len(ys))
        colours = _colours(color, len(ys)) or [self._next_colour()] * len(ys)
        self.xaxis.sticky.add(0.0)
        self._add(_Item("bars", ys, w, {"base": b, "size": height, "colours": colours,
                                        "alpha": alpha, "vertical": False}, label))  # fmt: skip

    def scatter(self, x, y, s=36.0, marker="o", color=None, facecolors=None, edgecolors=None,
                zorder=2.0, label=None, alpha=1.0, c=None):  # fmt: skip
        """Markers of area ``s`` (points squared); ``c``: one colour per point."""
        xs = self._x(x)
        if c is not None and not isinstance(c, str):
            faces = [_colour(v) for v in c]
        else:
            one = facecolors if facecolors is not None else c or color or self._next_colour()
            faces = [_colour(one)] * len(xs)
        edges = [_colour(edgecolors)] * len(xs) if edgecolors is not None else faces
        style = {"marker": marker, "msize": math.sqrt(s), "face": faces[0] if faces else "none",
                 "edge": edges[0] if edges else "none", "faces": faces, "edges": edges,
                 "alpha": alpha}  # fmt: skip
        self._add(_Item("points", xs, _values(y), style, label, zorder))

    def fill_between(self, x, y1, y2, color=None, alpha=1.0, linewidth=0, label=None):
        """The band between ``y1`` and ``y2`` (NaN splits it)."""
        xs = self._x(x)
        lo, hi = _values(y1) * np.ones(len(xs)), _values(y2) * np.ones(len(xs))
        style = {"color": _colour(color or self._next_colour()), "alpha": alpha, "y2": hi}
        self._add(_Item("area", xs, lo, style, label, 1.5))

    def axhline(self, y, color=None, linestyle="-", linewidth=None, ls=None, lw=None,
                alpha=1.0, label=None):  # fmt: skip
        """A horizontal line across the axes (its value counts in the y range)."""
        self._ref("hline", y, color, ls or linestyle, lw or linewidth, alpha, label)

    def axvline(self, x, color=None, linestyle="-", linewidth=None, ls=None, lw=None,
                alpha=1.0, label=None):  # fmt: skip
        """A vertical line across the axes (its value counts in the x range)."""
        self._ref("vline", x, color, ls or linestyle, lw or linewidth, alpha, label)

    def _ref(self, kind, v, color, dash, width, alpha, label) -> None:
        style = {"color": _colour(color or TEXT), "dash": dash, "width": width or LINE_WIDTH,
                 "alpha": alpha}  # fmt: skip
        axis = self.xaxis if kind == "vline" else self.yaxis
        self._add(_Item(kind, self._x(v, axis), np.array([]), style, label, 2.5))

    def axhspan(self, lo, hi, color=None, alpha=1.0, linewidth=0, label=None):
        """A horizontal band across the axes from ``lo`` to ``hi``."""
        self._span("hspan", lo, hi, color, alpha, label)

    def axvspan(self, lo, hi, color=None, alpha=1.0, linewidth=0, label=None):
        """A vertical band across the axes from ``lo`` to ``hi``."""
        self._span("vspan", lo, hi, color, alpha, label)

    def _span(self, kind, lo, hi, color, alpha, label) -> None:
        axis = self.xaxis if kind == "vspan" else self.yaxis
        v = np.concatenate([self._x(lo, axis), self._x(hi, axis)])
        style = {"color": _colour(color or self._next_colour()), "alpha": alpha}
        self._add(_Item(kind, v, np.array([]), style, label, 1.0))

    def annotate(self, text, xy, xytext=(0, 0), textcoords="offset points", xycoords="data",
                 ha="left", va="baseline", fontsize=LABEL_SIZE, color=None, rotation=0,
                 **_ignored):  # fmt: skip
        """``text`` at ``xy`` (data, or ``('data', 'axes fraction')``), moved by ``xytext``
        points; aligned by ``ha`` (left, center, right) and ``va`` (top, center, bottom,
        baseline); rotated by ``rotation`` degrees."""
        coords = (xycoords, xycoords) if isinstance(xycoords, str) else tuple(xycoords)
        x = self._x([xy[0]])[0] if coords[0] == "data" else float(xy[0])
        y = _values([xy[1]])[0] if coords[1] == "data" else float(xy[1])
        style = {"text": str(text), "dx": xytext[0], "dy": xytext[1], "ha": ha, "va": va,
                 "size": fontsize, "color": _colour(color or TEXT), "rotation": rotation,
                 "coords": coords}  # fmt: skip
        self._add(_Item("text", np.array([x]), np.array([y]), style, None, 6.0))

    def errorbar(self, x, y, yerr=None, xerr=None, color=None, ecolor=None, capsize=3.0,
                 linewidth=None, elinewidth=None, **_ignored):  # fmt: skip
        """Error bars, vertical (``yerr``) or horizontal (``xerr``): ``[[below...],
        [above...]]`` or one spread. No markers (``fmt='none'``); draw them with ``scatter``."""
        xs, ys = self._x(x), self._x(y, self.yaxis)
        vertical = xerr is None
        centre = ys if vertical else xs
        err = np.asarray(yerr if vertical else xerr, dtype=float)
        below, above = (err[0], err[1]) if err.ndim == 2 else (err, err)
        style = {"color": _colour(ecolor or color or self._next_colour()), "cap": capsize,
                 "width": elinewidth or linewidth or LINE_WIDTH, "lo": centre - below,
                 "hi": centre + above, "vertical": vertical}  # fmt: skip
        self._add(_Item("errorbar", xs, ys, style, None, 3.0))

    def text(self, x, y, s, fontsize=LABEL_SIZE, ha="left", va="baseline", color=None) -> None:
        """``s`` at data point (x, y)."""
        self.annotate(s, (x, y), fontsize=fontsize, ha=ha, va=va, color=color)

    def add_polygons(self, rings, facecolors, edgecolor="#ffffff", linewidth=0.6,
                     hatch=None) -> None:  # fmt: skip
        """Filled polygons (x-y rings, e.g. longitude-latitude), one colour each or one for
        all; ``hatch`` '///' (diagonal lines) or '..' (dots) over the fill."""
        rings = [np.asarray(r, dtype=float) for r in rings]
        faces = _colours(facecolors, len(rings)) or [self._next_colour()] * len(rings)
        xs = np.concatenate([r[:, 0] for r in rings]) if rings else np.array([])
        ys = np.concatenate([r[:, 1] for r in rings]) if rings else np.array([])
        style = {"rings": rings, "faces": faces, "edge": _colour(edgecolor),
                 "width": linewidth, "hatch": hatch}  # fmt: skip
        self._add(_Item("polygons", xs, ys, style, None, 1.0))

    def set_aspect(self, aspect: str) -> None:
        """'equal': one unit of x is as long as one of y (a map)."""
        self.equal_aspect = aspect == "equal"

    def set_axis_off(self) -> None:
        """No grid, spines, ticks or axis labels (a map)."""
        self.axis_on = False

    def set_xscale(self, scale: str) -> None:
        """'log' or 'linear'."""
        self.xaxis.log = scale == "log"

    # -- axes ---------------------------------------------------------------------------
    def set_title(self, title: str, **_ignored) -> None:
        self.title = str(title)

    def get_title(self) -> str:
        return self.title

    def set_xlabel(self, label: str) -> None:
        self.xaxis.label = str(label)

    def set_ylabel(self, label: str) -> None:
        self.yaxis.label = str(label)

    def get_ylabel(self) -> str:
        return self.yaxis.label

    def set_xticks(self, ticks, labels=None) -> None:
        self.xaxis.ticks = list(self._x(ticks))
        if labels is not None:
            self.set_xticklabels(labels)

    def set_yticks(self, ticks, labels=None) -> None:
        self.yaxis.ticks = list(self._x(ticks, self.yaxis))
        if labels is not None:
            self.set_yticklabels(labels)

    def set_xticklabels(self, labels, rotation=0, fontsize=None, **_ignored) -> None:
        self.xaxis.ticklabels, self.xaxis.rotation = [str(s) for s in labels], float(rotation)
        if fontsize:
            self.xaxis.labelsize = float(fontsize)

    def set_yticklabels(self, labels, fontsize=None, **_ignored) -> None:
        self.yaxis.ticklabels = [str(s) for s in labels]
        if fontsize:
            self.yaxis.labelsize = float(fontsize)

    def set_xlim(self, left=None, right=None) -> None:
        _set_lim(self.xaxis, left, right)

    def set_ylim(self, bottom=None, top=None) -> None:
        _set_lim(self.yaxis, bottom, top)

    def tick_params(self, axis: str = "both", labelsize: float | None = None, **_ignored) -> None:
        for name, ax in (("x", self.xaxis), ("y", self.yaxis)):
            if axis in (name, "both") and labelsize:
                ax.labelsize = float(labelsize)

    def legend(self, loc="best", fontsize=10.0, frameon=True, bbox_to_anchor=None,
               handles=None) -> None:  # fmt: skip
        """A legend of the labelled items, or of ``handles`` (:func:`patch` keys)."""
        self._handles = list(handles) if handles is not None else None
        self._legend = {"loc": loc, "size": float(fontsize), "frame": frameon,
                        "outside": bbox_to_anchor is not None and bbox_to_anchor[0] >= 1.0}  # fmt: skip


def _set_lim(axis: Axis, lo, hi) -> None:
    if isinstance(lo, tuple | list):
        lo, hi = lo
    if lo is not None:
        axis.lim[0] = float(_values([lo])[0])
    if hi is not None:
        axis.lim[1] = float(_values([hi])[0])


def _colours(color: Any, n: int) -> list[str] | None:
    if color is None:
        return None
    if isinstance(color, str) or (isinstance(color, tuple) and len(color) in (3, 4)):
        return [_colour(color)] * n
    return [_colour(c) for c in color]


def subplots(figsize: tuple[float, float] = (8.0, 4.2), ncols: int = 1) -> tuple[Figure, Any]:
    """A figure of ``figsize`` inches with one axes (``plt.subplots()`` for one chart), or with
    ``ncols`` axes side by side (a list, as ``plt.subplots(1, ncols)`` gives)."""
    fig = Figure(figsize, ncols)
    return fig, fig.axes[0] if ncols == 1 else list(fig.axes)


class Figure:
    """An SVG chart of one axes, or of several side by side; :meth:`svg` draws it."""

    def __init__(self, figsize: tuple[float, float] = (8.0, 4.2), ncols: int = 1) -> None:
        if ncols < 1:
            raise ValueError(f"a figure needs at least one axes, got ncols={ncols}")
        self.width, self.height = figsize[0] * 72.0, figsize[1] * 72.0
        self.axes = [Axes(self) for _ in range(ncols)]
        self.title = ""
        self.colour_bar: dict[str, Any] | None = None

    def suptitle(self, title: str, **_ignored) -> None:
        """A title centred on the figure (not on the axes: a map is narrower than it)."""
        self.title = str(title)

    def colorbar(self, colours: Sequence[str], vmin: float, vmax: float, label: str = "",
                 fmt: Callable[[float], str] | None = None) -> None:  # fmt: skip
        """A vertical colour bar right of the axes: ``colours`` from ``vmin`` (bottom) to
        ``vmax`` (top), evenly spaced; ticks at round values."""
        self.colour_bar = {"colours": list(colours), "vmin": float(vmin), "vmax": float(vmax),
                           "label": label, "format": fmt or (lambda v: f"{v:g}")}  # fmt: skip

    def svg(self) -> bytes:
        if len(self.axes) == 1:
            return _Renderer(self).render().encode("utf-8")
        # Several axes: each drawn as a chart of its own in an equal slice of the width, under
        # the figure's title (``suptitle``), in one SVG.
        title = _Renderer(self)
        if self.title:
            title._text(self.title, self.width / 2, PAD + TITLE_SIZE * 1.2, TITLE_SIZE,
                        "center", "bottom", bold=True)  # fmt: skip
        top = PAD + TITLE_SIZE * 1.2 + 2 if self.title else 0.0
        width = self.width / len(self.axes)
        parts = []
        for i, ax in enumerate(self.axes):
            panel = Figure((width / 72.0, (self.height - top) / 72.0))
            panel.axes = [ax]
            parts.append(
                f'<g transform="translate({_fmt(i * width)},{_fmt(top)})">'
                f"{_Renderer(panel).body(f'plot-{i}')}</g>"
            )
        background = (
            f'<rect width="{_fmt(self.width)}" height="{_fmt(self.height)}" fill="#ffffff"/>'
        )
        svg = title.opening() + background + "".join(title.out) + "".join(parts) + "</svg>"
        return svg.encode("utf-8")


# --------------------------------------------------------------------------- drawing


class _Renderer:
    def __init__(self, fig: Figure) -> None:
        self.fig, self.ax = fig, fig.axes[0]
        self.out: list[str] = []

    # -- limits and ticks ---------------------------------------------------------------
    def _data_range(self, which: str) -> tuple[float, float]:
        vals: list[np.ndarray] = []
        ax = self.ax
        for it in ax.items:
            if it.kind == "line" or it.kind == "points":
                vals.append(it.x if which == "x" else it.y)
            elif it.kind == "area":
                vals.append(it.x if which == "x" else np.concatenate([it.y, it.style["y2"]]))
            elif it.kind == "bars":
                along = (which == "x") == it.style["vertical"]
                if along:
                    half = it.style["size"] / 2
                    vals.append(np.concatenate([it.x - half, it.x + half]))
                else:
                    vals.append(np.concatenate([it.style["base"], it.style["base"] + it.y]))
            elif it.kind in ("hline", "hspan") and which == "y":
                vals.append(it.x)
            elif it.kind in ("vline", "vspan") and which == "x":
                vals.append(it.x)
            elif it.kind == "errorbar":
                along = (which == "y") == it.style["vertical"]
                spread = np.concatenate([it.style["lo"], it.style["hi"]])
                vals.append(spread if along else (it.x if which == "x" else it.y))
            elif it.kind == "polygons":
                vals.append(it.x if which == "x" else it.y)
        axis = ax.xaxis if which == "x" else ax.yaxis
        flat = np.concatenate(vals) if vals else np.array([])
        flat = np.asarray(axis.t(flat), dtype=float)
        flat = flat[np.isfinite(flat)]
        if axis.categories:
            flat = np.concatenate([flat, [0.0, len(axis.categories) - 1.0]])
        if not len(flat):
            return 0.0, 1.0
        return float(flat.min()), float(flat.max())

    def _limits(self, which: str) -> tuple[float, float]:
        axis = self.ax.xaxis if which == "x" else self.ax.yaxis
        lo, hi = self._data_range(which)
        if hi == lo:
            lo, hi = (lo - 1, hi + 1) if lo == 0 else (lo - abs(lo) * 0.1, hi + abs(hi) * 0.1)
        span = hi - lo
        mlo = lo if any(abs(s - lo) < 1e-12 for s in axis.sticky) else lo - MARGIN * span
        mhi = hi if any(abs(s - hi) < 1e-12 for s in axis.sticky) else hi + MARGIN * span
        if axis.lim[0] is not None:
            mlo = float(axis.t(axis.lim[0]))
        if axis.lim[1] is not None:
            mhi = float(axis.t(axis.lim[1]))
        if mhi <= mlo:
            mhi = mlo + 1.0
        return mlo, mhi

    def _ticks(self, axis: Axis, lo: float, hi: float, length: float, along_x: bool):
        if axis.ticks is not None:
            ticks = [t for t in axis.ticks if lo - 1e-9 <= axis.t(t) <= hi + 1e-9]
            if axis.ticklabels is not None:
                labels = dict(zip(axis.ticks, axis.ticklabels, strict=False))
                return ticks, [labels.get(t, "") for t in ticks]
        elif axis.categories:
            ticks = [float(i) for i in range(len(axis.categories))]
            return ticks, list(axis.categories)
        elif axis.log:
            ticks = [10.0**k for k in range(math.ceil(lo), math.floor(hi) + 1)]
            return ticks, [f"{t:g}" for t in ticks]
        elif axis.dates:
            width = text_width(_date_label(lo, axis.dates), axis.labelsize) + 10
            ticks = month_ticks(lo, hi, max(2, min(10, int(length // width))))
        else:
            size = axis.labelsize * (3 if along_x else 2)
            if along_x:
                # Wide labels (large numbers) need fewer ticks to stay apart.
                probe = number_format([lo, hi])(max(abs(lo), abs(hi)))
                size = max(size, text_width(probe, axis.labelsize) + 12)
            ticks = nice_ticks(lo, hi, max(1, min(9, int(length // size))))
        if axis.dates:
            fmt = axis.formatter or (lambda v: _date_label(v, axis.dates))
        else:
            fmt = axis.formatter or number_format(ticks)
        return ticks, [fmt(t) for t in ticks]

    # -- layout -------------------------------------------------------------------------
    def _layout(self) -> tuple[list, list, list, list]:
        """Place the plot area (``self.box``) inside the margins its text needs; returns the
        x and y ticks and their labels."""
        ax, fig, W, H = self.ax, self.fig, self.fig.width, self.fig.height
        x0, x1 = self._limits("x")
        y0, y1 = self._limits("y")
        self.lims = (x0, x1, y0, y1)
        on = ax.axis_on
        # A first guess of the plot area for the tick density; then the real margins.
        yt, ytl = self._ticks(ax.yaxis, y0, y1, H - 70, False) if on else ([], [])
        ytw = max((text_width(s, ax.yaxis.labelsize) for s in ytl), default=0)
        left = PAD + (LABEL_SIZE * 1.2 + 4 if ax.yaxis.label and on else 0) + (ytw + 4 if on else 0)
        legend = self._legend_box()
        outside = legend is not None and ax._legend["outside"]
        right = PAD + (legend[0] + 8 if outside else 0) + self._colorbar_width()
        xt, xtl = self._ticks(ax.xaxis, x0, x1, W - left - right, True) if on else ([], [])
        if xtl and not outside:
            right = max(right, text_width(xtl[-1].split("\n")[0], ax.xaxis.labelsize) / 2 + 2)
        rot = math.radians(ax.xaxis.rotation)
        xth = max(
            (
                text_width(s, ax.xaxis.labelsize) * math.sin(rot)
                + text_height(s, ax.xaxis.labelsize) * math.cos(rot)
                for s in xtl
            ),
            default=0,
        )
        bottom = (
            PAD + (LABEL_SIZE * 1.2 + 4 if ax.xaxis.label and on else 0) + (xth + 4 if on else 0)
        )
        top = PAD + (TITLE_SIZE * 1.2 + 6 if ax.title or fig.title else 4)
        bw, bh = W - left - right, H - top - bottom
        if ax.equal_aspect:  # shrink one side so a unit of x is as long as a unit of y
            scale = min(bw / (x1 - x0), bh / (y1 - y0))
            left += (bw - (x1 - x0) * scale) / 2
            top += (bh - (y1 - y0) * scale) / 2
            bw, bh = (x1 - x0) * scale, (y1 - y0) * scale
        self.box = (left, top, bw, bh)
        self.legend = legend
        return xt, xtl, yt, ytl

    def opening(self) -> str:
        """The ``<svg>`` tag of the figure (its size in pixels at ``DPI``, drawn in points)."""
        W, H = self.fig.width, self.fig.height
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{W / 72 * DPI:.0f}px" '
            f'height="{H / 72 * DPI:.0f}px" viewBox="0 0 {_fmt(W)} {_fmt(H)}" '
            f'font-family="{FONT}" fill="{TEXT}">'
        )

    def render(self) -> str:
        return self.opening() + self.body() + "</svg>"

    def body(self, clip: str = "plot") -> str:
        """What the chart draws, inside its ``<svg>`` tag; ``clip`` names the plot area's
        clip path (one name per chart of an SVG)."""
        ax, W, H = self.ax, self.fig.width, self.fig.height
        xt, xtl, yt, ytl = self._layout()
        o = self.out
        o.append(f'<rect width="{_fmt(W)}" height="{_fmt(H)}" fill="#ffffff"/>')
        bx, by, bw, bh = self.box
        hatches = _HATCH_DEFS if any(i.style.get("hatch") for i in ax.items) or any(
            h.style.get("hatch") for h in ax._handles or []
        ) else ""  # fmt: skip
        o.append(
            f'<defs><clipPath id="{clip}"><rect x="{_fmt(bx)}" y="{_fmt(by)}" '
            f'width="{_fmt(bw)}" height="{_fmt(bh)}"/></clipPath>{hatches}</defs>'
        )
        if ax.axis_on:
            self._grid(xt, yt)
        o.append(f'<g clip-path="url(#{clip})">')
        for it in sorted((i for i in ax.items if i.kind != "text"), key=lambda i: i.z):
            getattr(self, f"_draw_{it.kind}")(it)
        o.append("</g>")
        if ax.axis_on:  # spines: left and bottom (seaborn whitegrid, top and right off)
            o.append(
                f'<path d="M{_fmt(bx)},{_fmt(by)}V{_fmt(by + bh)}H{_fmt(bx + bw)}" '
                f'stroke="{GRID}" stroke-width="1.25" fill="none"/>'
            )
            self._tick_labels(xt, xtl, yt, ytl)
        for it in ax.items:
            if it.kind == "text":
                self._draw_text(it)
        self._labels()
        self._draw_colorbar()
        if self.legend:
            self._draw_legend(self.legend)
        return "".join(o)

    # -- colour bar ---------------------------------------------------------------------
    def _colorbar_width(self) -> float:
        cb = self.fig.colour_bar
        if cb is None:
            return 0.0
        labels = [cb["format"](t) for t in nice_ticks(cb["vmin"], cb["vmax"], 6)]
        widest = max((text_width(s, TICK_SIZE) for s in labels), default=0)
        return 10 + 12 + 4 + widest + 6 + LABEL_SIZE * 1.2

    def _draw_colorbar(self) -> None:
        cb = self.fig.colour_bar
        if cb is None:
            return
        _, by, _, bh = self.box
        x = self.fig.width - PAD - self._colorbar_width() + 10
        h = bh * 0.6
        y = by + (bh - h) / 2
        stops = "".join(
            f'<stop offset="{_fmt(i / (len(cb["colours"]) - 1))}" stop-color="{c}"/>'
            for i, c in enumerate(cb["colours"])
        )
        self.out.append(
            f'<defs><linearGradient id="colour-bar" x1="0" y1="1" x2="0" y2="0">{stops}'
            f'</linearGradient></defs><rect x="{_fmt(x)}" y="{_fmt(y)}" width="12" '
            f'height="{_fmt(h)}" fill="url(#colour-bar)"/>'
        )
        span = cb["vmax"] - cb["vmin"]
        widest = 0.0
        for t in nice_ticks(cb["vmin"], cb["vmax"], 6):
            ty = y + h - (t - cb["vmin"]) / span * h
            label = cb["format"](t)
            widest = max(widest, text_width(label, TICK_SIZE))
            self._text(label, x + 16, ty, TICK_SIZE, "left", "center")
        if cb["label"]:
            lx = x + 16 + widest + 6
            size = min(LABEL_SIZE, LABEL_SIZE * h / max(text_width(cb["label"], LABEL_SIZE), 1))
            self._text(cb["label"], lx, y + h / 2, max(size, 7.0), "center", "top", 90)

    def px(self, x: np.ndarray | float) -> np.ndarray | float:
        bx, _, bw, _ = self.box
        x0, x1, _, _ = self.lims
        return bx + (np.asarray(self.ax.xaxis.t(x), dtype=float) - x0) / (x1 - x0) * bw

    def py(self, y: np.ndarray | float) -> np.ndarray | float:
        _, by, _, bh = self.box
        _, _, y0, y1 = self.lims
        return by + bh - (np.asarray(self.ax.yaxis.t(y), dtype=float) - y0) / (y1 - y0) * bh

    # -- pieces -------------------------------------------------------------------------
    def _grid(self, xt, yt) -> None:
        bx, by, bw, bh = self.box
        d = "".join(f"M{_fmt(bx)},{_fmt(self.py(t))}h{_fmt(bw)}" for t in yt)
        d += "".join(f"M{_fmt(self.px(t))},{_fmt(by)}v{_fmt(bh)}" for t in xt)
        if d:
            self.out.append(f'<path d="{d}" stroke="{GRID}" stroke-width="0.8" fill="none"/>')

    def _tick_labels(self, xt, xtl, yt, ytl) -> None:
        bx, by, bw, bh = self.box
        ax = self.ax
        for t, s in zip(yt, ytl, strict=True):
            self._text(s, bx - 4, float(self.py(t)), ax.yaxis.labelsize, "right", "center")
        rot = ax.xaxis.rotation
        for t, s in zip(xt, xtl, strict=True):
            ha = "right" if rot else "center"
            self._text(s, float(self.px(t)), by + bh + 4, ax.xaxis.labelsize, ha, "top", rot)

    def _labels(self) -> None:
        ax, (bx, by, bw, bh) = self.ax, self.box
        if self.fig.title:
            self._text(self.fig.title, self.fig.width / 2, PAD + TITLE_SIZE * 1.2, TITLE_SIZE,
                       "center", "bottom", bold=True)  # fmt: skip
        if not ax.axis_on:
            return
        if ax.title:
            size = TITLE_SIZE
            w = text_width(ax.title, size, bold=True)
            x = (
                bx + bw / 2
                if w <= bw
                else max(PAD + w / 2, min(bx + bw / 2, self.fig.width - PAD - w / 2))
            )
            self._text(ax.title, x, by - 6, size, "center", "bottom", bold=True)
        if ax.xaxis.label:
            self._text(
                ax.xaxis.label, bx + bw / 2, self.fig.height - PAD, LABEL_SIZE, "center", "bottom"
            )
        if ax.yaxis.label:
            # centred on the axes; a label longer than the axes is centred on the figure, and
            # made smaller if it is longer than that too
            size, y = LABEL_SIZE, by + bh / 2
            room = self.fig.height - 2 * PAD
            if text_width(ax.yaxis.label, size) > bh:
                y = self.fig.height / 2
                size = min(size, size * room / text_width(ax.yaxis.label, size))
            self._text(ax.yaxis.label, PAD, y, size, "center", "top", 90)

    def _text(self, s, x, y, size, ha="left", va="baseline", rotation=0.0, colour=None,
              bold=False) -> None:  # fmt: skip
        """Text anchored at (x, y) in points; ``va`` places the whole block (its lines)."""
        lines = str(s).split("\n")
        height = text_height(str(s), size)
        # distance from the anchor down to the first baseline (DejaVu: ascent 0.76 em for
        # capitals, descent 0.24 em)
        first = {"top": 0.76 * size, "center": 0.76 * size - height / 2,
                 "bottom": 0.76 * size - height, "baseline": 0.0}[va]  # fmt: skip
        anchor = {"left": "start", "center": "middle", "right": "end"}[ha]
        attrs = f'font-size="{_fmt(size)}"'
        if anchor != "start":
            attrs += f' text-anchor="{anchor}"'
        if bold:
            attrs += ' font-weight="bold"'
        if colour and colour != TEXT:
            attrs += f' fill="{colour}"'
        if rotation:
            attrs += f' transform="rotate({_fmt(-rotation)} {_fmt(x)} {_fmt(y)})"'
        if len(lines) == 1:
            body = escape(lines[0], quote=False)
        else:
            body = "".join(
                f'<tspan x="{_fmt(x)}" dy="{_fmt(0 if i == 0 else 1.2 * size)}">'
                f"{escape(line, quote=False)}</tspan>"
                for i, line in enumerate(lines)
            )
        self.out.append(f'<text x="{_fmt(x)}" y="{_fmt(y + first)}" {attrs}>{body}</text>')

    @staticmethod
    def _segments(x: np.ndarray, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        return [(x[run], y[run]) for run in _runs(np.isfinite(x) & np.isfinite(y))]

    def _draw_line(self, it: _Item) -> None:
        px, py = self.px(it.x), self.py(it.y)
        d = "".join(
            "M" + "L".join(f"{_fmt(a)},{_fmt(b)}" for a, b in zip(sx, sy, strict=True))
            for sx, sy in self._segments(px, py)
        )
        if d and it.style["dash"] not in ("None", "none", ""):
            self.out.append(
                f'<path d="{d}" {_stroke(it.style)} fill="none" '
                'stroke-linejoin="round" stroke-linecap="butt"/>'
            )
        if it.style["marker"]:
            ok = np.isfinite(px) & np.isfinite(py)
            c = it.style["color"]
            for a, b in zip(px[ok], py[ok], strict=True):
                self.out.append(_marker(it.style["marker"], a, b, it.style["msize"], c, c))

    def _draw_points(self, it: _Item) -> None:
        px, py = self.px(it.x), self.py(it.y)
        ok = np.isfinite(px) & np.isfinite(py)
        s = it.style
        for i in np.flatnonzero(ok):
            self.out.append(_marker(s["marker"], px[i], py[i], s["msize"], s["faces"][i],
                                    s["edges"][i]))  # fmt: skip

    def _draw_bars(self, it: _Item) -> None:
        s = it.style
        alpha = f' fill-opacity="{_fmt(s["alpha"])}"' if s["alpha"] < 1 else ""
        for pos, val, base, colour in zip(it.x, it.y, s["base"], s["colours"], strict=True):
            if not (np.isfinite(pos) and np.isfinite(val)) or val == 0:
                continue
            a, b = pos - s["size"] / 2, pos + s["size"] / 2
            if s["vertical"]:
                xa, xb = sorted((float(self.px(a)), float(self.px(b))))
                ya, yb = sorted((float(self.py(base)), float(self.py(base + val))))
            else:
                xa, xb = sorted((float(self.px(base)), float(self.px(base + val))))
                ya, yb = sorted((float(self.py(a)), float(self.py(b))))
            self.out.append(
                f'<rect x="{_fmt(xa)}" y="{_fmt(ya)}" width="{_fmt(xb - xa)}" '
                f'height="{_fmt(yb - ya)}" fill="{colour}"{alpha} stroke="#ffffff" '
                'stroke-width="0.5"/>'
            )

    def _draw_area(self, it: _Item) -> None:
        px, lo, hi = self.px(it.x), self.py(it.y), self.py(it.style["y2"])
        for run in _runs(np.isfinite(px) & np.isfinite(lo) & np.isfinite(hi)):
            pts = [(px[i], hi[i]) for i in run] + [(px[i], lo[i]) for i in reversed(run)]
            d = "M" + "L".join(f"{_fmt(a)},{_fmt(b)}" for a, b in pts) + "Z"
            self.out.append(
                f'<path d="{d}" fill="{it.style["color"]}" '
                f'fill-opacity="{_fmt(it.style["alpha"])}"/>'
            )

    def _draw_refline(self, it: _Item) -> None:
        """``axhline`` / ``axvline``: a line across the whole axes at each value."""
        bx, by, bw, bh = self.box
        for v in it.x:
            if it.kind == "hline":
                d = f"M{_fmt(bx)},{_fmt(self.py(v))}h{_fmt(bw)}"
            else:
                d = f"M{_fmt(self.px(v))},{_fmt(by)}v{_fmt(bh)}"
            self.out.append(f'<path d="{d}" {_stroke(it.style)} fill="none"/>')

    _draw_hline = _draw_vline = _draw_refline

    def _draw_span(self, it: _Item) -> None:
        """``axhspan`` / ``axvspan``: a band across the whole axes between two values."""
        bx, by, bw, bh = self.box
        if it.kind == "hspan":
            (ya, yb), (xa, xb) = sorted(float(self.py(v)) for v in it.x), (bx, bx + bw)
        else:
            (xa, xb), (ya, yb) = sorted(float(self.px(v)) for v in it.x), (by, by + bh)
        self.out.append(
            f'<rect x="{_fmt(xa)}" y="{_fmt(ya)}" width="{_fmt(xb - xa)}" height="{_fmt(yb - ya)}" '
            f'fill="{it.style["color"]}" fill-opacity="{_fmt(it.style["alpha"])}"/>'
        )

    _draw_hspan = _draw_vspan = _draw_span

    def _draw_errorbar(self, it: _Item) -> None:
        s, d = it.style, ""
        cap = s["cap"]
        if s["vertical"]:
            for x, lo, hi in zip(self.px(it.x), self.py(s["lo"]), self.py(s["hi"]), strict=True):
                d += f"M{_fmt(x)},{_fmt(lo)}V{_fmt(hi)}"
                if cap:
                    d += f"M{_fmt(x - cap)},{_fmt(lo)}h{_fmt(2 * cap)}"
                    d += f"M{_fmt(x - cap)},{_fmt(hi)}h{_fmt(2 * cap)}"
        else:
            for y, lo, hi in zip(self.py(it.y), self.px(s["lo"]), self.px(s["hi"]), strict=True):
                d += f"M{_fmt(lo)},{_fmt(y)}H{_fmt(hi)}"
                if cap:
                    d += f"M{_fmt(lo)},{_fmt(y - cap)}v{_fmt(2 * cap)}"
                    d += f"M{_fmt(hi)},{_fmt(y - cap)}v{_fmt(2 * cap)}"
        if d and "nan" not in d:
            self.out.append(f'<path d="{d}" {_stroke(s)} fill="none"/>')

    def _draw_polygons(self, it: _Item) -> None:
        s = it.style
        fill_over = f' fill="url(#{_HATCH_IDS[s["hatch"]]})"' if s["hatch"] else ""
        for ring, face in zip(s["rings"], s["faces"], strict=True):
            d = "M" + "L".join(
                f"{_fmt(a)},{_fmt(b)}"
                for a, b in zip(self.px(ring[:, 0]), self.py(ring[:, 1]), strict=True)
            )
            self.out.append(
                f'<path d="{d}Z" fill="{face}" stroke="{s["edge"]}" '
                f'stroke-width="{_fmt(s["width"])}" stroke-linejoin="round"/>'
            )
            if fill_over:
                self.out.append(f'<path d="{d}Z"{fill_over}/>')

    def _draw_text(self, it: _Item) -> None:
        s = it.style
        bx, by, bw, bh = self.box
        x = float(self.px(it.x[0])) if s["coords"][0] == "data" else bx + it.x[0] * bw
        y = float(self.py(it.y[0])) if s["coords"][1] == "data" else by + bh - it.y[0] * bh
        if not (math.isfinite(x) and math.isfinite(y)):
            return
        self._text(s["text"], x + s["dx"], y - s["dy"], s["size"], s["ha"], s["va"],
                   s["rotation"], s["color"])  # fmt: skip

    # -- legend -------------------------------------------------------------------------
    def _entries(self) -> list[_Item]:
        if self.ax._handles is not None:
            return self.ax._handles
        return [it for it in self.ax.items if it.label and not str(it.label).startswith("_")]

    def _legend_box(self) -> tuple[float, float] | None:
        if self.ax._legend is None or not self._entries():
            return None
        size = self.ax._legend["size"]
        w = max(text_width(it.label, size) for it in self._entries()) + 2.8 * size
        return w + size, len(self._entries()) * size * 1.5 + size * 0.6

    def _draw_legend(self, box: tuple[float, float]) -> None:
        spec, (bx, by, bw, bh) = self.ax._legend, self.box
        w, h = box
        size, pad = spec["size"], 4.0
        if spec["outside"]:
            x, y = bx + bw + 8, by + bh / 2 - h / 2
        else:
            loc = spec["loc"] if spec["loc"] in _LOCS else self._best(w, h, pad)
            fx, fy = _LOCS[loc]
            x = bx + pad + fx * (bw - w - 2 * pad)
            y = by + pad + (1 - fy) * (bh - h - 2 * pad)
        o = self.out
        if spec["frame"]:
            o.append(
                f'<rect x="{_fmt(x)}" y="{_fmt(y)}" width="{_fmt(w)}" height="{_fmt(h)}" rx="2" '
                f'fill="#ffffff" fill-opacity="0.8" stroke="{GRID}" stroke-width="0.8"/>'
            )
        for i, it in enumerate(self._entries()):
            cy = y + size * 0.3 + size * 1.5 * (i + 0.5)
            kx = x + size * 0.5
            o.append(_key(it, kx, cy, size * 2.0, size * 0.7))
            self._text(it.label, kx + size * 2.5, cy, size, "left", "center")

    def _best(self, w: float, h: float, pad: float) -> str:
        """The corner or edge whose legend box covers the fewest drawn points."""
        bx, by, bw, bh = self.box
        pts = []
        for it in self.ax.items:
            if it.kind in ("line", "points", "area"):
                xs, ys = self.px(it.x), self.py(it.y)
                for a, b, c, d in zip(xs, ys, xs[1:], ys[1:], strict=False):
                    for f in np.linspace(0, 1, 8, endpoint=False):
                        pts.append((a + (c - a) * f, b + (d - b) * f))
                pts += list(zip(xs, ys, strict=True))
                if it.kind == "area":
                    pts += list(zip(xs, self.py(it.style["y2"]), strict=True))
            elif it.kind == "bars":
                for pos, val, base in zip(it.x, it.y, it.style["base"], strict=True):
                    for f in np.linspace(0, 1, 6):
                        v = base + val * f
                        pts.append((self.px(pos), self.py(v)) if it.style["vertical"]
                                   else (self.px(v), self.py(pos)))  # fmt: skip
            elif it.kind == "hline":
                pts += [(bx + bw * f, self.py(it.x[0])) for f in np.linspace(0, 1, 20)]
        arr = np.asarray([p for p in pts if np.isfinite(p[0]) and np.isfinite(p[1])], dtype=float)
        best, fewest = "upper right", None
        for loc in ("upper right", "upper left", "lower left", "lower right", "right",
                    "center left", "center right", "lower center", "upper center", "center"):  # fmt: skip
            fx, fy = _LOCS[loc]
            x = bx + pad + fx * (bw - w - 2 * pad)
            y = by + pad + (1 - fy) * (bh - h - 2 * pad)
            n = 0 if not len(arr) else int(
                ((arr[:, 0] >= x) & (arr[:, 0] <= x + w) & (arr[:, 1] >= y) & (arr[:, 1] <= y + h)).sum()
            )  # fmt: skip
            if fewest is None or n < fewest:
                best, fewest = loc, n
        return best


def _stroke(style: dict[str, Any]) -> str:
    """SVG stroke attributes of a line style: colour, width, matplotlib's dashes, opacity."""
    w = style.get("width", LINE_WIDTH)
    a = f'stroke="{style["color"]}" stroke-width="{_fmt(w)}"'
    dash = _DASHES.get(style.get("dash") or "-")
    if dash:
        a += f' stroke-dasharray="{",".join(_fmt(d * w) for d in dash)}"'
    if style.get("alpha", 1.0) < 1:
        a += f' stroke-opacity="{_fmt(style["alpha"])}"'
    return a


def _runs(ok: np.ndarray) -> list[list[int]]:
    """Index runs of consecutive True values (the pieces of a line between gaps)."""
    runs: list[list[int]] = [[]]
    for i, good in enumerate(ok):
        if good:
            runs[-1].append(i)
        elif runs[-1]:
            runs.append([])
    return [r for r in runs if r]


def _marker(kind: str, x: float, y: float, size: float, face: str, edge: str) -> str:
    r = size / 2
    if kind == ".":
        r = size / 4
    if kind == "s":
        return (
            f'<rect x="{_fmt(x - r)}" y="{_fmt(y - r)}" width="{_fmt(2 * r)}" '
            f'height="{_fmt(2 * r)}" fill="{face}" stroke="{edge}"/>'
        )
    if kind == "*":
        pts = []
        for k in range(10):
            rad = r * 1.15 if k % 2 == 0 else r * 0.46
            a = math.pi / 2 + k * math.pi / 5
            pts.append(f"{_fmt(x + rad * math.cos(a))},{_fmt(y - rad * math.sin(a))}")
        return f'<path d="M{"L".join(pts)}Z" fill="{face}" stroke="{edge}"/>'
    if kind == "D":
        return (
            f'<path d="M{_fmt(x)},{_fmt(y - r)}L{_fmt(x + r)},{_fmt(y)}L{_fmt(x)},{_fmt(y + r)}'
            f'L{_fmt(x - r)},{_fmt(y)}Z" fill="{face}" stroke="{edge}"/>'
        )
    return (
        f'<circle cx="{_fmt(x)}" cy="{_fmt(y)}" r="{_fmt(r)}" fill="{face}" stroke="{edge}" '
        f'stroke-width="{1.5 if face == "#ffffff" or face == "white" else 0.5}"/>'
    )


def _key(it: _Item, x: float, y: float, w: float, h: float) -> str:
    """The legend's sample of ``it``: a line, a marker or a filled box."""
    s = it.style
    if it.kind in ("line", "hline", "vline"):
        out = f'<path d="M{_fmt(x)},{_fmt(y)}h{_fmt(w)}" {_stroke(s)} fill="none"/>'
        if s.get("marker"):
            out += _marker(s["marker"], x + w / 2, y, s["msize"], s["color"], s["color"])
        return out
    if it.kind == "points":
        return _marker(s["marker"], x + w / 2, y, min(s["msize"], h * 1.6), s["face"], s["edge"])
    colour = s["colours"][0] if it.kind == "bars" else s["color"]
    alpha = s.get("alpha", 1.0)
    op = f' fill-opacity="{_fmt(alpha)}"' if alpha < 1 else ""
    edge = f' stroke="{s["edge"]}" stroke-width="0.6"' if s.get("edge") else ""
    box = f'x="{_fmt(x)}" y="{_fmt(y - h / 2)}" width="{_fmt(w)}" height="{_fmt(h)}"'
    out = f'<rect {box} fill="{colour}"{op}{edge}/>'
    if s.get("hatch"):
        out += f'<rect {box} fill="url(#{_HATCH_IDS[s["hatch"]]})"/>'
    return out


def patch(label: str, color: str, hatch: str | None = None, edgecolor: str | None = None):
    """A legend key of a filled box (``legend(handles=[patch(...), ...])``)."""
    style = {"color": _colour(color), "hatch": hatch, "edge": edgecolor}
    return _Item("patch", style=style, label=label)
