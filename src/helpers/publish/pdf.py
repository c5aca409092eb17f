"""PDF reports: the rendered HTML body -> Typst (pandoc) -> PDF (the ``typst`` compiler module).

The notebook is never re-executed: the body of the page :func:`helpers.publish.html.render_html`
produced is converted with pandoc (``-f html -t typst``; pandoc's ipynb reader would publish
tables as fixed-width text), data-URI images are written to a temporary folder first, and the
result is wrapped in ``templates/kp_report.typ`` (title block, key messages, header and footer
with department, month and "Page n of N"). Text from data that the template shows (title,
department, month, key messages, provenance) is passed as JSON through ``sys.inputs`` and placed
as strings, never spliced into Typst source.

Every table and image of the HTML body must reach the Typst source; a mismatch is an error, so a
table can never silently disappear from the PDF.

Speed (a worker publishes dozens of reports): the system font scan is done once per process and
shared by every compilation (``typst.compile`` rescans the fonts on each call, about 40 ms), and
pandoc runs with a larger GHC allocation area (``+RTS -A64m``: a third fewer seconds on report
bodies, whose tables make pandoc allocate heavily) when the pandoc binary accepts RTS options.
The reports' plain tables are written in Typst by :mod:`helpers.publish.typst_tables`, as pandoc
writes them (the same source, byte for byte, for every report of a month), while pandoc
converts the rest: a report's pandoc time falls by about half (:func:`body_to_typst`).
:func:`warm_up` pays the one-off costs before the first report.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from helpers.publish import html as html_pub
from helpers.publish import notebook as nbread
from helpers.publish import typst_tables

TEMPLATE = html_pub.TEMPLATES_DIR / "kp_report.typ"
PANDOC_FROM = "html-native_divs-native_spans"

_DATA_URI = re.compile(r"""src=(["'])data:(image/(?:png|jpeg|gif|svg\+xml));base64,([^"']*)\1""")
_EXT = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/svg+xml": "svg"}
_TABLE = re.compile(r"<table\b.*?</table\s*>", re.S | re.I)
_STYLE = re.compile(r"<style\b.*?</style\s*>", re.S | re.I)
#: Start tags of table parts, and the attributes of theirs pandoc's Typst output never uses.
_TABLE_TAG = re.compile(r"<(?:table|thead|tbody|tfoot|tr|th|td|caption)\b[^>]*>", re.I)
_UNREAD_ATTRIBUTE = re.compile(r"""\s(?:class|scope)=(?:"[^"]*"|'[^']*')""", re.I)


class PdfError(RuntimeError):
    """The PDF could not be produced faithfully (conversion or compilation failed)."""


def extract_images(body: str, media_dir: Path) -> tuple[str, list[Path]]:
    """Write data-URI images of ``body`` to ``media_dir``; return the body pointing at the files.

    File names are content hashes, so the same chart twice is written once.
    """
    media_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def repl(m: re.Match[str]) -> str:
        mime, data = m.group(2), re.sub(r"\s+", "", m.group(3))
        try:
            raw = base64.b64decode(data, validate=True)
        except binascii.Error as exc:
            raise PdfError(f"an embedded {mime} image is not valid base64: {exc}") from exc
        name = f"img-{hashlib.sha256(raw).hexdigest()[:16]}.{_EXT[mime]}"
        path = media_dir / name
        if not path.exists():
            path.write_bytes(raw)
        written.append(path)
        return f'src="{media_dir.name}/{name}"'

    return _DATA_URI.sub(repl, body), written


def _align_table(table: str) -> str:
    """Right-align cells marked ``num`` (numbers, and headers of numeric columns) for pandoc."""
    return re.sub(
        r"<(td|th)\b([^>]*\bclass=[\"'][^\"']*\bnum\b[^\"']*[\"'][^>]*)>",
        r'<\1\2 style="text-align: right">',
        table,
        flags=re.I,
    )


def _plain_table(table: str) -> str:
    """``table`` right-aligned (:func:`_align_table`) and without the ``class`` and ``scope``
    attributes of its parts, which pandoc's Typst output never uses: the same Typst, read
    by pandoc in a few percent less time (a report's tables carry hundreds of them; 3-5% of
    pandoc's CPU for a month's 93 reports)."""
    aligned = _align_table(table)
    return _TABLE_TAG.sub(lambda m: _UNREAD_ATTRIBUTE.sub("", m.group(0)), aligned)


def prepare_body(body: str) -> str:
    """HTML body ready for pandoc: no style blocks, numeric table cells right-aligned."""
    body = _STYLE.sub("", body)
    return _TABLE.sub(lambda m: _plain_table(m.group(0)), body)


#: GHC runtime options for pandoc: a 64 MB allocation area (fewer garbage collections).
PANDOC_RTS = ["+RTS", "-A64m", "-RTS"]


@functools.cache
def _pandoc() -> tuple[str, ...]:
    """The pandoc command (pypandoc-binary's), with ``PANDOC_RTS`` when this pandoc accepts
    runtime options (a pandoc built without ``-rtsopts`` refuses them). Checked once per
    process."""
    import subprocess

    import pypandoc

    try:
        path = pypandoc.get_pandoc_path()
    except OSError as exc:
        raise PdfError(f"pandoc is not installed: {exc}") from exc
    try:
        proc = subprocess.run(
            [path, *PANDOC_RTS, "--version"], capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return (path,)
    return (path, *PANDOC_RTS) if proc.returncode == 0 else (path,)


def html_to_typst(body: str) -> str:
    """Convert an HTML fragment to Typst markup with pandoc (pypandoc-binary's, run directly:
    ``pypandoc.convert_text`` started pandoc three times a report)."""
    import subprocess

    cmd = [*_pandoc(), "--from", PANDOC_FROM, "--to", "typst", "--wrap=none"]
    try:
        proc = subprocess.run(cmd, input=body.encode("utf-8"), capture_output=True, check=False)
    except OSError as exc:
        raise PdfError(f"pandoc could not convert the report body to Typst: {exc}") from exc
    if proc.returncode != 0:
        why = proc.stderr.decode("utf-8", "replace").strip() or f"exit {proc.returncode}"
        raise PdfError(f"pandoc could not convert the report body to Typst: {why}")
    return proc.stdout.decode("utf-8")


@functools.cache
def _fonts():
    """The fonts Typst sees (system and embedded), scanned once per process."""
    import typst

    return typst.Fonts(include_system_fonts=True, include_embedded_fonts=True)


def compile_typst(main: Path, root: Path, sys_inputs: Mapping[str, str]) -> bytes:
    """Compile ``main`` (inside ``root``) to PDF bytes with the process's shared font book."""
    import typst

    compiler = typst.Compiler(
        str(main), root=str(root), font_paths=_fonts(), sys_inputs=dict(sys_inputs)
    )
    return compiler.compile()


def count_html(body: str) -> dict[str, int]:
    """Tables and images in an HTML fragment."""
    return {
        "tables": len(re.findall(r"<table\b", body, re.I)),
        "images": len(re.findall(r"<img\b", body, re.I)),
    }


def count_typst(source: str) -> dict[str, int]:
    """Tables and images in pandoc-generated Typst source."""
    return {
        "tables": len(re.findall(r"(?<![\w.])table\(", source)),
        "images": len(re.findall(r"(?<![\w.])image(?:\.decode)?\(", source)),
    }


def typst_inputs(nb: Any, provenance: Mapping[str, Any]) -> dict[str, str]:
    """``sys.inputs`` for the template: one JSON string with everything the frame shows."""
    ctx = html_pub.page_context(nb, provenance)
    meta = {
        "government": ctx["government"],
        "scope_report": ctx["unit"] if not ctx["department"] else "",
        "title": ctx["title"],
        "department": ctx["department"],
        "month": ctx["month"],
        "as_of": ctx["as_of"],
        "messages": ctx["messages"],
        "provenance": [list(p) for p in ctx["provenance_items"]],
        "footer_line": ctx["footer_line"],
    }
    return {"kp-meta": json.dumps(meta, ensure_ascii=False)}


#: A table figure of at most this many body rows is kept on one page with its caption (a long
#: table breaks across pages, its header row repeated).
KEEP_TOGETHER_ROWS = 15
_TABLE_FIGURE = re.compile(
    r"^#figure\(\n  align\(left\)\[#table\(\n.*?\n  , kind: table\n  \)$", re.S | re.M
)
_TABLE_ROW = re.compile(r"^    (?:\[|table\.cell\()", re.M)


def keep_short_tables_together(source: str) -> str:
    """Wrap short table figures in an unbreakable block, so a caption is never left alone at
    the foot of a page with its rows on the next."""

    def wrap(m: re.Match) -> str:
        figure = m.group(0)
        if len(_TABLE_ROW.findall(figure)) > KEEP_TOGETHER_ROWS:
            return figure
        return "#block(breakable: false, width: 100%)[" + figure + "]"

    return _TABLE_FIGURE.sub(wrap, source)


#: A table of at least this many columns gives its first column (the names) a fixed share of
#: the page: with every column sized to its content, Typst squeezed the names of a wide table to
#: one word per line.
WIDE_TABLE_COLUMNS = 7
NAME_COLUMN_SHARE = "18%"
_COLUMNS = re.compile(r"^    columns: (\d+),$", re.M)


def widen_name_columns(source: str) -> str:
    """``columns: N`` of each table of :data:`WIDE_TABLE_COLUMNS` or more columns becomes
    ``(18%, auto, ...)``: the name column keeps its share, the others fit around it."""

    def widen(m: re.Match) -> str:
        n = int(m.group(1))
        if n < WIDE_TABLE_COLUMNS:
            return m.group(0)
        return f"    columns: ({NAME_COLUMN_SHARE}, {', '.join(['auto'] * (n - 1))}),"

    return _COLUMNS.sub(widen, source)


#: Placeholder paragraphs for the tables :mod:`helpers.publish.typst_tables` converts.
_PLACEHOLDER = "kptypsttable"


def body_to_typst(prepared: str) -> str:
    """pandoc's Typst for a prepared body (:func:`prepare_body`, images extracted), with
    the plain tables' Typst written by :mod:`helpers.publish.typst_tables` (what pandoc
    writes for them, in a fraction of its time): each such table goes to pandoc as a
    placeholder paragraph, which must come back as a line of its own exactly once, else
    pandoc converts the whole body itself."""
    own: dict[str, str] = {}

    def hold(m: re.Match[str]) -> str:
        typst = typst_tables.table_typst(m.group(0))
        if typst is None:
            return m.group(0)
        key = f"{_PLACEHOLDER}{len(own):05d}x"
        own[key] = typst
        return f"<p>{key}</p>"

    held = prepared if _PLACEHOLDER in prepared else _TABLE.sub(hold, prepared)
    if not own:
        return html_to_typst(prepared)
    lines = html_to_typst(held).split("\n")
    found = [line for line in lines if line in own]
    if sorted(found) != sorted(own):
        return html_to_typst(prepared)
    return "\n".join(own.get(line, line) for line in lines)


def build_typst_source(body: str, media_dir: Path) -> str:
    """Typst source of the report body (images extracted into ``media_dir``), checked complete.

    Raises :class:`PdfError` when a table or image of ``body`` is missing from the result.
    """
    prepared, _ = extract_images(prepare_body(body), media_dir)
    # Tables start at the left margin like the HTML (pandoc centres them).
    source = body_to_typst(prepared).replace("align(center)[#table(", "align(left)[#table(")
    source = keep_short_tables_together(widen_name_columns(source))
    want, got = count_html(prepared), count_typst(source)
    if want != got:
        raise PdfError(
            f"the PDF would not match the HTML: HTML has {want['tables']} tables and "
            f"{want['images']} images, the Typst source {got['tables']} and {got['images']}"
        )
    return source


def render_pdf(
    nb: Any,
    provenance: Mapping[str, Any],
    out_path: str | Path,
    html: str | None = None,
    keep_typst: bool = False,
) -> Path:
    """Write the PDF of an executed notebook to ``out_path`` and return the path.

    ``html`` is the page from :func:`render_html` for the same notebook (rendered when not
    given). With ``keep_typst`` the Typst source is kept next to the PDF (``.typ``) for debugging.
    """
    source_nb = nbread.load(nb)
    page = html if html is not None else html_pub.render_html(source_nb, provenance)
    body = html_pub.body_html(page)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kp-pdf-") as tmp:
        root = Path(tmp)
        shutil.copyfile(TEMPLATE, root / TEMPLATE.name)
        source = build_typst_source(body, root / "media")
        main = f'#import "{TEMPLATE.name}": *\n#show: report\n\n{source}\n'
        (root / "main.typ").write_text(main, encoding="utf-8")
        if keep_typst:
            out_path.with_suffix(".typ").write_text(main, encoding="utf-8")
        try:
            pdf = compile_typst(root / "main.typ", root, typst_inputs(source_nb, provenance))
        except Exception as exc:  # typst raises TypstError (a RuntimeError subclass)
            raise PdfError(f"Typst could not compile the report: {exc}") from exc
    tmp_out = out_path.with_name(out_path.name + ".part")
    tmp_out.write_bytes(pdf)
    tmp_out.replace(out_path)
    return out_path


def warm_up() -> None:
    """Scan the fonts, check pandoc's options and compile a tiny report with the template
    (once per process), so the first real report does not pay for it."""
    with tempfile.TemporaryDirectory(prefix="kp-pdf-warm-") as tmp:
        render_pdf(html_pub.warm_up_notebook(), {}, Path(tmp) / "warm-up.pdf")
