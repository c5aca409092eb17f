"""The disclosure scanner on hand-made outputs: what it must flag, and what it must let pass."""

from __future__ import annotations

import json

import nbformat
import pandas as pd
import pytest

from helpers.analysis.survey import DEFAULT_MIN_N
from helpers.present import table
from helpers.publish import disclosure as d
from helpers.publish import pdf as pdf_pub


def _district_table(rows: list[tuple]) -> str:
    """The district table as helpers.present.table renders it (hand-made values)."""
    df = pd.DataFrame(
        rows, columns=["Rank (1 = lowest)", "District", "Satisfied (4-5)", "95% CI", "Ratings (n)"]
    )
    df["Status"] = ["suppressed (n<30)" if r[4] < 30 else "" for r in rows]
    return table(df, caption="Satisfaction by district", formats={"Satisfied (4-5)": "pct"}).html


def _kinds(findings) -> list[tuple[str, str]]:
    return [(f.file, f.kind) for f in findings]


def test_default_min_n_matches_the_analysis_rule():
    assert d.DEFAULT_MIN_N == DEFAULT_MIN_N == 30


def test_suppressed_rows_pass_and_a_published_small_cell_is_flagged():
    ok = _district_table(
        [
            (1, "Swat", 0.42, "40.0% to 45.0%", 120),
            (None, "Tor Ghar 2", None, "\u2013", 12),  # suppressed; a digit in the name is fine
            (None, "Kohat", None, "\u2013", 0),
        ]
    )
    assert d.scan_html(ok, "f.html") == []
    leaked = _district_table(
        [(1, "Swat", 0.42, "40.0% to 45.0%", 120), (2, "Karak", 0.5, "30.0% to 70.0%", 29)]
    )
    found = d.scan_html(leaked, "f.html")
    assert [(f.kind, f.location.split(", ")[-1]) for f in found] == [("small_cell", "row 2 ('2')")]
    assert "n=29 below min_n=30" in found[0].detail
    # A CI alone (no class num) is a figure too.
    ci_only = _district_table([(None, "Karak", None, "30.0% to 70.0%", 5)])
    assert _kinds(d.scan_html(ci_only, "f.html")) == [("f.html", "small_cell")]
    # The report's own min_n decides: n = 40 is a small cell under min_n = 50.
    row40 = _district_table([(1, "Swat", 0.42, "40.0% to 45.0%", 40)])
    assert d.scan_html(row40, "f.html", min_n=30) == []
    assert _kinds(d.scan_html(row40, "f.html", min_n=50)) == [("f.html", "small_cell")]


def test_respondent_rows_and_identifiers_are_flagged():
    extract = pd.DataFrame(
        {"respondent_id": [101], "district_pcode": ["PK528"], "overall_satisfaction": [4]}
    )
    found = d.scan_html(table(extract, caption="Extract").html, "x.html")
    assert ("x.html", "respondent_rows") in _kinds(found)
    raw = pd.DataFrame({"gender": ["female"], "age_band": ["18-29"], "weight": [2.5]})
    assert _kinds(d.scan_html(table(raw, caption="Raw").html, "x.html")) == [
        ("x.html", "respondent_rows")
    ]
    text = "   respondent_id district_pcode  psu\n0  101  PK528  PK528-2412-03"
    kinds = {f.kind for f in d.scan_text(text, "t", "stdout")}
    assert kinds == {"respondent_identifier", "respondent_rows"}
    assert {f.kind for f in d.scan_text("cluster PK528-2412-03 was revisited", "t", "x")} == {
        "respondent_identifier"
    }


def test_prose_and_aggregates_are_not_flagged():
    prose = (
        "Key drivers: survey-weighted logistic regression on staff behaviour, waiting time, cost, "
        "availability, cleanliness and on gender, age band and area; 2024-12-03 is a date."
    )
    assert d.scan_text(prose, "p", "text") == []
    agg = pd.DataFrame({"Service": ["Hospitals"], "Satisfied (4-5)": [0.4], "Ratings (n)": [300]})
    assert (
        d.scan_html(table(agg, caption="Services", formats={"Satisfied (4-5)": "pct"}).html, "a")
        == []
    )


def _notebook(outputs: list) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = outputs
    nb.cells.append(cell)
    return nb


def test_notebook_outputs_streams_and_tracebacks_are_scanned(tmp_path):
    month = tmp_path / "2025-03"
    (month / "health").mkdir(parents=True)
    leak = pd.DataFrame({"respondent_id": [7], "psu": ["PK501-2212-04"]}).to_string()
    nbformat.write(
        _notebook([nbformat.v4.new_output("stream", name="stdout", text=leak)]),
        month / "health" / "citizen_survey.ipynb",
    )
    nbformat.write(
        _notebook(
            [
                nbformat.v4.new_output(
                    "error", ename="KeyError", evalue="'x'", traceback=["row PK501-2212-04"]
                )
            ]
        ),
        month / "health" / "stocktake.failed.ipynb",
    )
    nbformat.write(
        _notebook([nbformat.v4.new_output("display_data", data={"text/plain": "fine"})]),
        month / "health" / "budget_execution.ipynb",
    )
    (month / ".hidden.html").write_text("respondent_id")  # hidden files are not published
    (month / "broken.pdf").write_bytes(b"%PDF-1.4 truncated")
    found = d.scan_month(month)
    files = {(f.file, f.kind) for f in found}
    assert files == {
        ("health/citizen_survey.ipynb", "respondent_identifier"),
        ("health/citizen_survey.ipynb", "respondent_rows"),
        ("health/stocktake.failed.ipynb", "respondent_identifier"),
        ("broken.pdf", "unreadable"),
    }
    assert all(f.location for f in found)


def test_pdf_text_is_scanned_and_results_are_memoised(tmp_path):
    html = (
        "<html><body><!-- kp-body-start --><p>Cluster PK528-2412-03 had the most complaints.</p>"
        "<!-- kp-body-end --></body></html>"
    )
    month = tmp_path / "m"
    month.mkdir()
    nb = nbformat.v4.new_notebook()
    pdf_pub.render_pdf(nb, {}, month / "r.pdf", html=html)
    memo = tmp_path / "memo"
    found = d.scan_month(month, memo_dir=memo)
    assert _kinds(found) == [("r.pdf", "respondent_identifier")]
    assert found[0].location == "page 1"
    assert len(list(memo.glob("*.json"))) == 1
    # The memo answers for the same content (even under another name).
    (month / "r.pdf").rename(month / "copy.pdf")
    again = d.scan_month(month, memo_dir=memo)
    assert _kinds(again) == [("copy.pdf", "respondent_identifier")]


def test_header_words_hyphenated_in_a_wide_pdf_table_are_read_whole(tmp_path):
    # Typst breaks a header word too long for its column with a (soft) hyphen; the PDF text
    # then holds the word's halves. The scan joins them again, and finds the identifier.
    cols = [f"Measurement {i}" for i in range(11)]
    cols.insert(5, "respondent_id")
    header = "".join(f"<th>{c}</th>" for c in cols)
    row = "".join(f"<td>{i}</td>" for i in range(12))
    html = (
        "<html><body><!-- kp-body-start --><table><thead><tr>"
        + header
        + f"</tr></thead><tbody><tr>{row}</tr></tbody></table><!-- kp-body-end --></body></html>"
    )
    pdf = tmp_path / "wide.pdf"
    pdf_pub.render_pdf(nbformat.v4.new_notebook(), {}, pdf, html=html)
    import pypdfium2

    doc = pypdfium2.PdfDocument(str(pdf))
    raw = doc[0].get_textpage().get_text_bounded()
    doc.close()
    assert "\x02" in raw and raw.count("Measurement") < 11  # words broken on the page
    assert " ".join(d.pdf_text_pages(pdf)).count("Measurement") == 11  # whole again
    found = d.scan_pdf(pdf, "wide.pdf")
    assert "respondent_identifier" in {f.kind for f in found}


def test_a_prescanned_file_is_judged_from_the_memo_with_its_findings(tmp_path, monkeypatch):
    # What a worker prescans as it publishes is what the month's gate decides on: the gate
    # reads the memo (no second scan) and still blocks on the findings recorded there.
    month = tmp_path / "m"
    (month / "health").mkdir(parents=True)
    bad = month / "health" / "survey.html"
    bad.write_text(
        "<html><body><!-- kp-body-start --><p>respondent_id 4711</p>"
        + _district_table([(1, "Swat", 0.42, "40.0% to 45.0%", 12)])
        + "<!-- kp-body-end --></body></html>"
    )
    memo = tmp_path / "memo"
    d.prescan(bad, 30, memo)
    assert len(list(memo.glob("*.json"))) == 1

    def no_second_scan(*args, **kwargs):
        raise AssertionError("the gate re-scanned a prescanned file")

    monkeypatch.setattr(d, "scan_file", no_second_scan)
    found = d.scan_month(month, memo_dir=memo)
    assert {"respondent_identifier", "small_cell"} <= {f.kind for f in found}
    assert {f.file for f in found} == {"health/survey.html"}  # named by its place in the month


def test_min_n_by_file_reads_each_jobs_parameter():
    manifest = {
        "jobs": [
            {"params": {"min_n": 50}, "files": {"html": "health/citizen_survey.html"}},
            {"params": {"month": "2025-03"}, "files": {"html": "health/stocktake.html"}},
        ]
    }
    assert d.min_n_by_file(manifest) == {"health/citizen_survey.html": 50}
    summary = d.summarise([d.Finding("a.html", "table 1", "small_cell", "n=3")] * 7, limit=2)
    assert summary.startswith("disclosure scan: 7 small_cell: a.html: table 1: small_cell: n=3")
    assert summary.endswith("... 5 more")
    assert json.loads(json.dumps(d.Finding("a", "b", "c", "d").to_dict()))["file"] == "a"


# The scan parses pages with its own tree builder (six times faster than BeautifulSoup on a
# month): it must read every page as BeautifulSoup's html.parser builder does, which the scan
# used before. Each snippet is a way a page can be malformed, nested or disguised.
TRICKY_HTML = [
    "<table><tr><th>District</th><th>n</th><th>Share</th></tr>"
    "<tr><td>Swat</td><td class='num'>3</td><td>41.2%</td></tr></table>",
    "<table><thead><tr><th>respondent_id</th></tr></thead><tbody><tr><td>PK528-2412-03</td>",
    "<table><caption>Outer</caption><tr><td><table><tr><th>n</th><th>x</th></tr>"
    "<tr><td>2</td><td>5.5</td></tr></table></td></tr></table>",
    "<template><table><tr><th>respondent_id</th></tr></table></template><p>after</p>",
    "<script>var respondent_id = 1;</script><style>.psu{}</style><p>clean</p>",
    "<p>respon<!-- split -->dent_id</p><p>respondent<![CDATA[_id]]></p>",
    "<p>respondent&#95;id and &lowbar;psu &amp; PK528&#45;2412-03 &nbsp x</p>",
    "<div><br></br><img src=x></img><td/>cell<p/>para</div></span></table>text",
    "<pre>  \n  </pre><p>   </p>\n\n<p>\n</p><textarea> \n </textarea>",
    "<table><tr><td class='a num' class='b'>7</td><td class=num>1.5</td></tr></table>",
    "<ul><li>one<li>two</ul><table><tr><th>N<th>Mean</tr><tr><td>4<td>2.25</table>",
    "<table><tr><td>x</td></tr><thead><tr><th>n</th><th>CI</th></tr></thead>"
    "<tr><td>9</td><td>(1.2, 3.4)</td></tr></table>",
    "<svg><text>respondent_id</text><foreignObject><table><tr><th>psu</th></tr></table>"
    "</foreignObject></svg>",
    "<!DOCTYPE html><?xml version='1.0'?><html><body>weight stratum_population psu_code</body>",
    "<table><tr><th>n</th><th>Satisfied</th></tr><tr><td> 1,2 </td><td>50%</td></tr>"
    "<tr><td>\u202f4</td><td>–</td></tr><tr><td>12</td><td>60%</td></tr></table>",
]


@pytest.mark.parametrize("html", TRICKY_HTML)
def test_the_page_parser_reads_pages_as_beautifulsoup_does(html):
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["style", "script", "template"]):
        tag.decompose()
    ours = d.parse_page(html)
    assert ours.get_text("\n") == soup.get_text("\n")
    theirs_tables, our_tables = soup.find_all("table"), ours.find_all("table")
    assert len(our_tables) == len(theirs_tables)
    for a, b in zip(our_tables, theirs_tables, strict=True):
        rows_a, rows_b = a.find_all("tr"), b.find_all("tr")
        assert [
            [c.get_text(" ", strip=True) for c in r.find_all(["th", "td"])] for r in rows_a
        ] == [[c.get_text(" ", strip=True) for c in r.find_all(["th", "td"])] for r in rows_b]
        assert [[c.get("class") or [] for c in r.find_all(["th", "td"])] for r in rows_a] == [
            [c.get("class") or [] for c in r.find_all(["th", "td"])] for r in rows_b
        ]
        assert (a.find("thead") is None) == (b.find("thead") is None)
        assert (a.find("caption") is None) == (b.find("caption") is None)


def test_the_page_parser_flags_what_it_must_in_the_tricky_pages():
    """The same pages through the whole scan: the identifiers, the respondent-level header
    and the small cells (n below min_n with a figure) are found; the suppressed dash is not."""
    found = [d.scan_html(h, "page.html") for h in TRICKY_HTML]
    kinds = [sorted({f.kind for f in fs}) for fs in found]
    assert kinds[0] == ["small_cell"]  # n=3 shows 41.2%
    assert "respondent_identifier" in kinds[1] and "respondent_rows" in kinds[1]
    assert kinds[2] == ["small_cell"]  # the nested table: n=2 shows 5.5
    assert kinds[3] == [] and kinds[4] == []  # template and script content is not page text
    assert "respondent_identifier" in kinds[6]  # respondent&#95;id is respondent_id
    assert kinds[12] == ["respondent_identifier", "respondent_rows"]  # inside an SVG
    # n below min_n (30) with a figure: "1,2" is read as 12 and the third row's 12 too; the
    # second row (n 4) shows only the suppression dash
    small = [f.location.split("row ")[1][0] for f in found[14] if f.kind == "small_cell"]
    assert small == ["1", "3"]
