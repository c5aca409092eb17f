"""Self-contained HTML report pages from executed notebooks (nbconvert, custom template).

The page is a publication, not a notebook: a government header line, a title block from the
report-meta bundle, the key-messages box, a table of contents built from the h2/h3 headings,
the notebook's outputs (no code, prompts, parameter cells or streams) and a provenance footer.
Everything is inline (styles, data-URI images); the Content-Security-Policy forbids every network
request and every script, so the page opens from disk or any web server and cannot call home.

One :class:`nbconvert.HTMLExporter` is built per process and reused (building one and its Jinja
environment costs far more than rendering a report); :func:`warm_up` pays that cost ahead of the
first report (the engine's workers call it while their kernel boots).
"""

from __future__ import annotations

import base64
import functools
import html as _html
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from helpers import profile
from helpers.bundles import slug
from helpers.publish import notebook as nbread

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATE_NAME = "kp_html"

#: Content-Security-Policy of report pages: nothing from the network, no scripts at all.
CSP_REPORT = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'"
)

BODY_START = "<!-- kp-body-start -->"
BODY_END = "<!-- kp-body-end -->"
TOC_MARK = "<!-- kp-toc -->"

#: Output MIME types in the order the page prefers them (no JavaScript, no widgets).
DISPLAY_PRIORITY = [
    "text/html",
    "image/svg+xml",
    "image/png",
    "image/jpeg",
    "text/markdown",
    "text/latex",
    "text/plain",
]

PROVENANCE_KEYS = ("commit", "dirty", "data_checksum", "run_at", "cache_key")
_NOT_RECORDED = "not recorded"

_MONTHS = [datetime(2000, n, 1).strftime("%B") for n in range(1, 13)]


def government_words() -> dict[str, str]:
    """What the page frame says about the government, from the active profile: ``government``
    (the header line and PDF author), ``scope_report`` (the header's unit line of a report
    for the whole government, e.g. 'Province-wide report') and ``scope_adjective``
    ('provincial')."""
    p = profile.active()
    scope = p.scope_word
    return {
        "government": p.government,
        "scope_report": f"{scope[:1].upper()}{scope[1:]}-wide report",
        "scope_adjective": p.scope_adjective,
    }


def stylesheet() -> str:
    """The shared stylesheet (report pages and the portal)."""
    return _read_text(TEMPLATES_DIR / "kp.css")


@functools.cache
def _read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def month_label(month: str | None) -> str:
    """'2025-03' (or '2025-03-01') -> 'March 2025'; None -> ''; anything else unchanged.

    The publishers' one copy (portal, dashboards); report text uses
    ``helpers.data.calendar.month_label``, which takes dates.
    """
    if month is None:
        return ""
    m = re.fullmatch(r"(\d{4})-(\d{2})(?:-\d{2})?", str(month).strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        return str(month)
    return f"{_MONTHS[int(m.group(2)) - 1]} {m.group(1)}"


def percent(x: float | None, digits: int = 0) -> str:
    """0.613 -> '61%'; None -> an en dash (the publishers' one copy: portal, dashboards)."""
    return "\u2013" if x is None else f"{x * 100:.{digits}f}%"


def date_label(text: str) -> str:
    """'2024-12-31' -> '31 December 2024', '2025-03' -> 'March 2025'; other text unchanged."""
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", str(text).strip())
    if m and 1 <= int(m.group(2)) <= 12 and 1 <= int(m.group(3)) <= 31:
        return f"{int(m.group(3))} {month_label(text)}"
    return month_label(text)


def _short(value: Any, n: int) -> str:
    text = "" if value is None else str(value).strip()
    return text[:n] if text else _NOT_RECORDED


def _run_at_label(value: Any) -> str:
    if not value:
        return _NOT_RECORDED
    try:
        ts = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    tz = ts.strftime(" %Z") if ts.tzinfo is not None else ""
    return ts.strftime("%Y-%m-%d %H:%M") + (tz if tz.strip() else "")


def provenance_items(provenance: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Label/value pairs for the provenance footer (short commit, checksum and cache key).

    ``provenance`` holds ``commit``, ``dirty``, ``data_checksum``, ``run_at`` (ISO time) and
    ``cache_key``; missing values show as 'not recorded'.
    """
    if not isinstance(provenance, Mapping):
        raise TypeError(
            f"provenance must be a mapping with keys {PROVENANCE_KEYS}, got {type(provenance).__name__}"
        )
    unknown = set(provenance) - set(PROVENANCE_KEYS)
    if unknown:
        raise ValueError(f"unknown provenance keys {sorted(unknown)}; expected {PROVENANCE_KEYS}")
    commit = _short(provenance.get("commit"), 10)
    dirty = provenance.get("dirty")
    if commit != _NOT_RECORDED and dirty:
        commit += " (with uncommitted changes)"
    return [
        ("Code version", commit),
        ("Data checksum", _short(provenance.get("data_checksum"), 12)),
        ("Run at", _run_at_label(provenance.get("run_at"))),
        ("Cache key", _short(provenance.get("cache_key"), 12)),
    ]


def _clean_b64(data: Any) -> str:
    """Base64 image data from an output, whitespace removed; refuses anything else."""
    text = re.sub(r"\s+", "", str(data))
    if not re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", text):
        raise ValueError("image output is not base64 data")
    return text


def _svg_b64(data: Any) -> str:
    return base64.b64encode(str(data).encode("utf-8")).decode("ascii")


_IMG_WITHOUT_ALT = re.compile(r"<img\b(?![^>]*\balt\s*=)", re.I)


def _alt_for_every_image(html: str) -> str:
    """Give an ``<img>`` without alt text nbconvert's default description (an analyst's own
    HTML output can hold one; the template writes alt text on every image it makes)."""
    return _IMG_WITHOUT_ALT.sub('<img alt="No description has been provided for this image"', html)


@functools.cache
def _exporter_class():
    from nbconvert import HTMLExporter
    from nbconvert.exporters.templateexporter import TemplateExporter
    from nbconvert.filters.highlight import Highlight2HTML
    from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

    class KPHTMLExporter(HTMLExporter):
        """nbconvert's HTMLExporter without its BeautifulSoup pass over the finished page
        (0.06 s a report). That pass gives images without alt text a default one (done here
        by :func:`_alt_for_every_image`) and makes JupyterLab's cell wrappers focusable (the
        KP template has none)."""

        def from_notebook_node(self, nb, resources=None, **kw):
            langinfo = nb.metadata.get("language_info", {})
            lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
            highlight = self.filters.get(
                "highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)
            )
            resources = self._init_resources(resources)
            data_type = WidgetsDataTypeFilter(
                notebook_metadata=self._nb_metadata, parent=self, resources=resources
            )
            self.register_filter("highlight_code", highlight)
            self.register_filter("filter_data_type", data_type)
            html, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
            return _alt_for_every_image(html), resources

    return KPHTMLExporter


@functools.cache
def exporter():
    """The per-process HTMLExporter with the KP template (built on first use, then reused)."""
    from traitlets.config import Config

    config = Config()
    config.NbConvertBase.display_data_priority = list(DISPLAY_PRIORITY)
    exp = _exporter_class()(
        config=config,
        extra_template_basedirs=[str(TEMPLATES_DIR)],
        template_name=TEMPLATE_NAME,
        exclude_anchor_links=True,
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        exclude_raw=True,
        exclude_unknown=True,
        embed_images=True,
        # validate the notebook once, after the preprocessors, not after each of them (about
        # 15 validations of the whole executed notebook a report)
        optimistic_validation=True,
    )
    exp.register_filter("clean_b64", _clean_b64)
    exp.register_filter("svg_b64", _svg_b64)
    return exp


_TABLE = re.compile(r"<table\b.*?</table\s*>", re.S | re.I)
_NUM_CLASS = re.compile(r"""\bclass=["'][^"']*\bnum\b""", re.I)


def mark_numeric_headers(table: str) -> str:
    """Add class ``num`` to the header cells of columns whose body cells are all ``td.num``.

    So a numeric column's heading is right-aligned over its numbers (HTML and PDF).
    """
    numeric: dict[int, bool] = {}
    for row in re.findall(r"<tr\b[^>]*>(.*?)</tr\s*>", table, re.S | re.I):
        cells = re.findall(r"<(td|th)\b([^>]*)>", row, re.I)
        if not any(tag.lower() == "td" for tag, _ in cells):
            continue  # a header row
        for i, (tag, attrs) in enumerate(cells):
            is_num = tag.lower() == "td" and bool(_NUM_CLASS.search(attrs))
            numeric[i] = numeric.get(i, True) and is_num
    head = re.search(r"<thead\b.*?</thead\s*>", table, re.S | re.I)
    if not head or not any(numeric.values()):
        return table
    position = iter(range(1_000_000))

    def th(m: re.Match[str]) -> str:
        attrs = m.group(1)
        if not numeric.get(next(position)) or _NUM_CLASS.search(attrs):
            return m.group(0)
        if re.search(r"\bclass=", attrs, re.I):
            attrs = re.sub(r"""\bclass=(["'])""", r"class=\1num ", attrs, count=1, flags=re.I)
            return f"<th{attrs}>"
        return f'<th{attrs} class="num">'

    new_head = re.sub(r"<th\b([^>]*)>", th, head.group(0), flags=re.I)
    return table[: head.start()] + new_head + table[head.end() :]


_HEADING = re.compile(r"<h([23])\b([^>]*)>(.*?)</h\1\s*>", re.S | re.I)
_ID_ATTR = re.compile(r"""\sid\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.I)
_TAG = re.compile(r"<[^>]+>")


def heading_text(fragment: str) -> str:
    """Plain text of an HTML fragment (tags dropped, entities decoded, spaces collapsed)."""
    return re.sub(r"\s+", " ", _html.unescape(_TAG.sub("", fragment))).strip()


def _number_headings(body: str, taken: set[str]) -> tuple[str, list[tuple[int, str, str]]]:
    """Give every h2/h3 in ``body`` a unique id; return the new body and (level, id, text)."""
    entries: list[tuple[int, str, str]] = []

    def fix(m: re.Match[str]) -> str:
        level, attrs, inner = int(m.group(1)), m.group(2), m.group(3)
        text = heading_text(inner)
        idm = _ID_ATTR.search(attrs)
        wanted = _html.unescape(idm.group(1) or idm.group(2) or "") if idm else ""
        base = slug(wanted or text)
        hid, n = base, 2
        while hid in taken:
            hid, n = f"{base}-{n}", n + 1
        taken.add(hid)
        attrs = _ID_ATTR.sub("", attrs)
        if text:
            entries.append((level, hid, text))
        return f'<h{level}{attrs} id="{_html.escape(hid, quote=True)}">{inner}</h{level}>'

    return _HEADING.sub(fix, body), entries


def _toc_html(entries: list[tuple[int, str, str]]) -> str:
    if not entries:
        return ""
    items = "".join(
        f'<li class="kp-toc-{level}"><a href="#{_html.escape(hid, quote=True)}">'
        f"{_html.escape(text)}</a></li>"
        for level, hid, text in entries
    )
    return f"<h2>Contents</h2><ol>{items}</ol>"


def body_html(page: str) -> str:
    """The report body (outputs and markdown, between the body markers) of a rendered page."""
    start, end = page.find(BODY_START), page.find(BODY_END)
    if start < 0 or end < start:
        raise ValueError("not a page rendered by helpers.publish.html (body markers missing)")
    return page[start + len(BODY_START) : end]


def page_context(nb: Any, provenance: Mapping[str, Any]) -> dict[str, Any]:
    """What the title block, key-messages box and footer show (raw text; templates escape it)."""
    meta = nbread.report_meta(nb)
    department = meta["department"]
    month = month_label(meta["month"]) if meta["month"] else ""
    title = meta["title"] or "Report"
    words = government_words()
    return {
        "government": words["government"],
        "title": title,
        "department": department,
        "month": month,
        "month_raw": meta["month"],
        "as_of": date_label(meta["as_of"]),
        "family": meta["family"],
        "unit": department or words["scope_report"],
        "kicker": "Performance monitoring report" + (f" \u00b7 {month}" if month else ""),
        "page_title": " \u2013 ".join(x for x in (title, department, month) if x),
        "messages": nbread.key_messages(nb),
        "provenance_items": provenance_items(provenance),
        "footer_line": (
            "Produced automatically from the executed report notebook by the reports "
            f"pipeline; figures come from the {words['scope_adjective']} data warehouse"
            + (f" as of {date_label(meta['as_of'])}." if meta["as_of"] else ".")
        ),
    }


def render_html(nb: Any, provenance: Mapping[str, Any]) -> str:
    """Render an executed notebook (node, dict or path) to one self-contained HTML page.

    ``provenance`` = {``commit``, ``dirty``, ``data_checksum``, ``run_at`` (ISO), ``cache_key``}.
    The notebook is not re-executed; its outputs are published as they are.
    """
    source = nbread.load(nb)
    context = page_context(source, provenance)
    context["csp"] = CSP_REPORT
    context["css"] = stylesheet()
    clean = nbread.publishable(source)
    page, _ = exporter().from_notebook_node(clean, resources={"kp": context})
    if BODY_START not in page or BODY_END not in page or TOC_MARK not in page:
        raise RuntimeError("HTML template did not produce the expected page structure")
    head, rest = page.split(BODY_START, 1)
    body, tail = rest.split(BODY_END, 1)
    taken = {"key-messages", "kp-main"}
    body, entries = _number_headings(body, taken)
    body = _TABLE.sub(lambda m: mark_numeric_headers(m.group(0)), body)
    if context["messages"]:
        entries.insert(0, (2, "key-messages", "Key messages"))
    head = head.replace(TOC_MARK, _toc_html(entries), 1)
    return head + BODY_START + body + BODY_END + tail


def warm_up_notebook() -> Any:
    """A tiny executed-looking notebook (a heading and a numeric table) for warming up."""
    import nbformat

    output = nbformat.v4.new_output(
        "display_data",
        data={
            "text/html": '<table class="kp-table"><thead><tr><th>a</th></tr></thead>'
            '<tbody><tr><td class="num">1</td></tr></tbody></table>',
            "text/plain": "a 1",
        },
    )
    cell = nbformat.v4.new_code_cell("", outputs=[output])
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("## Warm-up"), cell])


def warm_up() -> None:
    """Build the exporter and compile its templates by rendering a tiny page (about 1 s, once
    per process), so the first real report does not pay for it."""
    render_html(warm_up_notebook(), {})
