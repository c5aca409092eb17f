"""HTML publisher: a self-contained publication page from an executed notebook."""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from helpers.present import heading, key_messages, report_meta, table
from helpers.publish import html as pub
from helpers.publish import notebook as nbread

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import report_fixture as fx


@pytest.fixture(scope="session")
def executed_nb() -> nbformat.NotebookNode:
    return fx.executed_notebook()


@pytest.fixture(scope="session")
def page(executed_nb) -> str:
    return pub.render_html(executed_nb, fx.PROVENANCE)


def csp_of(page: str) -> str | None:
    """The content of the Content-Security-Policy meta tag (attributes in any order)."""
    for tag in re.findall(r"<meta\b[^>]*>", page, re.I):
        if re.search(r'http-equiv="Content-Security-Policy"', tag, re.I):
            return re.search(r'content="([^"]*)"', tag).group(1)
    return None


def _display(obj) -> dict:
    return new_output("display_data", data=obj._repr_mimebundle_())


def _nb(*cells) -> nbformat.NotebookNode:
    return new_notebook(cells=list(cells), metadata={"kernelspec": KERNELSPEC})


def _cell(*objs) -> nbformat.NotebookNode:
    cell = new_code_cell("x = 1")
    cell.outputs = [_display(o) for o in objs]
    return cell


KERNELSPEC = {
    "name": "kp-reports",
    "display_name": "KP reports (Python 3.11)",
    "language": "python",
}
PROV = {"commit": "abc", "dirty": False, "data_checksum": "d", "run_at": None, "cache_key": "k"}


# --- the fixture report -------------------------------------------------------------------------


def test_no_network_resources_or_scripts(page):
    assert "<script" not in page.lower()
    assert not re.search(r"""\b(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", page, re.I)
    assert "@import" not in page
    for cdn in ("mathjax", "require.js", "requirejs", "jquery"):
        assert cdn not in page.lower()
    for src in re.findall(r"""\bsrc\s*=\s*["']([^"']*)""", page):
        assert src.startswith("data:image/"), src


def test_content_security_policy(page):
    policy = csp_of(page)
    assert policy, "CSP meta tag missing"
    assert "default-src 'none'" in policy
    assert "img-src data:" in policy
    assert "script-src" not in policy  # reports need no script at all: default-src forbids it


def test_no_code_prompts_parameters_or_streams(page):
    for text in (
        "apply_theme()",
        "import pandas",
        "department = ",
        "# Parameters",
        "debug output that must not be published",
        "a warning that must not be published",
        "In&nbsp;[",
        "In [",
        "jp-InputPrompt",
        "jp-OutputPrompt",
        "\u00b6",
        "anchor-link",
    ):
        assert text not in page, text


def test_title_block_from_report_meta(page):
    head = page[: page.index(pub.BODY_START)]
    assert "<h1>Budget execution</h1>" in head
    assert "March 2025" in head
    assert "1 March 2025" in head  # the as-of date, in words
    assert "Government of Khyber Pakhtunkhwa" in head
    # the meta output itself is not repeated in the body
    assert 'class="kp-title"' not in page


def test_key_messages_first_and_once(page):
    km = page.index('class="key-messages"')
    assert km < page.index("<figure")
    assert km < page.index("<table")
    assert km < page.index(pub.BODY_START)
    assert page.count("Spending reached 61% of the budget estimate") == 1


def test_injected_markup_is_escaped(page):
    assert fx.INJECTED not in page
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    # department in the header line and title block, and the key message
    assert page.count(escaped) >= 3
    assert "Health &amp; Population " + escaped in page
    assert "Development spending is lagging " + escaped in page


def test_table_of_contents(page):
    nav = re.search(r'<nav[^>]*class="kp-toc"[^>]*>(.*?)</nav>', page, re.S).group(1)
    labels = re.findall(r'<a href="#([^"]+)">([^<]+)</a>', nav)
    assert [t for _, t in labels] == [
        "Key messages",
        "About this report",
        "Spending by fund",
        "District detail",
        "Notes on method",
    ]
    for hid, _ in labels:
        assert page.count(f'id="{hid}"') == 1, hid
    assert 'class="kp-toc-3"><a href="#district-detail"' in nav


def test_tables_readable(page):
    assert '<td class="num">12,345.6</td>' in page
    assert '<td class="num">28.6%</td>' in page
    assert "<td>Current</td>" in page
    assert '<th scope="col" class="num">Budget estimate</th>' in page
    assert '<th scope="col">Fund</th>' in page
    assert '<span class="units">(PKR million)</span>' in page
    assert 'class="dataframe"' in page and "Peshawar" in page  # plain DataFrame kept
    css = pub.stylesheet()
    assert "td.num" in css and "text-align: right" in css
    assert "table.dataframe" in css and "nth-child(even)" in css


def test_charts_have_alt_text(page):
    imgs = re.findall(r"<img\b[^>]*>", page)
    assert len(imgs) == 1
    assert 'alt="Bar chart of monthly expenditure, July to September"' in imgs[0]


def test_an_image_in_an_analysts_own_html_gets_a_description(executed_nb):
    """An analyst's raw HTML output may hold an <img> without alt text: the page gives it
    a default description (as nbconvert does), and keeps one that has alt text."""
    nb = copy.deepcopy(executed_nb)
    html = (
        '<p><img src="data:image/png;base64,iVBORw0KGgo="> and '
        '<IMG ALT="Logo" src="data:image/png;base64,iVBORw0KGgo="></p>'
    )
    nb.cells.append(
        new_code_cell("x", outputs=[new_output("display_data", data={"text/html": html})])
    )
    imgs = re.findall(r"<img\b[^>]*>", pub.render_html(nb, fx.PROVENANCE), re.I)
    assert len(imgs) == 3
    assert 'alt="No description has been provided for this image"' in imgs[1]
    assert 'ALT="Logo"' in imgs[2] and "No description" not in imgs[2]


def test_print_stylesheet(page):
    assert "@media print" in page
    assert "size: A4" in page
    print_css = page[page.index("@media print") :]
    assert ".kp-toc" in print_css and "display: none" in print_css
    assert "break-inside: avoid" in print_css


def test_provenance_footer(page):
    foot = page[page.index('<footer class="kp-provenance">') :]
    assert "0123456789 (with uncommitted changes)" in foot
    assert "feedc0ffee12" in foot and "feedc0ffee1234" not in foot
    assert "c0ffee001122" in foot and "c0ffee0011223" not in foot
    assert "2025-04-02 10:31 UTC" in foot


def test_exporter_is_reused_and_renders_the_same_page_again(executed_nb):
    assert pub.exporter() is pub.exporter()
    first = pub.render_html(executed_nb, fx.PROVENANCE)
    assert pub.render_html(executed_nb, fx.PROVENANCE) == first


def test_render_from_path(tmp_path, executed_nb):
    path = tmp_path / "r.ipynb"
    nbformat.write(executed_nb, path)
    assert "Budget execution" in pub.render_html(path, fx.PROVENANCE)


# --- small hand-made notebooks ------------------------------------------------------------------


def test_toc_escapes_and_deduplicates_headings():
    nb = _nb(
        _cell(report_meta("T <b>", "D & E", "2025-13", "x"), key_messages(["a < b"])),
        _cell(heading("Results <i>"), heading("Results <i>")),
        new_markdown_cell("## Method & <em>notes</em>"),
    )
    out = pub.render_html(nb, PROV)
    nav = re.search(r"<nav[^>]*>(.*?)</nav>", out, re.S).group(1)
    assert "Results &lt;i&gt;" in nav
    assert "Method &amp; notes" in nav and "<em>" not in nav
    ids = re.findall(r'href="#([^"]+)"', nav)
    assert ids == ["key-messages", "results-i", "results-i-2", "method-notes"]
    assert "<h1>T &lt;b&gt;</h1>" in out
    assert "2025-13" in out  # not a real month: shown as given
    assert "<li>a &lt; b</li>" in out


def test_error_output_without_traceback():
    cell = new_code_cell("1/0")
    cell.outputs = [
        new_output(
            "error",
            ename="ZeroDivisionError",
            evalue="division <by> zero",
            traceback=["\x1b[31mTraceback (most recent call last)\x1b[0m", "secret frame"],
        )
    ]
    out = pub.render_html(_nb(_cell(report_meta("T", "D", "2025-03", "x")), cell), PROV)
    assert "ZeroDivisionError: division &lt;by&gt; zero" in out
    assert "secret frame" not in out and "\x1b" not in out


def test_notebook_without_meta_still_renders():
    nb = _nb(_cell(table(__import__("pandas").DataFrame({"a": [1]}), caption="c")))
    out = pub.render_html(nb, PROV)
    assert "<h1>Report</h1>" in out
    assert "Province-wide report" in out
    assert 'class="key-messages"' not in out


def test_mark_numeric_headers():
    t = (
        "<table><thead><tr><th>Name</th><th>Value</th><th>Mixed</th></tr></thead><tbody>"
        '<tr><td>a</td><td class="num">1</td><td class="num">2</td></tr>'
        '<tr><td>b</td><td class="num">3</td><td>x</td></tr></tbody></table>'
    )
    out = pub.mark_numeric_headers(t)
    assert "<th>Name</th>" in out
    assert '<th class="num">Value</th>' in out
    assert "<th>Mixed</th>" in out


@pytest.mark.parametrize(
    ("month", "label"),
    [("2025-03", "March 2025"), ("2024-12-01", "December 2024"), ("2025-00", "2025-00"), ("", "")],
)
def test_month_label(month, label):
    assert pub.month_label(month) == label


@pytest.mark.parametrize(
    ("as_of", "label"),
    [
        ("2024-12-31", "31 December 2024"),
        ("2025-03-01", "1 March 2025"),
        ("2025-03", "March 2025"),
        ("survey wave December 2024", "survey wave December 2024"),
        ("2025-13-01", "2025-13-01"),
    ],
)
def test_as_of_dates_read_as_words(as_of, label):
    assert pub.date_label(as_of) == label


def test_provenance_validation():
    with pytest.raises(TypeError):
        pub.provenance_items(["commit"])
    with pytest.raises(ValueError, match="unknown provenance keys"):
        pub.provenance_items({"commit": "a", "comit": "b"})
    items = dict(pub.provenance_items({}))
    assert items["Code version"] == "not recorded"
    assert (
        dict(pub.provenance_items({"commit": "abcdef0123456", "dirty": False}))["Code version"]
        == "abcdef0123"
    )


def test_notebook_readers(executed_nb):
    meta = nbread.report_meta(executed_nb)
    assert meta["title"] == "Budget execution"
    assert meta["department"] == fx.DEPARTMENT
    assert meta["month"] == "2025-03"
    assert nbread.key_messages(executed_nb)[0].startswith("Spending reached 61%")
    assert nbread.headline(executed_nb) == {"utilisation": 0.61, "benchmark": 0.75}
    clean = nbread.publishable(executed_nb)
    tags = [t for c in clean.cells for t in c.metadata.get("tags", [])]
    assert "parameters" not in tags and "injected-parameters" not in tags
    assert all(o.output_type != "stream" for c in clean.cells for o in c.get("outputs", []))
