"""The report tables' Typst, written here instead of by pandoc: exactly what pandoc's Typst
writer makes of them, for the plain tables the reports publish.

Tables are most of pandoc's time on a report body (about 100 of 150 ms for a budget report:
its HTML reader is slow on hundreds of cells), yet the reports' tables are all of one plain
shape (:class:`helpers.present.display.table`): a caption, one header row, body rows of text
cells, some right-aligned. A table of that shape whose text uses only the characters below is
converted here with pandoc's own rules (read from its output: ``#figure(align(center)
[#table(...)], caption: [...], kind: table)``, the column alignments of the first body row,
``table.cell(align: right)`` for each right-aligned cell, ``~`` for a no-break space, ``--``
for an en dash, a backslash before ``#``, ``<``, ``'``, an opening ``(`` and a repeated ``-`` or
``/``). Any other table (other tags, attributes, characters) is left to pandoc.
``tests/unit/test_publish_pdf.py`` compares both with a real pandoc on awkward text and a
whole report body (and all 810 distinct tables of the month 2025-03 came out the same,
``docs/engine.md``); the PDF publisher checks each table's placeholder came back once
(:func:`helpers.publish.pdf.body_to_typst`).
"""

from __future__ import annotations

import html
import re

_RIGHT = ' style="text-align: right"'
PLAIN_TABLE = re.compile(
    r"<table>(?:<caption>(?P<caption>[^<]*(?:<span class=\"units\">[^<]*</span>[^<]*)?)"
    r"</caption>)?"
    rf"<thead>(?P<head><tr>(?:<th(?:{_RIGHT})?>[^<]*</th>)+</tr>)</thead>"
    rf"<tbody>(?P<body>(?:<tr>(?:<td(?:{_RIGHT})?>[^<]*</td>)+</tr>)*)</tbody></table>"
)
_ROW = re.compile(r"<tr>(.*?)</tr>", re.S)
_CELLS = re.compile(rf"<t[hd](?P<right>{_RIGHT})?>(?P<text>[^<]*)</t[hd]>")
_UNITS = re.compile(r"</?span[^>]*>")
#: Characters besides letters and digits the conversion knows pandoc's rules for.
SAFE = frozenset(" .,;:%&()+-/=#<'–—−…\xa0")
_SPACES = re.compile(r"[ \t\n\r\f]+")
_OWN = {"\xa0": "~", "–": "--", "—": "---", "#": "\\#", "<": "\\<", "'": "\\'"}


def typst_text(raw: str) -> str | None:
    """Cell or caption text (HTML) as pandoc writes it in Typst, None when it holds a
    character this module does not convert."""
    text = _SPACES.sub(" ", html.unescape(raw)).strip(" ")
    if not all(ch.isalnum() or ch in SAFE for ch in text):
        return None
    out = []
    prev = ""
    for ch in text:
        if ch in _OWN:
            out.append(_OWN[ch])
        elif ch in "-/" and prev == ch:
            out.append("\\" + ch)
        else:
            out.append(ch)
        prev = ch
    typst = "".join(out)
    return "\\" + typst if typst.startswith("(") else typst


def _row(html_row: str) -> list[tuple[bool, str]] | None:
    cells = []
    for m in _CELLS.finditer(html_row):
        text = typst_text(m.group("text"))
        if text is None:
            return None
        cells.append((m.group("right") is not None, text))
    return cells


def _cell(right: bool, text: str) -> str:
    return f"table.cell(align: right)[{text}]" if right else f"[{text}]"


def table_typst(table_html: str) -> str | None:
    """The Typst pandoc writes for one ``<table>`` of a report body (from ``#figure(`` to
    its closing ``)``), None when the table is not of the plain shape this module converts."""
    m = PLAIN_TABLE.fullmatch(table_html)
    if m is None:
        return None
    head = _row(m.group("head"))
    body = [_row(r) for r in _ROW.findall(m.group("body"))]
    if len(body) != m.group("body").count("<tr>"):
        return None  # every row is converted, or the table is pandoc's
    if head is None or any(r is None or len(r) != len(head) for r in body):
        return None
    caption = None
    if m.group("caption") is not None:
        caption = typst_text(_UNITS.sub("", m.group("caption")))
        if caption is None:
            return None
    first = body[0] if body else [(False, "")] * len(head)
    align = "".join(("right" if right else "auto") + "," for right, _ in first)
    lines = [
        "#figure(",
        "  align(center)[#table(",
        f"    columns: {len(head)},",
        f"    align: ({align}),",
        "    table.header(" + ", ".join(_cell(*c) for c in head) + ",),",
        "    table.hline(),",
        *("    " + ", ".join(_cell(*c) for c in row) + "," for row in body),
        "  )]",
        *([f"  , caption: [{caption}]"] if caption is not None else []),
        "  , kind: table",
        "  )",
    ]
    return "\n".join(lines)
