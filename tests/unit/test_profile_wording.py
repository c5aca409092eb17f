"""What a reader sees under another government's profile: a made-up "Testland" (a country, its
fiscal year January-December labelled by its calendar year, amounts in AMD thousand, no district
breakdown). Every expected value is worked out from that definition, never from the code.

The budget case (department "d", one line, current fund A01):
    FY 2024 (January-December 2024): BE 1,400; spending 100 a month January-November and 300 in
        December (annual 1,400: December 300/1,400 = 21%, November-December 400/1,400 = 29%).
    FY 2025: BE 1,200; spending 100 and releases 150 a month, January to March 2025.
At March 2025 (fiscal month 3): benchmark 3/12 = 25%; spent 300 = 25% of BE; released 450,
so 150 (AMD 150k) released but unspent.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from pathlib import Path

import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output
from pypdf import PdfReader

from helpers import budget, profile
from helpers.analysis import overview as ao
from helpers.analysis import pse
from helpers.present import budget as view
from helpers.present import fmt_money, key_messages, report_meta, table
from helpers.present import overview as overview_view
from helpers.present import survey as survey_view
from helpers.publish import html as html_pub
from helpers.publish import pdf as pdf_pub
from helpers.publish import portal

TESTLAND = {
    "name": "t",
    "government": {"name": "Government of Testland", "short": "Testland", "scope": "country"},
    "currency": {"code": "AMD", "unit": "thousand"},
    "fiscal_year": {"start_month": 1, "label": "start"},
    "priority_areas": ["Health", "Other"],
    "registry": "departments.yaml",
}
KERNELSPEC = {"name": "kp-reports", "display_name": "Reports (Python 3.11)", "language": "python"}
PROV = {"commit": "abc", "dirty": False, "data_checksum": "d", "run_at": None, "cache_key": "k"}
KP_WORDS = re.compile(r"Khyber|Pakhtunkhwa|PKR|July|June|provinc", re.I)


@pytest.fixture
def testland(tmp_path):
    (tmp_path / "departments.yaml").write_text("departments: []\n", encoding="utf-8")
    with profile.use(profile.parse(TESTLAND, tmp_path)) as p:
        yield p


# --------------------------------------------------------------------------------------------
# Budget execution
# --------------------------------------------------------------------------------------------


def _months(year: int, n: int) -> list[dt.date]:
    return [dt.date(year, m, 1) for m in range(1, n + 1)]


def _budget_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    alloc = pd.DataFrame(
        [
            {
                "department": "d",
                "fiscal_year": fy,
                "fund": "current",
                "object_class": "A01",
                "budget_estimate": be,
                "revised_estimate": None,
                "revised_month": None,
            }
            for fy, be in (("2024", 1400.0), ("2025", 1200.0))
        ]
    )
    rows = [
        ("2024", m, 300.0 if m.month == 12 else 100.0, 100.0 if m.month < 12 else 300.0)
        for m in _months(2024, 12)
    ] + [("2025", m, 100.0, 150.0) for m in _months(2025, 3)]
    monthly = pd.DataFrame(
        [
            {
                "department": "d",
                "fiscal_year": fy,
                "month": m,
                "fund": "current",
                "object_class": "A01",
                "release": release,
                "expenditure": spend,
            }
            for fy, m, spend, release in rows
        ]
    )
    return alloc, monthly


def _report():
    alloc, monthly = _budget_frames()
    return budget.execution_report(alloc, monthly, "d", dt.date(2025, 3, 1))


def _texts(*objs) -> str:
    """Everything a reader of these display objects sees (HTML and plain text)."""
    out = []
    for o in objs:
        for x in o if isinstance(o, list) else [o]:
            out.append(str(getattr(x, "html", "")) + "\n" + str(getattr(x, "plain", "")))
    return "\n".join(out)


def test_amounts_read_in_the_profiles_currency(testland):
    assert fmt_money(1234.5) == "AMD 1,234.5k"
    assert fmt_money(12_345.0, "auto") == "AMD 12.3m"
    assert fmt_money(999.0, "auto") == "AMD 999.0k"


def test_budget_view_follows_a_january_fiscal_year(testland):
    r = _report()
    assert r.fiscal_year == "2025"
    assert r.benchmark == pytest.approx(0.25)
    pos = view.position_table(r)
    assert "January to March 2025" in pos.html
    assert "AMD thousand" in pos.html
    notes = _texts(view.data_notes(r))
    assert "Every month from January to March 2025 was reported." in notes
    assert "benchmark = months elapsed / 12 (January = 1)" in notes
    assert "Amounts in AMD thousand." in notes
    assert "Spending by object class, January to March 2025" in view.object_class_table(r).html
    figures = view.figures_table(r).html
    assert "AMD thousand" in figures
    monthly = view.monthly_table(r).html
    assert "January 2025" in monthly and "March 2025" in monthly  # the year starts in January
    assert "July 2024" not in monthly


def test_budget_key_messages_name_the_year_end_months_and_currency(testland):
    msgs = view.key_message_sentences(_report(), "Health")
    text = " ".join(msgs)
    assert "leaving AMD 150k released but unspent" in text
    assert (
        "Spending bunches at the year end: in 2024 December alone took 21% of the year's "
        "spending on average (November and December together 29%)."
    ) in msgs
    season = view.seasonality_table(_report()).html
    assert "December share" in season and "November-December share" in season
    assert "booked in December and in November-December" in season


def test_budget_report_has_no_kp_words(testland):
    r = _report()
    seen = _texts(
        view.figures_table(r),
        view.position_table(r),
        view.object_class_table(r),
        view.monthly_table(r),
        view.seasonality_table(r),
        view.projection_table(r),
        view.projection_note(r),
        view.flags_table(r),
        view.data_notes(r),
        key_messages(view.key_message_sentences(r, "Health")),
    )
    assert not KP_WORDS.search(seen), KP_WORDS.search(seen)


def test_flag_amounts_in_the_profiles_currency(testland):
    alloc, monthly = _budget_frames()
    monthly.loc[monthly["month"] == dt.date(2025, 3, 1), "expenditure"] = 500.0
    r = budget.execution_report(alloc, monthly, "d", dt.date(2025, 3, 1))
    # Spending 100 + 100 + 500 = 700 against releases of 450: 250 above.
    flags = " ".join(r.flags["message"])
    assert "spending of AMD 700.0k is above releases of AMD 450.0k (by AMD 250.0k)" in flags


# --------------------------------------------------------------------------------------------
# Quarters, the overview and the survey
# --------------------------------------------------------------------------------------------


def test_quarter_label_follows_the_fiscal_year(testland):
    assert pse.quarter_label(pd.Timestamp("2025-03-31")) == "Q1 2025"
    assert pse.quarter_label(pd.Timestamp("2024-12-31")) == "Q4 2024"
    assert pse.quarter_text("2025-03-31") == "quarter ending 31 March 2025 (Q1 2025)"
    assert "AMD thousand" in pse.METRIC_LABELS["liabilities"]


def _overview() -> ao.ProvinceOverview:
    alloc, monthly = _budget_frames()
    registry = pd.DataFrame({"slug": ["d"], "name": ["Health"], "priority_area": ["Health"]})
    card = pd.DataFrame(columns=["department", "score", "grade", "targets", "on_track"])
    survey = ao.survey_overview(
        None, None, pd.DataFrame(columns=["service", "label", "department"]), wave=None
    )
    return ao.build_overview(dt.date(2025, 3, 1), registry, alloc, monthly, card, survey)


def test_overview_reads_for_the_whole_country(testland):
    ov = _overview()
    meta = overview_view.overview_meta(ov, dt.date(2025, 3, 1))
    assert "All departments" in meta.html
    # the government is named once, in the page header, not again in the unit line
    assert "Government of Testland" not in meta.html
    assert "Country overview" in meta.html
    first = overview_view.budget_sentences(ov)[0]
    # 300 of 1,200 thousand, in the unit a thousand times the held one (million), one decimal
    # as the larger amount is below 10 in that unit.
    assert first.startswith(
        "Across the country, the 1 department budgeted this year have spent 25%"
    )
    assert "(AMD 0.3m of AMD 1.2m)" in first
    notes = _texts(overview_view.data_notes(ov, dt.date(2025, 3, 1)))
    assert "Every department reported every month from January to March 2025." in notes
    assert "(January = 1; 25% in March)" in notes
    assert "spending in Testland is usually bunched in November and December" in notes
    assert "Amounts in AMD thousand." in notes
    assert not KP_WORDS.search(notes + meta.html + first)


def test_survey_without_geography_has_no_map_and_no_district_words(testland):
    class Results:  # the attributes the per-unit views read
        available = True

    assert survey_view.district_map(Results()) == []
    assert survey_view.district_chart(Results()) == []
    assert survey_view.district_table(Results()) == []
    assert survey_view.units_section(Results()) == []
    assert survey_view._whole_figure() == "the national figure"


def test_survey_with_the_kp_profile_keeps_its_words():
    with profile.use("kp"):
        assert survey_view._whole_figure() == "the provincial figure"
        assert survey_view._units() == "districts"


# --------------------------------------------------------------------------------------------
# Publishing: page header, PDF metadata, portal
# --------------------------------------------------------------------------------------------


def _notebook(department: str = ""):
    objs = [
        report_meta(
            title="Country overview",
            department=department,
            month="2025-03",
            as_of="2025-03",
            family="province_overview",
        ),
        key_messages(["Spending is on track."]),
        table(pd.DataFrame({"Item": ["a"], "Value": [1.0]}), caption="A table"),
    ]
    cell = new_code_cell("x = 1")
    cell.outputs = [new_output("display_data", data=o._repr_mimebundle_()) for o in objs]
    return new_notebook(cells=[cell], metadata={"kernelspec": KERNELSPEC})


def test_html_header_names_the_government(testland):
    page = html_pub.render_html(_notebook(), PROV)
    head = page.split(html_pub.BODY_START)[0]
    assert '<span class="kp-gov">Government of Testland</span>' in head
    assert "Country-wide report" in head
    assert "figures come from the national data warehouse" in page
    assert not re.search(r"Khyber|Pakhtunkhwa|provinc", page, re.I)


def test_pdf_metadata_author_is_the_government(testland, tmp_path):
    out = tmp_path / "report.pdf"
    pdf_pub.render_pdf(_notebook(), PROV, out)
    reader = PdfReader(out)
    assert reader.metadata.author == "Government of Testland"
    text = "\n".join(p.extract_text() or "" for p in reader.pages)
    assert "Government of Testland" in text
    assert "Khyber" not in text


def test_portal_header_names_the_government(testland):
    reports = [
        {
            "family": "province_overview",
            "family_title": "Country overview",
            "scope": "province",
            "department": None,
            "department_name": None,
            "priority_area": None,
            "status": "done",
            "error": None,
            "html": "all/province_overview.html",
            "pdf": "all/province_overview.pdf",
            "headline": {},
        }
    ]
    page = portal.render_month_index("2025-03", reports, {})
    assert '<span class="kp-gov">Government of Testland</span>' in page
    assert '<h2 id="province">Country</h2>' in page
    assert "Khyber" not in page


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([str(Path(__file__))]))
