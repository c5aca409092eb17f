"""Leadership dashboards across published months: ``outputs/dashboards/``.

Built only from what was published: each month's ``dashboard.json`` snapshot, written into the
month's build before the disclosure scan by :func:`stage_month` (the portal items with their
headline figures and ``detail`` records). A month published before snapshots existed is read
from its ``manifest.json`` and the headline bundles of its executed notebooks (memoised in
``outputs/.cache/dashboards/<build>.json``; builds never change).

Pages (all open from ``file://``; scripts and styles are files under ``dashboards/assets/``,
copied once; no CDN, no network request; CSP ``default-src 'none'``):

- ``index.html``: what changed in the latest month, every month's changes, the departments
  with their latest figures (sortable, filterable);
- ``department/<slug>.html``: headline figures across every published month (utilisation
  against the benchmark, targets on track, survey satisfaction, entities at risk), targets
  month by month, the department's changes;
- ``province.html``: the league table of any published month and its figures over time;
- ``entities.html``: the PSE drill-down for the Corporate Governance Unit (filters: department,
  type, risk, late returns); ``entity/<id>.html``: ratios, rating and returns over quarters.

Each chart is a Vega-Lite spec (tooltips, zoom and pan on the time axis, a legend that
highlights a series) with a table view of the same numbers for keyboard and screen-reader
users. The build is skipped when nothing it reads changed (fingerprint in
``dashboards/.state.json``) and writes only pages whose content changed.
"""

from __future__ import annotations

import functools
import hashlib
import html
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from helpers.publish import changes as ch
from helpers.publish.html import month_label, percent

SITE_DIR = "dashboards"
SNAPSHOT = "dashboard.json"
STATE = ".state.json"
ASSETS = Path(__file__).resolve().parent / "assets"
TEMPLATES = Path(__file__).resolve().parent / "templates"
VENDOR = ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js")
SITE_VERSION = "1"
SHOW_CHANGES = 5
LOOKBACK = 12  # published months searched for a report the previous month lacks  # changes listed per kind before "and N more"
DASH = "\u2013"
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_esc = html.escape


# --------------------------------------------------------------------------- snapshots
def snapshot(month: str, reports: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The month's snapshot: the portal items (contract in docs/architecture.md) that the
    dashboards compare, without errors and notes."""
    keep = (
        "family",
        "family_title",
        "scope",
        "department",
        "department_name",
        "priority_area",
        "status",
        "html",
        "headline",
    )
    return {
        "version": ch.SNAPSHOT_VERSION,
        "month": month,
        "reports": [{k: r.get(k) for k in keep} for r in reports],
    }


def published_months(outputs_root: Path) -> list[str]:
    """Published months (``YYYY-MM`` entries with a manifest), oldest first."""
    root = Path(outputs_root)
    if not root.is_dir():
        return []
    return sorted(
        p.name for p in root.iterdir() if _MONTH.match(p.name) and (p / "manifest.json").is_file()
    )


def _build_name(outputs_root: Path, month: str) -> str:
    p = Path(outputs_root) / month
    return os.readlink(p).rstrip("/").split("/")[-1] if p.is_symlink() else month


def _headline_from_ipynb(path: Path) -> dict[str, Any]:
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    out: dict[str, Any] = {}
    for cell in nb.get("cells") or []:
        for o in cell.get("outputs") or []:
            h = (o.get("data") or {}).get("application/vnd.kp.headline+json")
            if isinstance(h, Mapping):
                out.update(h)
    return out


def _snapshot_from_manifest(month_dir: Path, month: str) -> dict[str, Any]:
    """A snapshot for a month published before snapshots existed (manifest + notebooks)."""
    manifest = json.loads((month_dir / "manifest.json").read_text(encoding="utf-8"))
    reports = []
    for job in manifest.get("jobs") or []:
        files = job.get("files") or {}
        nb = files.get("ipynb")
        headline = _headline_from_ipynb(month_dir / nb) if nb else {}
        reports.append(
            {
                "family": job.get("family"),
                "family_title": job.get("family"),
                "scope": "department" if job.get("department") else "province",
                "department": job.get("department"),
                "department_name": None,  # taken from a later snapshot when there is one
                "priority_area": None,
                "status": job.get("status"),
                "html": files.get("html"),
                "headline": headline,
            }
        )
    return snapshot(month, reports)


def load_snapshot(outputs_root: Path, month: str) -> dict[str, Any] | None:
    """The published month's snapshot (None when it has none and no manifest)."""
    month_dir = Path(outputs_root) / month
    path = month_dir / SNAPSHOT
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        pass
    except ValueError:
        return None
    memo = Path(outputs_root) / ".cache" / "dashboards" / f"{_build_name(outputs_root, month)}.json"
    try:
        return json.loads(memo.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    try:
        snap = _snapshot_from_manifest(month_dir, month)
    except (OSError, ValueError):
        return None
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        _write(memo, json.dumps(snap))
    except OSError:
        pass
    return snap


def baseline(current: dict[str, Any], earlier_newest_first) -> dict[str, Any] | None:
    """What ``current`` is compared with: the previous published month, with each report it
    lacks figures for (failed, or not rebuilt in a narrowed run) taken from the latest of the
    :data:`LOOKBACK` months before it that has them."""
    base, need = None, ch.with_figures(current)
    for i, snap in enumerate(earlier_newest_first):
        if i >= LOOKBACK:
            break
        base = ch.carry_forward(base, snap)
        if need <= ch.with_figures(base):
            break
    return base


def previous_month(outputs_root: Path, month: str) -> str | None:
    """The latest published month before ``month``."""
    earlier = [m for m in published_months(outputs_root) if m < month]
    return earlier[-1] if earlier else None


def stage_month(
    outputs_root: str | Path,
    month: str,
    staging: str | Path,
    reports: Sequence[Mapping[str, Any]],
    manifest: Mapping[str, Any] | None = None,
) -> list[ch.Change]:
    """Called by the engine on the staged month, before the disclosure scan: write
    ``dashboard.json`` and re-write the month index with what changed since the previous
    published month. Returns the changes."""
    from helpers.publish import portal

    staging = Path(staging)
    snap = snapshot(month, reports)
    _write(staging / SNAPSHOT, json.dumps(snap, indent=0, sort_keys=True))
    root = Path(outputs_root)
    earlier = [m for m in published_months(root) if m < month]
    prev = earlier[-1] if earlier else None
    base = baseline(snap, (load_snapshot(root, m) for m in reversed(earlier)))
    found = ch.compare(base, snap) if prev else []
    portal.write_month_index(staging, month, reports, manifest, changes=found, previous=prev)
    return found


# --------------------------------------------------------------------------- history
def _num(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x) if x == x and abs(x) != float("inf") else None


@dataclass
class History:
    months: list[str]
    snapshots: dict[str, dict[str, Any]]
    changes: dict[str, list[ch.Change]]  # month -> changes since the previous published month
    previous: dict[str, str | None]

    def reports(self, month: str):
        return [
            r
            for r in self.snapshots[month].get("reports") or []
            if r.get("status") in ("done", "cached")
        ]


def history(outputs_root: Path) -> History:
    months = published_months(outputs_root)
    snaps = {m: s for m in months if (s := load_snapshot(outputs_root, m))}
    months = [m for m in months if m in snaps]
    changes, previous = {}, {}
    for i, m in enumerate(months):
        previous[m] = months[i - 1] if i else None
        base = baseline(snaps[m], (snaps[e] for e in reversed(months[:i])))
        changes[m] = ch.compare(base, snaps[m]) if i else []
    return History(months, snaps, changes, previous)


def department_names(h: History) -> dict[str, str]:
    """slug -> the latest name any published month lists (reports not rebuilt included)."""
    out: dict[str, str] = {}
    for m in h.months:
        for r in h.snapshots[m].get("reports") or []:
            if r.get("department") and r.get("department_name"):
                out[str(r["department"])] = str(r["department_name"])
    return out


def department_rows(h: History) -> dict[str, dict[str, Any]]:
    """slug -> {name, area, rows: one per month with the headline figures, targets, changes}."""
    out: dict[str, dict[str, Any]] = {}
    names: dict[str, tuple[str, str]] = {}  # latest name and priority area (renames follow)
    for m in h.months:
        for r in h.snapshots[m].get("reports") or []:
            slug = r.get("department")
            if not slug:
                continue
            if r.get("department_name"):
                names[slug] = (r["department_name"], r.get("priority_area") or "Other")
            if r.get("status") not in ("done", "cached"):
                continue  # listed, not published: no figures
            d = out.setdefault(slug, {"name": slug, "area": "Other", "rows": {}, "targets": {}})
            row = d["rows"].setdefault(m, {"month": m})
            hl = r.get("headline") or {}
            fam = r.get("family")
            if fam == "budget_execution":
                row["utilisation"] = _num(hl.get("utilisation"))
                row["benchmark"] = _num(hl.get("benchmark"))
                row["flags"] = len((hl.get("detail") or {}).get("flags") or [])
                row["budget_html"] = r.get("html")
            elif fam == "stocktake":
                row["on_track"] = _num(hl.get("on_track"))
                row["targets"] = _num(hl.get("targets"))
                row["stocktake_html"] = r.get("html")
                for t in (hl.get("detail") or {}).get("targets") or []:
                    tt = d["targets"].setdefault(str(t.get("id")), {"title": t.get("title")})
                    tt[m] = (t.get("status"), t.get("rating"))
            elif fam == "citizen_survey":
                row["satisfaction"] = _num(hl.get("satisfaction"))
                row["wave"] = hl.get("wave")
            elif fam == "pse_oversight":
                row["at_risk"] = _num(hl.get("at_risk"))
                row["entities"] = _num(hl.get("entities"))
    for slug, d in out.items():
        d["name"], d["area"] = names.get(slug, (d["name"], d["area"]))
        for row in d["rows"].values():
            u, b = row.get("utilisation"), row.get("benchmark")
            row["gap"] = u - b if u is not None and b is not None else None
            on, n = row.get("on_track"), row.get("targets")
            row["share_on_track"] = on / n if on is not None and n else None
        d["rows"] = [d["rows"][m] for m in sorted(d["rows"])]
    return out


def entity_rows(h: History) -> dict[str, dict[str, Any]]:
    """entity id -> {name, department, type, quarters: quarter -> record (latest month wins),
    latest: the latest month's record}."""
    out: dict[str, dict[str, Any]] = {}
    for m in h.months:
        reps = h.reports(m)
        province = [r for r in reps if r.get("family") == "pse_province"]
        source = province or [r for r in reps if r.get("family") == "pse_oversight"]
        for r in source:
            detail = (r.get("headline") or {}).get("detail") or {}
            q = detail.get("quarter")
            if not q:
                continue
            for p in detail.get("panel") or []:  # the report's trend window
                qq = str(p.get("quarter") or "")[:10]
                if qq and qq != q:
                    d = out.setdefault(str(p.get("id")), {"quarters": {}})
                    d["quarters"][qq] = dict(p, quarter=qq, month=m)
            for e in detail.get("entities") or []:
                eid = str(e.get("id"))
                d = out.setdefault(eid, {"quarters": {}})
                d.update(name=e.get("name"), department=e.get("department"), type=e.get("type"))
                d["quarters"][q] = dict(e, quarter=q, month=m)
                d["latest"] = d["quarters"][q]
    out = {k: v for k, v in out.items() if "latest" in v}
    return out


# --------------------------------------------------------------------------- HTML pieces
def quarter_label(q: str) -> str:
    return f"quarter ending {month_label(q[:7])}" if q else ""


def _int(x: float | None) -> str:
    return "\u2013" if x is None else f"{x:,.0f}"


def _pp(x: float | None) -> str:
    return "\u2013" if x is None else f"{x * 100:+.0f} pts"


def _sv(x: Any) -> str:
    """A sort value attribute (numbers sort numerically, empty last)."""
    if x is None:
        return ""
    return f"{x:.6g}" if isinstance(x, float) else _esc(str(x))


def _slug_file(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(text)).strip("-") or "x"


def csp() -> str:
    """No network: scripts and styles only from the site's own files (vega compiles
    expressions, hence 'unsafe-eval'); inline styles for vega's tooltip and the chart SVG."""
    return (
        "default-src 'none'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self'; connect-src 'none'; base-uri 'none'; "
        "form-action 'none'"
    )


def page(title: str, body: str, depth: int, charts: bool, government: str, crumbs: str = "") -> str:
    up = "../" * depth
    scripts = [f"{up}assets/vendor/{v}" for v in VENDOR] if charts else []
    scripts.append(f"{up}assets/dash.js")
    tags = "".join(f'<script src="{s}"></script>' for s in scripts)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{csp()}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_esc(title)}</title>\n"
        f'<link rel="stylesheet" href="{up}assets/kp.css">\n'
        f'<link rel="stylesheet" href="{up}assets/dash.css">\n</head>\n'
        '<body class="kp-portal kp-dash">\n<a class="kp-skip" href="#kp-main">Skip to content</a>\n'
        '<div class="kp-govbar" role="banner"><div class="kp-wrap">'
        f'<span class="kp-gov">{_esc(government)}</span>'
        '<span class="kp-unit">Leadership dashboards</span></div></div>\n'
        '<div class="kp-wrap kp-page">\n<nav class="kp-dash-nav" aria-label="Dashboards">'
        f'<a href="{up}index.html">What changed</a> <a href="{up}province.html">League tables</a> '
        f'<a href="{up}entities.html">Public sector entities</a> '
        f'<a href="{up}../index.html">All months</a></nav>\n'
        f'<header class="kp-titleblock">{crumbs}<h1>{_esc(title)}</h1></header>\n'
        f'<main id="kp-main">\n{body}\n</main>\n</div>\n{tags}\n</body>\n</html>\n'
    )


def _json_script(ident: str, payload: Any) -> str:
    # "<" as \u003c: no "</script>" or "<!--" can end or change the data block
    text = json.dumps(payload, separators=(",", ":"), sort_keys=True).replace("<", "\\u003c")
    return f'<script type="application/json" id="{ident}">{text}</script>'


def _padded(values: list[dict[str, Any]]) -> list[float]:
    lo = min(0.0, *(v["value"] for v in values))
    hi = max(0.0, *(v["value"] for v in values))
    pad = 0.08 * ((hi - lo) or 1.0)
    return [lo - pad if lo < 0 else 0.0, hi + pad]


def line_chart(
    ident: str,
    title: str,
    values: list[dict[str, Any]],
    y_title: str,
    y_format: str = ".0%",
    columns: Sequence[tuple[str, str]] = (),
    x_step: int = 1,
) -> str:
    """A Vega-Lite line chart of long-format ``values`` (``month``, ``series``, ``value``) with
    tooltips, zoom/pan on the time axis (drag, wheel) and legend highlighting, plus its table
    view (``columns``: wide table of (key, label) built from the same values)."""
    if not values:
        return f'<p class="kp-note">{_esc(title)}: no published figures yet.</p>'
    spec = {
        "width": "container",
        "height": 220,
        "data": {"values": values},
        "params": [
            {"name": "zoom", "select": {"type": "interval", "encodings": ["x"]}, "bind": "scales"},
            {"name": "pick", "select": {"type": "point", "fields": ["series"]}, "bind": "legend"},
        ],
        "mark": {"type": "line", "point": True, "tooltip": True},
        "encoding": {
            "x": {
                "field": "month",
                "type": "temporal",
                "timeUnit": "yearmonth",
                "title": None,
                "scale": {"padding": 12},
                "axis": {"tickCount": {"interval": "month", "step": x_step}},
            },
            "y": {
                "field": "value",
                "type": "quantitative",
                "title": y_title,
                "axis": {"format": y_format},
                # room above and below the data: marks are clipped to the view when zooming
                "scale": {"domain": _padded(values), "nice": True},
            },
            "color": {
                "field": "series",
                "type": "nominal",
                "title": None,
                "legend": {"orient": "bottom"},
            },
            "opacity": {"condition": {"param": "pick", "value": 1}, "value": 0.2},
            "tooltip": [
                {"field": "month", "type": "temporal", "timeUnit": "yearmonth", "title": "Month"},
                {"field": "series", "type": "nominal", "title": "Series"},
                {"field": "value", "type": "quantitative", "title": y_title, "format": y_format},
            ],
        },
        "config": {"font": "system-ui, sans-serif", "view": {"stroke": None}},
    }
    series = list(dict.fromkeys(v["series"] for v in values))
    grid: dict[str, dict[str, Any]] = {}
    for v in values:
        grid.setdefault(v["month"], {})[v["series"]] = v["value"]
    fmt = percent if y_format.endswith("%") else _int
    head = '<th scope="col">Month</th>' + "".join(f'<th scope="col">{_esc(s)}</th>' for s in series)
    rows = "".join(
        f'<tr><th scope="row">{_esc(month_label(m[:7]))}</th>'
        + "".join(f'<td class="num">{fmt(grid[m].get(s))}</td>' for s in series)
        + "</tr>"
        for m in sorted(grid)
    )
    alt = f"{title}: line chart by month. Press Enter for the table view with the same figures."
    return (
        f'<figure class="kp-chart" data-spec="{ident}-spec">'
        f"<figcaption>{_esc(title)}</figcaption>"
        f'<div class="kp-chart-canvas" role="img" aria-label="{_esc(alt)}" tabindex="0"></div>'
        f'<details class="kp-chart-table"><summary>Table view: {_esc(title)}</summary>'
        f'<table class="kp-table"><caption>{_esc(title)}</caption><thead><tr>{head}</tr></thead>'
        f"<tbody>{rows}</tbody></table></details>{_json_script(ident + '-spec', spec)}</figure>"
    )


def sortable_table(
    ident: str,
    caption: str,
    columns: Sequence[tuple[str, str, bool]],
    rows: Sequence[tuple[dict[str, str], Sequence[tuple[str, str]]]],
) -> str:
    """A table sortable by clicking (or Enter/Space on) a column header button.

    ``columns``: (label, css class, sortable). ``rows``: (row data-* attributes, cells as
    (html, sort value)); the first cell is the row header."""
    head = "".join(
        f'<th scope="col" class="{cls}"'
        + (
            f' aria-sort="none"><button type="button" class="kp-sort">{_esc(lab)}</button></th>'
            if sortable
            else f">{_esc(lab)}</th>"
        )
        for lab, cls, sortable in columns
    )
    body = []
    for attrs, cells in rows:
        a = "".join(f' data-{k}="{_esc(str(v))}"' for k, v in attrs.items())
        tds = []
        for i, (cell, sv) in enumerate(cells):
            cls = columns[i][1]
            tag = "th" if i == 0 else "td"
            scope = ' scope="row"' if i == 0 else ""
            tds.append(f'<{tag}{scope} class="{cls}" data-v="{sv}">{cell}</{tag}>')
        body.append(f"<tr{a}>{''.join(tds)}</tr>")
    return (
        f'<div class="kp-output"><table class="kp-table kp-sortable" id="{ident}" data-sortable>'
        f"<caption>{_esc(caption)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def filters(
    table_id: str,
    controls: Sequence[tuple[str, str, Sequence[str]]],
    search: str = "",
    checkbox: tuple[str, str] | None = None,
    noun: str = "rows",
) -> str:
    """Filter controls for ``table_id``: selects (key, label, options) matched against the row's
    ``data-<key>``; a search box matched against ``data-q``; a checkbox (key, label) keeping rows
    whose ``data-<key>`` is "1"."""
    parts = []
    for key, label, options in controls:
        opts = '<option value="">All</option>' + "".join(
            f'<option value="{_esc(o)}">{_esc(o)}</option>' for o in options
        )
        parts.append(
            f'<label for="{table_id}-{key}">{_esc(label)}</label>'
            f'<select id="{table_id}-{key}" data-key="{key}">{opts}</select>'
        )
    if checkbox:
        key, label = checkbox
        parts.append(
            f'<label class="kp-check"><input type="checkbox" id="{table_id}-{key}" '
            f'data-key="{key}" value="1"> {_esc(label)}</label>'
        )
    if search:
        parts.append(
            f'<label for="{table_id}-q">{_esc(search)}</label>'
            f'<input id="{table_id}-q" type="search" data-key="q" autocomplete="off">'
        )
    return (
        f'<div class="kp-controls" role="search" data-filters="{table_id}" data-noun="{noun}">'
        f'{"".join(parts)}<span class="kp-count" aria-live="polite"></span></div>'
    )


@functools.cache
def _change_item(c: ch.Change, depth: int, with_department: bool) -> str:
    """One change as a list item (memoised: a change shows on several pages)."""
    who = ""
    if with_department and c.department:
        href = f"{'../' * depth}department/{quote(_slug_file(c.department))}.html"
        who = f'<a href="{href}">{_esc(str(c.department_name or c.department))}</a>: '
    text = _esc(c.text)
    if c.ref:  # an entity: its name links to its page
        href = f"{'../' * depth}entity/{quote(_slug_file(c.ref))}.html"
        name, rest = (
            (c.subject, c.text[len(c.subject) :]) if c.text.startswith(c.subject) else (c.text, "")
        )
        text = f'<a href="{href}">{_esc(name)}</a>{_esc(rest)}'
    return f"<li>{who}{text}</li>"


def change_list(items: Sequence[ch.Change], depth: int, with_department: bool = True) -> str:
    if not items:
        return '<p class="kp-note">Nothing changed in the figures compared.</p>'
    groups: dict[str, list[ch.Change]] = {}
    for c in items:
        groups.setdefault(c.kind, []).append(c)
    out = []
    for kind, cs in groups.items():
        heading, tone = ch.KINDS[kind]
        lis = [_change_item(c, depth, with_department) for c in cs]
        shown, rest = lis[:SHOW_CHANGES], lis[SHOW_CHANGES:]
        more = (
            f"<details><summary>and {len(rest)} more</summary><ul>{''.join(rest)}</ul></details>"
            if rest
            else ""
        )
        out.append(
            f'<section class="kp-change kp-tone-{tone}" data-kind="{kind}"><h3>{_esc(heading)} '
            f'<span class="kp-n">({len(cs)})</span></h3><ul>{"".join(shown)}</ul>{more}</section>'
        )
    return f'<div class="kp-changes">{"".join(out)}</div>'


# --------------------------------------------------------------------------- pages
def _government_figures(h: History, month: str | None) -> dict[str, Any]:
    """The government-wide headline figures a month published (province reports)."""
    out: dict[str, Any] = {}
    if month is None:
        return out
    for r in h.reports(month):
        hl = r.get("headline") or {}
        if r.get("family") == "province_overview":
            for k in ("utilisation", "benchmark", "on_track", "targets", "satisfaction"):
                out[k] = _num(hl.get(k))
        elif r.get("family") == "pse_province":
            out["at_risk"], out["entities"] = _num(hl.get("at_risk")), _num(hl.get("entities"))
    return out


def _headline_facts(h: History, month: str, prev: str | None) -> str:
    """Government-wide figures of the month, each with its change since the previous one."""
    cur, before = _government_figures(h, month), _government_figures(h, prev)

    def delta(key: str, pct: bool) -> str:
        a, b = cur.get(key), before.get(key)
        if a is None or b is None or a == b:
            return ""
        d = a - b
        return (
            f' <span class="kp-delta">({d * 100:+.0f} pts)</span>'
            if pct
            else (f' <span class="kp-delta">({d:+.0f})</span>')
        )

    facts = []
    if cur.get("utilisation") is not None:
        facts.append(
            ("Budget used", f"{percent(cur['utilisation'])} vs {percent(cur.get('benchmark'))}"
             + delta("utilisation", True))
        )  # fmt: skip
    if cur.get("targets"):
        facts.append(
            ("Targets on track", f"{_int(cur.get('on_track'))} of {_int(cur['targets'])}"
             + delta("on_track", False))
        )  # fmt: skip
    if cur.get("satisfaction") is not None:
        facts.append(
            ("Citizens satisfied", percent(cur["satisfaction"]) + delta("satisfaction", True))
        )
    if cur.get("entities"):
        facts.append(
            ("Entities at risk", f"{_int(cur.get('at_risk'))} of {_int(cur['entities'])}"
             + delta("at_risk", False))
        )  # fmt: skip
    if not facts:
        return ""
    items = "".join(f"<div><dt>{_esc(k)}</dt><dd>{v}</dd></div>" for k, v in facts)
    return f'<dl class="kp-facts kp-dash-facts">{items}</dl>'


def _index_page(h: History, depts: dict, gov: str) -> str:
    latest = h.months[-1]
    prev = h.previous[latest]
    now = ch.deduplicated(h.changes[latest], h.snapshots[latest])
    intro = (
        f"<p>Compared with {_esc(month_label(prev))}, the last published month before it. "
        "Computed from the figures each month's reports recorded when they were published.</p>"
        if prev
        else "<p>This is the first published month: there is nothing to compare with yet.</p>"
    )
    body = [
        f'<section aria-labelledby="latest"><h2 id="latest">What changed in '
        f"{_esc(month_label(latest))}</h2>{_headline_facts(h, latest, prev)}{intro}"
        f'<p><a href="../{latest}/index.html">Reports for {_esc(month_label(latest))}</a></p>'
        f"{change_list(now, 0)}</section>"
    ]
    rows = []
    for slug, d in sorted(depts.items(), key=lambda kv: kv[1]["name"].lower()):
        last = d["rows"][-1] if d["rows"] and d["rows"][-1]["month"] == latest else {}
        link = f'<a href="department/{quote(_slug_file(slug))}.html">{_esc(d["name"])}</a>'
        n_changes = sum(1 for c in h.changes[latest] if c.department == slug)
        rows.append(
            (
                {"area": d["area"], "q": d["name"].lower()},
                [
                    (link, _esc(d["name"].lower())),
                    (_esc(d["area"]), _esc(d["area"])),
                    (percent(last.get("utilisation")), _sv(last.get("utilisation"))),
                    (_pp(last.get("gap")), _sv(last.get("gap"))),
                    (
                        f"{_int(last.get('on_track'))} of {_int(last.get('targets'))}"
                        if last.get("targets")
                        else "\u2013",
                        _sv(last.get("share_on_track")),
                    ),
                    (percent(last.get("satisfaction")), _sv(last.get("satisfaction"))),
                    (_int(last.get("at_risk")), _sv(last.get("at_risk"))),
                    (f"{n_changes}", f"{n_changes}"),
                ],
            )
        )
    cols = [
        ("Department", "", True),
        ("Priority area", "", True),
        ("Utilisation", "num", True),
        ("Against benchmark", "num", True),
        ("Targets on track", "num", True),
        ("Satisfied", "num", True),
        ("Entities at risk", "num", True),
        ("Changes", "num", True),
    ]
    areas = sorted({d["area"] for d in depts.values()})
    body.append(
        f'<section aria-labelledby="depts"><h2 id="depts">Departments in '
        f"{_esc(month_label(latest))}</h2>"
        + filters(
            "kp-depts", [("area", "Priority area", areas)], search="Department", noun="departments"
        )
        + sortable_table(
            "kp-depts", "Latest figures by department; select a name for its history", cols, rows
        )
        + "</section>"
    )
    log = []
    for m in reversed(h.months[:-1] if len(h.months) > 1 else []):
        cs = ch.deduplicated(h.changes[m], h.snapshots[m])
        if h.previous[m] is None:
            continue
        log.append(
            f'<details class="kp-month-changes"><summary>{_esc(month_label(m))}: '
            f"{_esc(ch.summary(cs) or 'no changes')}</summary>{change_list(cs, 0)}</details>"
        )
    if log:
        body.append(
            '<section aria-labelledby="earlier"><h2 id="earlier">Earlier months</h2>'
            + "".join(log)
            + "</section>"
        )
    return page("What changed since last month", "".join(body), 0, False, gov)


def _series(rows, keys: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    return [
        {"month": f"{r['month']}-01", "series": label, "value": round(r[k], 4)}
        for r in rows
        for k, label in keys
        if r.get(k) is not None
    ]


def _department_page(slug: str, d: dict, h: History, gov: str) -> str:
    rows = d["rows"]
    body = [
        f'<p class="kp-note">{_esc(d["area"])} &middot; {len(rows)} published month(s), '
        f"{_esc(month_label(rows[0]['month']))} to {_esc(month_label(rows[-1]['month']))}</p>"
    ]
    body.append(
        line_chart(
            f"c-{_slug_file(slug)}-budget",
            "Budget utilisation against the time-elapsed benchmark",
            _series(rows, [("utilisation", "Utilisation"), ("benchmark", "Benchmark")]),
            "Share of budget estimate",
        )
    )
    body.append(
        line_chart(
            f"c-{_slug_file(slug)}-targets",
            "Share of targets on track",
            _series(rows, [("share_on_track", "On track")]),
            "Share of targets",
        )
    )
    body.append(
        line_chart(
            f"c-{_slug_file(slug)}-survey",
            "Citizen satisfaction (survey waves as published)",
            _series(rows, [("satisfaction", "Satisfied")]),
            "Share satisfied",
        )
    )
    body.append(
        line_chart(
            f"c-{_slug_file(slug)}-pse",
            "Public sector entities at risk",
            _series(rows, [("at_risk", "At risk"), ("entities", "Entities")]),
            "Entities",
            y_format=",.0f",
        )
    )
    body = [body[0], '<div class="kp-charts">', *body[1:], "</div>"]
    months = [r["month"] for r in rows]
    if d["targets"]:
        head = '<th scope="col">Target</th>' + "".join(
            f'<th scope="col"><a href="../../{m}/index.html#dept-{_esc(quote(slug))}">'
            f"{_esc(month_label(m))}</a></th>"
            for m in months
        )
        trs = []
        for tid, t in d["targets"].items():
            cells = []
            for m in months:
                st = t.get(m)
                if not st:
                    cells.append('<td class="kp-na">\u2013</td>')
                else:
                    cls = (
                        "kp-good"
                        if st[0] in ch.GOOD_STATUSES
                        else "kp-bad"
                        if st[0] in ch.BAD_STATUSES
                        else ""
                    )
                    cells.append(
                        f'<td class="{cls}">{_esc(str(st[0] or DASH))}<br>'
                        f'<span class="kp-rating">{_esc(str(st[1] or ""))}</span></td>'
                    )
            trs.append(
                f'<tr><th scope="row">{_esc(str(t.get("title") or tid))}</th>{"".join(cells)}</tr>'
            )
        body.append(
            '<h2 id="targets">Targets month by month</h2><div class="kp-output kp-wide">'
            '<table class="kp-table"><caption>Status from the evidence and the recorded rating '
            f"</caption><thead><tr>{head}</tr></thead><tbody>{''.join(trs)}</tbody></table></div>"
        )
    log = []
    for m in reversed(h.months):
        cs = [c for c in h.changes[m] if c.department == slug]
        if cs:
            log.append(
                f"<h3>{_esc(month_label(m))}</h3>{change_list(cs, 1, with_department=False)}"
            )
    body.append(
        '<h2 id="changes">What changed, month by month</h2>'
        + ("".join(log) or '<p class="kp-note">No changes recorded.</p>')
    )
    crumbs = '<p class="kp-kicker">Department history</p>'
    return page(d["name"], "".join(body), 1, True, gov, crumbs)


def _province_page(h: History, depts: dict, gov: str) -> str:
    prov = []
    for m in h.months:
        for r in h.reports(m):
            if r.get("family") == "province_overview":
                hl = r.get("headline") or {}
                on, n = _num(hl.get("on_track")), _num(hl.get("targets"))
                prov.append(
                    {
                        "month": m,
                        "utilisation": _num(hl.get("utilisation")),
                        "benchmark": _num(hl.get("benchmark")),
                        "share_on_track": on / n if on is not None and n else None,
                        "satisfaction": _num(hl.get("satisfaction")),
                    }
                )
    body = [
        line_chart(
            "c-prov",
            "Government-wide figures over time",
            _series(
                prov,
                [
                    ("utilisation", "Utilisation"),
                    ("benchmark", "Benchmark"),
                    ("share_on_track", "Targets on track"),
                    ("satisfaction", "Satisfied"),
                ],
            ),
            "Share",
        )
    ]
    gap_values = [
        {"month": f"{r['month']}-01", "series": d["name"], "value": round(r["gap"], 4)}
        for d in depts.values()
        for r in d["rows"]
        if r.get("gap") is not None
    ]
    body.append(
        line_chart(
            "c-gap",
            "Utilisation against the benchmark by department (select a name in the legend)",
            gap_values,
            "Points against benchmark",
            y_format="+.0%",
        )
    )
    options = "".join(
        f'<option value="{m}"{" selected" if m == h.months[-1] else ""}>{_esc(month_label(m))}</option>'
        for m in reversed(h.months)
    )
    rows = []
    for slug, d in depts.items():
        for r in d["rows"]:
            link = f'<a href="department/{quote(_slug_file(slug))}.html">{_esc(d["name"])}</a>'
            rows.append(
                (
                    {"month": r["month"], "area": d["area"], "q": d["name"].lower()},
                    [
                        (link, _esc(d["name"].lower())),
                        (_esc(d["area"]), _esc(d["area"])),
                        (percent(r.get("utilisation")), _sv(r.get("utilisation"))),
                        (percent(r.get("benchmark")), _sv(r.get("benchmark"))),
                        (_pp(r.get("gap")), _sv(r.get("gap"))),
                        (percent(r.get("share_on_track")), _sv(r.get("share_on_track"))),
                        (percent(r.get("satisfaction")), _sv(r.get("satisfaction"))),
                        (_int(r.get("at_risk")), _sv(r.get("at_risk"))),
                    ],
                )
            )
    cols = [
        ("Department", "", True),
        ("Priority area", "", True),
        ("Utilisation", "num", True),
        ("Benchmark", "num", True),
        ("Against benchmark", "num", True),
        ("Targets on track", "num", True),
        ("Satisfied", "num", True),
        ("Entities at risk", "num", True),
    ]
    areas = sorted({d["area"] for d in depts.values()})
    body.append(
        '<h2 id="league">League table</h2>'
        '<div class="kp-controls" role="search" data-filters="kp-league" data-noun="departments">'
        f'<label for="kp-league-month">Month</label><select id="kp-league-month" data-key="month" '
        f'data-required="1">{options}</select>'
        + '<label for="kp-league-area">Priority area</label><select id="kp-league-area" '
        'data-key="area"><option value="">All</option>'
        + "".join(f'<option value="{_esc(a)}">{_esc(a)}</option>' for a in areas)
        + "</select>"
        + '<label for="kp-league-q">Department</label><input id="kp-league-q" type="search" '
        'data-key="q" autocomplete="off"><span class="kp-count" aria-live="polite"></span></div>'
        + sortable_table(
            "kp-league", "League table of the selected month (sort by any column)", cols, rows
        )
    )
    return page("League tables over time", "".join(body), 0, True, gov)


def _late(e: Mapping) -> bool:
    return e.get("return_status") in (ch.LATE, ch.MISSING)


def _entities_page(ents: dict, depts: dict, h: History, gov: str) -> str:
    names = department_names(h)
    rows = []
    for eid, e in sorted(ents.items(), key=lambda kv: str(kv[1].get("name")).lower()):
        last = e["latest"]
        dept = str(e.get("department") or "")
        late_q = sum(1 for q in e["quarters"].values() if _late(q))
        link = f'<a href="entity/{quote(_slug_file(eid))}.html">{_esc(str(e.get("name")))}</a>'
        rows.append(
            (
                {
                    "dept": names.get(dept, dept),
                    "type": e.get("type") or "",
                    "risk": last.get("rating") or "",
                    "late": "1" if _late(last) else "0",
                    "q": f"{e.get('name')} {eid}".lower(),
                },
                [
                    (link, _esc(str(e.get("name")).lower())),
                    (_esc(names.get(dept, dept)), _esc(names.get(dept, dept))),
                    (_esc(str(e.get("type") or "")), _esc(str(e.get("type") or ""))),
                    (_esc(str(last.get("rating") or "")), _esc(str(last.get("rating") or ""))),
                    (
                        _esc(str(last.get("return_status") or "")),
                        _esc(str(last.get("return_status") or "")),
                    ),
                    (
                        percent(_num(last.get("grant_dependence"))),
                        _sv(_num(last.get("grant_dependence"))),
                    ),
                    (
                        _num_text(last.get("cash_cover_months")),
                        _sv(_num(last.get("cash_cover_months"))),
                    ),
                    (
                        percent(_num(last.get("surplus_margin"))),
                        _sv(_num(last.get("surplus_margin"))),
                    ),
                    (f"{late_q}", f"{late_q}"),
                ],
            )
        )
    cols = [
        ("Entity", "", True),
        ("Department", "", True),
        ("Type", "", True),
        ("Risk", "", True),
        ("Latest return", "", True),
        ("Grant dependence", "num", True),
        ("Cash cover (months)", "num", True),
        ("Surplus margin", "num", True),
        ("Quarters late or missing", "num", True),
    ]
    latest_q = max((e["latest"]["quarter"] for e in ents.values()), default="")
    body = (
        f'<p class="kp-note">{len(ents)} entities; latest figures for the '
        f"{_esc(quarter_label(latest_q))} as published in {_esc(month_label(h.months[-1]))}.</p>"
        + filters(
            "kp-entities",
            [
                ("dept", "Department", sorted({r[0]["dept"] for r in rows})),
                ("type", "Type", sorted({r[0]["type"] for r in rows})),
                (
                    "risk",
                    "Risk",
                    [
                        r
                        for r in ("High", "Medium", "Low", "No return")
                        if any(x[0]["risk"] == r for x in rows)
                    ],
                ),
            ],
            search="Name",
            checkbox=("late", "Latest return late or missing"),
            noun="entities",
        )
        + sortable_table(
            "kp-entities", "Public sector entities (select a name for its quarters)", cols, rows
        )
    )
    crumbs = '<p class="kp-kicker">Corporate Governance Unit</p>'
    return page("Public sector entities", body, 0, False, gov, crumbs)


def _num_text(x: Any) -> str:
    v = _num(x)
    return "\u2013" if v is None else f"{v:,.1f}"


def _entity_page(eid: str, e: dict, depts: dict, names: dict, gov: str) -> str:
    qs = [e["quarters"][q] for q in sorted(e["quarters"])]
    dept = str(e.get("department") or "")
    dname = names.get(dept, dept)
    ratios = [
        ("grant_dependence", "Grant dependence"),
        ("own_revenue_share", "Own revenue share"),
        ("surplus_margin", "Surplus margin"),
    ]
    values = [
        {"month": q["quarter"], "series": label, "value": round(q[k], 4)}
        for q in qs
        for k, label in ratios
        if _num(q.get(k)) is not None
    ]
    cash = [
        {"month": q["quarter"], "series": "Cash cover", "value": round(q["cash_cover_months"], 2)}
        for q in qs
        if _num(q.get("cash_cover_months")) is not None
    ]
    trs = "".join(
        f'<tr><th scope="row">{_esc(quarter_label(q["quarter"]))}</th>'
        f"<td>{_esc(str(q.get('rating') or ''))}</td><td>{_esc(str(q.get('return_status') or ''))}</td>"
        f'<td class="num">{_int(_num(q.get("days_late")))}</td>'
        f'<td class="num">{percent(_num(q.get("grant_dependence")))}</td>'
        f'<td class="num">{_num_text(q.get("cash_cover_months"))}</td>'
        f'<td class="num">{percent(_num(q.get("surplus_margin")))}</td>'
        f'<td class="num">{percent(_num(q.get("liabilities_growth_yoy")))}</td>'
        f"<td>{_esc(str(q.get('reasons') or ''))}</td></tr>"
        for q in reversed(qs)
    )
    body = (
        f'<p class="kp-note">{_esc(str(e.get("type") or ""))} overseen by '
        + (
            f'<a href="../department/{quote(_slug_file(dept))}.html">{_esc(dname)}</a>'
            if dept in depts
            else _esc(dname)
        )
        + f" &middot; {_esc(eid)}</p>"
        + line_chart(f"c-e-{_slug_file(eid)}", "Ratios by quarter", values, "Share", x_step=3)
        + line_chart(
            f"c-e-{_slug_file(eid)}-cash",
            "Cash cover by quarter",
            cash,
            "Months",
            y_format=",.1f",
            x_step=3,
        )
        + '<h2 id="quarters">Quarter by quarter</h2><div class="kp-output"><table class="kp-table">'
        "<caption>Rating, return and ratios by quarter, newest first</caption><thead><tr>"
        '<th scope="col">Quarter</th><th scope="col">Risk</th><th scope="col">Return</th>'
        '<th scope="col" class="num">Days late or overdue</th><th scope="col" class="num">Grant dependence</th>'
        '<th scope="col" class="num">Cash cover (months)</th><th scope="col" class="num">Surplus margin</th>'
        '<th scope="col" class="num">Liabilities on a year earlier</th><th scope="col">Reasons</th>'
        f"</tr></thead><tbody>{trs}</tbody></table></div>"
    )
    crumbs = '<p class="kp-kicker"><a href="../entities.html">Public sector entities</a></p>'
    return page(str(e.get("name") or eid), body, 1, True, gov, crumbs)


# --------------------------------------------------------------------------- build
def _write(path: Path, text: str) -> Path:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def _write_if_changed(path: Path, text: str) -> bool:
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(path, text)
    return True


def _code_hash() -> str:
    h = hashlib.sha256(SITE_VERSION.encode())
    for p in [Path(__file__), Path(ch.__file__), TEMPLATES / "kp.css", *sorted(ASSETS.rglob("*"))]:
        if p.is_file():
            st = p.stat()
            h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def fingerprint(outputs_root: Path) -> str:
    """What the site is built from: the code and assets, the active profile and each published
    month's build (builds never change in place)."""
    h = hashlib.sha256(_code_hash().encode())
    h.update(os.environ.get("KP_PROFILE", "").encode())
    for m in published_months(outputs_root):
        p = outputs_root / m
        h.update(f"{m}={_build_name(outputs_root, m)}".encode())
        try:
            st = (p / SNAPSHOT).stat()
            h.update(f":{st.st_size}:{st.st_mtime_ns}".encode())
        except OSError:
            h.update(b":-")
    return h.hexdigest()


@dataclass
class BuildResult:
    status: str  # built | up to date | no months
    pages: int = 0
    written: int = 0
    months: int = 0
    seconds: float = 0.0


def _copy_assets(site: Path) -> int:
    n = 0
    # the reports' stylesheet (helpers.publish.html.stylesheet) read directly: importing the
    # HTML publisher costs a second of nbformat start-up
    targets = {site / "assets" / "kp.css": (TEMPLATES / "kp.css").read_text(encoding="utf-8")}
    for src in sorted(ASSETS.rglob("*")):
        if src.is_file() and not src.name.startswith("."):
            dst = site / "assets" / src.relative_to(ASSETS)
            try:
                if (
                    dst.stat().st_size == src.stat().st_size
                    and dst.read_bytes() == src.read_bytes()
                ):
                    continue
            except OSError:
                pass
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            n += 1
    for dst, text in targets.items():
        n += _write_if_changed(dst, text)
    return n


def build_site(outputs_root: str | Path, force: bool = False) -> BuildResult:
    """(Re)build ``outputs_root/dashboards/`` from the published months; skipped when nothing it
    reads changed since the last build (unless ``force``). Runs of different months may
    publish at once: builds take turns on ``outputs/.locks/dashboards.lock``."""
    import fcntl

    root = Path(outputs_root)
    locks = root / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / "dashboards.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released on close, or by the OS if we die
        return _build_site(root, force)


def _build_site(root: Path, force: bool) -> BuildResult:
    t0 = time.perf_counter()
    site = root / SITE_DIR
    fp = fingerprint(root)
    state_path = site / STATE
    if not force:
        try:
            state = json.loads(state_path.read_text(encoding="utf-8"))
            if state.get("fingerprint") == fp:
                n = len(state.get("months") or [])
                return BuildResult("up to date", months=n, seconds=time.perf_counter() - t0)
        except (OSError, ValueError):
            pass
    h = history(root)
    if not h.months:
        return BuildResult("no months", seconds=time.perf_counter() - t0)
    from helpers import profile

    gov = profile.active().government
    site.mkdir(parents=True, exist_ok=True)
    written = _copy_assets(site)
    depts = department_rows(h)
    ents = entity_rows(h)
    names = department_names(h)
    pages: dict[Path, str] = {
        site / "index.html": _index_page(h, depts, gov),
        site / "province.html": _province_page(h, depts, gov),
        site / "entities.html": _entities_page(ents, depts, h, gov),
    }
    for slug, d in depts.items():
        pages[site / "department" / f"{_slug_file(slug)}.html"] = _department_page(slug, d, h, gov)
    for eid, e in ents.items():
        pages[site / "entity" / f"{_slug_file(eid)}.html"] = _entity_page(eid, e, depts, names, gov)
    for path, text in pages.items():
        written += _write_if_changed(path, text)
    for sub in ("department", "entity"):  # pages of departments or entities no longer published
        for old in (site / sub).glob("*.html"):
            if old not in pages:
                old.unlink()
    _write(state_path, json.dumps({"fingerprint": fp, "months": h.months}))
    return BuildResult("built", len(pages), written, len(h.months), time.perf_counter() - t0)


def cli(argv: Sequence[str]) -> int:
    """``python -m helpers.cli dashboards [--outputs DIR] [--profile P] [--force]``."""
    import argparse

    ap = argparse.ArgumentParser(
        prog="python -m helpers.cli dashboards",
        description="Rebuild the leadership dashboards from the published months.",
    )
    ap.add_argument("--outputs", default=None, help="outputs folder (default: the profile's)")
    ap.add_argument("--profile", default=None)
    ap.add_argument("--force", action="store_true", help="rebuild even when nothing changed")
    args = ap.parse_args(list(argv))
    from helpers import paths, profile

    try:
        profile.select(args.profile)
    except profile.ProfileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    root = Path(args.outputs) if args.outputs else Path(paths.outputs_dir())
    res = build_site(root, force=args.force)
    print(
        f"dashboards: {res.status}; {res.months} month(s), {res.pages} page(s), "
        f"{res.written} file(s) written in {res.seconds:.2f} s -> {root / SITE_DIR / 'index.html'}"
    )
    return 0
