"""What the citizen perception survey report shows: tables, charts, map and key messages.

Every function takes a :class:`helpers.analysis.survey.SurveyResults` (already
disclosure-controlled) and returns display objects from :mod:`helpers.present.display`, or a
list of them (empty when there is nothing to show, e.g. before the first survey wave), so the
notebook stays a straight sequence of calls. No respondent-level row is ever shown.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.colors import to_hex

from helpers import profile
from helpers.analysis.survey import (
    COMPLEMENT_RULE,
    DEFAULT_MIN_N,
    NCHS_MIN_N_EFF,
    SurveyResults,
    analyse,
    complete_frame,
)
from helpers.data import survey_instrument
from helpers.data.calendar import as_month, month_label
from helpers.present import svgplot, wording
from helpers.present.display import (
    Page,
    figure,
    heading,
    headline,
    key_messages,
    note,
    records,
    report_meta,
    table,
)
from helpers.present.theme import PALETTE, STATUS_COLOURS

FAMILY = "citizen_survey"
TITLE = "Citizen perception survey"
SUPPRESSED_COLOUR = "#D9D9D9"
MAP_CMAP = "cividis"  # perceptually uniform and colour-blind safe


# ---------------------------------------------------------------------------- profile words
# The survey's geographic units (districts, regions ...) and what the whole government is called
# come from the active profile; without a geography no map and no per-unit view is shown.


def _geo():
    return profile.active().geography


def _unit() -> str:
    """'district' (the profile's geographic unit; 'area' when it has none)."""
    geo = _geo()
    return geo.unit if geo is not None else "area"


def _units() -> str:
    geo = _geo()
    return geo.units if geo is not None else "areas"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _whole_figure() -> str:
    """'the provincial figure' for a province; 'the national figure' for a country."""
    return f"the {profile.active().scope_adjective} figure"


def _inst(results: SurveyResults | None = None):
    """The instrument the results were made with (else the active profile's)."""
    inst = getattr(results, "instrument", None) if results is not None else None
    return inst if inst is not None else survey_instrument.active()


def _scale(results: SurveyResults | None = None):
    return _inst(results).outcome_item.scale


def _sat_col(results: SurveyResults | None = None) -> str:
    """'Satisfied (4-5)'."""
    return f"Satisfied ({_scale(results).satisfied_text})"


def _mean_col(results: SurveyResults | None = None) -> str:
    """'Mean score (1-5)'."""
    return f"Mean score ({_scale(results).range_text})"


def _who(results: SurveyResults | None = None) -> str:
    """'users' when only users of a service rate it, else 'respondents'."""
    return "users" if _inst(results).outcome_item.asked == "users" else "respondents"


def _has_units(results: SurveyResults) -> bool:
    """A per-unit (district) view is shown only with a geography and figures to show."""
    return _geo() is not None and results.available


# ---------------------------------------------------------------------------- loading
def _wave_list(waves) -> list:
    if isinstance(waves, pd.DataFrame):
        col = "wave" if "wave" in waves.columns else waves.columns[0]
        waves = waves[col].tolist()
    return sorted(as_month(w) for w in waves)


def survey_report(department: str, month, min_n: int = DEFAULT_MIN_N) -> SurveyResults:
    """Read the survey waves up to ``month`` from the warehouse and analyse them.

    The report wave is the latest wave at or before ``month``; earlier waves feed the trend
    and the change since the previous wave.
    """
    from helpers.data import warehouse as wh

    services = wh.survey_services(department)
    districts = wh.districts()
    waves = [w for w in _wave_list(wh.survey_waves()) if w <= as_month(month)]
    codes = list(services["service"]) if len(services) else []
    inst = survey_instrument.active()
    frames = (
        {w: complete_frame(_frame(wh, w, codes, inst), wh.survey_respondents(w)) for w in waves}
        if codes
        else {}
    )
    if not frames:
        frames = {w: None for w in _wave_list(wh.survey_waves())[:1]}
    results = analyse(department, month, services, districts, frames, min_n, instrument=inst)
    results.department_name = str(wh.department(department, on=as_month(month))["name"])
    if results.first_wave is None or results.first_wave > as_month(month):
        all_waves = _wave_list(wh.survey_waves())
        results.first_wave = all_waves[0] if all_waves else None
    return results


def _frame(wh, wave, codes: list[str], inst) -> pd.DataFrame:
    """One wave's ratings of ``codes`` joined to their respondents: the warehouse's
    ``survey_frame`` when the instrument's attributes are KP's columns, else every rating
    column of ``survey_ratings`` (the instrument's own attributes), as float."""
    if all(a in survey_instrument.KP_RATING_COLUMNS for a in inst.attributes):
        return wh.survey_frame(wave, codes)
    cols = wh.query("SELECT * FROM survey_ratings LIMIT 0").columns
    rating = [c for c in cols if c not in ("wave", "respondent_id", "service")]
    sel = ", ".join(f's."{c}"::DOUBLE AS "{c}"' for c in rating)
    return wh.query(
        "SELECT r.* REPLACE (r.overall_satisfaction::DOUBLE AS overall_satisfaction), "
        f"s.service, {sel} FROM survey_respondents r JOIN survey_ratings s "
        "USING (wave, respondent_id) WHERE r.wave = ? "
        "AND s.service IN (SELECT UNNEST(?::VARCHAR[])) ORDER BY s.service, r.respondent_id",
        [as_month(wave), list(codes)],
    )


# ---------------------------------------------------------------------------- formatting
def _est(results: SurveyResults, service: str, measure: str = "satisfied") -> pd.Series | None:
    e = results.estimates
    row = e[(e["service"] == service) & (e["measure"] == measure)]
    return None if row.empty else row.iloc[0]


def _change(results: SurveyResults, service: str, measure: str = "satisfied") -> pd.Series | None:
    c = results.changes
    if c.empty:
        return None
    row = c[(c["service"] == service) & (c["measure"] == measure)]
    return None if row.empty or pd.isna(row.iloc[0]["change"]) else row.iloc[0]


# ---------------------------------------------------------------------------- key messages
def survey_key_messages(results: SurveyResults) -> key_messages:
    """Plain sentences from the data: level and change, lowest districts (or the profile's
    units), strongest driver."""
    msgs: list[str] = []
    if results.services.empty:
        return key_messages(
            [f"No surveyed services are mapped to this department ({results.department})."]
        )
    if results.wave is None:
        first = results.first_wave
        msgs.append(
            f"No citizen survey wave had been fielded by {month_label(results.month)}"
            + (f"; the first wave was fielded in {month_label(first)}." if first else ".")
            + " This report therefore has no survey figures."
        )
        return key_messages(msgs)
    if not results.available:
        return key_messages(results.notes or ["No survey figures are available for this wave."])
    wave = month_label(results.wave)
    rows = results.services["service"].tolist()
    for svc in rows:
        est = _est(results, svc)
        label = wording.lower_first(str(est["label"]))
        if est["suppressed"]:
            if int(est["n"]) < results.min_n:
                msgs.append(
                    f"Too few respondents rated {label} in the {wave} wave to publish "
                    f"satisfaction (n={int(est['n'])}, below {results.min_n})."
                )
            else:
                msgs.append(
                    f"Satisfaction with {label} in the {wave} wave is too uncertain to publish "
                    f"({int(est['n'])} respondents; {_reason(est['status'])})."
                )
            continue
        # the Korn-Graubard interval is not symmetric near 0% and 100%: give both ends
        text = (
            f"Satisfaction with {label} is {wording.pct(est['estimate'])} "
            f"(95% CI {est['ci_low'] * 100:.0f}-{est['ci_high'] * 100:.0f}%) in the {wave} wave"
        )
        ch = _change(results, svc)
        if ch is not None:
            pts = ch["change"] * 100
            prev = month_label(results.previous_wave)
            if ch["significant"]:
                text += f", {'up' if pts > 0 else 'down'} {abs(pts):.0f} points since {prev}"
            else:
                text += f", not significantly different from {prev} ({pts:+.1f} points)"
        if est["unstable"]:
            text += " (flagged for review: read with caution)"
        msgs.append(text + ".")
    d = results.districts
    pub = d[d["estimate"].notna()].sort_values("estimate")
    surveyed = d["surveyed"] if "surveyed" in d.columns else pd.Series(True, index=d.index)
    suppressed = int((~d["estimate"].notna() & surveyed).sum())
    not_surveyed = int((~surveyed).sum())
    if _geo() is None:
        pub, suppressed, not_surveyed = pub.iloc[0:0], 0, 0
    if len(pub) >= 3:
        low = pub.head(2)
        high = pub.tail(1).iloc[0]
        names = " and ".join(
            f"{r['name']} ({wording.pct(r['estimate'])}{', flagged for review' if r['unstable'] else ''})"
            for _, r in low.iterrows()
        )
        text = (
            f"Across {_units()}, satisfaction is lowest in {names} and highest in "
            f"{high['name']} ({wording.pct(high['estimate'])})"
        )
        prov = wording.pct(low["province_estimate"].iloc[0])
        below = low.loc[low["below_province"], "name"].tolist()
        if len(below) == 2:
            text += f"; both are significantly below {_whole_figure()} of {prov}"
        elif len(below) == 1:
            text += f"; {below[0]} is significantly below {_whole_figure()} of {prov}"
        msgs.append(text + ".")
    if suppressed:
        msgs.append(
            f"{suppressed} of {len(d)} {_units()} had too few respondents or too uncertain a "
            "figure to publish."
        )
    if not_surveyed:
        msgs.append(
            f"{not_surveyed} of {len(d)} {_units()} had no respondent rating these services "
            "(not surveyed)."
        )
    msgs.extend(breakdown_message(results))
    drv = results.drivers
    if not drv.empty:
        att = drv[(drv["kind"] == "attribute") & (drv["p_value"] < 0.05) & (drv["coef"] > 0)]
        if not att.empty:
            top = att.sort_values("coef", ascending=False).iloc[0]
            msgs.append(
                f"{top['label']} is the strongest driver of satisfaction: each extra point on its "
                f"{_inst(results).items[top['term']].scale.points}-point rating multiplies the odds "
                f"of being satisfied by {top['odds_ratio']:.1f}."
            )
        else:
            msgs.append(
                "No service attribute is a statistically significant driver of satisfaction."
            )
    return key_messages(msgs)


def survey_headline(results: SurveyResults) -> headline:
    """Portal badge: pooled top-2-box satisfaction (None when unavailable or suppressed)."""
    labels = results.services["label"].tolist() if not results.services.empty else []
    return headline(
        satisfaction=results.headline_satisfaction,
        service="; ".join(labels),
        wave=str(results.wave) if results.wave else None,
        detail=dashboard_detail(results),
    )


def _reason(status: str) -> str:
    """'suppressed (effective n<30)' -> 'effective n<30'."""
    text = str(status or "")
    return text[text.find("(") + 1 : text.rfind(")")] if "(" in text else text


def breakdown_message(results: SurveyResults) -> list[str]:
    """One sentence per category where the pooled figure differs by group beyond the CIs."""
    b = results.breakdowns
    if b is None or b.empty:
        return []
    out = []
    inst = _inst(results)
    for cat, part in b[b["service"] == "all"].groupby("category", sort=False):
        pub = part[part["estimate"].notna()]
        if len(pub) < 2:
            continue
        lo, hi = pub.sort_values("estimate").iloc[0], pub.sort_values("estimate").iloc[-1]
        words = _level_word(inst, cat)
        if lo["ci_high"] < hi["ci_low"]:
            out.append(
                f"{words(hi['level'])} are more satisfied than {words(lo['level']).lower()} "
                f"({wording.pct(hi['estimate'])} against {wording.pct(lo['estimate'])}; the intervals do not "
                "overlap)."
            )
    return out


def _level_word(inst, category: str):
    names = {"female": "Women", "male": "Men", "urban": "Urban respondents",
             "rural": "Rural respondents"}  # fmt: skip

    def word(level: str) -> str:
        return names.get(str(level), f"{category.replace('_', ' ').capitalize()} {level}")

    return word


def dashboard_detail(results: SurveyResults) -> dict:
    """Change in satisfaction since the previous wave, as the change table shows it (service,
    previous, current, change, p-value, significant): for the dashboards' "what changed"."""
    if not results.available or results.changes.empty:
        return {"previous_wave": None, "changes": []}
    c = results.changes[results.changes["measure"] == "satisfied"]
    return {
        "previous_wave": str(results.previous_wave) if results.previous_wave else None,
        "changes": records(
            c,
            {
                "service": "service",
                "label": "label",
                "previous": "previous",
                "current": "current",
                "change": "change",
                "p_value": "p_value",
                "significant": "significant",
            },
        ),
    }


# ---------------------------------------------------------------------------- tables
def _ci_text(low: float, high: float, scale: float = 100, unit: str = "%") -> str:
    if pd.isna(low) or pd.isna(high):
        return "\u2013"
    if unit == "%":
        return f"{low * scale:.1f}{unit} to {high * scale:.1f}{unit}"
    return f"{low:.2f} to {high:.2f}"


def service_table(results: SurveyResults) -> list:
    """Per service, two tables narrow enough for a portrait PDF page: the shares (satisfied %
    and net satisfaction with their CIs, n, status), then the mean score with its CI and the
    precision of the estimates (n, effective n, design effect). Each carries the unweighted n,
    as every published survey figure does."""
    if not results.available:
        return []
    shares, means = [], []
    order = [*results.services["service"].tolist()]
    if len(order) > 1:
        order.append("all")
    for svc in order:
        s = _est(results, svc, "satisfied")
        nt = _est(results, svc, "net")
        ms = _est(results, svc, "satisfaction")
        shares.append(
            {
                "Service": s["label"],
                _sat_col(results): s["estimate"],
                "95% CI": _ci_text(s["ci_low"], s["ci_high"]),
                "Net satisfaction": nt["estimate"],
                "Net 95% CI": _ci_text(nt["ci_low"], nt["ci_high"]),
                "Respondents (n)": int(s["n"]),
                "Status": s["status"],
            }
        )
        means.append(
            {
                "Service": s["label"],
                _mean_col(results): ms["estimate"],
                "Mean 95% CI": _ci_text(ms["ci_low"], ms["ci_high"], unit=""),
                "Respondents (n)": int(s["n"]),
                "Effective n": s["n_eff"],
                "Design effect": s.get("deff", np.nan),
                "Status": s["status"],
            }
        )
    scale = _scale(results)
    wave = month_label(results.wave)
    return [
        table(
            pd.DataFrame(shares),
            caption=f"Satisfaction with services, {wave} wave",
            units=(
                f"% of {_who(results)} rating {scale.satisfied_text}; net = % "
                f"{scale.satisfied_text} minus % {scale.dissatisfied_text}"
            ),
            formats={_sat_col(results): "pct", "Net satisfaction": "pct"},
        ),
        table(
            pd.DataFrame(means),
            caption=f"Mean score and precision of the estimates, {wave} wave",
            units=(
                f"mean on a {scale.range_text} scale; effective n and design effect of the "
                "share satisfied"
            ),
            formats={
                _mean_col(results): "{:.2f}",
                "Effective n": "{:,.0f}",
                "Design effect": "{:.2f}",
            },
        ),
    ]


def breakdown_table(results: SurveyResults) -> list:
    """Satisfied % per service and pooled, by gender and by area (domains of the full design),
    with the same intervals and suppression rule as the service table."""
    if not results.available or results.breakdowns is None or results.breakdowns.empty:
        return []
    b = results.breakdowns
    inst = _inst(results)
    order = results.services["service"].tolist() + (["all"] if len(results.services) > 1 else [])
    out = []
    for cat, part in b.groupby("category", sort=False):
        word = _level_word(inst, cat)
        rows = []
        for svc in order:
            for _, r in part[part["service"] == svc].iterrows():
                rows.append(
                    {
                        "Service": r["label"],
                        "Group": word(r["level"]),
                        _sat_col(results): r["estimate"],
                        "95% CI": _ci_text(r["ci_low"], r["ci_high"]),
                        "Respondents (n)": int(r["n"]),
                        "Effective n": r["n_eff"],
                        "Status": r["status"],
                    }
                )
        out.append(
            table(
                pd.DataFrame(rows),
                caption=(
                    f"Satisfaction by {cat.replace('_', ' ')}, {month_label(results.wave)} wave"
                ),
                units=f"% of {_who(results)} rating {_scale(results).satisfied_text}",
                formats={_sat_col(results): "pct", "Effective n": "{:,.0f}"},
            )
        )
    return out


def change_table(results: SurveyResults) -> list:
    """Change in satisfaction since the previous wave, with the z-test."""
    if not results.available or results.changes.empty:
        if results.available:
            return [
                note("This is the first survey wave: there is no earlier wave to compare with.")
            ]
        return []
    c = results.changes[results.changes["measure"] == "satisfied"].copy()
    order = results.services["service"].tolist() + (["all"] if len(results.services) > 1 else [])
    c = c.set_index("service").reindex(order).reset_index()
    df = pd.DataFrame(
        {
            "Service": c["label"],
            month_label(results.previous_wave): c["previous"],
            month_label(results.wave): c["current"],
            "Change": c["change"],
            "p-value": c["p_value"],
            "Significant (5%)": c["significant"].where(c["change"].notna()),
        }
    )
    return [
        table(
            df,
            caption=f"Change in satisfaction since {month_label(results.previous_wave)}",
            units="% satisfied; change in percentage points; z-test for independent samples",
            formats={
                month_label(results.previous_wave): "pct",
                month_label(results.wave): "pct",
                "Change": "pp",
                "p-value": "{:.3f}",
            },
        )
    ]


def district_table(results: SurveyResults) -> list:
    """District (unit) ranking (lowest first) with CIs, n, effective n and disclosure status;
    nothing without a geography."""
    if not _has_units(results):
        return []
    d = results.districts
    df = pd.DataFrame(
        {
            "Rank (1 = lowest)": d["rank"],
            _cap(_unit()): d["name"],
            _sat_col(results): d["estimate"],
            "95% CI": [_ci_text(lo, hi) for lo, hi in zip(d["ci_low"], d["ci_high"], strict=True)],
            "Respondents (n)": d["n"],
            "Effective n": d["n_eff"],
            f"Versus {profile.active().scope_word}": np.select(
                [d["below_province"], d["above_province"]], ["below", "above"], default=""
            ),
            "Status": d["status"],
        }
    )
    return [
        table(
            df,
            caption=f"Satisfaction by {_unit()}, {month_label(results.wave)} wave",
            units=(
                f"% of service {_who(results)} rating {_scale(results).satisfied_text}; "
                f"'below'/'above' = CI excludes {_whole_figure()}"
            ),
            formats={
                _sat_col(results): "pct",
                "Effective n": "{:,.0f}",
                "Rank (1 = lowest)": "{:.0f}",
            },
        )
    ]


def drivers_table(results: SurveyResults) -> list:
    """Odds ratios of the key-driver model, with CIs and p-values."""
    if not results.available or results.drivers.empty:
        return []
    d = results.drivers
    df = pd.DataFrame(
        {
            "Factor": [_driver_label(r) for _, r in d.iterrows()],
            "Odds ratio": d["odds_ratio"],
            "95% CI": [
                f"{lo:.2f} to {hi:.2f}" for lo, hi in zip(d["or_low"], d["or_high"], strict=True)
            ],
            "p-value": d["p_value"],
        }
    )
    return [
        table(
            df,
            caption=f"Key drivers of satisfaction (model on {int(d['n'].iloc[0]):,} ratings)",
            units=(
                "odds ratio of being satisfied; attributes per point on a "
                f"{_scale(results).range_text} rating"
            ),
            formats={"Odds ratio": "{:.2f}", "p-value": "{:.3f}"},
        )
    ]


def _driver_label(row: pd.Series) -> str:
    if row["kind"] == "attribute":
        return f"{row['label']} (per rating point)"
    return str(row["label"])


# ---------------------------------------------------------------------------- charts
def _load_polygons(path: Path | None = None) -> list[tuple[str, list[np.ndarray]]]:
    """(unit id, outer rings) per feature of the profile's boundary file (or ``path``, read with
    the profile's id property). Parsed once per process and file version (the rings are
    read-only arrays shared by every map)."""
    geo = _geo()
    if geo is None and path is None:
        return []
    path = Path(path or geo.file)
    id_property = geo.id_property if geo is not None else "admin2Pcode"
    stat = path.stat()
    return list(_polygons(str(path.resolve()), stat.st_mtime_ns, stat.st_size, id_property))


@functools.lru_cache(maxsize=8)
def _polygons(path: str, mtime_ns: int, size: int, id_property: str) -> tuple:
    with open(path, encoding="utf-8") as fh:
        gj = json.load(fh)
    out = []
    for feat in gj["features"]:
        geom = feat["geometry"]
        rings = []
        if geom["type"] == "Polygon":
            rings = [np.asarray(geom["coordinates"][0])]
        elif geom["type"] == "MultiPolygon":
            rings = [np.asarray(p[0]) for p in geom["coordinates"]]
        for ring in rings:
            ring.setflags(write=False)
        out.append((feat["properties"][id_property], rings))
    return tuple(out)


def district_map(results: SurveyResults, geojson: Path | None = None) -> list:
    """Choropleth of satisfaction by district (the profile's unit); suppressed units grey and
    hatched. Nothing without a geography."""
    if not _has_units(results):
        return []
    d = results.districts.set_index("pcode")
    # Sized to the map (equal aspect): a larger figure only adds white space around it.
    fig, ax = svgplot.subplots(figsize=(6.4, 6.6))
    values = d["estimate"] * 100
    vmin = float(np.floor(values.min() / 5) * 5) if values.notna().any() else 0.0
    vmax = float(np.ceil(values.max() / 5) * 5) if values.notna().any() else 100.0
    if vmax <= vmin:
        vmax = vmin + 5
    cmap = matplotlib.colormaps[MAP_CMAP]
    pub, sup, nots = [], [], []
    pub_colours = []
    surveyed = d["surveyed"] if "surveyed" in d.columns else pd.Series(True, index=d.index)
    for pcode, rings in _load_polygons(geojson):
        v = values.get(pcode, np.nan)
        for ring in rings:
            if pd.isna(v) and not bool(surveyed.get(pcode, False)):
                nots.append(ring)
            elif pd.isna(v):
                sup.append(ring)
            else:
                pub.append(ring)
                pub_colours.append(to_hex(cmap((v - vmin) / (vmax - vmin))))
    if pub:
        ax.add_polygons(pub, pub_colours, edgecolor="white", linewidth=0.6)
        fig.colorbar(
            [to_hex(cmap(f)) for f in np.linspace(0, 1, 11)],
            vmin,
            vmax,
            label=f"Satisfied (% rating {_scale(results).satisfied_text})",
        )
    if sup:
        ax.add_polygons(sup, SUPPRESSED_COLOUR, edgecolor="white", linewidth=0.6, hatch="///")
    if nots:
        ax.add_polygons(nots, "white", edgecolor="#9CA3AF", linewidth=0.6, hatch="..")
    ax.set_aspect("equal")
    ax.set_axis_off()
    # A figure title: the map's axes are narrower than the figure (equal aspect).
    fig.suptitle(f"Satisfaction with department services by {_unit()}, {month_label(results.wave)}")
    handles = [
        svgplot.patch(
            f"Suppressed (fewer than {results.min_n} ratings)",
            SUPPRESSED_COLOUR,
            hatch="///",
            edgecolor="#888888",
        )
    ]
    if nots:
        handles.append(svgplot.patch("Not surveyed", "white", hatch="..", edgecolor="#9CA3AF"))
    ax.legend(handles=handles, loc="lower left", frameon=False, fontsize=9)
    lowest = results.districts[results.districts["estimate"].notna()].nsmallest(2, "estimate")
    alt = (
        f"Map of {profile.active().short_name} {_units()} shaded by satisfaction; "
        + (f"lowest: {', '.join(lowest['name'])}; " if len(lowest) else "")
        + f"{int((results.districts['suppressed'] & surveyed.to_numpy()).sum())} {_units()} suppressed"
        + (f", {int((~surveyed).sum())} not surveyed." if nots else ".")
    )
    caption = "Darker = lower satisfaction. Hatched grey: not published (too few ratings)."
    if nots:
        caption += " Dotted white: not surveyed (no respondent)."
    return [figure(fig, alt=alt, caption=caption)]


def district_chart(results: SurveyResults) -> list:
    """Published districts (the profile's units) ranked by satisfaction with 95% CIs and the
    whole-government line. Nothing without a geography."""
    if not _has_units(results):
        return []
    d = results.districts[results.districts["estimate"].notna()].sort_values("estimate")
    if d.empty:
        return [note(f"No {_unit()} has enough ratings to publish a {_unit()} estimate.")]
    fig, ax = svgplot.subplots(figsize=(8, max(3.0, 0.26 * len(d) + 1)))
    y = np.arange(len(d))
    colours = np.where(
        d["below_province"],
        STATUS_COLOURS["bad"],
        np.where(d["above_province"], STATUS_COLOURS["good"], PALETTE[0]),
    )
    ax.errorbar(
        d["estimate"] * 100,
        y,
        xerr=[(d["estimate"] - d["ci_low"]) * 100, (d["ci_high"] - d["estimate"]) * 100],
        fmt="none",
        ecolor="#9CA3AF",
        elinewidth=1.5,
        capsize=0,
    )
    ax.scatter(d["estimate"] * 100, y, c=list(colours), zorder=3, s=28)
    prov = float(d["province_estimate"].iloc[0]) * 100
    ax.axvline(prov, color="#374151", linestyle="--", linewidth=1)
    ax.text(
        prov, len(d) - 0.3, f" {profile.active().scope_word} {prov:.0f}%", fontsize=8, va="bottom"
    )
    ax.set_yticks(
        y, [f"{n}{' *' if u else ''}" for n, u in zip(d["name"], d["unstable"], strict=True)]
    )
    ax.set_xlabel(
        f"Satisfied (% rating {_scale(results).satisfied_text}), with 95% confidence interval"
    )
    ax.set_ylabel("")
    ax.set_title(f"{_cap(_unit())} ranking, {month_label(results.wave)} (lowest at the bottom)")
    alt = f"Dot plot of {len(d)} {_units()}; lowest {d['name'].iloc[0]} at {d['estimate'].iloc[0] * 100:.0f}%."
    cap = f"Red: significantly below {_whole_figure()}; green: above. * flagged for review."
    return [figure(fig, alt=alt, caption=cap)]


def drivers_chart(results: SurveyResults) -> list:
    """Forest plot of odds ratios (log scale) with plain-language labels."""
    if not results.available or results.drivers.empty:
        return []
    d = results.drivers.assign(_k=results.drivers["kind"].eq("attribute"))
    d = d.sort_values(["_k", "odds_ratio"], ascending=[True, True]).reset_index(drop=True)
    fig, ax = svgplot.subplots(figsize=(8, 0.45 * len(d) + 1.2))
    y = np.arange(len(d))
    colours = [PALETTE[0] if k == "attribute" else PALETTE[1] for k in d["kind"]]
    ax.errorbar(
        d["odds_ratio"],
        y,
        xerr=[d["odds_ratio"] - d["or_low"], d["or_high"] - d["odds_ratio"]],
        fmt="none",
        ecolor="#9CA3AF",
        elinewidth=1.5,
    )
    ax.scatter(d["odds_ratio"], y, c=colours, zorder=3, s=36)
    ax.axvline(1, color="#374151", linewidth=1)
    ax.set_xscale("log")
    lo, hi = float(d["or_low"].min()), float(d["or_high"].max())
    ticks = [t for t in (0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20) if lo / 1.2 <= t <= hi * 1.2]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.set_yticks(y, [_driver_label(r) for _, r in d.iterrows()])
    ax.set_xlabel("Odds ratio of being satisfied (log scale; above 1 = more likely satisfied)")
    ax.set_title("What drives satisfaction")
    ax.legend(
        handles=[
            svgplot.patch("Service attribute", PALETTE[0]),
            svgplot.patch("Respondent group", PALETTE[1]),
        ],
        loc="lower right",
        frameon=False,
        fontsize=8,
    )
    alt = "Odds ratios with 95% CIs for service attributes and respondent groups."
    return [figure(fig, alt=alt, caption="Survey-weighted logistic regression; bars are 95% CIs.")]


def service_chart(results: SurveyResults) -> list:
    """Bar chart of satisfaction per service with 95% CIs (suppressed services omitted)."""
    if not results.available:
        return []
    e = results.estimates
    s = e[(e["measure"] == "satisfied") & (e["service"] != "all") & e["estimate"].notna()]
    if s.empty:
        return []
    fig, ax = svgplot.subplots(figsize=(8, 0.6 * len(s) + 1.5))
    y = np.arange(len(s))
    ax.barh(
        y,
        s["estimate"] * 100,
        color=PALETTE[0],
        xerr=[(s["estimate"] - s["ci_low"]) * 100, (s["ci_high"] - s["estimate"]) * 100],
        error_kw={"ecolor": "#374151", "capsize": 3},
    )
    ax.set_yticks(y, s["label"])
    ax.set_xlim(0, 100)
    ax.set_xlabel(
        f"Satisfied (% rating {_scale(results).satisfied_text}), with 95% confidence interval"
    )
    ax.set_title(f"Satisfaction by service, {month_label(results.wave)}")
    return [figure(fig, alt="Bar chart of satisfaction per service with confidence intervals.")]


def trend_chart(results: SurveyResults) -> list:
    """Satisfaction per service across waves with 95% CI bands (suppressed waves are gaps)."""
    if not results.available or results.trend.empty:
        return []
    t = results.trend
    svcs = results.services["service"].tolist()
    fig, ax = svgplot.subplots()
    for i, svc in enumerate(svcs):
        part = t[t["service"] == svc].sort_values("wave")
        if part["estimate"].notna().sum() == 0:
            continue
        x = pd.to_datetime(part["wave"])
        colour = PALETTE[i % len(PALETTE)]
        ax.plot(x, part["estimate"] * 100, marker="o", color=colour, label=part["label"].iloc[0])
        ax.fill_between(x, part["ci_low"] * 100, part["ci_high"] * 100, color=colour, alpha=0.15)
    ax.set_ylim(0, 100)
    waves = sorted(pd.to_datetime(t["wave"].unique()))
    ax.set_xticks(waves, [f"{w:%b %Y}" for w in waves])  # one tick per wave, not per quarter
    ax.set_ylabel(f"Satisfied (% rating {_scale(results).satisfied_text})")
    ax.set_xlabel("Survey wave (fieldwork month)")
    ax.set_title("Satisfaction across survey waves")
    ax.legend(frameon=False, fontsize=8, loc="lower left")
    return [
        figure(
            fig, alt="Line chart of satisfaction per service across survey waves with 95% CI bands."
        )
    ]


def methods_note(results: SurveyResults) -> list:
    """How the figures were made: design, weights, variance, suppression rule."""
    geo = _geo()
    if geo is not None:
        strata, stratum = f"{geo.units} (strata)", geo.unit
        domains, pooled = f"{geo.unit} and service", f"Department and {geo.unit}"
    else:
        strata, stratum, domains, pooled = "strata", "stratum", "service", "Department"
    parts = []
    if results.available:
        parts.append(
            f"The {month_label(results.wave)} wave has {results.respondents:,} respondents in "
            f"{results.psus:,} primary sampling units across {results.strata} {strata}."
        )
    inst = _inst(results)
    d = inst.design
    if inst.equal_weights:
        weights = (
            "The survey file has no weights: every respondent counts equally (equal weights), "
            "so the figures describe the sample unless it was drawn with equal chances."
        )
    else:
        weights = "Estimates are weighted with the survey design weights."
    if d.raking:
        margins = "; ".join(" x ".join(v.replace("_", " ") for v in m.variables) for m in d.raking)
        weights += (
            f" The weights are raked to known population totals ({margins}) by iterative "
            "proportional fitting (Deville and Särndal 1992; as R's survey::rake), and the "
            "standard errors allow for the raking."
        )
    units_text = "primary sampling units" if d.psu is not None else "respondents"
    if d.psu is None:
        design_text = (
            f"Standard errors use Taylor linearisation assuming simple random sampling of "
            f"respondents within {strata}"
            if d.strata is not None
            else "Standard errors use Taylor linearisation assuming simple random sampling of "
            "respondents"
        )
    elif d.strata is None:
        design_text = "Standard errors use Taylor linearisation over primary sampling units"
    else:
        design_text = f"Standard errors use Taylor linearisation over {strata} and {units_text}"
    if d.applies_fpc:
        fpc = f", with a finite population correction from the number of PSUs in each {stratum}"
        fpc_note = ""
    else:
        fpc = ""
        fpc_note = (
            f" No finite population correction is applied: the number of PSUs in each {stratum} "
            f"is not known ({d.fpc} counts persons, and a correction needs PSU counts)."
            if d.fpc is not None
            else ""
        )
    df_text = (
        f" ({int(results.df):,} design degrees of freedom)"
        if results.available and not pd.isna(results.df)
        else ""
    )
    parts.append(
        f"{weights} {design_text}{fpc}; {domains}, gender and area figures are "
        "domain estimates from the full design." + fpc_note + " Intervals for shares are "
        f"Korn-Graubard 95% intervals{df_text}, which stay within 0-100% (as R's "
        "svyciprop(method = 'beta')); net satisfaction and the mean score have 95% "
        "normal-approximation intervals. n counts respondents (a respondent who rated two "
        "services counts once in a pooled figure); effective n is the smaller of Kish's "
        "(sum of weights)^2 / sum of squared weights and p(1 - p) / SE^2; design effect = "
        "SE^2 / (p(1 - p) / n)."
    )
    sc = inst.outcome_item.scale
    lo, hi = sc.satisfied
    sat_words = (
        f"rating {lo} or {hi}"
        if hi == lo + 1
        else f"rating {sc.satisfied_text}"
        if hi > lo
        else f"rating {lo}"
    )
    non_answers = sorted(set(sc.non_answer_codes.values()) | set(sc.non_answer_labels.values()))
    na_text = (
        " and ".join(f"'{m}'" for m in non_answers) + " answers are excluded"
        if non_answers
        else "blank answers are excluded"
    )
    who = "" if inst.outcome_item.asked == "users" else " (asked of every respondent)"
    parts.append(
        f"Satisfied = {sat_words} on a {sc.points}-point scale{who}; net satisfaction = % "
        f"{sc.satisfied_text} minus % {sc.dissatisfied_text}; "
        f"{na_text}. {pooled} figures pool the "
        "department's services (one rating per respondent and service used)."
    )
    comp = (
        " or of 100% minus the share (a published share also publishes its complement)"
        if COMPLEMENT_RULE == "suppress"
        else ""
    )
    parts.append(
        "Disclosure control follows the NCHS Data Presentation Standards for Proportions "
        f"(Parker et al. 2017, Vital Health Stat 2(175)): a share is not published "
        f"('suppressed') with fewer than {results.min_n} respondents, an effective n below "
        f"{min(results.min_n, NCHS_MIN_N_EFF)}, or a confidence interval 30 points wide or more, "
        f"or wider than 5 points and wider than 130% of the share{comp}. A published share "
        "is flagged for review at 0% or 100% or with fewer than 8 design degrees of freedom. "
        "Net satisfaction and the mean score follow the share of the same group. "
        f"{_cap(_unit())}s are ranked lowest first; ties share a rank and the next is skipped "
        "(1, 2, 2, 4). Respondent-level data are never published."
    )
    attrs = [
        inst.label_of(a).lower() for a in inst.drivers if a not in (results.drivers_lacking or {})
    ]
    cats = _and([c.replace("_", " ") for c in inst.categories])
    parts.append(
        "Change between waves is tested as the difference of two independent estimates "
        "(z-test, 5% level). Key drivers: survey-weighted logistic regression of being satisfied "
        f"on the ratings of {', '.join(attrs) or 'no attribute'}"
        + (f" and on {cats}" if cats else "")
        + ", with design-based standard errors; complete answers only."
    )
    parts.extend(results.notes)
    return [note(p) for p in parts]


def _and(words: list[str]) -> str:
    """'gender, age band and area'."""
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def section(results: SurveyResults, text: str) -> list:
    """A section heading, or nothing when the report has no survey figures."""
    return [heading(text)] if results.available else []


def units_section(results: SurveyResults) -> list:
    """The heading of the per-unit part ('Districts'), or nothing without a geography or
    survey figures."""
    return [heading(_cap(_units()))] if _has_units(results) else []


def _page(results: SurveyResults) -> Page[SurveyResults]:
    """The page around survey results: the department's registry name, report month and the
    survey wave used ('December 2022 (survey wave)'). Without survey figures (no surveyed
    services, no wave yet) there is no as-of date to give: the key messages say why."""
    wave = f"{month_label(results.wave)} (survey wave)" if results.available else ""
    return Page(
        family=FAMILY,
        title=TITLE,
        department=results.department_name or results.department,
        month=month_label(results.month),
        as_of=wave,
        report=results,
    )


def load_survey(department: str, month: str, min_n: int = DEFAULT_MIN_N) -> Page[SurveyResults]:
    """Read the survey waves up to ``month`` from the warehouse and analyse them
    (:func:`survey_report`), as the page the notebook shows."""
    from helpers.data import warehouse as wh

    department = wh.notebook_department(department)
    wh.report_month(month)  # a month outside the loaded data fails here, in one line
    return _page(survey_report(department, month, min_n=min_n))


def key_messages_of(page: Page[SurveyResults]) -> key_messages:
    """The key messages at the top of the report."""
    return survey_key_messages(page.report)


def survey_meta(results: SurveyResults) -> report_meta:
    """Title block (:meth:`Page.meta` of the results' page)."""
    return _page(results).meta()


__all__ = [
    "key_messages_of",
    "load_survey",
    "FAMILY",
    "TITLE",
    "analyse",
    "change_table",
    "district_chart",
    "district_map",
    "district_table",
    "drivers_chart",
    "drivers_table",
    "methods_note",
    "section",
    "service_chart",
    "service_table",
    "survey_headline",
    "survey_key_messages",
    "survey_meta",
    "survey_report",
    "trend_chart",
    "units_section",
]
