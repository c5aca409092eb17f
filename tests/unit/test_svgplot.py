"""The SVG chart kit: ticks, gaps, dates, text escaping, layout inside the figure, legends
placed off the data, the same bytes for the same chart, and text widths that match FreeType's."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from helpers.present import figure, svgplot

NS = "{http://www.w3.org/2000/svg}"


def _root(fig) -> ET.Element:
    return ET.fromstring(fig.svg())


def _texts(fig) -> list[str]:
    return ["".join(t.itertext()) for t in _root(fig).iter(f"{NS}text")]


def test_ticks_are_round_numbers_inside_the_range():
    # 0 .. 1.05 in at most 6 intervals: a step of 0.2 (0.1 would need 10; 0.25 is not tried
    # before 0.2 at this scale)
    assert svgplot.nice_ticks(0, 1.05, 6) == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    # 0 .. 36,750 in at most 9: a step of 5,000 (2,500 would need 15)
    assert svgplot.nice_ticks(0, 36750, 9) == [0, 5000, 10000, 15000, 20000, 25000, 30000, 35000]
    assert svgplot.nice_ticks(-3.2, 3.2, 6)[0] == -3  # step 1, from -3


def test_tick_labels_carry_the_decimals_the_step_needs():
    assert svgplot.number_format([0, 0.2, 0.4])(0.4) == "0.4"
    assert svgplot.number_format([0, 2.5, 5])(5) == "5.0"
    assert svgplot.number_format([0, 5000, 10000])(10000) == "10,000"
    assert svgplot.number_format([-10, 0, 10])(-10) == "\u221210"  # a true minus
    assert svgplot.percent_format()(0.614) == "61%"


def test_month_ticks_step_up_until_they_fit():
    lo, hi = (svgplot._values(pd.Timestamp(d))[0] for d in ("2023-07-01", "2026-01-01"))
    ticks = svgplot.month_ticks(lo, hi, 6)
    # 31 months: every 1, 2, 3 or 4 months gives 31, 16, 11, 8 ticks; every 6 gives 6
    labels = [svgplot._date_label(t, "%b %Y") for t in ticks]
    assert labels == ["Jul 2023", "Jan 2024", "Jul 2024", "Jan 2025", "Jul 2025", "Jan 2026"]


def test_a_missing_value_breaks_the_line():
    fig, ax = svgplot.subplots()
    ax.plot([1, 2, 3, 4, 5], [1.0, 2.0, np.nan, 4.0, 5.0], label="a")
    paths = [p.get("d") for p in _root(fig).iter(f"{NS}path") if p.get("fill") == "none"]
    line = [d for d in paths if d.count("L") == 2]
    assert len(line) == 1 and line[0].count("M") == 2  # two pieces, no segment across the gap


def test_dates_and_categories_are_read_as_such():
    fig, ax = svgplot.subplots()
    months = pd.date_range("2024-01-01", "2024-12-01", freq="MS")
    ax.plot(months, np.arange(12.0))
    ax.set_title("dated")
    assert "Jan 2024" in _texts(fig) or "Apr 2024" in _texts(fig)
    fig, ax = svgplot.subplots()
    ax.barh(["Swat", "Bannu", "Swat"], [1.0, 2.0, 3.0])
    texts = _texts(fig)
    assert texts.count("Swat") == 1 and "Bannu" in texts  # one row per category


def test_text_is_escaped_not_parsed():
    hostile = "<b>Peshawar</b> $\\frac{1}{2}$ & co"
    fig, ax = svgplot.subplots()
    ax.barh([hostile, "Swat"], [1.0, 2.0])
    ax.set_title(f"Spending {hostile}")
    assert "<b>" not in fig.svg().decode()
    texts = _texts(fig)
    assert hostile in texts and f"Spending {hostile}" in texts  # literally, $ and all


def _boxes(fig) -> list[tuple[str, float, float, float]]:
    """(text, left, right, size) of every unrotated text, from its anchor and width."""
    out = []
    for t in _root(fig).iter(f"{NS}text"):
        if t.get("transform"):
            continue
        text, size, x = "".join(t.itertext()), float(t.get("font-size")), float(t.get("x"))
        w = svgplot.text_width(text, size, bold=t.get("font-weight") == "bold")
        start = {"start": x, "middle": x - w / 2, "end": x - w}[t.get("text-anchor", "start")]
        out.append((text, start, start + w, size))
    return out


def test_long_labels_titles_and_an_outside_legend_stay_inside_the_figure():
    long = "Kohistan Lower and Kolai Palas (a very long district name)"
    fig, ax = svgplot.subplots(figsize=(8, 4.2))
    ax.barh([long, "Swat"], [40.0, 55.0], label="share")
    ax.set_title("Satisfaction by district, a title long enough to need most of the width")
    ax.set_xlabel("Satisfied (%)")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5))
    width = float(_root(fig).get("viewBox").split()[2])
    boxes = _boxes(fig)
    assert {b[0] for b in boxes} >= {long, "share", "Satisfied (%)"}
    for text, left, right, _ in boxes:
        assert 0 <= left and right <= width, text
    # the plot area starts right of the longest category label
    clip = _root(fig).find(f"{NS}defs/{NS}clipPath/{NS}rect")
    label = next(b for b in boxes if b[0] == long)
    assert float(clip.get("x")) > label[2]


def test_text_widths_match_freetype():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.font_manager import FontProperties

    renderer = RendererAgg(100, 100, 72)  # 72 dpi: pixels are points
    for text, bold in [("Cumulative expenditure, % of budget estimate", False),
                       ("Year-end projection", True), ("Kohistan Lower", False)]:  # fmt: skip
        prop = FontProperties(family="DejaVu Sans", size=10, weight="bold" if bold else "normal")
        w, _, _ = renderer.get_text_width_height_descent(text, prop, ismath=False)
        assert svgplot.text_width(text, 10, bold) == pytest.approx(w, rel=0.03), text


def test_best_legend_keeps_off_the_data():
    fig, ax = svgplot.subplots()
    x = np.arange(20.0)
    ax.plot(x, x, label="rising line")  # lower left to upper right
    ax.plot(x, x + 1, label="and its twin")
    ax.legend(loc="best", frameon=True)
    frame = [r for r in _root(fig).iter(f"{NS}rect") if r.get("fill-opacity") == "0.8"]
    clip = _root(fig).find(f"{NS}defs/{NS}clipPath/{NS}rect")
    cx = float(clip.get("x")) + float(clip.get("width")) / 2
    cy = float(clip.get("y")) + float(clip.get("height")) / 2
    lx = float(frame[0].get("x")) + float(frame[0].get("width")) / 2
    ly = float(frame[0].get("y")) + float(frame[0].get("height")) / 2
    # upper left (left of and above the middle) or lower right: off the diagonal
    assert (lx < cx and ly < cy) or (lx > cx and ly > cy)


def test_the_same_chart_gives_the_same_bytes_and_a_figure_embeds_it():
    def chart():
        fig, ax = svgplot.subplots()
        ax.plot([1, 2, 3], [3.0, 1.0, 2.0], marker="o", label="a")
        ax.axhline(2.0, ls="--", label="ref")
        ax.legend()
        return fig

    assert chart().svg() == chart().svg()
    out = figure(chart(), alt="a chart")
    assert out.mime == "image/svg+xml" and out.data == chart().svg()
    assert re.search(
        r'<img src="data:image/svg\+xml;base64,[A-Za-z0-9+/=]+" alt="a chart"/>', out.html
    )
    root = ET.fromstring(out.data)
    assert (root.get("width"), root.get("height")) == ("880px", "462px")  # 8 x 4.2 in at 110 dpi


def _plot_box(fig) -> tuple[float, float, float, float]:
    r = _root(fig).find(f"{NS}defs/{NS}clipPath/{NS}rect")
    return tuple(float(r.get(k)) for k in ("x", "y", "width", "height"))


def test_a_log_axis_puts_1_halfway_between_a_half_and_2():
    fig, ax = svgplot.subplots()
    ax.set_xscale("log")
    ax.errorbar([1.0], [0.0], xerr=[[0.5], [1.0]], ecolor="#000000", capsize=0)
    ax.set_xlim(0.5, 2.0)
    ax.set_xticks([0.5, 1, 2], ["0.5", "1", "2"])
    x, _, w, _ = _plot_box(fig)
    bar = next(p.get("d") for p in _root(fig).iter(f"{NS}path") if p.get("stroke") == "#000000")
    lo, hi = (float(v) for v in re.match(r"M([\d.]+),[\d.]+H([\d.]+)", bar).groups())
    assert lo == pytest.approx(x, abs=0.01) and hi == pytest.approx(x + w, abs=0.01)
    ticks = {t.text: float(t.get("x")) for t in _root(fig).iter(f"{NS}text") if t.text in "0.5 1 2"}
    assert ticks["1"] == pytest.approx(x + w / 2, abs=0.01)  # log10(1) is halfway


def test_a_map_keeps_its_shape_and_hatches_what_is_not_published():
    fig, ax = svgplot.subplots(figsize=(6.4, 6.6))
    wide = [(0, 0), (2, 0), (2, 1), (0, 1)]  # twice as wide as high
    ax.add_polygons([wide], "#123456")
    ax.add_polygons([[(0, 1), (1, 1), (1, 2), (0, 2)]], "#D9D9D9", hatch="///")
    ax.set_aspect("equal")
    ax.set_axis_off()
    fig.colorbar(["#000000", "#ffffff"], 0, 100, label="Satisfied (%)")
    _, _, w, h = _plot_box(fig)
    # x runs 0..2 and y 0..2 (with margins, the same on both): a square plot area
    assert w == pytest.approx(h, rel=1e-6)
    svg = fig.svg().decode()
    assert 'fill="url(#hatch-lines)"' in svg and 'id="hatch-lines"' in svg
    assert "Satisfied (%)" in _texts(fig) and "100" in _texts(fig)


def test_charts_side_by_side_each_keep_their_own_half_scale_and_clip():
    fig, (left, right) = svgplot.subplots(figsize=(11, 4.2), ncols=2)
    left.plot([0, 1, 2], [1.0, 5.0, 9.0], label="grants")
    left.set_title("Grants received")
    right.plot([0, 1, 2], [2000.0, 6000.0, 8000.0], label="liabilities")
    right.set_title("Liabilities")
    fig.suptitle("Grants and liabilities")
    root = _root(fig)
    width = float(root.get("viewBox").split()[2])
    texts = _texts(fig)
    assert texts.count("Grants and liabilities") == 1
    assert {"Grants received", "Liabilities"} <= set(texts)
    panels = [g for g in root.findall(f"{NS}g") if "translate" in (g.get("transform") or "")]
    assert len(panels) == 2
    clip_ids = set()
    for i, g in enumerate(panels):
        dx = float(re.match(r"translate\(([-\d.]+),", g.get("transform")).group(1))
        clip = g.find(f"{NS}defs/{NS}clipPath")
        rect = clip.find(f"{NS}rect")
        x0 = dx + float(rect.get("x"))
        x1 = x0 + float(rect.get("width"))
        # each plot area lies inside its own half of the figure
        assert i * width / 2 <= x0 < x1 <= (i + 1) * width / 2
        clip_ids.add(clip.get("id"))
        used = {e.get("clip-path") for e in g.iter() if e.get("clip-path")}
        assert used == {f"url(#{clip.get('id')})"}
        # each panel's axis is scaled to its own data: tick labels of the right range only
        ticks = {"".join(t.itertext()) for t in g.iter(f"{NS}text")}
        if i == 0:
            assert "8" in ticks and not any("," in t for t in ticks)
        else:
            assert "8,000" in ticks
    assert len(clip_ids) == 2  # one clip path per chart: ids must not collide


def test_a_figure_needs_at_least_one_axes():
    with pytest.raises(ValueError, match="at least one axes"):
        svgplot.subplots(ncols=0)
