"""Performance contract report: wording, tables and charts of a scored contract
(:mod:`helpers.analysis.contracts`). Numbers come from the analysis; this module only words and
formats them."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from helpers.analysis import contracts as con
from helpers.analysis.contracts import ContractScore
from helpers.data.calendar import month_label, quarter_label
from helpers.present import svgplot, wording
from helpers.present.display import Page, figure, headline, key_messages, note, table
from helpers.present.theme import STATUS_COLOURS

__all__ = [
    "messages",
    "headline_badge",
    "kpi_table",
    "quarter_chart",
    "quarter_table",
    "data_notes",
    "league_table",
    "league_messages",
]

FAMILY = "performance_contract"
TITLE = "Performance contract"


def load_contract(department: str, month: str) -> Page[ContractScore]:
    """Read a department's contract, KPIs and progress from the warehouse and score them for
    ``month`` with the settings of ``contracts.yaml``."""
    from helpers.data import warehouse as wh

    department = wh.notebook_department(department)
    report_month = wh.report_month(month)
    name = wh.department(department, on=report_month)["name"]
    scored = con.score_contract(
        wh.contracts(department),
        wh.contract_kpis(department),
        wh.contract_progress(department),
        department,
        report_month,
        con.load_settings(),
    )
    return Page(
        family=FAMILY,
        title=TITLE,
        department=name,
        month=month_label(report_month),
        as_of=month_label(report_month),
        report=scored,
    )


def key_messages_of(page: Page[ContractScore]) -> key_messages:
    """The key messages at the top of the report."""
    return key_messages(messages(page.report, page.department))


UNITLESS = {"count", "number", "no.", "#"}  # units not printed after the number
DIRECTION_WORDS = {"up": "higher is better", "down": "lower is better", "maintain": "stay in band"}


def _num(value) -> str:
    """A KPI value in its own unit: up to 2 decimals, no trailing zeros."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "\u2013"
    text = f"{float(value):,.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _with_unit(value, unit) -> str:
    u = "" if unit is None or (isinstance(unit, float) and math.isnan(unit)) else str(unit)
    if u.casefold() in UNITLESS:
        u = ""
    text = _num(value)
    if not u or text == "\u2013":
        return text
    return f"{text}%" if u == "%" else f"{text} {u}"


def _quarter(s: ContractScore, q: int) -> str:
    return quarter_label(con.quarter_end(s.fiscal_year, q))


def _grade_text(s: ContractScore, score: float, grade: str | None) -> str:
    label = s.settings.label(grade)
    return (
        f"{score:.0f} out of 100 (grade {grade}{', ' + label if label and label != grade else ''})"
    )


def messages(s: ContractScore, name: str) -> list[str]:
    """Key messages: the score to date, what holds it back, the year's progress."""
    if not s.has_contract:
        return [f"{name} has no performance contract for {s.fiscal_year}."]
    if s.quarters_ended == 0:
        return [
            f"{name}'s performance contract for {s.fiscal_year} has "
            f"{wording.plural(len(s.kpis), 'KPI')}; no quarter of the year had ended by "
            f"{month_label(s.month)}, so it is not scored yet."
        ]
    k = s.kpis
    missing = k[k["actual"].isna()]
    if math.isnan(s.score):
        return [
            f"No KPI of {name}'s performance contract for {s.fiscal_year} has an actual by "
            f"{month_label(s.month)}: the contract cannot be scored."
        ]
    last_q = int(k["quarter"].max())
    out = [
        f"{name} scores {_grade_text(s, s.score, s.grade)} on its performance contract to "
        f"{_quarter(s, last_q)}, against the plan to date; "
        f"{s.reported} of {wording.plural(len(k), 'KPI')} reported."
    ]
    q = s.quarters.dropna(subset=["score"])
    if len(q) >= 2:
        prev, cur = q.iloc[-2], q.iloc[-1]
        change = cur["score"] - prev["score"]
        word = "up" if change > 0.5 else "down" if change < -0.5 else "unchanged"
        tail = "" if word == "unchanged" else f" {abs(change):.0f} points"
        out.append(
            f"Quarter score {word}{tail}: {prev['score']:.0f} in {_quarter(s, int(prev['quarter']))}, "
            f"{cur['score']:.0f} in {_quarter(s, int(cur['quarter']))}."
        )
    behind = k[k["achievement"].notna() & (k["achievement"] < 1.0)].sort_values(
        ["achievement", "weight"], ascending=[True, False]
    )
    if len(behind):
        r = behind.iloc[0]
        out.append(
            f"Furthest behind plan: {r['title']} ({_with_unit(r['actual'], r['unit'])} against "
            f"a plan of {_with_unit(r['plan'], r['unit'])} for {_quarter(s, int(r['quarter']))}: "
            f"{r['achievement']:.0%} achieved; weight {r['weight']:g})."
        )
    else:
        out.append("Every reported KPI is at or ahead of its plan to date.")
    if len(missing):
        rule = "scored 0" if s.settings.missing == "zero" else "left out of the score"
        titles = "; ".join(missing["title"].head(3))
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        out.append(f"No actual reported yet ({rule}): {titles}{more}.")
    met = int((k["annual_progress"] >= 1.0).sum())
    out.append(
        f"Against the annual targets: {met} of {wording.plural(len(k), 'KPI')} already met; "
        f"weighted progress {_annual(s):.0f}% of the year's targets."
    )
    return out


def _annual(s: ContractScore) -> float:
    k = s.kpis
    return (
        100.0
        * float((k["weight"] * k["annual_progress"].fillna(0.0)).sum())
        / float(k["weight"].sum())
    )


def headline_badge(s: ContractScore) -> headline:
    """Portal badge: ``headline(contract_score=..., contract_grade=..., kpis=..., reported=...)``."""
    return headline(**con.headline_values(s))


def kpi_table(s: ContractScore) -> table | note:
    """One row per KPI: weight, targets, latest actual against its plan, points."""
    if not s.has_contract:
        return note("No KPIs to list.")
    k = s.kpis
    df = pd.DataFrame(
        {
            "KPI": [
                t if d == "up" else f"{t} ({DIRECTION_WORDS[d]})"
                for t, d in zip(k["title"], k["direction"], strict=True)
            ],
            "Weight": k["weight"],
            "Baseline": [_with_unit(v, u) for v, u in zip(k["baseline"], k["unit"], strict=True)],
            "Annual target": [
                f"{_num(lo)} to {_num(hi)}" + ("%" if u == "%" else "")
                if d == "maintain"
                else _with_unit(t, u)
                for t, lo, hi, d, u in zip(
                    k["target"],
                    k["band_low"],
                    k["band_high"],
                    k["direction"],
                    k["unit"],
                    strict=True,
                )
            ],
            "Latest": [
                "\u2013" if pd.isna(q) else _quarter(s, int(q)).split(" ")[0] for q in k["quarter"]
            ],
            "Actual": [_with_unit(v, u) for v, u in zip(k["actual"], k["unit"], strict=True)],
            "Plan to date": [_with_unit(v, u) for v, u in zip(k["plan"], k["unit"], strict=True)],
            "Achieved": k["achievement"],
            "Points": k["points"],
            "Of annual target": k["annual_progress"],
        }
    )
    missing = "scores 0" if s.settings.missing == "zero" else "is left out"
    return table(
        df,
        caption=f"KPIs of the {s.fiscal_year} contract, against the plan to date",
        units=f"achievement capped at {s.settings.cap:.0%}; points = weight x achieved; "
        f"a KPI without an actual {missing}",
        formats={
            "Weight": "{:,.0f}",
            "Achieved": "pct0",
            "Points": "{:,.1f}",
            "Of annual target": "pct0",
        },
        max_rows=100,
    )


def quarter_chart(s: ContractScore) -> figure | note:
    """Weighted score at the end of each quarter, with the grade bands."""
    q = s.quarters
    if not len(q) or q["score"].isna().all():
        return note("No quarter scored yet.")
    fig, ax = svgplot.subplots(figsize=(7, 3.4))
    labels = [_quarter(s, int(x)).split(" ")[0] for x in q["quarter"]]
    colours = [
        STATUS_COLOURS["good"]
        if g in (s.settings.grades[0][1], s.settings.grades[1][1])
        else STATUS_COLOURS["bad"]
        if g == s.settings.grades[-1][1]
        else STATUS_COLOURS["watch"]
        for g in q["grade"]
    ]
    ax.bar(labels, q["score"].fillna(0.0), color=colours, width=0.55)
    for x, (score, grade) in enumerate(zip(q["score"], q["grade"], strict=True)):
        if not pd.isna(score):
            ax.text(x, score + 1.5, f"{score:.0f} ({grade})", ha="center", fontsize=9)
    for minimum, grade, _ in s.settings.grades[:-1]:
        ax.axhline(minimum, color="#6B7280", lw=0.8, ls=":")
        ax.text(len(labels) - 0.5, minimum, f" {grade} from {minimum:g}", va="center", fontsize=8)
    ax.set_ylim(0, 110)
    ax.set_xlim(-0.6, len(labels) - 0.4 + 0.6)
    ax.set_ylabel("Weighted score (0-100)")
    ax.set_title(f"Contract score by quarter, {s.fiscal_year}")
    alt = "Contract score by quarter: " + "; ".join(
        f"{lab} {'not scored' if pd.isna(v) else f'{v:.0f} ({g})'}"
        for lab, v, g in zip(labels, q["score"], q["grade"], strict=True)
    )
    return figure(fig, alt=alt)


def quarter_table(s: ContractScore) -> table | note:
    q = s.quarters
    if not len(q):
        return note("No quarter of the year has ended yet.")
    df = pd.DataFrame(
        {
            "Quarter": [_quarter(s, int(x)) for x in q["quarter"]],
            "Score": q["score"],
            "Grade": q["grade"].fillna("\u2013"),
            "KPIs reported": [f"{int(r)} of {len(s.kpis)}" for r in q["reported"]],
        }
    )
    return table(
        df,
        caption="Score to date at each quarter end",
        formats={"Score": "{:,.0f}"},
    )


def _bands_text(s: ContractScore) -> str:
    parts = [f"{g} from {m:g}" for m, g, _ in s.settings.grades[:-1]]
    whose = "this contract's own bands" if s.own_bands else "the default bands"
    return f"Grades ({whose}): {', '.join(parts)}, {s.settings.grades[-1][1]} below."


def data_notes(s: ContractScore) -> list[note]:
    """The scoring rules and the data behind them."""
    out = []
    if s.has_contract:
        signed = (
            f" signed {pd.Timestamp(s.signed_date):%d %B %Y}"
            if s.signed_date is not None and not pd.isna(s.signed_date)
            else ""
        )
        out.append(
            note(
                f"Contract for {s.fiscal_year}{signed}: {wording.plural(len(s.kpis), 'KPI')}, weights "
                f"summing to 100. Data as of {month_label(s.month)}: quarterly actuals of the "
                "quarters ended by then."
            )
        )
    out.append(
        note(
            "Plan to date: the quarter's planned value when the contract gives one; otherwise "
            "a straight line from the baseline to the annual target (a quarter of the way each "
            "quarter), or the annual target for a KPI without a baseline. Achievement = "
            "(actual - baseline) / (plan - baseline), or actual / plan (target / actual for "
            "lower-is-better) without a baseline; a KPI to maintain scores 100% inside its "
            f"band and 0 outside. Achievement is capped at {s.settings.cap:.0%}."
        )
    )
    missing = (
        "A KPI without any actual yet scores 0."
        if s.settings.missing == "zero"
        else "A KPI without any actual yet is left out of the score."
    )
    out.append(
        note(
            "Score = 100 x sum(weight x achievement) / sum(weight). Each KPI counts at its "
            "latest reported quarter, against the plan for that quarter, so a late return does "
            f'not lower the score. {missing} {_bands_text(s)} "Of annual target" is the '
            "latest actual against the year's target, shown separately."
        )
    )
    return out


def league_table(lg: pd.DataFrame, names: Mapping[str, str], fiscal_year: str) -> table | note:
    """Overview: the ministries' contract scores, best first (ties share a rank)."""
    if not len(lg):
        return note(f"No performance contracts for {fiscal_year}.")
    df = pd.DataFrame(
        {
            "Rank": lg["rank"],
            "Ministry / division": [names.get(d, d) for d in lg["department"]],
            "Score": lg["score"],
            "Grade": lg["grade"].fillna("not scored"),
            "KPIs reported": [
                f"{r} of {n}" for r, n in zip(lg["reported"], lg["kpis"], strict=True)
            ],
        }
    )
    return table(
        df,
        caption=f"Performance contracts {fiscal_year}: weighted score against the plan to date",
        formats={"Score": "{:,.0f}"},
        max_rows=200,
    )


def league_messages(lg: pd.DataFrame, names: Mapping[str, str], fiscal_year: str) -> list[str]:
    """One sentence for the overview's key messages: how many scored, the spread, the lowest."""
    scored = lg.dropna(subset=["score"])
    if not len(scored):
        return []

    def who(d: str) -> str:
        return names.get(d, d)

    low = scored[scored["grade"].isin(["D", "E"])]
    worst = scored.iloc[-1]
    text = (
        f"Performance contracts {fiscal_year}: {len(scored)} of {len(lg)} scored against the "
        f"plan to date, median score {scored['score'].median():.0f}; lowest "
        f"{who(worst['department'])} ({worst['score']:.0f}, grade {worst['grade']})"
    )
    if len(low):
        text += f"; {len(low)} at grade D or E: " + ", ".join(
            who(d) for d in low["department"].head(4)
        )
    return [text + "."]
