"""Display objects for report notebooks.

Each object has a ``_repr_mimebundle_`` so a notebook cell that ends with it shows formatted
HTML in JupyterLab, and the executed notebook carries everything the publishers need:

- ``text/html``: escaped, self-contained markup (charts as base64 data URIs);
- custom ``application/vnd.kp.*+json`` bundles with report metadata, key messages and headline
  figures, which the HTML/PDF publishers and the portal read from the executed notebook.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import pandas as pd

from helpers.bundles import HEADLINE_MIME, KEY_MESSAGES_MIME, META_MIME, slug
from helpers.present import svgplot

_esc = html.escape
R = TypeVar("R")


class _Display:
    html: str = ""
    plain: str = ""
    extra: dict[str, Any] = {}

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = {"text/html": self.html, "text/plain": self.plain}
        bundle.update(self.extra)
        return bundle


class report_meta(_Display):  # noqa: N801 - used like a function in notebooks
    """Title block: report family title, department, month, data as-of date ('' for none)."""

    def __init__(self, title: str, department: str, month: str, as_of: str, family: str = ""):
        self.extra = {
            META_MIME: {
                "title": title,
                "department": department,
                "month": month,
                "as_of": str(as_of),
                "family": family,
            }
        }
        # An empty as_of (nothing to date: no surveyed services, no actuals yet) leaves the
        # "data as of" phrase out rather than printing a reason after it.
        dated = f" &middot; data as of {_esc(str(as_of))}" if str(as_of) else ""
        self.html = (
            f'<header class="kp-title"><h1>{_esc(title)}</h1>'
            f'<p class="kp-subtitle">{_esc(department)} &middot; {_esc(month)}{dated}</p></header>'
        )
        self.plain = f"{title} - {department} - {month}" + (
            f" (data as of {as_of})" if str(as_of) else ""
        )


class key_messages(_Display):  # noqa: N801
    """The key-messages box that opens every report: a few plain sentences from the data."""

    def __init__(self, messages: Sequence[str]):
        messages = [str(m) for m in messages]
        self.extra = {KEY_MESSAGES_MIME: {"messages": messages}}
        items = "".join(f"<li>{_esc(m)}</li>" for m in messages)
        self.html = (
            '<section class="key-messages"><h2 id="key-messages">Key messages</h2>'
            f"<ul>{items}</ul></section>"
        )
        self.plain = "Key messages:\n" + "\n".join(f"- {m}" for m in messages)


def plain_value(value: Any) -> Any:
    """``value`` as plain JSON data: NaN/NA -> None, numpy scalars -> Python numbers, dates ->
    ISO strings, mappings and sequences recursively (for headline ``detail`` records)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, Mapping):
        return {str(k): plain_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_value(v) for v in value]
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else None
    if isinstance(value, (bool, int, str)):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def records(df: pd.DataFrame, columns: Mapping[str, str]) -> list[dict[str, Any]]:
    """Rows of ``df`` as plain dicts, ``columns`` mapping source column -> key (absent columns
    are skipped)."""
    cols = {c: k for c, k in columns.items() if c in df.columns}
    return [
        plain_value(dict(zip(cols.values(), row, strict=True)))
        for row in df[list(cols)].itertuples(index=False)
    ]


class headline(_Display):  # noqa: N801
    """Headline figures for the portal badges (not shown in the report body).

    A ``detail`` keyword (plain JSON data: lists of records) carries what the leadership
    dashboards compare from one published month to the next (flags, targets, entities, survey
    changes); the portal badge ignores it.
    """

    def __init__(self, **figures: Any):
        clean = {
            k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in figures.items()
        }
        if "detail" in clean:
            clean["detail"] = plain_value(clean["detail"])
        self.extra = {HEADLINE_MIME: clean}
        self.html = ""
        self.plain = ""

    def _repr_mimebundle_(self, include=None, exclude=None):
        # An empty text/plain keeps front ends from showing the object's repr.
        return {"text/plain": "", **self.extra}


class heading(_Display):  # noqa: N801
    """A section heading generated from data (e.g. one section per target)."""

    def __init__(self, text: str, level: int = 2):
        level = min(max(int(level), 2), 4)
        self.html = f'<h{level} id="{slug(text)}">{_esc(text)}</h{level}>'
        self.plain = text
        self.extra = {"text/markdown": "#" * level + " " + text.replace("#", "\\#")}


def show(*items: Any) -> None:
    """Display ``items`` in order, as cells of their own would show them: ``None`` shows
    nothing (as a cell whose last value is None), a list or tuple is shown item by item. One
    cell per report section (``show(heading(...), chart, table)``) instead of one per item:
    each cell costs the kernel a round of messages."""
    from IPython.display import display

    for item in items:
        if item is None:
            continue
        if isinstance(item, list | tuple):
            show(*item)
        else:
            display(item)


class note(_Display):  # noqa: N801
    """A paragraph of data notes or interpretation."""

    def __init__(self, text: str, kind: str = "note"):
        self.html = f'<p class="kp-{_esc(kind)}">{_esc(str(text))}</p>'
        self.plain = str(text)
        self.extra = {}


def _format_cell(value: Any, fmt: str | None) -> tuple[str, bool]:
    """Return (text, is_numeric) for one cell."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "\u2013", True
    if fmt == "pct":
        return f"{value * 100:,.1f}%", True
    if fmt == "pct0":
        return f"{value * 100:,.0f}%", True
    if fmt == "pp":
        # a no-break space: a narrow column must not wrap "pp" onto a line of its own
        return f"{value * 100:+,.1f}\u00a0pp", True
    if fmt:
        return fmt.format(value), True
    if isinstance(value, bool):
        return ("yes" if value else "no"), False
    if isinstance(value, int) or (hasattr(value, "dtype") and "int" in str(value.dtype)):
        return f"{int(value):,}", True
    if isinstance(value, float):
        return f"{value:,.1f}", True
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d"), False
    return str(value), False


class table(_Display):  # noqa: N801
    """A readable table: numbers right-aligned with thousands separators, units in the caption.

    ``formats`` maps a column to 'pct' (ratio shown as %), 'pct0', 'pp' (percentage points), or a
    format string such as '{:,.0f}'. ``units`` is shown under the caption, e.g. the profile's
    currency label ('<code> million').
    A frame without rows is shown as one line (the caption and "none"), not an empty table.
    """

    def __init__(
        self,
        df: pd.DataFrame,
        caption: str,
        units: str | None = None,
        formats: Mapping[str, str] | None = None,
        index: bool = False,
        max_rows: int = 60,
        row_classes: Sequence[str] | None = None,
    ):
        formats = dict(formats or {})
        data = df.reset_index() if index else df
        truncated = len(data) > max_rows
        data = data.head(max_rows)
        head = "".join(f'<th scope="col">{_esc(str(c))}</th>' for c in data.columns)
        rows = []
        for i, rec in enumerate(data.itertuples(index=False)):
            cells = []
            for col, value in zip(data.columns, rec, strict=True):
                text, numeric = _format_cell(value, formats.get(col))
                cls = ' class="num"' if numeric else ""
                cells.append(f"<td{cls}>{_esc(text)}</td>")
            rcls = f' class="{_esc(row_classes[i])}"' if row_classes and row_classes[i] else ""
            rows.append(f"<tr{rcls}>{''.join(cells)}</tr>")
        cap = _esc(caption) + (f' <span class="units">({_esc(units)})</span>' if units else "")
        more = (
            f'<p class="kp-note">Showing the first {max_rows} of {len(df)} rows.</p>'
            if truncated
            else ""
        )
        self.html = (
            f'<table class="kp-table"><caption>{cap}</caption><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>{more}"
            if len(data)
            else f'<p class="kp-note"><strong>{cap}</strong>: none.</p>'  # no header-only table
        )
        self.plain = f"{caption}\n{data.to_string(index=False)}"
        self.extra = {}
        self.data = data


def _escape_math(text: str) -> str:
    return text.replace("$", r"\$")


def literal_text(fig) -> None:
    """Show every text of ``fig`` that came from data literally.

    Matplotlib reads text between two ``$`` as math (mathtext): a department, district or
    target name with ``$`` or ``\\`` would be garbled or make ``savefig`` raise. Titles, axis
    labels, legends and annotations get ``parse_math=False``; tick labels from anything but the
    numeric formatters (strings, categories, custom functions) have their ``$`` escaped by a
    wrapping formatter, which the draw uses to write every tick label. Numeric tick labels and
    the axis offset text keep mathtext (used for exponents). The walk never asks an axis for
    its ticks: that would run the locators and formatters once more before the one draw.
    """
    from matplotlib.axis import Axis
    from matplotlib.text import Text
    from matplotlib.ticker import EngFormatter, FuncFormatter, LogFormatter, ScalarFormatter

    numeric = (ScalarFormatter, LogFormatter, EngFormatter)
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for minor in (False, True):
                fmt = axis.get_minor_formatter() if minor else axis.get_major_formatter()
                if isinstance(fmt, numeric) or getattr(fmt, "_kp_literal", False):
                    continue
                new = FuncFormatter(lambda x, pos, f=fmt: _escape_math(str(f(x, pos))))
                new._kp_literal = True
                (axis.set_minor_formatter if minor else axis.set_major_formatter)(new)

    def texts(artist) -> Iterator[Text]:
        for child in artist.get_children():
            if isinstance(child, Axis):
                yield child.label  # its ticks and offset text are the formatters' (above)
            elif isinstance(child, Text):
                yield child
                yield from texts(child)
            else:
                yield from texts(child)

    for text in texts(fig):
        text.set_parse_math(False)


# The report charts are svgplot figures (SVG text, drawn in milliseconds). A matplotlib figure
# (an analyst's own chart) is PNG at 110 dpi, drawn once; ``figure(..., fmt="svg")`` makes it
# SVG with glyph outlines, which are larger and slower to publish.
FIGURE_DPI = 110
_SVG_SIZE = re.compile(r'<svg\b[^>]*?\swidth="([0-9.]+)pt" height="([0-9.]+)pt"')


def _lay_out(fig) -> None:
    """Give ``fig`` a layout that runs inside its one draw.

    A figure nobody laid out gets constrained layout (labels, legends and colour bars inside
    the figure, like ``bbox_inches="tight"`` did, without its second draw). A figure already
    laid out (``tight_layout``, ``subplots_adjust``, a layout engine) keeps its own.
    """
    if fig.get_layout_engine() is None and not _adjusted(fig):
        fig.set_layout_engine("constrained")


def _adjusted(fig) -> bool:
    """Whether the subplot parameters were changed from the rc defaults (``subplots_adjust``)."""
    import matplotlib as mpl

    sp = fig.subplotpars
    return any(
        abs(getattr(sp, k) - mpl.rcParams[f"figure.subplot.{k}"]) > 1e-9
        for k in ("left", "right", "bottom", "top", "wspace", "hspace")
    )


def render_svg(fig, dpi: int = FIGURE_DPI) -> bytes:
    """``fig`` as SVG bytes, drawn once.

    ``savefig`` draws a figure twice whenever it has a layout engine or ``bbox_inches="tight"``
    (a first pass to place things, then the real one); the SVG canvas's own ``print_svg`` runs
    the layout inside its single draw. Text is drawn as glyph outlines (``svg.fonttype``
    'path'), so the chart looks the same without the font installed. No date in the metadata,
    and fixed ids (``svg.hashsalt``), so the same chart gives the same bytes. The root's
    width and height are set in pixels at ``dpi`` (the viewBox keeps the drawing's units).
    """
    from matplotlib.backends.backend_svg import FigureCanvasSVG

    _lay_out(fig)
    buf = io.BytesIO()
    FigureCanvasSVG(fig).print_svg(buf, metadata={"Date": None})
    svg = buf.getvalue().decode("utf-8")

    def px(m: re.Match[str]) -> str:
        w, h = (float(v) / 72 * dpi for v in m.groups())
        return (
            m.group(0)
            .replace(f'width="{m.group(1)}pt"', f'width="{w:.0f}px"')
            .replace(f'height="{m.group(2)}pt"', f'height="{h:.0f}px"')
        )

    return _SVG_SIZE.sub(px, svg, count=1).encode("utf-8")


def render_png(fig, dpi: int = FIGURE_DPI) -> bytes:
    """``fig`` as PNG bytes at ``dpi``, drawn once.

    ``savefig`` draws a figure twice whenever it has a layout engine or ``bbox_inches="tight"``;
    the Agg canvas's own ``draw`` runs the layout inside its single draw, and the pixels are
    encoded as they are (no software or date metadata: the same chart gives the same bytes).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    _lay_out(fig)
    fig.set_dpi(dpi)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    image = Image.frombuffer(
        "RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1
    )
    buf = io.BytesIO()
    image.save(buf, format="png", dpi=(dpi, dpi))
    return buf.getvalue()


_RENDER = {"png": (render_png, "image/png"), "svg": (render_svg, "image/svg+xml")}
FIGURE_FORMAT = "png"


class figure(_Display):  # noqa: N801
    """A chart embedded as a data URI image with a title and alt text. ``data`` holds the image
    bytes, ``mime`` their type.

    ``fig`` is an :mod:`svgplot` figure (the report charts: SVG, drawn in milliseconds) or a
    matplotlib figure (PNG unless ``fmt='svg'``; closed once drawn).
    """

    def __init__(self, fig, alt: str, caption: str | None = None, fmt: str | None = None):
        if isinstance(fig, svgplot.Figure):
            self.data, self.mime = fig.svg(), "image/svg+xml"
        else:
            import matplotlib.pyplot as plt

            render, self.mime = _RENDER[fmt or FIGURE_FORMAT]
            literal_text(fig)
            try:
                self.data = render(fig)
            finally:
                plt.close(fig)
        b64 = base64.b64encode(self.data).decode("ascii")
        cap = f"<figcaption>{_esc(caption)}</figcaption>" if caption else ""
        self.html = (
            f'<figure class="kp-figure"><img src="data:{self.mime};base64,{b64}" '
            f'alt="{_esc(alt, quote=True)}"/>{cap}</figure>'
        )
        self.plain = f"[chart] {alt}"
        self.extra = {}


def load_notes(notes: pd.DataFrame, limit: int = 5) -> list[note]:
    """The warnings ``make data`` recorded for this report's rows (``warehouse.data_notes``):
    one warning paragraph with the count per rule and the first few places; nothing when none."""
    if notes is None or not len(notes):
        return []
    counts = notes["rule"].value_counts()
    rules = "; ".join(f"{n:,} {rule}" for rule, n in counts.items())
    places = []
    for r in notes.head(limit).itertuples(index=False):
        name = str(r.file).replace("\\", "/").rsplit("/", 1)[-1]  # no folders in a report
        where = name if pd.isna(r.row) else f"{name} row {int(r.row)}"
        col = "" if r.column is None or pd.isna(r.column) else f", {r.column}"
        val = "" if r.value is None or pd.isna(r.value) else f": {r.value}"
        places.append(f"{where}{col}{val}")
    more = f" and {len(notes) - limit:,} more" if len(notes) > limit else ""
    n = len(notes)
    return [
        note(
            f"Checks at load flagged {n:,} row{'s' if n != 1 else ''} of these data as "
            f"implausible; they are included in the figures above ({rules}). Check them with "
            f"the data supplier: {'; '.join(places)}{more}.",
            kind="warning",
        )
    ]


@dataclass(frozen=True)
class Page(Generic[R]):
    """What a report family's loader returns (``present.<family>.load_<family>``): the pure
    analysis result and what the page around it needs.

    ``report`` is the analysis object the section views take (``ExecutionReport``,
    ``StocktakePack``, ``SurveyResults``, ``PseAssessment``, ``ContractScore``,
    ``ProvinceOverview``); ``names`` maps department slugs to registry names (province pages);
    ``notes`` are the warnings ``make data`` recorded for the rows read (``load_notes``);
    ``data_as_of`` is the warehouse's last month of data, for a view that needs it.
    """

    family: str
    title: str
    department: str
    month: str
    as_of: str
    report: R
    names: Mapping[str, str] = field(default_factory=dict)
    notes: pd.DataFrame | None = None
    data_as_of: Any = None

    def meta(self) -> report_meta:
        """The title block: the one way a report's ``report_meta`` is built."""
        return report_meta(
            title=self.title,
            department=self.department,
            month=self.month,
            as_of=self.as_of,
            family=self.family,
        )

    def load_notes(self) -> list[note]:
        """The load-time warnings for this page's rows (nothing when none)."""
        return load_notes(self.notes)
