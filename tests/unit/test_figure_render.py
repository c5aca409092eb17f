"""Charts in reports: one draw per figure (PNG, or SVG on request), nothing cut off, same bytes for the same chart,
and the boundary file parsed once per process."""

from __future__ import annotations

import base64
import io
import json
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image

from helpers.present import apply_theme, figure
from helpers.present import survey as ps

LONG_NAME = "Kohistan Lower and Kolai Palas (a very long district name)"


@pytest.fixture(autouse=True)
def theme():
    apply_theme()
    yield
    plt.close("all")


def _bar_chart():
    fig, ax = plt.subplots(figsize=(8, 4.2))
    ax.barh([LONG_NAME, "Swat"], [40.0, 55.0])
    ax.set_title("Satisfaction by district")
    ax.set_xlabel("Satisfied (%)")
    ax.legend(["share"], loc="center left", bbox_to_anchor=(1.0, 0.5))
    return fig


def _image(fig_obj: figure, mime: str) -> bytes:
    m = re.search(rf'src="data:{re.escape(mime)};base64,([^"]+)"', fig_obj.html)
    assert m, fig_obj.html[:200]
    return base64.b64decode(m.group(1))


def _draws(fig) -> list:
    draws = []
    fig.canvas.mpl_connect("draw_event", lambda event: draws.append(event))
    return draws


def test_figure_is_a_png_drawn_once_at_110_dpi():
    fig = _bar_chart()
    draws = _draws(fig)
    out = figure(fig, alt="two districts")
    assert len(draws) == 1  # bbox_inches="tight" or savefig with a layout engine draw twice
    image = Image.open(io.BytesIO(_image(out, "image/png")))
    # 8 x 4.2 inches at 110 pixels per inch: 880 x 462 pixels, the whole figure
    assert image.size == (880, 462)
    assert image.info["dpi"] == pytest.approx((110, 110), abs=0.01)
    assert 'alt="two districts"' in out.html


def test_svg_on_request_is_drawn_once_at_the_png_size():
    fig = _bar_chart()
    draws = _draws(fig)
    svg = _image(figure(fig, alt="two districts", fmt="svg"), "image/svg+xml").decode("utf-8")
    assert len(draws) == 1
    # shown at the PNG's 880 x 462 pixels; the drawing keeps its 72-per-inch units
    assert re.search(r'<svg\b[^>]*width="880px" height="462px"', svg)
    assert 'viewBox="0 0 576 302.4"' in svg
    assert "<dc:date>" not in svg  # no timestamp: the same chart gives the same bytes


def test_labels_and_outside_legend_stay_inside_the_figure():
    fig = _bar_chart()
    figure(fig, alt="two districts")
    renderer = FigureCanvasAgg(fig).get_renderer()
    tight = fig.get_tightbbox(renderer)  # inches
    width, height = fig.get_size_inches()
    assert tight.x0 >= 0 and tight.y0 >= 0
    assert tight.x1 <= width and tight.y1 <= height
    # the long tick label pushed the bars right of matplotlib's default 12.5% margin
    assert fig.axes[0].get_position().x0 > 0.125


@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_same_chart_same_bytes(fmt):
    first = figure(_bar_chart(), alt="a", fmt=fmt).data
    assert first == figure(_bar_chart(), alt="a", fmt=fmt).data


def test_a_figure_laid_out_by_its_author_keeps_its_layout():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    fig.subplots_adjust(left=0.3)
    figure(fig, alt="line")
    assert fig.axes[0].get_position().x0 == pytest.approx(0.3)


def test_mathtext_in_names_is_shown_literally():
    fig, ax = plt.subplots()
    ax.barh(["Peshawar $x$"], [1.0])
    ax.set_title("Cost in $ and $$")
    figure(fig, alt="hostile names")  # would raise in mathtext on an unbalanced "$"
    assert ax.get_title() == "Cost in $ and $$"


def test_tick_labels_set_by_hand_and_legends_are_drawn_literally():
    """Labels from ``set_xticklabels``, category axes, legends and annotations: after the one
    draw each text reads exactly as given, with no mathtext applied (an unbalanced ``$``
    would raise, a balanced pair would be typeset as math)."""
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 2], label="Budget $m")
    ax.set_xticks([0, 1])
    ax.set_xticklabels(["Q1 $5$", "Q2 $"])
    ax.legend()
    ax.annotate("a $b$ c", (0.5, 1.5))
    figure(fig, alt="hand-set ticks")
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == [r"Q1 \$5\$", r"Q2 \$"]  # escaped: mathtext shows a literal "$"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["Budget $m"]
    assert all(not t.get_parse_math() for t in ax.get_legend().get_texts())
    assert not ax.texts[0].get_parse_math()

    fig, ax = plt.subplots()
    ax.bar(["Swat $", "Dir"], [1.0, 2.0])
    figure(fig, alt="category axis")
    assert [t.get_text() for t in ax.get_xticklabels()] == [r"Swat \$", "Dir"]


def _geojson(path, pcode, ring):
    feat = {
        "type": "Feature",
        "properties": {"admin2Pcode": pcode},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feat]}))


def test_boundary_file_parsed_once_and_again_when_it_changes(tmp_path, monkeypatch):
    monkeypatch.setattr(ps, "_geo", lambda: None)
    path = tmp_path / "districts.geojson"
    _geojson(path, "PK501", [[0, 0], [1, 0], [1, 1], [0, 0]])
    ps._polygons.cache_clear()
    first = ps._load_polygons(path)
    assert [pcode for pcode, _ in first] == ["PK501"]
    assert first[0][1][0].tolist() == [[0, 0], [1, 0], [1, 1], [0, 0]]
    again = ps._load_polygons(path)
    assert again[0][1][0] is first[0][1][0]  # the same arrays: not parsed twice
    assert ps._polygons.cache_info().hits == 1
    with pytest.raises(ValueError):
        first[0][1][0][0, 0] = 5.0  # shared between maps, so read-only
    _geojson(path, "PK502", [[0, 0], [2, 0], [2, 2], [0, 2], [0, 0]])
    changed = ps._load_polygons(path)
    assert [pcode for pcode, _ in changed] == ["PK502"]
