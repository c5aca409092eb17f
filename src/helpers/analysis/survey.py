"""Citizen perception survey: satisfaction estimates, district ranking, key drivers, trend.

Pure functions on the respondent-level frame returned by
``helpers.data.warehouse.survey_frame(wave, services)`` (respondents joined to their ratings:
one row per respondent and service used; columns of ``survey_respondents`` and
``survey_ratings``). Nothing here prints or returns respondent-level rows: every output is an
aggregate with its own n, and :func:`apply_disclosure` blanks cells below the minimum n.

Definitions (documented settings)
---------------------------------
- Design: stratum = ``district_pcode``, PSU = ``psu``, weight = ``weight``; an FPC only when
  the instrument's fpc column counts PSUs (``design.fpc_counts: psus`` or ``fraction``), never
  from KP's ``stratum_population``, which counts persons (see
  :mod:`helpers.analysis.survey_design`). A district with a
  single PSU in a wave is handled with ``LONELY_PSU = "adjust"`` (conservative centring on the
  average PSU total) so that one thin district never stops a report.
- Satisfaction (top-2-box): share of ratings of 4 or 5 on the 5-point scale.
- Net satisfaction: share 4-5 minus share 1-2 (a mean of +1/0/-1 scores), from -100% to +100%.
- Mean score: mean rating, 1..5. Missing ratings ("don't know") are excluded (a domain).
- Department-level and district figures pool the department's services: the unit is a service
  use (respondent x service), so a respondent who used two services counts in both.
- Change since the previous wave: independent samples,
  ``z = (p1 - p0) / sqrt(se1^2 + se0^2)``, two-sided normal p-value.
- Shares carry Korn-Graubard 95% intervals (R ``svyciprop(method = "beta")``); ``n`` counts
  respondents (once in a pooled cell), ``n_eff`` is the smaller of Kish's and the design-based
  effective size, ``deff`` the design effect.
- Disclosure control: the NCHS Data Presentation Standards for Proportions (Parker et al.
  2017, Vital Health Stat 2(175)), see :func:`apply_disclosure`; net satisfaction and the
  mean score take the flags of the share of the same group.
- Key drivers: survey-weighted logit (pseudo maximum likelihood) of satisfied (top-2-box of
  ``DRIVER_OUTCOME``) on the five attribute ratings (per rating point) and gender, age band
  and area; standard errors from the design (Taylor linearisation over districts and PSUs, as
  R's ``svyglm``), complete cases only.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import beta as beta_dist
from scipy.stats import norm
from scipy.stats import t as t_dist

from helpers.analysis.survey_design import RakingError, SurveyDesign, SurveyDesignError
from helpers.data import survey_instrument
from helpers.data.calendar import as_month
from helpers.small_cells import DEFAULT_MIN_N

STRATUM, PSU, WEIGHT, FPC = "district_pcode", "psu", "weight", "stratum_population"
LONELY_PSU = "adjust"
RSE_THRESHOLD = 0.30  # shown (rse column) but no longer a publication rule: see NCHS_* below
#: NCHS Data Presentation Standards for Proportions (Parker et al. 2017, Vital Health Stat
#: 2(175)): a proportion is suppressed when its effective sample size is below NCHS_MIN_N_EFF,
#: when its Korn-Graubard 95% CI is NCHS_MAX_WIDTH wide or wider, or when the CI is wider than
#: NCHS_SMALL_WIDTH and wider than NCHS_MAX_RELATIVE_WIDTH times the estimate; it is flagged for
#: review when the CI is wider than NCHS_MAX_RELATIVE_WIDTH times the complement (1 - p), when
#: the design has fewer than NCHS_MIN_DF degrees of freedom, or when it is 0% or 100%.
NCHS_MIN_N_EFF = 30
NCHS_MAX_WIDTH = 0.30
NCHS_SMALL_WIDTH = 0.05
NCHS_MAX_RELATIVE_WIDTH = 1.30
NCHS_MIN_DF = 8
#: What the complement rule does (CI wider than 130% of 1 - p). NCHS sends such a cell to
#: statistical review ("review"); the suite suppresses it ("suppress", the default), because a
#: published share of satisfied respondents also publishes its complement (94% satisfied says
#: 6% are not): p = 0.06 and p = 0.94 with the same SE are then treated alike.
COMPLEMENT_RULE = "suppress"
#: the interval published for shares: "korn-graubard" (R svyciprop(method = "beta"), the NCHS
#: interval) or "logit" (R svyciprop(method = "logit")); both stay inside 0-100%
SHARE_INTERVAL = "korn-graubard"
PROPORTION_MEASURES = ("satisfied",)
SATISFIED_SCORES = (4, 5)
DISSATISFIED_SCORES = (1, 2)
DRIVER_OUTCOME = "satisfaction"  # the service rating; "overall_satisfaction" is the alternative
ATTRIBUTES: dict[str, str] = {
    "staff_behaviour": "Staff behaviour",
    "waiting_time": "Waiting time",
    "cost": "Cost",
    "availability": "Availability",
    "cleanliness": "Cleanliness",
}
DEMOGRAPHICS: dict[str, tuple[str, list[str]]] = {
    # column: (reference level, other levels in display order)
    "gender": ("male", ["female"]),
    "age_band": ("18-29", ["30-44", "45-59", "60+"]),
    "area": ("urban", ["rural"]),
}
DEMOGRAPHIC_LABELS = {
    "gender=female": "Women (vs men)",
    "age_band=30-44": "Aged 30-44 (vs 18-29)",
    "age_band=45-59": "Aged 45-59 (vs 18-29)",
    "age_band=60+": "Aged 60+ (vs 18-29)",
    "area=rural": "Rural (vs urban)",
}
MEASURES: dict[str, str] = {
    "satisfied": "Satisfied (4-5)",
    "net": "Net satisfaction",
    "satisfaction": "Mean score (1-5)",
}
REQUIRED_COLUMNS = ("respondent_id", "service", "satisfaction")
EQUAL_WEIGHT = "_equal_weight"
DRIVER_MIN_ROWS = 30  # fewest complete ratings for a driver model ...
DRIVER_ROWS_PER_TERM = 5  # ... and per model term


class SurveyDataError(ValueError):
    """The survey frame is missing columns or holds values outside the documented ranges."""


# ---------------------------------------------------------------------------- preparation
def _instrument(instrument=None):
    return instrument if instrument is not None else survey_instrument.active()


def prepare_frame(frame: pd.DataFrame, instrument=None) -> pd.DataFrame:
    """Validate a survey frame and add the derived 0/1 and -1/0/+1 indicators.

    Adds ``satisfied`` (1 if satisfaction lies in the instrument's satisfied range, e.g. 4-5;
    0 otherwise; NaN if missing), ``net`` (+1 satisfied / 0 / -1 dissatisfied, NaN if missing)
    and ``overall_satisfied`` for ``overall_satisfaction`` when present. Raises
    :class:`SurveyDataError` for missing columns or ratings outside the item's scale.
    """
    inst = _instrument(instrument)
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise SurveyDataError(f"survey frame lacks columns: {', '.join(missing)}")
    out = frame.copy()
    scales = {"satisfaction": inst.outcome_item.scale}
    scales |= {a: it.scale for a, it in inst.attributes.items()}
    if inst.overall_item is not None:
        scales["overall_satisfaction"] = inst.overall_item.scale
    for col, sc in scales.items():
        if col not in out.columns:
            continue
        vals = pd.to_numeric(out[col], errors="coerce").astype("float64")
        bad = vals.notna() & ~vals.isin(list(sc.codes))
        if bad.any():
            raise SurveyDataError(f"{col}: {int(bad.sum())} rating(s) outside {sc.low}..{sc.high}")
        out[col] = vals
    sc = scales["satisfaction"]
    s = out["satisfaction"]
    sat = s.isin(list(sc.satisfied_codes)).astype(float)
    out["satisfied"] = np.where(s.isna(), np.nan, sat)
    out["net"] = np.where(s.isna(), np.nan, sat - s.isin(list(sc.dissatisfied_codes)).astype(float))
    if "overall_satisfaction" in out.columns:
        o = out["overall_satisfaction"]
        osc = scales.get("overall_satisfaction", sc)
        out["overall_satisfied"] = np.where(
            o.isna(), np.nan, o.isin(list(osc.satisfied_codes)).astype(float)
        )
    return out


def complete_frame(frame: pd.DataFrame, respondents: pd.DataFrame) -> pd.DataFrame:
    """Add the wave's respondents who rated none of the services (with ``service`` missing).

    ``survey_frame(wave, services)`` returns only respondents who used those services, but the
    design must keep every PSU of the wave (a PSU with no service user still counts in the
    variance, with zero influence). Respondents already in ``frame`` are not duplicated.
    """
    missing = [c for c in ("respondent_id",) if c not in respondents.columns]
    if missing:
        raise SurveyDataError(f"respondent file lacks columns: {', '.join(missing)}")
    extra = respondents[~respondents["respondent_id"].isin(frame["respondent_id"])]
    if extra.empty:
        return frame
    extra = extra[[c for c in extra.columns if c in frame.columns]].copy()
    extra["service"] = None
    return pd.concat([frame, extra], ignore_index=True)


def _usable(frame: pd.DataFrame, col: str | None) -> str | None:
    """The column when the frame holds it with values (None: the design leaves it out)."""
    if col is None or col not in frame.columns or frame[col].isna().all():
        return None
    return col


def design_for(frame: pd.DataFrame, instrument=None) -> SurveyDesign:
    """The survey design of one wave, as the instrument defines it (KP: strata = districts,
    PSU, weight; no FPC, because KP's stratum_population counts persons, not PSUs).

    Without weights every respondent weighs 1 (equal weights); without PSUs each respondent is
    its own sampling unit (simple random sampling within strata; a respondent's ratings of
    several services stay together); without strata one stratum. With raking margins in the
    instrument the weights are raked to them (:meth:`SurveyDesign.raked`)."""
    inst = _instrument(instrument)
    weight = _usable(frame, WEIGHT) if not inst.equal_weights else None
    if weight is None:
        frame = frame.assign(**{EQUAL_WEIGHT: 1.0})
        weight = EQUAL_WEIGHT
    strata = _usable(frame, inst.stratum_column)
    psu = _usable(frame, PSU) if inst.design.psu is not None else None
    if psu is None:
        psu = "respondent_id"
    # An FPC only when the instrument's fpc column counts PSUs (or is a sampling fraction): a
    # stratum population in persons is not the N_h of R's svydesign(fpc=) and gives none.
    fpc = _usable(frame, FPC) if inst.design.applies_fpc else None
    design = SurveyDesign(
        frame, weight=weight, strata=strata, psu=psu, fpc=fpc, lonely_psu=LONELY_PSU
    )
    if inst.design.raking:
        margins = [(list(m.variables), m.frame()) for m in inst.design.raking]
        design = design.raked(margins, unit="respondent_id")
    return design


def design_words(instrument=None) -> dict[str, object]:
    """What the report says about the design: weights (design / equal / raked), PSUs, strata."""
    inst = _instrument(instrument)
    d = inst.design
    return {
        "equal_weights": inst.equal_weights,
        "psu": d.psu is not None,
        "strata": d.strata is not None,
        "fpc": d.applies_fpc,
        "fpc_column": d.fpc,
        "fpc_counts": d.fpc_counts,
        "raking": [list(m.variables) for m in d.raking],
    }


def select_wave(waves: Iterable, month) -> dt.date | None:
    """The latest survey wave at or before ``month`` (None when the month precedes them all)."""
    m = as_month(month)
    eligible = sorted(as_month(w) for w in waves if as_month(w) <= m)
    return eligible[-1] if eligible else None


def previous_wave(waves: Iterable, wave) -> dt.date | None:
    """The wave before ``wave`` (None for the first)."""
    w = as_month(wave)
    earlier = sorted(as_month(x) for x in waves if as_month(x) < w)
    return earlier[-1] if earlier else None


# ---------------------------------------------------------------------------- disclosure
def design_df(design: SurveyDesign) -> float:
    """Design degrees of freedom, as R's ``degf``: PSUs minus strata (at least 1)."""
    return float(max(design.n_psu - design.n_strata, 1))


def design_n_eff(p, se, n) -> np.ndarray:
    """Design-based effective sample size of a proportion: ``p (1 - p) / se^2`` (= n / deff),
    at most ``n``; ``n`` itself when the cell has no variation (p = 0 or 1, or se = 0), as the
    NCHS standard does."""
    p, se, n = (np.asarray(x, dtype=float) for x in (p, se, n))
    with np.errstate(divide="ignore", invalid="ignore"):
        ne = p * (1 - p) / se**2
    flat = (p <= 0) | (p >= 1) | (se <= 0)
    return np.where(flat, n, np.minimum(ne, n))


def design_effect(p, se, n) -> np.ndarray:
    """Design effect of a proportion: ``se^2 / (p (1 - p) / n)`` (NaN at 0% or 100%)."""
    p, se, n = (np.asarray(x, dtype=float) for x in (p, se, n))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((p > 0) & (p < 1) & (n > 0), n * se**2 / (p * (1 - p)), np.nan)


def korn_graubard(p, n_eff, n=None, df=math.inf, level: float = 0.95):
    """Korn-Graubard (1998) interval: Clopper-Pearson with the effective sample size, as R's
    ``svyciprop(method = "beta")``. With finite design df the effective size is multiplied by
    ``(t_{n-1} / t_df)^2`` (``n`` = the cell's sample size). Returns (low, high)."""
    p, ne = np.asarray(p, dtype=float), np.asarray(n_eff, dtype=float)
    a = (1 - level) / 2
    if n is not None and math.isfinite(df):
        nn = np.asarray(n, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            adj = np.where(
                nn > 1, (t_dist.ppf(a, np.maximum(nn - 1, 1)) / t_dist.ppf(a, df)) ** 2, 1
            )
        ne = ne * adj
    x = ne * p
    with np.errstate(divide="ignore", invalid="ignore"):
        lo = np.where(x > 0, beta_dist.ppf(a, x, ne - x + 1), 0.0)
        hi = np.where(ne - x > 0, beta_dist.ppf(1 - a, x + 1, ne - x), 1.0)
    bad = ~np.isfinite(p) | ~(ne > 0)
    return np.where(bad, np.nan, lo), np.where(bad, np.nan, hi)


def logit_interval(p, se, df=math.inf, level: float = 0.95):
    """R's ``svyciprop(method = "logit")``: a t interval for logit(p) with SE
    ``se / (p (1 - p))``, transformed back. Undefined (NaN) at 0% and 100%."""
    p, se = np.asarray(p, dtype=float), np.asarray(se, dtype=float)
    q = (
        norm.ppf(1 - (1 - level) / 2)
        if not math.isfinite(df)
        else t_dist.ppf(1 - (1 - level) / 2, df)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        lg = np.log(p / (1 - p))
        half = q * se / (p * (1 - p))
        lo, hi = 1 / (1 + np.exp(-(lg - half))), 1 / (1 + np.exp(-(lg + half)))
    ok = (p > 0) & (p < 1)
    return np.where(ok, lo, np.nan), np.where(ok, hi, np.nan)


def share_interval(p, se, n, df=math.inf, method: str = SHARE_INTERVAL):
    """The published interval of a share (``SHARE_INTERVAL``): Korn-Graubard, or logit with
    Korn-Graubard at 0% and 100% (where the logit interval does not exist)."""
    ne = design_n_eff(p, se, n)
    kg = korn_graubard(p, ne, n, df)
    if method == "korn-graubard":
        return kg
    if method != "logit":
        raise ValueError(f"method must be 'korn-graubard' or 'logit', got {method!r}")
    lo, hi = logit_interval(p, se, df)
    return np.where(np.isnan(lo), kg[0], lo), np.where(np.isnan(hi), kg[1], hi)


def apply_disclosure(
    est: pd.DataFrame,
    min_n: int = DEFAULT_MIN_N,
    rse_threshold: float = RSE_THRESHOLD,
    df: float = math.inf,
    measure_col: str | None = None,
) -> pd.DataFrame:
    """Suppress and flag cells by the NCHS standards for proportions (and ``min_n``).

    ``est`` has estimate, se, n (respondents), n_eff (Kish's, over respondents) per cell;
    ``df`` is the design's degrees of freedom. For proportion cells (every row, or the rows of
    ``measure_col`` in ``PROPORTION_MEASURES``) it adds ``deff``, ``n_eff_design`` and
    ``n_eff_kish``, sets ``n_eff`` = the smaller of the design-based and Kish effective sizes,
    replaces the CI by the share interval (Korn-Graubard), and applies, in order:

    1. ``n < min_n`` or no estimate: suppressed (n stays; it is not disclosive);
    2. ``n_eff < 30`` (or below ``min_n`` when that is set lower): suppressed;
    3. CI width <= 0.05: published;
    4. CI width >= 0.30: suppressed;
    5. CI width > 130% of the estimate: suppressed;
    6. CI width > 130% of the complement (1 - p): suppressed (``COMPLEMENT_RULE`` "suppress")
       or published for review (NCHS, "review");
    rules 3-6 do not apply to 0% and 100%. A published cell is flagged for *review*
    (``unstable`` True) under rule 6 ("review"), with fewer than 8 design degrees of freedom,
    or at 0% or 100%.

    Other cells (net satisfaction, mean score) get rule 1 here and take the flags of the
    proportion of their group (:func:`_inherit_flags`). Suppressed cells get NaN estimate, se,
    CI, rse, n_eff and deff. ``status`` holds the reason shown in tables.
    """
    if min_n < 1:
        raise ValueError(f"min_n must be at least 1, got {min_n}")
    out = est.copy()
    p, se = out["estimate"].astype(float), out["se"].astype(float)
    n = out["n"].astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["rse"] = np.where(p.abs() > 0, se / p.abs(), np.nan)
    prop = (
        out[measure_col].isin(PROPORTION_MEASURES)
        if measure_col
        else pd.Series(True, index=out.index)
    ).to_numpy()
    kish = out["n_eff"].astype(float).to_numpy() if "n_eff" in out else n.to_numpy()
    ne_d = design_n_eff(p, se, n)
    lo, hi = share_interval(p, se, n, df)
    out["n_eff_kish"] = np.where(prop, kish, np.nan)
    out["n_eff_design"] = np.where(prop, ne_d, np.nan)
    out["deff"] = np.where(prop, design_effect(p, se, n), np.nan)
    out["n_eff"] = np.where(prop, np.fmin(kish, ne_d), kish)
    out["ci_low"] = np.where(prop, lo, out["ci_low"])
    out["ci_high"] = np.where(prop, hi, out["ci_high"])
    width = (out["ci_high"] - out["ci_low"]).to_numpy(dtype=float)
    pv = p.to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(pv > 0, width / pv, np.inf)
        rel_c = np.where(pv < 1, width / (1 - pv), np.inf)
    small_n = (n < min_n).to_numpy() | p.isna().to_numpy()
    low_eff = prop & ~small_n & (out["n_eff"].to_numpy() < min(min_n, NCHS_MIN_N_EFF))
    # 0% and 100%: the width rules do not apply (NCHS); published, flagged for review
    extreme = (pv <= 0) | (pv >= 1)
    rest = prop & ~small_n & ~low_eff & ~extreme & (width > NCHS_SMALL_WIDTH + 1e-12)
    too_wide = rest & (width >= NCHS_MAX_WIDTH - 1e-12)
    too_rel = rest & ~too_wide & (rel > NCHS_MAX_RELATIVE_WIDTH)
    wide_c = rest & ~too_wide & ~too_rel & (rel_c > NCHS_MAX_RELATIVE_WIDTH)
    sup_c = wide_c if COMPLEMENT_RULE == "suppress" else np.zeros_like(wide_c)
    suppressed = small_n | low_eff | too_wide | too_rel | sup_c
    published = prop & ~suppressed
    rev_c = published & wide_c
    rev_df = published & (df < NCHS_MIN_DF)
    rev_0 = published & extreme
    out["suppressed"] = suppressed
    out["unstable"] = rev_c | rev_df | rev_0
    blank = ["estimate", "se", "ci_low", "ci_high", "rse", "n_eff", "deff", "n_eff_design",
             "n_eff_kish"]  # fmt: skip
    out.loc[out["suppressed"], blank] = np.nan
    out["status"] = np.select(
        [small_n, low_eff, too_wide, too_rel, sup_c, rev_0, rev_c, rev_df],
        [
            f"suppressed (n<{min_n})",
            f"suppressed (effective n<{min(min_n, NCHS_MIN_N_EFF)})",
            f"suppressed (CI {NCHS_MAX_WIDTH:.0%} wide or more)",
            f"suppressed (CI wider than {NCHS_MAX_RELATIVE_WIDTH:.0%} of the estimate)",
            f"suppressed (CI wider than {NCHS_MAX_RELATIVE_WIDTH:.0%} of 100% minus the estimate)",
            "review (0% or 100%)",
            f"review (CI wider than {NCHS_MAX_RELATIVE_WIDTH:.0%} of 100% minus the estimate)",
            f"review (fewer than {NCHS_MIN_DF} degrees of freedom)",
        ],
        default="",
    )
    return out


def _inherit_flags(est: pd.DataFrame, keys: list[str], min_n: int) -> pd.DataFrame:
    """Net satisfaction and the mean score take the suppression and review flags of the
    top-2-box proportion of their group (the NCHS standard is for proportions)."""
    base = est[est["measure"] == "satisfied"].set_index(keys)[
        ["suppressed", "unstable", "status", "n_eff"]
    ]
    other = est["measure"] != "satisfied"
    if not other.any():
        return est
    idx = (
        pd.MultiIndex.from_frame(est.loc[other, keys]) if len(keys) > 1 else est.loc[other, keys[0]]
    )
    flags = base.reindex(idx)
    out = est.copy()
    sup = out.loc[other, "suppressed"].to_numpy(dtype=bool) | flags["suppressed"].fillna(
        True
    ).to_numpy(dtype=bool)
    out.loc[other, "suppressed"] = sup
    out.loc[other, "unstable"] = ~sup & flags["unstable"].fillna(False).to_numpy(dtype=bool)
    out.loc[other, "status"] = np.where(
        out.loc[other, "n"].to_numpy() < min_n,
        f"suppressed (n<{min_n})",
        flags["status"].fillna("").to_numpy(dtype=object),
    )
    out.loc[other, "n_eff"] = flags["n_eff"].to_numpy(dtype=float)
    blank = ["estimate", "se", "ci_low", "ci_high", "rse", "n_eff"]
    rows = out.index[other][sup]
    out.loc[rows, blank] = np.nan
    return out


def cell_respondents(
    design: SurveyDesign, mask: np.ndarray, by: str | list[str] | None = None
) -> pd.DataFrame:
    """Respondents behind each cell: ``n`` (distinct respondents with a rating in the cell)
    and ``n_eff`` (Kish's ``(sum w)^2 / sum w^2`` over those respondents, each weight once).

    A pooled cell counts a respondent who rated two services once, not twice."""
    data = design.data
    keys = [] if by is None else ([by] if isinstance(by, str) else list(by))
    cells = data.loc[mask, [*keys, "respondent_id"]].assign(_w=design.w[mask])
    cells = cells.drop_duplicates([*keys, "respondent_id"])
    cells = cells.assign(_w2=cells["_w"] ** 2)
    if keys:
        g = cells.groupby(keys, dropna=True)
        out = pd.DataFrame({"n": g.size(), "sw": g["_w"].sum(), "sw2": g["_w2"].sum()})
        out = out.reset_index()
    else:
        out = pd.DataFrame(
            {"n": [len(cells)], "sw": [cells["_w"].sum()], "sw2": [cells["_w2"].sum()]}
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        out["n_eff"] = np.where(out["sw2"] > 0, out["sw"] ** 2 / out["sw2"], 0.0)
    return out.drop(columns=["sw", "sw2"])


def _with_respondents(
    res: pd.DataFrame, design: SurveyDesign, mask: np.ndarray, by
) -> pd.DataFrame:
    """Replace the rating counts of ``res`` by respondent counts (``n_ratings`` keeps them)."""
    counts = cell_respondents(design, mask, by)
    out = res.rename(columns={"n": "n_ratings"}).drop(columns=["n_eff"])
    if by is None:
        out["n"] = int(counts["n"].iloc[0])
        out["n_eff"] = float(counts["n_eff"].iloc[0])
        return out
    keys = [by] if isinstance(by, str) else list(by)
    return out.merge(counts, on=keys, how="left")


# ---------------------------------------------------------------------------- estimates
def _measure_estimates(
    design: SurveyDesign, by: str | list[str] | None, domain: np.ndarray | None, instrument=None
) -> pd.DataFrame:
    res = design.means(list(MEASURES), by=by, domain=domain)
    res = res.rename(columns={"variable": "measure"})
    return clip_intervals(res, "measure", instrument=instrument)


MEASURE_RANGES = {"satisfied": (0.0, 1.0), "net": (-1.0, 1.0), "satisfaction": (1.0, 5.0)}


def measure_ranges(instrument=None) -> dict[str, tuple[float, float]]:
    """The possible range of each measure (the mean score on the outcome's scale)."""
    sc = _instrument(instrument).outcome_item.scale
    return MEASURE_RANGES | {"satisfaction": (float(sc.low), float(sc.high))}


def clip_intervals(
    est: pd.DataFrame,
    measure_col: str | None = None,
    measure: str = "satisfied",
    instrument=None,
) -> pd.DataFrame:
    """Truncate normal-approximation CIs to the possible range of each measure.

    A share cannot fall below 0% (a CI of 1% +/- 3% is published as 0% to 4%). The SE is kept.
    """
    out = est.copy()
    ranges = measure_ranges(instrument)
    kinds = out[measure_col] if measure_col else pd.Series(measure, index=out.index)
    lo = kinds.map(lambda k: ranges[k][0]).astype(float)
    hi = kinds.map(lambda k: ranges[k][1]).astype(float)
    out["ci_low"] = out["ci_low"].clip(lower=lo)
    out["ci_high"] = out["ci_high"].clip(upper=hi)
    return out


def _rated(design: SurveyDesign, in_dept: np.ndarray) -> np.ndarray:
    """Rows that count in a cell: a rating of the department's services with an answer."""
    return in_dept & design.data["satisfied"].notna().to_numpy()


def service_estimates(
    frame: pd.DataFrame,
    services: pd.DataFrame,
    min_n: int = DEFAULT_MIN_N,
    design: SurveyDesign | None = None,
    instrument=None,
) -> pd.DataFrame:
    """Satisfaction, net satisfaction and mean score per service, plus the department pool.

    ``services`` has columns ``service`` and ``label`` (the department's surveyed services).
    Returns one row per (service, measure) with estimate, se, CI, n (respondents),
    n_ratings, n_eff, deff, rse, flags; the pooled department row has ``service == "all"``.
    Shares carry the Korn-Graubard interval and the NCHS rules (:func:`apply_disclosure`).
    """
    prepared = frame if "satisfied" in frame.columns else prepare_frame(frame, instrument)
    design = design or design_for(prepared, instrument)
    codes = list(services["service"])
    in_dept = prepared["service"].isin(codes).to_numpy()
    rated = _rated(design, design.data["service"].isin(codes).to_numpy())
    per = _measure_estimates(design, "service", in_dept, instrument)
    per = per[per["service"].isin(codes)]
    per = _with_respondents(per, design, rated, "service")
    pooled = _measure_estimates(design, None, in_dept, instrument).assign(service="all")
    pooled = _with_respondents(pooled, design, rated, None)
    out = pd.concat([per, pooled], ignore_index=True)
    labels = dict(zip(services["service"], services["label"], strict=True))
    labels["all"] = "All department services" if len(codes) > 1 else labels.get(codes[0], "")
    # Services nobody rated still get rows (n = 0, suppressed).
    full = pd.MultiIndex.from_product(
        [[*codes, "all"], list(MEASURES)], names=["service", "measure"]
    )
    out = out.set_index(["service", "measure"]).reindex(full).reset_index()
    out["n"] = out["n"].fillna(0).astype("int64")
    out["n_ratings"] = out["n_ratings"].fillna(0).astype("int64")
    out.insert(1, "label", out["service"].map(labels))
    out = apply_disclosure(out, min_n, df=design_df(design), measure_col="measure")
    return _inherit_flags(out, ["service"], min_n)


#: respondent categories the report breaks each service down by (as the instrument names them)
BREAKDOWNS = ("gender", "area")


def breakdown_estimates(
    frame: pd.DataFrame,
    services: pd.DataFrame,
    category: str,
    min_n: int = DEFAULT_MIN_N,
    design: SurveyDesign | None = None,
    instrument=None,
) -> pd.DataFrame:
    """Top-2-box satisfaction per service (and pooled) by a respondent category (gender, area).

    Domains of the full design (never a subset), with the same respondent counts, intervals
    and NCHS rules as :func:`service_estimates`. One row per (service, level) with the
    instrument's levels in order; a level nobody in it rated is suppressed (n = 0). Empty
    when the instrument or the frame lacks the category."""
    inst = _instrument(instrument)
    prepared = frame if "satisfied" in frame.columns else prepare_frame(frame, inst)
    cols = ["service", "label", "category", "level", "estimate", "se", "ci_low", "ci_high",
            "n", "n_ratings", "n_eff", "deff", "suppressed", "unstable", "status"]  # fmt: skip
    cat = inst.categories.get(category)
    if cat is None or category not in prepared.columns or prepared[category].isna().all():
        return pd.DataFrame(columns=cols)
    design = design or design_for(prepared, inst)
    codes = list(services["service"])
    in_dept = design.data["service"].isin(codes).to_numpy()
    rated = _rated(design, in_dept) & design.data[category].notna().to_numpy()
    parts = []
    for svc in [*codes, "all"]:
        dom = rated & (in_dept if svc == "all" else (design.data["service"] == svc).to_numpy())
        res = design.mean("satisfied", by=category, domain=dom)
        res = _with_respondents(res, design, dom, category)
        parts.append(res.assign(service=svc))
    out = pd.concat(parts, ignore_index=True).rename(columns={category: "level"})
    full = pd.MultiIndex.from_product(
        [[*codes, "all"], list(cat.levels)], names=["service", "level"]
    )
    out = out.set_index(["service", "level"]).reindex(full).reset_index()
    out["n"] = out["n"].fillna(0).astype("int64")
    out["n_ratings"] = out["n_ratings"].fillna(0).astype("int64")
    labels = dict(zip(services["service"], services["label"], strict=True))
    labels["all"] = "All department services" if len(codes) > 1 else labels.get(codes[0], "")
    out["label"] = out["service"].map(labels)
    out["category"] = category
    out = apply_disclosure(out, min_n, df=design_df(design))
    return out[cols]


def district_estimates(
    frame: pd.DataFrame,
    services: Sequence[str],
    districts: pd.DataFrame,
    min_n: int = DEFAULT_MIN_N,
    design: SurveyDesign | None = None,
    instrument=None,
) -> pd.DataFrame:
    """Top-2-box satisfaction with the department's services per district, ranked.

    ``districts`` has columns ``pcode`` and ``name`` (every unit of the profile's geography).
    A unit without a rating of these services is **not surveyed** (n = 0, ``surveyed`` False,
    status "not surveyed"); other units follow the NCHS rules (:func:`apply_disclosure`).
    Domain estimates use the full design. Adds ``rank`` (1 = lowest published satisfaction;
    ties share a rank and the next rank is skipped: competition ranking "1, 2, 2, 4") and
    ``below_province`` (the CI lies wholly below the whole-government figure).
    """
    prepared = frame if "satisfied" in frame.columns else prepare_frame(frame, instrument)
    design = design or design_for(prepared, instrument)
    in_dept = prepared["service"].isin(list(services)).to_numpy()
    rated = _rated(design, design.data["service"].isin(list(services)).to_numpy())
    if STRATUM in design.data.columns and design.data[STRATUM].notna().any():
        res = design.mean("satisfied", by=STRATUM, domain=in_dept)
        res = _with_respondents(res, design, rated, STRATUM)
    else:
        res = pd.DataFrame(
            columns=[STRATUM, "estimate", "se", "ci_low", "ci_high", "n", "n_ratings", "n_eff"]
        )
    prov = design.mean("satisfied", domain=in_dept).iloc[0]
    res = res.rename(columns={STRATUM: "pcode"})
    out = districts[["pcode", "name"]].merge(res, on="pcode", how="left")
    out["n"] = out["n"].fillna(0).astype("int64")
    out["n_ratings"] = out["n_ratings"].fillna(0).astype("int64")
    out = apply_disclosure(out, min_n, df=design_df(design))
    out["surveyed"] = out["n"] > 0
    out.loc[~out["surveyed"], "status"] = "not surveyed"
    published = out["estimate"].notna()
    out["rank"] = rank_lowest_first(out["estimate"].where(published))
    out["below_province"] = published & (out["ci_high"] < prov["estimate"])
    out["above_province"] = published & (out["ci_low"] > prov["estimate"])
    out["province_estimate"] = prov["estimate"]
    return out.sort_values(["rank", "name"], na_position="last").reset_index(drop=True)


def rank_lowest_first(values: pd.Series) -> pd.Series:
    """Rank 1 = lowest value; tied values share the lower rank and the next rank is skipped
    (standard competition ranking: 40%, 50%, 50%, 60% rank 1, 2, 2, 4). Missing: no rank.

    Values are compared after rounding to 12 decimals, so figures equal to the precision of
    the data tie rather than being split by floating-point noise."""
    return values.round(12).rank(method="min").astype("Int64")


def compare_waves(
    current: pd.DataFrame, previous: pd.DataFrame, keys: Sequence[str]
) -> pd.DataFrame:
    """Change between two waves for matching cells, with a two-sided z-test.

    Independent samples: ``z = (e1 - e0) / sqrt(se1^2 + se0^2)``. Cells suppressed in either
    wave get no change (NaN). Returns keys + ``previous``, ``current``, ``change``,
    ``se_change``, ``z``, ``p_value``, ``significant`` (p < 0.05).
    """
    keys = list(keys)
    cur = current[[*keys, "estimate", "se"]].rename(columns={"estimate": "current", "se": "se1"})
    prev = previous[[*keys, "estimate", "se"]].rename(columns={"estimate": "previous", "se": "se0"})
    out = cur.merge(prev, on=keys, how="left")
    out["change"] = out["current"] - out["previous"]
    out["se_change"] = np.sqrt(out["se1"] ** 2 + out["se0"] ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["z"] = np.where(out["se_change"] > 0, out["change"] / out["se_change"], np.nan)
    out["p_value"] = 2 * norm.sf(np.abs(out["z"]))
    out["significant"] = out["p_value"] < 0.05
    return out.drop(columns=["se1", "se0"])


def driver_terms(
    frame: pd.DataFrame,
    services: Sequence[str],
    outcome: str = DRIVER_OUTCOME,
    instrument=None,
) -> tuple[list[str], dict[str, str], dict[str, int]]:
    """Which attributes and respondent categories the driver model can use.

    Returns (attributes used, {attribute left out: why}, {attribute: ratings with an answer}).
    An attribute of the instrument is used when the frame has it and enough of the
    department's ratings answer it together with the outcome; attributes are dropped, the one
    with the fewest answers first, until the complete rows reach ``DRIVER_ROWS_PER_TERM`` per
    model term and at least ``DRIVER_MIN_ROWS``."""
    inst = _instrument(instrument)
    y_col = "satisfied" if outcome == "satisfaction" else "overall_satisfied"
    data = frame
    in_dept = data["service"].isin(list(services))
    if y_col in data.columns:
        base = in_dept & data[y_col].notna()
    else:
        base = in_dept & False
    counts: dict[str, int] = {}
    lacking: dict[str, str] = {}
    cands = []
    for a in inst.drivers:
        if a not in data.columns:
            counts[a] = 0
            lacking[a] = "not in the survey data"
            continue
        counts[a] = int((base & data[a].notna()).sum())
        if counts[a] == 0:
            lacking[a] = "no answers"
        else:
            cands.append(a)
    cats = [c for c in inst.categories if c in data.columns and data.loc[base, c].notna().any()]

    def n_terms(attrs: list[str]) -> int:
        return 1 + len(attrs) + sum(len(inst.categories[c].levels) - 1 for c in cats)

    while cands:
        complete = int((base & data[[*cands, *cats]].notna().all(axis=1)).sum())
        if complete >= max(DRIVER_MIN_ROWS, DRIVER_ROWS_PER_TERM * n_terms(cands)):
            break
        worst = min(cands, key=lambda a: (counts[a], a))
        cands.remove(worst)
        lacking[worst] = f"too few answers ({counts[worst]:,} ratings)"
    return cands, lacking, counts


def key_drivers(
    frame: pd.DataFrame,
    services: Sequence[str],
    outcome: str = DRIVER_OUTCOME,
    design: SurveyDesign | None = None,
    instrument=None,
    attributes: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Survey-weighted logit of being satisfied on attribute ratings and demographics.

    Rows: uses of the department's services with the outcome, all attribute ratings used and
    all respondent categories present (complete cases, a domain of the full design). The
    attributes are the instrument's drivers (default: those :func:`driver_terms` keeps); a
    category level without complete rows is left out. With more than one service, service
    dummies are added as controls (not reported). Returns one row per reported term with
    ``term``, ``label``, ``kind`` ('attribute'/'demographic'), ``coef``, ``se``,
    ``odds_ratio``, ``or_low``, ``or_high``, ``p_value``, and the model ``n``.
    """
    inst = _instrument(instrument)
    prepared = frame if "satisfied" in frame.columns else prepare_frame(frame, inst)
    design = design or design_for(prepared, inst)
    if outcome not in ("satisfaction", "overall_satisfaction"):
        raise ValueError("outcome must be 'satisfaction' or 'overall_satisfaction'")
    y_col = "satisfied" if outcome == "satisfaction" else "overall_satisfied"
    data = design.data
    in_dept = data["service"].isin(list(services))
    attrs = list(inst.drivers if attributes is None else attributes)
    cats = {c: inst.categories[c] for c in inst.categories if c in data.columns}
    cats = {c: v for c, v in cats.items() if data.loc[in_dept, c].notna().any()}
    needed = [y_col, *attrs, *cats]
    absent = [c for c in needed if c not in data.columns]
    if absent:
        raise SurveyDataError(f"key drivers need columns: {', '.join(absent)}")
    if not attrs:
        raise SurveyDataError("no attribute has enough answers for a key-driver model")
    complete = in_dept & data[needed].notna().all(axis=1)
    x = pd.DataFrame(index=data.index)
    for a in attrs:
        x[a] = data[a].astype(float)
    labels = {a: inst.label_of(a) for a in attrs}
    for col, cat in cats.items():
        for lv in cat.levels:
            if lv == cat.reference or not (complete & (data[col] == lv)).any():
                continue
            x[f"{col}={lv}"] = (data[col] == lv).astype(float)
            labels[f"{col}={lv}"] = cat.label(lv)
    svc = sorted(set(data.loc[complete, "service"]))
    for s in svc[1:]:
        x[f"service={s}"] = (data["service"] == s).astype(float)
    res = design.logit(data[y_col], x, domain=complete.to_numpy())
    res = res[~res["term"].str.startswith("service=") & (res["term"] != "const")]
    res["kind"] = np.where(res["term"].isin(attrs), "attribute", "demographic")
    res["label"] = res["term"].map(labels)
    return res.reset_index(drop=True)


def wave_trend(
    frames: Mapping,
    services: pd.DataFrame,
    min_n: int = DEFAULT_MIN_N,
    estimates: Mapping | None = None,
    instrument=None,
) -> pd.DataFrame:
    """Top-2-box satisfaction per service (and pooled) for each wave in ``frames``.

    ``frames`` maps wave -> survey frame; ``estimates`` optionally maps wave -> the output of
    :func:`service_estimates` already computed for that wave (reused, not recomputed).
    Returns wave, service, label and the disclosure-controlled estimate columns (measure
    'satisfied' only).
    """
    done = {as_month(k): v for k, v in (estimates or {}).items()}
    parts = []
    for wave, fr in sorted(frames.items(), key=lambda kv: as_month(kv[0])):
        w = as_month(wave)
        if w in done:
            est = done[w]
        elif fr is None or len(fr) == 0:
            continue
        else:
            est = service_estimates(fr, services, min_n, instrument=instrument)
        parts.append(est[est["measure"] == "satisfied"].assign(wave=w))
    if not parts:
        return pd.DataFrame(columns=["wave", "service", "label", "estimate", "se", "n"])
    out = pd.concat(parts, ignore_index=True)
    return out[["wave", *[c for c in out.columns if c != "wave"]]]


# ---------------------------------------------------------------------------- the report
@dataclass
class SurveyResults:
    """Everything the citizen survey report shows, already disclosure-controlled."""

    department: str
    month: dt.date
    min_n: int
    wave: dt.date | None
    previous_wave: dt.date | None = None
    first_wave: dt.date | None = None
    services: pd.DataFrame = field(default_factory=pd.DataFrame)
    estimates: pd.DataFrame = field(default_factory=pd.DataFrame)
    changes: pd.DataFrame = field(default_factory=pd.DataFrame)
    districts: pd.DataFrame = field(default_factory=pd.DataFrame)
    drivers: pd.DataFrame = field(default_factory=pd.DataFrame)
    trend: pd.DataFrame = field(default_factory=pd.DataFrame)
    respondents: int = 0
    psus: int = 0
    strata: int = 0
    notes: list[str] = field(default_factory=list)
    department_name: str = ""
    #: the survey instrument the figures were made with (None: the active profile's)
    instrument: object = None
    #: attributes the driver model left out: {attribute: why}
    drivers_lacking: dict = field(default_factory=dict)
    #: top-2-box per service and pooled by gender and by area (:func:`breakdown_estimates`)
    breakdowns: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: design degrees of freedom (PSUs - strata)
    df: float = math.nan

    @property
    def available(self) -> bool:
        """True when a wave at or before the report month exists and has data."""
        return self.wave is not None and not self.estimates.empty

    @property
    def headline_satisfaction(self) -> float | None:
        """Pooled top-2-box satisfaction (None when suppressed or unavailable)."""
        if not self.available:
            return None
        row = self.estimates[
            (self.estimates.service == "all") & (self.estimates.measure == "satisfied")
        ]
        value = row["estimate"].iloc[0] if len(row) else math.nan
        return None if pd.isna(value) else float(value)


def analyse(
    department: str,
    month,
    services: pd.DataFrame,
    districts: pd.DataFrame,
    frames: Mapping,
    min_n: int = DEFAULT_MIN_N,
    instrument=None,
) -> SurveyResults:
    """Build every published table of the survey report for one department and month.

    ``frames`` maps each wave (up to and including the report wave) to its survey frame;
    the report wave is the latest wave at or before ``month``.
    """
    if not isinstance(min_n, int | np.integer) or min_n < 1:
        raise ValueError(f"min_n must be a positive integer, got {min_n!r}")
    m = as_month(month)
    waves = sorted(as_month(w) for w in frames)
    wave = select_wave(waves, m)
    inst = _instrument(instrument)
    res = SurveyResults(department, m, int(min_n), wave, first_wave=waves[0] if waves else None)
    res.instrument = inst
    res.services = services[["service", "label"]].reset_index(drop=True)
    if services.empty:
        res.notes.append(f"The department '{department}' has no surveyed services.")
        return res
    if wave is None:
        return res
    by_month = {as_month(k): v for k, v in frames.items()}
    cur = prepare_frame(by_month[wave], inst)
    codes = list(services["service"])
    if not cur["service"].isin(codes).any():
        res.notes.append("No respondent in this wave rated the department's services.")
        return res
    try:
        design = design_for(cur, inst)
    except RakingError as exc:
        res.notes.append(f"The survey weights could not be raked to the population totals: {exc}")
        return res
    res.respondents = int(cur["respondent_id"].nunique())
    res.psus, res.strata = design.n_psu, design.n_strata
    res.estimates = service_estimates(cur, services, min_n, design, inst)
    res.districts = district_estimates(cur, codes, districts, min_n, design, inst)
    res.df = design_df(design)
    parts = [breakdown_estimates(cur, services, c, min_n, design, inst) for c in BREAKDOWNS]
    parts = [p for p in parts if len(p)]
    if parts:
        res.breakdowns = pd.concat(parts, ignore_index=True)
    attrs, lacking, counts = driver_terms(design.data, codes, instrument=inst)
    res.drivers_lacking = lacking
    if lacking:
        shown = "; ".join(f"{inst.label_of(a).lower()}: {why}" for a, why in lacking.items())
        res.notes.append(
            "Key drivers: "
            + (
                "no attribute has enough answers for the model"
                if not attrs
                else "the model leaves out attributes that lack data"
            )
            + f" ({shown})."
        )
    if attrs:
        try:
            res.drivers = key_drivers(cur, codes, design=design, instrument=inst, attributes=attrs)
        except (SurveyDesignError, np.linalg.LinAlgError, ValueError) as exc:
            res.notes.append(f"The key-driver model could not be estimated: {exc}")
    prev = previous_wave(waves, wave)
    res.previous_wave = prev
    done = {wave: res.estimates}
    if prev is not None and by_month.get(prev) is not None and len(by_month[prev]):
        done[prev] = service_estimates(by_month[prev], services, min_n, instrument=inst)
        res.changes = compare_waves(res.estimates, done[prev], ["service", "measure"]).merge(
            res.estimates[["service", "measure", "label"]], on=["service", "measure"]
        )
    res.trend = wave_trend(
        {w: by_month[w] for w in waves if w <= wave},
        services,
        min_n,
        estimates=done,
        instrument=inst,
    )
    return res
