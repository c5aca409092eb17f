"""The portal: ``outputs/YYYY-MM/index.html`` per month and ``outputs/index.html`` listing months.

Pages are self-contained like the reports (inline styles, no network requests). The month page
has a small inline script for the priority-area filter and the department search; the
Content-Security-Policy allows exactly that script by its SHA-256 hash and nothing else. Every
text that comes from the run (names, errors, headline figures, paths) is escaped.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from helpers import profile
from helpers.publish.html import month_label, percent, stylesheet
from helpers.status import PORTAL_STATUSES, Status

STATUSES = tuple(s.value for s in PORTAL_STATUSES)  # done, cached, failed, not_rebuilt
PROVINCE_FIRST = "province_overview"
ERROR_EXCERPT_CHARS = 400

#: Badge tones for headline figures (gap = utilisation - benchmark, in ratio points).
BUDGET_GAP_WATCH = -0.05
BUDGET_GAP_BAD = -0.15
ON_TRACK_GOOD, ON_TRACK_WATCH = 0.75, 0.5
SATISFIED_GOOD, SATISFIED_WATCH = 0.70, 0.50
AT_RISK_WATCH = 0.25

_MONTH_DIR = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_esc = html.escape


def _offices() -> str:
    """'Delivery Unit & Finance Department': the offices the portal serves (from the profile)."""
    o = profile.active().offices
    return f"{o['delivery']} & {o['finance']}"


DASH = "\u2013"

#: Styles of the month index's "what changed" (on top of the shared stylesheet).
CHANGES_CSS = """
.kp-change { border-left: 4px solid #8a8f98; background: #f6f7f9; padding: .3rem .8rem;
  margin: .35rem 0; color: #1d2939; }
.kp-change > summary { cursor: pointer; font-weight: 600; }
.kp-change.kp-tone-bad { border-left-color: #b42318; }
.kp-change.kp-tone-watch { border-left-color: #b54708; }
.kp-change.kp-tone-good { border-left-color: #067647; }
.kp-change ul, .kp-cellchanges ul { margin: .2rem 0; padding-left: 1.1rem; font-size: .9rem; }
.kp-cellchanges summary { cursor: pointer; font-size: .85rem; }
.kp-cellchanges li { color: #1d2939; }
"""

FILTER_SCRIPT = """(function () {
  var area = document.getElementById("kp-area");
  var search = document.getElementById("kp-search");
  var count = document.getElementById("kp-count");
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr[data-area]"));
  function apply() {
    var a = area.value;
    var q = search.value.trim().toLowerCase();
    var shown = 0;
    rows.forEach(function (row) {
      var ok = (!a || row.getAttribute("data-area") === a) &&
        (!q || row.getAttribute("data-name").indexOf(q) !== -1);
      row.hidden = !ok;
      if (ok) { shown += 1; }
    });
    count.textContent = shown + " of " + rows.length + " departments shown";
  }
  area.addEventListener("change", apply);
  search.addEventListener("input", apply);
  apply();
})();"""


def csp(scripts: Sequence[str] = ()) -> str:
    """Content-Security-Policy: no network; inline styles; only the given inline scripts (hashes)."""
    policy = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    if scripts:
        hashes = " ".join(
            "'sha256-" + base64.b64encode(hashlib.sha256(s.encode("utf-8")).digest()).decode() + "'"
            for s in scripts
        )
        policy += f"; script-src {hashes}"
    return policy + "; base-uri 'none'; form-action 'none'"


@dataclass(frozen=True)
class Badge:
    """A headline badge: its text and tone (good, watch, bad or neutral)."""

    text: str
    tone: str
    title: str = ""


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


def headline_badge(headline: Mapping[str, Any] | None) -> Badge | None:
    """The portal badge for a report's headline figures (keys from the notebook contract).

    Budget: ``utilisation``/``benchmark`` -> "61% of BE vs 75%" (tone by the gap); stocktake:
    ``on_track``/``targets`` -> "4 of 6 on track"; survey: ``satisfaction`` -> "58% satisfied";
    PSE: ``at_risk``/``entities`` -> "3 of 12 at risk"; performance contract:
    ``contract_score``/``contract_grade`` -> "score 63 (C)". None when the figures are missing.
    """
    h = dict(headline or {})
    util, bench = _num(h.get("utilisation")), _num(h.get("benchmark"))
    if util is not None and bench is not None:
        gap = util - bench
        tone = "good" if gap >= BUDGET_GAP_WATCH else "watch" if gap >= BUDGET_GAP_BAD else "bad"
        return Badge(
            f"{percent(util)} of BE vs {percent(bench)}",
            tone,
            "Spending as a share of the budget estimate, against the time-elapsed benchmark",
        )
    on_track, targets = _num(h.get("on_track")), _num(h.get("targets"))
    if on_track is not None and targets is not None and targets > 0:
        share = on_track / targets
        tone = "good" if share >= ON_TRACK_GOOD else "watch" if share >= ON_TRACK_WATCH else "bad"
        return Badge(f"{on_track:.0f} of {targets:.0f} on track", tone, "Targets on track")
    sat = _num(h.get("satisfaction"))
    if sat is not None:
        tone = "good" if sat >= SATISFIED_GOOD else "watch" if sat >= SATISFIED_WATCH else "bad"
        return Badge(f"{percent(sat)} satisfied", tone, "Share of service users satisfied")
    at_risk, entities = _num(h.get("at_risk")), _num(h.get("entities"))
    if at_risk is not None and entities is not None and entities > 0:
        share = at_risk / entities
        tone = "good" if at_risk == 0 else "watch" if share <= AT_RISK_WATCH else "bad"
        return Badge(
            f"{at_risk:.0f} of {entities:.0f} at risk", tone, "Public sector entities at risk"
        )
    score, grade = _num(h.get("contract_score")), h.get("contract_grade")
    if score is not None and grade:
        tone = "good" if grade in ("A", "B") else "watch" if grade == "C" else "bad"
        return Badge(f"score {score:.0f} ({grade})", tone, "Performance contract score to date")
    return None


def safe_href(path: Any) -> str | None:
    """A relative link from the month folder, URL-quoted; None for empty; refuses absolute URLs."""
    if path is None or str(path).strip() == "":
        return None
    text = str(path).replace("\\", "/")
    if (
        re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", text)
        or text.startswith("/")
        or ".." in text.split("/")
    ):
        raise ValueError(f"report links must be relative paths inside the month folder: {text!r}")
    return quote(text, safe="/")


def _page(title: str, body: str, scripts: Sequence[str] = (), subtitle: str = "") -> str:
    script_tags = "".join(f"<script>{s}</script>" for s in scripts)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_esc(csp(scripts), quote=False)}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_esc(title)}</title>\n<style>\n{stylesheet()}\n{CHANGES_CSS}</style>\n</head>\n"
        '<body class="kp-portal">\n<div class="kp-govbar" role="banner"><div class="kp-wrap">'
        f'<span class="kp-gov">{_esc(profile.active().government)}</span>'
        '<span class="kp-unit">Performance monitoring reports</span></div></div>\n'
        '<div class="kp-wrap kp-page">\n<header class="kp-titleblock">'
        f'<p class="kp-kicker">{_esc(_offices())}</p>'
        f"<h1>{_esc(title)}</h1>"
        + (f'<p class="kp-subtitle">{subtitle}</p>' if subtitle else "")
        + f'</header>\n<main id="kp-main">\n{body}\n</main>\n</div>\n{script_tags}\n</body>\n</html>\n'
    )


def _status_badge(status: str) -> str:
    label = {Status.NOT_REBUILT: "not rebuilt"}.get(status, status)
    return f'<span class="kp-status kp-status-{_esc(status)}">{_esc(label)}</span>'


def _headline_html(headline: Mapping[str, Any] | None) -> str:
    badge = headline_badge(headline)
    if badge is None:
        return ""
    return (
        f'<span class="kp-badge kp-tone-{badge.tone}" title="{_esc(badge.title)}">'
        f"{_esc(badge.text)}</span>"
    )


def _links(report: Mapping[str, Any], label: str) -> str:
    parts = []
    for kind in ("html", "pdf"):
        href = safe_href(report.get(kind))
        if href:
            aria = f"{label} ({kind.upper()})"
            parts.append(
                f'<a class="kp-link-{kind}" href="{_esc(href)}" aria-label="{_esc(aria)}">'
                f"{kind.upper()}</a>"
            )
    return f'<span class="kp-links">{" ".join(parts)}</span>' if parts else ""


def _error_html(report: Mapping[str, Any]) -> str:
    error = report.get("error")
    if not error:
        return ""
    text = str(error).strip()
    if len(text) > ERROR_EXCERPT_CHARS:
        text = text[: ERROR_EXCERPT_CHARS - 1] + "\u2026"
    return f'<details class="kp-errorbox"><summary>Error</summary><pre>{_esc(text)}</pre></details>'


def _note_html(report: Mapping[str, Any]) -> str:
    note = report.get("note")
    return f'<p class="kp-cellnote">{_esc(str(note))}</p>' if note else ""


def _validate(reports: Sequence[Mapping[str, Any]]) -> None:
    required = ("family", "family_title", "scope", "status")
    for i, r in enumerate(reports):
        missing = [k for k in required if k not in r]
        if missing:
            raise ValueError(f"report #{i} lacks {missing}")
        if r["status"] not in STATUSES:
            raise ValueError(f"report #{i} has status {r['status']!r}; expected one of {STATUSES}")
        if r["scope"] not in ("department", "province"):
            raise ValueError(f"report #{i} has scope {r['scope']!r}; expected department|province")
        if r["scope"] == "department" and not r.get("department"):
            raise ValueError(
                f"report #{i} ({r['family']}) is department-scoped but has no department"
            )


def _changes_html(items: Sequence[Any]) -> str:
    """A report's changes since the previous published month: counts, the sentences on demand."""
    if not items:
        return ""
    from helpers.publish import changes as ch

    lis = "".join(f"<li>{_esc(c.text)}</li>" for c in items)
    return (
        f'<details class="kp-cellchanges"><summary>{_esc(ch.summary(items))}</summary>'
        f"<ul>{lis}</ul></details>"
    )


def _cell(report: Mapping[str, Any], label: str, changed: Sequence[Any] = ()) -> str:
    return (
        f'<div class="kp-cell">{_status_badge(report["status"])} '
        f"{_headline_html(report.get('headline'))}{_links(report, label)}{_error_html(report)}"
        f"{_note_html(report)}{_changes_html(changed)}</div>"
    )


def _what_changed(changes: Sequence[Any], previous: str | None, reports) -> str:
    """The month's "what changed since <previous month>" section (None: first month)."""
    from helpers.publish import changes as ch

    if previous is None:
        return ""
    snap = {"reports": list(reports)}
    items = ch.deduplicated(changes, snap)
    groups: dict[str, list[Any]] = {}
    for c in items:
        groups.setdefault(c.kind, []).append(c)
    parts = []
    for kind, cs in groups.items():
        heading, tone = ch.KINDS[kind]
        lis = "".join(
            f"<li>{_esc(str(c.department_name or c.department) + ': ') if c.department else ''}"
            f"{_esc(c.text)}</li>"
            for c in cs
        )
        parts.append(
            f'<details class="kp-change kp-tone-{tone}"><summary>{_esc(heading)} ({len(cs)})'
            f"</summary><ul>{lis}</ul></details>"
        )
    inner = "".join(parts) or '<p class="kp-note">Nothing changed in the figures compared.</p>'
    return (
        '<section aria-labelledby="changed"><h2 id="changed">What changed since '
        f"{_esc(month_label(previous))}</h2>{inner}"
        '<p class="kp-note"><a href="../dashboards/index.html">Dashboards: history across months'
        "</a></p></section>"
    )


def _scope_heading() -> str:
    """Heading of the reports for the whole government: the profile's scope word ('Province')."""
    scope = profile.active().scope_word
    return scope[:1].upper() + scope[1:]


def _province_section(reports: list[Mapping[str, Any]], changed=None) -> str:
    if not reports:
        return ""
    ordered = sorted(
        reports, key=lambda r: (r["family"] != PROVINCE_FIRST, str(r["family_title"]).lower())
    )
    cards = "".join(
        f'<li class="kp-card"><h3>{_esc(str(r["family_title"]))}</h3>'
        f"{_cell(r, str(r['family_title']), (changed or {}).get((r['family'], None), ()))}</li>"
        for r in ordered
    )
    return (
        f'<section aria-labelledby="province"><h2 id="province">{_esc(_scope_heading())}</h2>'
        f'<ul class="kp-cards">{cards}</ul></section>'
    )


def _summary(reports: Sequence[Mapping[str, Any]], manifest: Mapping[str, Any]) -> str:
    counts = {s: sum(1 for r in reports if r["status"] == s) for s in STATUSES}
    facts = [
        ("Reports", f"{len(reports):,}"),
        ("Done", f"{counts[Status.DONE]:,}"),
        ("From cache", f"{counts[Status.CACHED]:,}"),
        ("Failed", f"{counts[Status.FAILED]:,}"),
    ]
    if counts[Status.NOT_REBUILT]:
        facts.append(("Not rebuilt", f"{counts[Status.NOT_REBUILT]:,}"))
    run_at = run_date(manifest)
    if run_at:
        facts.append(("Run", run_at))
    commit = manifest.get("commit") or (manifest.get("git") or {}).get("commit")
    if commit:
        dirty = manifest.get("dirty", (manifest.get("git") or {}).get("dirty"))
        facts.append(
            ("Code version", str(commit)[:10] + (" (uncommitted changes)" if dirty else ""))
        )
    items = "".join(f"<div><dt>{_esc(k)}</dt><dd>{_esc(v)}</dd></div>" for k, v in facts)
    return f'<dl class="kp-facts kp-runfacts">{items}</dl>'


def _not_provided(manifest: Mapping[str, Any]) -> str:
    """The report families this government provides no data for (manifest ``not_provided``):
    named as "not provided", never as failed and never filled with another family's data."""
    items = [n for n in manifest.get("not_provided") or [] if isinstance(n, Mapping)]
    if not items:
        return ""
    names = ", ".join(_esc(str(n.get("title") or n.get("family"))) for n in items)
    return (
        f'<p class="kp-note kp-not-provided"><strong>Not provided:</strong> {names} '
        "(no input data loaded for these report families, so they are not produced).</p>"
    )


def render_month_index(
    month: str,
    reports: Sequence[Mapping[str, Any]],
    manifest: Mapping[str, Any] | None = None,
    changes: Sequence[Any] | None = None,
    previous: str | None = None,
) -> str:
    """HTML of the month portal page (see :func:`write_month_index`)."""
    manifest = dict(manifest or {})
    reports = list(reports)
    _validate(reports)
    changed: dict[tuple[str, Any], list[Any]] = {}
    for c in changes or ():
        changed.setdefault((c.family, c.department), []).append(c)
    province = [r for r in reports if r["scope"] == "province"]
    dept_reports = [r for r in reports if r["scope"] == "department"]

    families: dict[str, str] = {}
    for r in dept_reports:
        families.setdefault(str(r["family"]), str(r["family_title"]))
    by_dept: dict[str, dict[str, Any]] = {}
    for r in dept_reports:
        slug = str(r["department"])
        row = by_dept.setdefault(
            slug,
            {
                "name": str(r.get("department_name") or slug),
                "area": str(r.get("priority_area") or "Other"),
                "cells": {},
            },
        )
        if str(r["family"]) in row["cells"]:
            raise ValueError(f"two {r['family']} reports for department {slug!r}")
        row["cells"][str(r["family"])] = r

    areas = sorted({row["area"] for row in by_dept.values()})
    options = '<option value="">All priority areas</option>' + "".join(
        f'<option value="{_esc(a)}">{_esc(a)}</option>' for a in areas
    )
    head = '<th scope="col">Department</th><th scope="col">Priority area</th>' + "".join(
        f'<th scope="col">{_esc(t)}</th>' for t in families.values()
    )
    rows = []
    for slug, row in sorted(by_dept.items(), key=lambda kv: kv[1]["name"].lower()):
        cells = []
        for fam, fam_title in families.items():
            rep = row["cells"].get(fam)
            if rep is None:
                cells.append(
                    '<td class="kp-na"><span aria-label="not applicable">\u2013</span></td>'
                )
            else:
                label = f"{fam_title}, {row['name']}"
                cells.append(f"<td>{_cell(rep, label, changed.get((fam, slug), ()))}</td>")
        rows.append(
            f'<tr data-area="{_esc(row["area"])}" data-name="{_esc(row["name"].lower())}" '
            f'id="dept-{_esc(slug)}"><th scope="row">{_esc(row["name"])}</th>'
            f"<td>{_esc(row['area'])}</td>{''.join(cells)}</tr>"
        )
    dept_section = ""
    if by_dept:
        dept_section = (
            '<section aria-labelledby="departments"><h2 id="departments">Departments</h2>'
            '<div class="kp-controls" role="search">'
            '<label for="kp-area">Priority area</label>'
            f'<select id="kp-area">{options}</select>'
            '<label for="kp-search">Department</label>'
            '<input id="kp-search" type="search" placeholder="Search by name" autocomplete="off">'
            '<span id="kp-count" aria-live="polite"></span></div>'
            '<div class="kp-output"><table class="kp-table kp-portal-table">'
            f"<caption>Reports by department and family</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div></section>"
        )
    body = (
        _summary(reports, manifest)
        + _not_provided(manifest)
        + (_what_changed(changes or [], previous, reports) if changes is not None else "")
        + _province_section(province, changed)
        + dept_section
    )
    if not reports:
        body += '<p class="kp-note">No reports were produced for this month.</p>'
    body += '<p class="kp-note kp-portal-foot"><a href="../index.html">All months</a></p>'
    title = f"Reports for {month_label(month)}"
    return _page(title, body, scripts=[FILTER_SCRIPT] if by_dept else [])


def write_month_index(
    month_dir: str | Path,
    month: str,
    reports: Sequence[Mapping[str, Any]],
    manifest: Mapping[str, Any] | None = None,
    changes: Sequence[Any] | None = None,
    previous: str | None = None,
) -> Path:
    """Write ``month_dir/index.html`` (province reports first, then departments x families).

    Each report: {family, family_title, scope (department|province), department, department_name,
    priority_area, status (done|cached|failed|not_rebuilt), error, note, html, pdf (relative paths or None),
    headline (dict)}. ``changes`` (:class:`helpers.publish.changes.Change`, from
    :func:`helpers.publish.dashboards.stage_month`) since the ``previous`` published month add a
    "what changed" section and a line under each report that changed.
    """
    month_dir = Path(month_dir)
    month_dir.mkdir(parents=True, exist_ok=True)
    page = render_month_index(month, reports, manifest, changes, previous)
    return _write(month_dir / "index.html", page)


def _write(path: Path, text: str) -> Path:
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def run_date(manifest: Mapping[str, Any]) -> str:
    """The run time recorded in a manifest, as 'YYYY-MM-DD HH:MM' ('' when absent)."""
    for key in ("finished_at", "run_at", "started_at", "created_at"):
        value = manifest.get(key)
        if value:
            try:
                return datetime.fromisoformat(str(value)).strftime("%Y-%m-%d %H:%M")
            except ValueError:
                return str(value)
    return ""


def manifest_counts(manifest: Mapping[str, Any]) -> dict[str, int]:
    """Report counts by status from a manifest (``counts`` dict, else a ``jobs``/``reports`` list)."""
    counts = manifest.get("counts")
    if isinstance(counts, Mapping):
        out = {s: int(counts.get(s, 0) or 0) for s in STATUSES}
        return out | {"total": int(counts.get("total", sum(out.values())) or 0)}
    for key in ("jobs", "reports"):
        items = manifest.get(key)
        if isinstance(items, list):
            statuses = [str(i.get("status", "")) for i in items if isinstance(i, Mapping)]
            return {s: statuses.count(s) for s in STATUSES} | {"total": len(statuses)}
    return {s: 0 for s in STATUSES} | {"total": 0}


def render_root_index(outputs_root: str | Path) -> str:
    """HTML of the list of published months (see :func:`write_root_index`)."""
    root = Path(outputs_root)
    months = sorted(
        (p for p in root.iterdir() if p.is_dir() and _MONTH_DIR.match(p.name))
        if root.is_dir()
        else [],
        key=lambda p: p.name,
        reverse=True,
    )
    rows = []
    for p in months:
        mpath = p / "manifest.json"
        if not mpath.is_file():
            continue
        try:
            manifest = json.loads(mpath.read_text(encoding="utf-8"))
            if not isinstance(manifest, dict):
                raise ValueError("not a JSON object")
        except (ValueError, OSError) as exc:
            rows.append(
                f'<tr><th scope="row">{_esc(month_label(p.name))}</th>'
                f'<td colspan="5" class="kp-bad">manifest unreadable: {_esc(str(exc)[:120])}</td></tr>'
            )
            continue
        c = manifest_counts(manifest)
        link = (
            f'<a href="{_esc(quote(p.name))}/index.html">{_esc(month_label(p.name))}</a>'
            if (p / "index.html").is_file()
            else _esc(month_label(p.name))
        )
        n_failed = c[Status.FAILED]
        failed = f'<td class="num{" kp-bad" if n_failed else ""}">{n_failed:,}</td>'
        rows.append(
            f'<tr><th scope="row">{link}</th><td>{_esc(run_date(manifest) or DASH)}</td>'
            f'<td class="num">{c["total"]:,}</td><td class="num">{c[Status.DONE]:,}</td>'
            f'<td class="num">{c[Status.CACHED]:,}</td>{failed}</tr>'
        )
    if rows:
        body = (
            '<div class="kp-output"><table class="kp-table"><caption>Published months, newest first'
            '</caption><thead><tr><th scope="col">Month</th><th scope="col">Run</th>'
            '<th scope="col" class="num">Reports</th><th scope="col" class="num">Done</th>'
            '<th scope="col" class="num">From cache</th><th scope="col" class="num">Failed</th>'
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
        )
    else:
        body = '<p class="kp-note">No months have been published yet.</p>'
    if (root / "dashboards" / "index.html").is_file():
        body = (
            '<p class="kp-note kp-dash-link"><a href="dashboards/index.html">Leadership dashboards'
            "</a>: what changed since last month, history by department, league tables over "
            "time, public sector entities.</p>" + body
        )
    return _page("Performance monitoring reports", body)


def write_root_index(outputs_root: str | Path, dashboards: bool = True) -> Path:
    """Write ``outputs_root/index.html``: months (YYYY-MM folders with manifest.json), newest
    first; with ``dashboards`` first rebuild ``outputs_root/dashboards/`` from the published
    months (:func:`helpers.publish.dashboards.build_site`; skipped when nothing changed; a
    failure there is a warning, never a failed publish)."""
    root = Path(outputs_root)
    root.mkdir(parents=True, exist_ok=True)
    if dashboards:
        try:
            from helpers.publish import dashboards as dash

            dash.build_site(root)
        except Exception as exc:  # the month is published either way
            import sys

            print(f"warning: dashboards not rebuilt: {type(exc).__name__}: {exc}", file=sys.stderr)
    return _write(root / "index.html", render_root_index(root))


def stage_month(
    outputs_root: str | Path,
    month: str,
    staging: str | Path,
    reports: Sequence[Mapping[str, Any]],
    manifest: Mapping[str, Any] | None = None,
) -> None:
    """Before the disclosure scan: the month's dashboard snapshot and "what changed since the
    previous published month" in its index (:func:`helpers.publish.dashboards.stage_month`).
    A failure leaves the plain index (already written) and is a warning, never a failed month."""
    try:
        from helpers.publish import dashboards

        dashboards.stage_month(outputs_root, month, staging, reports, manifest)
    except Exception as exc:
        import sys

        print(
            f"warning: {month}: what-changed not written: {type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
