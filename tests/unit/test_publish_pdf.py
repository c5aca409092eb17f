"""PDF publisher: HTML body -> Typst (pandoc) -> PDF, nothing lost on the way."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output
from pypdf import PdfReader

from helpers.present import key_messages, report_meta, table
from helpers.publish import html as html_pub
from helpers.publish import pdf as pub
from helpers.publish.disclosure import pdf_text_pages

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import report_fixture as fx

KERNELSPEC = {
    "name": "kp-reports",
    "display_name": "KP reports (Python 3.11)",
    "language": "python",
}
PROV = {"commit": "abc", "dirty": False, "data_checksum": "d", "run_at": None, "cache_key": "k"}


def pdf_text(path: Path) -> str:
    """Text of a PDF (pdftotext when installed, else pypdf), whitespace collapsed."""
    if shutil.which("pdftotext"):
        raw = subprocess.run(
            ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
        ).stdout
    else:  # pragma: no cover
        raw = "\n".join(p.extract_text() or "" for p in PdfReader(path).pages)
    return re.sub(r"[ \t]+", " ", raw)


@pytest.fixture(scope="session")
def rendered(tmp_path_factory):
    nb = fx.executed_notebook()
    page = html_pub.render_html(nb, fx.PROVENANCE)
    out = tmp_path_factory.mktemp("pdf") / "budget_execution.pdf"
    pub.render_pdf(nb, fx.PROVENANCE, out, html=page, keep_typst=True)
    return {"nb": nb, "html": page, "pdf": out, "typ": out.with_suffix(".typ")}


def _nb(*objs) -> nbformat.NotebookNode:
    cell = new_code_cell("x = 1")
    cell.outputs = [new_output("display_data", data=o._repr_mimebundle_()) for o in objs]
    return new_notebook(cells=[cell], metadata={"kernelspec": KERNELSPEC})


def test_pdf_is_a_pdf_with_page_numbers(rendered):
    data = rendered["pdf"].read_bytes()
    assert data.startswith(b"%PDF")
    n = len(PdfReader(rendered["pdf"]).pages)
    text = pdf_text(rendered["pdf"])
    for i in range(1, n + 1):
        assert f"Page {i} of {n}" in text


def test_pdf_text_has_frame_headline_and_table_values(rendered):
    text = pdf_text(rendered["pdf"])
    assert fx.DEPARTMENT in text  # printed literally: & < > # $ @ are not markup
    assert "Budget execution" in text
    assert "March 2025" in text and "1 March 2025" in text  # the as-of date, in words
    assert "Spending reached 61% of the budget estimate against a 75% benchmark." in text
    for value in ("12,345.6", "4,321.0", "7,654.3", "1,234.5", "62.0%", "28.6%", "Peshawar", "118"):
        assert value in text, value
    assert "Budget and expenditure by fund (PKR million)" in text
    assert "Government of Khyber Pakhtunkhwa" in text
    assert "feedc0ffee12" in text


def test_key_messages_come_before_the_first_table(rendered):
    text = pdf_text(rendered["pdf"])
    assert text.index("Key messages") < text.index("Budget and expenditure by fund")


def test_every_table_and_image_reaches_the_pdf(rendered):
    body = html_pub.body_html(rendered["html"])
    html_counts = pub.count_html(body)
    assert html_counts == {"tables": 2, "images": 1}  # the fixture has 2 tables, 1 chart
    typ = rendered["typ"].read_text()
    assert pub.count_typst(typ) == html_counts
    images = sum(len(p.images) for p in PdfReader(rendered["pdf"]).pages)
    assert images == html_counts["images"]
    # every cell of every HTML table is in the PDF text
    text = re.sub(r"\s+", " ", pdf_text(rendered["pdf"]))
    for cell in re.findall(r"<td\b[^>]*>([^<]*)</td>", body):
        assert html_pub.heading_text(cell) in text, cell


def test_numbers_right_aligned_in_typst(rendered):
    typ = rendered["typ"].read_text()
    assert "table.cell(align: right)[12,345.6]" in typ
    assert "table.cell(align: right)[Budget estimate]" in typ
    assert "[Current]," in typ  # text stays left


def test_no_re_execution_and_no_code(rendered):
    text = pdf_text(rendered["pdf"])
    assert "import pandas" not in text and "debug output" not in text


def test_typst_special_characters_are_safe(tmp_path):
    nasty = '#set page(fill: red) $x^2$ @ref <lbl> *bold* _it_ `raw` \\ "q" #1 [a] {b} // c'
    df = pd.DataFrame({"Entity": [nasty, "plain"], "Amount": [1.5, 2.0]})
    nb = _nb(
        report_meta(nasty, nasty, "2025-03", "2025-03-01"),
        key_messages([nasty]),
        table(df, caption=nasty, units="PKR million"),
    )
    out = pub.render_pdf(nb, PROV, tmp_path / "x.pdf")
    text = pdf_text(out)
    assert text.count(nasty) >= 4  # title, department, key message, table cell (and caption)
    reader = PdfReader(out)
    assert reader.metadata.title == nasty


def test_long_and_wide_tables_break_and_fit(tmp_path):
    long = pd.DataFrame({"District": [f"District {i:02d}" for i in range(80)], "Value": range(80)})
    wide = pd.DataFrame({f"Column {i}": [1000.0 * i] for i in range(12)})
    nb = _nb(
        report_meta("Tables", "Health", "2025-03", "2025-03-01"),
        table(long, caption="Long", max_rows=100),
        table(wide, caption="Wide"),
    )
    out = pub.render_pdf(nb, PROV, tmp_path / "t.pdf")
    text = pdf_text(out)
    assert len(PdfReader(out).pages) >= 2
    assert "District 00" in text and "District 79" in text
    assert "10,000.0" in text and "11,000.0" in text  # wraps, fits
    # Header words too long for their column break with a hyphen instead of running into the
    # next one; the text still reads whole once the soft hyphens are joined.
    assert " ".join(pdf_text_pages(out)).count("Column") == 12


def test_a_short_table_is_never_split_from_its_caption(tmp_path):
    # A filler table of k rows moves the short table down the page in ~3-row steps over more
    # than a page, so some k puts its caption at the foot of a page.
    short = pd.DataFrame({"Flag": [f"Short row {i}" for i in range(6)], "Value": range(6)})
    for k in range(35, 90, 3):
        filler = pd.DataFrame({"District": [f"D{i:02d}" for i in range(k)], "Value": range(k)})
        nb = _nb(
            report_meta("Tables", "Health", "2025-03", "2025-03-01"),
            table(filler, caption="Filler", max_rows=100),
            table(short, caption="Short caption"),
        )
        pages = [
            p.extract_text() for p in PdfReader(pub.render_pdf(nb, PROV, tmp_path / "s.pdf")).pages
        ]
        on = [i for i, t in enumerate(pages) if "Short caption" in t]
        rows = [i for i, t in enumerate(pages) if "Short row" in t]
        assert on and set(rows) == set(on), (k, on, rows)


def test_missing_table_is_an_error(monkeypatch, tmp_path):
    real = pub.body_to_typst

    def drop_tables(body):
        return re.sub(
            r"#figure\(\s*align\(center\)\[#table\(.*?kind: table\s*\)", "", real(body), flags=re.S
        )

    monkeypatch.setattr(pub, "body_to_typst", drop_tables)
    nb = _nb(report_meta("T", "D", "2025-03", "x"), table(pd.DataFrame({"a": [1]}), caption="c"))
    with pytest.raises(pub.PdfError, match="1 tables .* the Typst source 0"):
        pub.render_pdf(nb, PROV, tmp_path / "y.pdf")
    assert not (tmp_path / "y.pdf").exists()


def test_extract_images(tmp_path):
    png = b"\x89PNG\r\n\x1a\nfake"
    b64 = base64.b64encode(png).decode()
    body = f'<img src="data:image/png;base64,{b64}" alt="a"><img src="data:image/png;base64,{b64}">'
    out, files = pub.extract_images(body, tmp_path / "media")
    assert len(files) == 2 and files[0] == files[1]  # same content, one file
    assert files[0].read_bytes() == png
    assert "data:" not in out and out.count('src="media/img-') == 2
    with pytest.raises(pub.PdfError, match="not valid base64"):
        pub.extract_images('<img src="data:image/png;base64,@@@@">', tmp_path / "m2")


def test_prepare_body_right_aligns_and_drops_styles():
    body = '<style>x{}</style><table><tr><th class="num">V</th></tr><tr><td class="num">1</td></tr></table>'
    out = pub.prepare_body(body)
    assert "<style" not in out
    assert '<th style="text-align: right">' in out
    assert '<td style="text-align: right">' in out


def test_table_classes_go_but_pandoc_writes_the_same_typst():
    """The class and scope attributes of table parts are dropped before pandoc reads the body
    (they cost reading time and the Typst writer never uses them); elsewhere they stay."""
    table = (
        '<table class="kp-table"><caption>Cap</caption><thead><tr>'
        '<th scope="col">Name</th><th scope="col" class="num">Value</th></tr></thead><tbody>'
        '<tr class="kp-bad"><td>a <span class="units">(PKR m)</span></td>'
        '<td class="num">1,234.5</td></tr><tr><td>b</td><td class="num">-2.0%</td></tr>'
        "</tbody></table>"
    )
    body = f'<div class="kp-output"><p class="kp-note">Note</p>{table}</div>'
    out = pub.prepare_body(body)
    assert 'class="kp-table"' not in out and 'scope="col"' not in out
    assert 'class="kp-bad"' not in out and 'class="num"' not in out
    assert '<td style="text-align: right">1,234.5</td>' in out
    # outside the table parts nothing is touched
    assert '<div class="kp-output"><p class="kp-note">' in out and 'class="units"' in out
    with_classes = pub._TABLE.sub(lambda m: pub._align_table(m.group(0)), body)
    typst = pub.html_to_typst(out)
    assert typst == pub.html_to_typst(with_classes)
    assert "align: (auto,right,)" in typst and "table.cell(align: right)[1,234.5]" in typst


def test_a_wide_table_keeps_a_share_of_the_page_for_its_names():
    """Seven or more columns: the first (the names) gets a fixed share, the rest fit around
    it, so a name is not squeezed to one word per line; a narrow table sizes every column to
    its content as before."""
    from helpers.publish.pdf import NAME_COLUMN_SHARE, WIDE_TABLE_COLUMNS, widen_name_columns

    wide = "#table(\n    columns: 8,\n    align: (auto,),\n"
    narrow = "#table(\n    columns: 3,\n    align: (auto,),\n"
    assert WIDE_TABLE_COLUMNS <= 8
    out = widen_name_columns(wide + narrow)
    assert f"    columns: ({NAME_COLUMN_SHARE}, {', '.join(['auto'] * 7)})," in out
    assert "    columns: 3," in out


def _table_body(*tables: str) -> str:
    """A prepared report body (as pandoc gets it) with these tables, one output each."""
    body = "".join(f'<div class="kp-output">\n{t}\n</div>' for t in tables)
    return pub.prepare_body(body)


#: Text with every character the own table conversion handles, in awkward places.
AWKWARD = [
    "it's the year's 'best'",
    "(a) first; x (b) later",
    "A #1 & <b 50%",
    "2024-25 -- a --- b - c",
    "x // y /// z 5/3 http://a.org",
    "7\u00a0days – 3 — 4 − 5 …",
    "  spaced   out\n text ",
    "1. = + -5 +5",
    "",
]


def test_plain_tables_get_the_typst_pandoc_writes():
    """The tables the reports publish (display.table: caption with units, header, right-aligned
    numbers) are written in Typst by typst_tables exactly as pandoc writes them, awkward text
    included; the body's Typst is pandoc's to the byte."""
    from helpers.publish import typst_tables

    frames = [
        pd.DataFrame({"Name": AWKWARD, "Value": [1.5 * i for i in range(len(AWKWARD))]}),
        pd.DataFrame({"Only": ["a", "b"]}),
    ]
    tables = []
    for i, df in enumerate(frames):
        html = table(df, caption=f"{AWKWARD[i]} caption", units="PKR million; 'share'")
        tables += pub._TABLE.findall(pub.prepare_body(html._repr_mimebundle_()["text/html"]))
    for raw in [  # no caption; no body rows (the column alignments are then pandoc's default)
        "<table><thead><tr><th>No caption</th></tr></thead><tbody><tr><td>x</td></tr></tbody>",
        '<table><caption>C</caption><thead><tr><th>A</th><th style="text-align: right">B</th>'
        "</tr></thead><tbody></tbody>",
    ]:
        tables += pub._TABLE.findall(_table_body(raw + "</table>"))
    assert len(tables) == 4
    for t in tables:
        ours = typst_tables.table_typst(t)
        assert ours is not None, t
        assert ours == pub.html_to_typst(_table_body(t)).strip("\n")
    body = _table_body(*tables) + "<p>after</p>"
    assert pub.body_to_typst(body) == pub.html_to_typst(body)


@pytest.mark.parametrize(
    "text", ["a *b*", "x_y", "$5", "a → b", 'say "hi"', "[x]", "a@b", "a\\b", "`x`", "a > b"]
)
def test_tables_with_other_text_are_left_to_pandoc(text):
    from helpers.publish import typst_tables

    t = pub._TABLE.findall(_table_body(f"<table><caption>C</caption><thead><tr><th>A</th></tr>"
                                       f"</thead><tbody><tr><td>{text}</td></tr></tbody></table>"))[0]  # fmt: skip
    assert typst_tables.table_typst(t) is None
    body = _table_body(t)
    assert pub.body_to_typst(body) == pub.html_to_typst(body)


def test_a_report_body_gets_the_same_typst_with_own_tables(rendered, tmp_path):
    """A whole report (the fixture: key messages, two tables, a chart) converts to the same
    Typst as pandoc alone makes, so the PDF is the same."""
    body = pub.prepare_body(html_pub.body_html(rendered["html"]))
    prepared, _ = pub.extract_images(body, tmp_path)
    assert pub._TABLE.search(prepared)
    assert pub.body_to_typst(prepared) == pub.html_to_typst(prepared)
