"""Deterministic sample data in exactly the documented input formats (docs/data-dictionary.md).

``python -m helpers.data.sample --out data/raw [--seed 2025] [--respondents 10000]
[--departments health,finance] [--first-fy 2022-23 --last-fy 2025-26]``

The sample follows the active jurisdiction profile (:mod:`helpers.profile`): its registry
(departments, entities, surveyed services), its districts (none without a geography: then no
district actuals and no survey files), its fiscal calendar (the default years are the fiscal
years holding 2022-07 and 2025-07, in the profile's label style), its ``families:`` (only
their input files are written) and its ``sample:`` section (``survey_label``; ``sizes``: annual
budget per department slug in billions of the currency; ``under_spenders``, ``over_spenders``,
``gaps``; ``extra_target_departments``). Without those keys the default profile's settings
below apply to the slugs they name; other departments get a seeded size and the target
templates of their priority area (or the generic ones).

Everything is drawn from one seeded ``numpy.random.Generator``: the same options give
byte-identical CSV/XLSX content and identical survey values. The structure is realistic on
purpose (June bunching, under- and over-spenders, missing months, reversals, off-track targets,
ratings that disagree with the evidence, survey drivers that really drive satisfaction, late and
missing PSE returns, negative-equity entities) so that the reports have something to find.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import profile as profiles
from helpers.data import calendar
from helpers.data.registry import Registry, load_registry
from helpers.data.schemas import ATTRIBUTES, DONT_KNOW

DEFAULT_SEED = 2025
# The default fiscal years are those of the active profile holding these months (KP: 2022-23 to
# 2025-26); budget sizes grow 10% a year from the first.
FIRST_MONTH = "2022-07"
LAST_MONTH = "2025-07"
# Amounts are held in the profile's currency unit; sizes are given in billions.
_PER_BILLION = {"one": 1e9, "thousand": 1e6, "million": 1000.0, "billion": 1.0}

# Approximate annual budget (billion, in the default profile's currency, FY2022-23) of the
# larger departments.
SIZE_BN = {
    "elementary-secondary-education": 260.0,
    "health": 190.0,
    "finance": 280.0,
    "home-tribal-affairs": 110.0,
    "local-government": 65.0,
    "communication-works": 55.0,
    "higher-education": 38.0,
    "irrigation": 26.0,
    "public-health-engineering": 22.0,
    "energy-power": 24.0,
    "agriculture-livestock": 21.0,
    "relief-rehabilitation": 14.0,
    "transport": 12.0,
    "planning-development": 15.0,
    "forestry-environment-wildlife": 11.0,
    "social-welfare": 7.0,
    "board-of-revenue": 9.0,
    "industries-commerce": 8.0,
    "sports-culture-tourism": 7.0,
}
# Spending behaviour: chronic under-spenders (development) and over-spenders (current).
UNDER = {
    "communication-works",
    "irrigation",
    "energy-power",
    "sports-culture-tourism",
    "minerals-development",
}
OVER = {"health", "home-tribal-affairs", "relief-rehabilitation"}
GAPS = {"zakat-ushr": 3, "information": 2}  # departments with missing months (count)
DEV_PROFILE = np.array([0.3, 0.4, 0.55, 0.6, 0.7, 0.85, 0.75, 0.85, 1.0, 1.2, 1.8, 3.4])
NONSAL_PROFILE = np.array([0.6, 0.8, 0.9, 0.9, 0.9, 1.0, 0.9, 1.0, 1.0, 1.1, 1.4, 2.4])

TARGET_TEMPLATES = {
    "health": [
        ("Fully immunised children aged 12-23 months", "%", "up", 68, 90),
        ("Deliveries in health facilities", "%", "up", 58, 75),
        ("Basic health units open 24/7", "count", "up", 240, 600),
        ("Vacant specialist posts in DHQ hospitals", "count", "down", 420, 150),
        ("Sehat Card in-patient claims paid within 30 days", "%", "up", 55, 90),
    ],
    "elementary-secondary-education": [
        ("Out-of-school children aged 5-16", "thousand", "down", 4700, 3600),
        ("Girls' primary enrolment", "thousand", "up", 1850, 2200),
        ("Schools with functional toilets and drinking water", "%", "up", 71, 95),
        ("Teacher attendance (IMU visits)", "%", "up", 88, 95),
        ("Grade 5 students meeting numeracy benchmark", "%", "up", 42, 60),
    ],
    "higher-education": [
        ("Colleges with BS programmes", "count", "up", 160, 240),
        ("Faculty with PhD in public colleges", "%", "up", 14, 25),
        ("Female enrolment in colleges", "thousand", "up", 95, 130),
    ],
    "local-government": [
        ("Solid waste collected in WSSC cities", "%", "up", 62, 85),
        ("Village and neighbourhood councils with approved budgets", "%", "up", 40, 95),
        ("Birth registrations within 60 days", "%", "up", 35, 60),
        ("Tehsil roads rehabilitated", "km", "up", 0, 1200),
    ],
    "public-health-engineering": [
        ("Population with piped drinking water", "%", "up", 46, 60),
        ("Non-functional water supply schemes", "count", "down", 1100, 400),
        ("Water samples meeting quality standards", "%", "up", 71, 85),
    ],
    "energy-power": [
        ("Hydropower capacity commissioned", "MW", "up", 160, 420),
        ("Schools and health facilities solarised", "count", "up", 2000, 8000),
        ("Mini/micro hydel stations operational", "count", "up", 1100, 1600),
    ],
    "transport": [
        ("BRT daily ridership", "thousand", "up", 220, 350),
        ("Route permits issued online", "%", "up", 10, 80),
        ("Vehicles passing emission tests", "%", "up", 30, 60),
    ],
    "forestry-environment-wildlife": [
        ("Area under plantation", "thousand ha", "up", 0, 200),
        ("Saplings surviving after one year", "%", "up", 65, 80),
        ("Forest offence cases decided", "%", "up", 30, 70),
    ],
    "science-technology-it": [
        ("Government services available online", "count", "up", 40, 120),
        ("Youth trained in digital skills", "thousand", "up", 0, 50),
        ("Districts with e-filing in deputy commissioner offices", "count", "up", 5, 35),
    ],
    "population-welfare": [
        ("Contraceptive prevalence rate", "%", "up", 31, 38),
        ("Family welfare centres with full staff", "%", "up", 60, 90),
        ("Couple-years of protection", "thousand", "up", 520, 700),
    ],
}
# Templates for departments without their own, by priority area: the first entry whose keywords
# occur in the area's name (case-insensitive). "Other" and unmatched areas get GENERIC_TARGETS only.
AREA_TEMPLATES = [
    (
        ("education", "school", "literacy"),
        [
            ("Out-of-school children aged 5-16", "thousand", "down", 9500, 7800),
            ("Net primary enrolment rate", "%", "up", 62, 75),
            ("Schools with functional toilets and drinking water", "%", "up", 70, 92),
            ("Teachers trained in the revised curriculum", "thousand", "up", 0, 60),
        ],
    ),
    (
        ("health", "population"),
        [
            ("Fully immunised children aged 12-23 months", "%", "up", 70, 90),
            ("Deliveries in health facilities", "%", "up", 62, 78),
            ("Health facilities with essential medicines in stock", "%", "up", 55, 85),
            ("Vacant doctor posts in public facilities", "count", "down", 1800, 700),
        ],
    ),
    (
        ("water", "climate"),
        [
            ("Water storage capacity added", "thousand acre-feet", "up", 0, 900),
            ("Flood protection works completed", "count", "up", 0, 60),
            ("Area under high-efficiency irrigation", "thousand acres", "up", 40, 160),
            ("Certified seed supplied to farmers", "thousand tonnes", "up", 380, 520),
        ],
    ),
    (
        ("agri", "food", "livestock", "irrigation"),
        [
            ("Farmers registered for subsidised inputs", "thousand", "up", 150, 900),
            ("Certified seed supplied to farmers", "thousand tonnes", "up", 380, 520),
            ("Wheat procured against the procurement target", "%", "up", 70, 100),
            ("Canal water lost before the farm gate", "%", "down", 40, 30),
        ],
    ),
    (
        ("urban", "local government", "municipal"),
        [
            ("Solid waste collected in cities", "%", "up", 60, 85),
            ("Population with piped drinking water", "%", "up", 45, 60),
            ("Water samples meeting quality standards", "%", "up", 70, 85),
            ("Public transport daily ridership", "thousand", "up", 250, 400),
        ],
    ),
    (
        ("energy", "power"),
        [
            ("Generation capacity commissioned", "MW", "up", 0, 1200),
            ("Public buildings solarised", "count", "up", 1500, 9000),
            ("Transmission and distribution losses", "%", "down", 17, 14),
            ("Bills recovered against bills issued", "%", "up", 88, 95),
        ],
    ),
    (
        ("safety", "security", "police", "law"),
        [
            ("Emergency calls answered within 7 minutes", "%", "up", 75, 90),
            ("Criminal cases with challan submitted within 14 days", "%", "up", 45, 75),
            ("Police stations with front desks and e-FIR", "count", "up", 200, 700),
            ("Conviction rate in prosecuted cases", "%", "up", 38, 55),
        ],
    ),
    (
        ("economy", "revenue", "fiscal", "finance"),
        [
            ("Tax collected against the annual target", "%", "up", 85, 100),
            ("Income tax returns filed", "thousand", "up", 3500, 5500),
            ("Development budget released on schedule", "%", "up", 60, 90),
            ("Public procurement through e-tendering", "%", "up", 20, 80),
        ],
    ),
    (
        ("social", "welfare", "protection"),
        [
            ("Households receiving quarterly cash transfers", "thousand", "up", 8000, 9500),
            ("Payments made through biometric verification", "%", "up", 70, 98),
            ("Helpline complaints resolved within 30 days", "%", "up", 55, 85),
        ],
    ),
    (
        ("infrastructure", "transport", "communication", "works"),
        [
            ("Highways rehabilitated", "km", "up", 0, 1500),
            ("Trains arriving on time", "%", "up", 55, 80),
            ("Projects completed within the approved cost", "%", "up", 40, 70),
            ("Broadband subscriptions", "million", "up", 120, 150),
        ],
    ),
]
GENERIC_TARGETS = [
    ("Files disposed of within 15 working days", "%", "up", 45, 85),
    ("Citizen complaints resolved on the portal", "%", "up", 60, 90),
    ("Development schemes completed on time", "%", "up", 35, 70),
    ("Vacant sanctioned posts", "count", "down", 800, 300),
    ("Audit paras settled", "count", "up", 0, 400),
    ("Services delivered through e-governance", "count", "up", 3, 15),
]
EXTRA_TARGET_DEPARTMENTS = (
    "communication-works",
    "home-tribal-affairs",
    "irrigation",
    "agriculture-livestock",
    "board-of-revenue",
    "social-welfare",
    "relief-rehabilitation",
    "excise-taxation",
)
SERVICE_USE = {
    "bhu": 0.42,
    "hospital": 0.33,
    "school": 0.5,
    "college": 0.12,
    "water": 0.6,
    "waste": 0.35,
    "police": 0.14,
    "roads": 0.7,
    "land": 0.13,
    "transport": 0.22,
    "rescue": 0.07,
    "welfare": 0.09,
}
SERVICE_LEVEL = {
    "bhu": -0.1,
    "hospital": -0.3,
    "school": 0.3,
    "college": 0.4,
    "water": -0.4,
    "waste": -0.6,
    "police": -0.5,
    "roads": -0.2,
    "land": -0.8,
    "transport": 0.2,
    "rescue": 1.0,
    "welfare": 0.0,
}
# Services not in SERVICE_USE (other profiles' codes): these, else a default.
OTHER_SERVICE_USE = {"teaching": 0.15, "vet": 0.16}
OTHER_SERVICE_LEVEL = {"teaching": -0.2, "vet": 0.1}
DEFAULT_SERVICE_USE, DEFAULT_SERVICE_LEVEL = 0.2, 0.0
DRIVERS = {"staff": 0.45, "wait": 0.6, "cost": 0.2, "avail": 0.35, "clean": 0.25}
DRIVER_TOTAL = sum(DRIVERS.values())
SMALL_DISTRICTS = {"PK517", "PK534", "PK516", "PK515"}  # Kolai Palas, Tor Ghar, Kohistan Up/Low
OWNERS = [
    "Secretary",
    "Additional Secretary",
    "Director General",
    "Chief Planning Officer",
    "Special Secretary",
]


@dataclass(frozen=True)
class SampleOptions:
    """What to generate. Defaults give the full sample; tests pass smaller ones."""

    seed: int = DEFAULT_SEED
    first_fy: str | None = None  # None: the active profile's fiscal year holding FIRST_MONTH
    last_fy: str | None = None  # None: ... holding LAST_MONTH
    respondents: int = 10_000
    departments: tuple[str, ...] | None = None  # None: every department in the registry

    @classmethod
    def small(cls) -> SampleOptions:
        """A small sample in seconds (3 departments, the fiscal year holding 2024-07, two waves
        of ~600 respondents): the tests' shared fixture data. The three departments are KP's
        health, local-government and zakat-ushr where the registry has them, else all."""
        fy = calendar.fiscal_year("2024-07")
        trio = ("health", "local-government", "zakat-ushr")
        return cls(
            seed=7,
            first_fy=fy,
            last_fy=fy,
            respondents=600,
            departments=trio if set(trio) <= set(load_registry().slugs) else None,
        )

    @property
    def fiscal_years(self) -> list[str]:
        first = calendar.fy_start_year(self.first_fy or calendar.fiscal_year(FIRST_MONTH))
        last = calendar.fy_start_year(self.last_fy or calendar.fiscal_year(LAST_MONTH))
        return [calendar.fy_label_of(y) for y in range(first, last + 1)]

    @property
    def months(self) -> list[dt.date]:
        return [m for fy in self.fiscal_years for m in calendar.fy_months(fy)]


def _rng(opts: SampleOptions, stream: str) -> np.random.Generator:
    """One independent, reproducible stream per part (adding a part does not shift others)."""
    key = sum(ord(c) * (i + 1) for i, c in enumerate(stream))
    return np.random.default_rng([opts.seed, key])


def _config() -> dict:
    """The active profile's ``sample:`` section."""
    return dict(profiles.active().sample)


def _base_year() -> int:
    """The calendar year the sizes refer to (start of the fiscal year holding FIRST_MONTH)."""
    return calendar.fy_start_year(calendar.fiscal_year(FIRST_MONTH))


def _departments(reg: Registry, opts: SampleOptions) -> list[str]:
    slugs = sorted(reg.slugs)
    if opts.departments is None:
        return slugs
    unknown = set(opts.departments) - set(slugs)
    if unknown:
        raise ValueError(f"unknown departments: {sorted(unknown)}")
    return [s for s in slugs if s in opts.departments]


# ----------------------------------------------------------------------------------------- budget


def _class_shares(slug: str) -> tuple[dict[str, float], dict[str, float], float]:
    """(current class shares, development class shares, development share of total)."""
    if slug == "finance":
        cur = {
            "A01": 0.02,
            "A03": 0.02,
            "A04": 0.45,
            "A05": 0.15,
            "A06": 0.05,
            "A07": 0.16,
            "A08": 0.03,
            "A10": 0.11,
            "A11": 0.01,
        }
        return cur, {"A05": 0.6, "A11": 0.4}, 0.05
    salary = {
        "elementary-secondary-education": 0.86,
        "health": 0.55,
        "home-tribal-affairs": 0.8,
        "higher-education": 0.3,
        "local-government": 0.25,
    }.get(slug, 0.55)
    rest = 1.0 - salary
    cur = {
        "A01": salary,
        "A03": rest * 0.45,
        "A05": rest * 0.3,
        "A06": rest * 0.05,
        "A09": rest * 0.08,
        "A13": rest * 0.12,
    }
    dev = {"A12": 0.55, "A09": 0.2, "A03": 0.12, "A05": 0.1, "A02": 0.03}
    dev_share = {
        "communication-works": 0.7,
        "irrigation": 0.55,
        "energy-power": 0.75,
        "public-health-engineering": 0.5,
        "local-government": 0.45,
        "transport": 0.5,
        "elementary-secondary-education": 0.1,
        "health": 0.2,
        "home-tribal-affairs": 0.1,
        "planning-development": 0.6,
    }.get(slug, 0.3)
    return cur, dev, dev_share


def budget(reg: Registry, opts: SampleOptions) -> tuple[pd.DataFrame, pd.DataFrame]:
    """budget_allocations and budget_monthly input frames."""
    rng = _rng(opts, "budget")
    cfg = _config()
    sizes = cfg.get("sizes") or SIZE_BN
    under = set(cfg.get("under_spenders", UNDER))
    over = set(cfg.get("over_spenders", OVER))
    gaps = dict(cfg.get("gaps", GAPS))
    per_bn = _PER_BILLION[profiles.active().currency.unit]
    base_year = _base_year()
    alloc_rows, month_rows = [], []
    for slug in _departments(reg, opts):
        # the seeded default is drawn for every department, so that sizes do not shift others
        size = float(sizes.get(slug, float(rng.uniform(2.0, 9.0)))) * per_bn
        cur, dev, dev_share = _class_shares(slug)
        for k, fy in enumerate(opts.fiscal_years):
            growth = 1.1 ** (calendar.fy_start_year(fy) - base_year)
            year_size = size * growth * rng.uniform(0.95, 1.05)
            months = calendar.fy_months(fy)
            for fund, shares, fund_share in (
                ("current", cur, 1 - dev_share),
                ("development", dev, dev_share),
            ):
                for oc, share in shares.items():
                    be = year_size * fund_share * share
                    if fund == "development" and slug in under:
                        re_factor = rng.uniform(0.75, 0.9)
                        spend = rng.uniform(0.5, 0.68)
                    elif slug in over and fund == "current":
                        re_factor = rng.uniform(1.06, 1.15)
                        spend = rng.uniform(0.98, 1.03)
                    else:
                        re_factor = rng.uniform(0.92, 1.06)
                        spend = (
                            rng.uniform(0.9, 0.99) if fund == "current" else rng.uniform(0.75, 0.95)
                        )
                    re = be * re_factor
                    revised = months[int(rng.integers(6, 9))]  # Jan..Mar
                    alloc_rows.append(
                        [slug, fy, fund, oc, round(be, 3), round(re, 3), f"{revised:%Y-%m}"]
                    )
                    total_exp = re * spend
                    if fund == "current" and oc == "A01":
                        prof = np.ones(12) + rng.normal(0, 0.015, 12)
                        prof[11] += 0.05
                    elif fund == "current":
                        prof = NONSAL_PROFILE * rng.gamma(20, 1 / 20, 12)
                    else:
                        prof = DEV_PROFILE * rng.gamma(8, 1 / 8, 12)
                    exp = total_exp * prof / prof.sum()
                    if fund == "development":
                        q = np.array([0.2, 0.25, 0.25, 0.3]) * min(1.0, spend + 0.15) * re
                        rel = np.zeros(12)
                        rel[[0, 3, 6, 9]] = q * rng.uniform(0.9, 1.0, 4)
                    elif oc == "A01":
                        rel = exp * rng.uniform(1.0, 1.02, 12)
                    else:
                        rel = np.zeros(12)
                        rel[[0, 3, 6, 9]] = re * 0.25 * rng.uniform(0.92, 1.0, 4)
                    for m, r, e in zip(months, rel, exp, strict=True):
                        month_rows.append(
                            [
                                slug,
                                f"{m:%Y-%m}",
                                fund,
                                oc,
                                round(float(r), 3),
                                round(float(e), 3),
                                0,
                            ]
                        )
            del k
    alloc = pd.DataFrame(
        alloc_rows,
        columns=[
            "department",
            "fiscal_year",
            "fund",
            "object_class",
            "budget_estimate",
            "revised_estimate",
            "revised_month",
        ],
    )
    monthly = pd.DataFrame(
        month_rows,
        columns=[
            "department",
            "month",
            "fund",
            "object_class",
            "release",
            "expenditure",
            "reversal",
        ],
    )
    # missing months (data gaps, not zero) for a couple of departments
    for slug, n in gaps.items():
        if slug in set(monthly["department"]):
            months = sorted(monthly.loc[monthly["department"] == slug, "month"].unique())
            gone = rng.choice(months[:-1], size=min(n, len(months) - 1), replace=False)
            monthly = monthly.loc[~((monthly["department"] == slug) & monthly["month"].isin(gone))]
    # a few reversals: small negative expenditure on non-salary classes, flagged (never in the
    # last month of the fiscal year)
    last_month = f"{(calendar.fy_start_month() - 2) % 12 + 1:02d}"
    cand = monthly.index[
        (monthly["object_class"].isin(["A03", "A13"])) & (monthly["month"].str[5:] != last_month)
    ]
    if len(cand):
        for i in rng.choice(cand, size=min(6, len(cand)), replace=False):
            monthly.loc[i, "expenditure"] = -round(float(rng.uniform(0.5, 25.0)), 3)
            monthly.loc[i, "release"] = 0.0
            monthly.loc[i, "reversal"] = 1
    return alloc, monthly.reset_index(drop=True)



# ---------------------------------------------------------------------------------------- revenue


def revenue(reg: Registry, opts: SampleOptions) -> pd.DataFrame:
    """The revenue input frame (the revenue book): one row per fiscal year, collecting
    department and revenue category, from the profile's ``sample.revenue`` lines
    ([department, category, budget of the first year in billions, mean realisation (actual /
    budget), its spread]). Budgets grow about 10% a year; actuals are drawn around the line's
    realisation (federal transfers short of budget, net hydel profit far short, services tax
    above); the last fiscal year is not closed (actual blank). Lines of departments outside the
    sample are left out; no lines (a profile without ``sample.revenue``) give no rows."""
    rng = _rng(opts, "revenue")
    lines = _config().get("revenue") or []
    per_bn = _PER_BILLION[profiles.active().currency.unit]
    depts = set(_departments(reg, opts))
    years = opts.fiscal_years
    rows = []
    for dept, category, first_bn, realisation, spread in lines:
        growth = rng.normal(1.10, 0.03, size=len(years))  # drawn for every line: no shifts
        ratio = rng.normal(float(realisation), float(spread), size=len(years))
        if dept not in depts:
            continue
        be = float(first_bn) * per_bn
        for k, fy in enumerate(years):
            if k:
                be *= float(growth[k])
            closed = k < len(years) - 1
            rows.append(
                {
                    "department": dept,
                    "fiscal_year": fy,
                    "category": category,
                    "budget_estimate": round(be, 1),
                    "actual": round(be * max(float(ratio[k]), 0.0), 1) if closed else None,
                }
            )
    cols = ["department", "fiscal_year", "category", "budget_estimate", "actual"]
    return pd.DataFrame(rows, columns=cols)

# ------------------------------------------------------------------------------------- stocktakes


def _target_departments(reg: Registry, opts: SampleOptions) -> list[str]:
    pri = set(reg.departments.loc[reg.departments["priority_area"] != "Other", "slug"])
    extra = _config().get("extra_target_departments", EXTRA_TARGET_DEPARTMENTS)
    chosen = pri | set(extra)
    return [s for s in _departments(reg, opts) if s in chosen]


def _templates(slug: str, area: str, own: dict | None = None) -> list[tuple]:
    """The department's target templates: the profile's (``sample.targets``), else the built-in
    ones of its slug, else those of its priority area (may be none)."""
    if own and slug in own:
        return [tuple(t) for t in own[slug]]
    if slug in TARGET_TEMPLATES:
        return TARGET_TEMPLATES[slug]
    name = str(area).casefold()
    for keywords, templates in AREA_TEMPLATES:
        if any(k in name for k in keywords):
            return templates
    return []


def stocktakes(reg: Registry, opts: SampleOptions) -> dict[str, pd.DataFrame]:
    """targets, target_trajectory, target_actuals, milestones, ratings, actions input frames."""
    rng = _rng(opts, "stocktakes")
    months = opts.months
    first, last = months[0], months[-1]
    span = len(months)
    pcodes = sorted(reg.pcodes)
    areas = dict(zip(reg.departments["slug"], reg.departments["priority_area"], strict=True))
    profile_targets = _config().get("targets") or {}
    out = {
        k: []
        for k in (
            "targets",
            "target_trajectory",
            "target_actuals",
            "milestones",
            "ratings",
            "actions",
        )
    }
    for slug in _target_departments(reg, opts):
        own = _templates(slug, areas[slug], profile_targets)
        pool = list(own) + GENERIC_TARGETS
        n_targets = int(rng.integers(3, min(8, len(pool)) + 1))
        picks = pool[: len(own)] + list(rng.permutation(np.array(GENERIC_TARGETS, dtype=object)))
        evidence = {}
        for t in range(n_targets):
            title, unit, direction, base, goal = picks[t]
            base, goal = float(base), float(goal)
            tid = f"{slug}-t{t + 1}"
            b_idx = min(int(rng.integers(6, 13)), span - 8)
            t_idx = span - 1 - int(rng.integers(0, 7))
            t_idx = max(t_idx, b_idx + 6)
            b_month, t_month = months[b_idx], months[t_idx]
            has_d = bool(rng.random() < 0.35) and bool(pcodes)  # no geography: none
            out["targets"].append(
                [
                    tid,
                    slug,
                    title,
                    unit,
                    direction,
                    base,
                    f"{b_month:%Y-%m}",
                    goal,
                    f"{t_month:%Y-%m}",
                    str(rng.choice(OWNERS)),
                    "yes" if has_d else "no",
                ]
            )
            n_steps = t_idx - b_idx
            frac = np.linspace(0, 1, n_steps + 1)
            plan = base + (goal - base) * frac
            for i, p in enumerate(plan):
                out["target_trajectory"].append(
                    [tid, f"{months[b_idx + i]:%Y-%m}", round(float(p), 2)]
                )
            perf = float(
                rng.choice(
                    [rng.uniform(0.95, 1.1), rng.uniform(0.75, 0.95), rng.uniform(0.4, 0.75)],
                    p=[0.45, 0.35, 0.2],
                )
            )
            noise_sd = abs(goal - base) * 0.03 + 0.01
            actual_series = {}
            for i in range(b_idx + 1, span):
                progress = min((i - b_idx) / n_steps, 1.0 + (i - t_idx) / max(n_steps, 1) * 0.2)
                value = base + (goal - base) * progress * perf + rng.normal(0, noise_sd)
                actual_series[i] = value
                if rng.random() < 0.08 and i < span - 1:
                    continue  # missing month
                out["target_actuals"].append(
                    [tid, f"{months[i]:%Y-%m}", "", round(float(value), 2)]
                )
                if has_d:
                    factors = 1 + rng.normal(0, 0.12, len(pcodes))
                    for pc, f in zip(pcodes, factors, strict=True):
                        if rng.random() < 0.05:
                            continue
                        out["target_actuals"].append(
                            [tid, f"{months[i]:%Y-%m}", pc, round(float(value * f), 2)]
                        )
            evidence[tid] = (b_idx, t_idx, base, goal, actual_series)
            # milestones
            for j in range(int(rng.integers(3, 7))):
                due_idx = b_idx + int((j + 1) * n_steps / 6) + int(rng.integers(0, 2))
                due_idx = min(due_idx, span - 1 + 3)
                due = calendar.add_months(first, due_idx) + dt.timedelta(
                    days=int(rng.integers(0, 27))
                )
                data_end = calendar.add_months(last, 1)
                completed = ""
                if due < data_end:
                    r = rng.random()
                    if r < 0.68 * (perf + 0.1):
                        status = "completed"
                        # About half on or before the due date, the rest up to ~3 months late.
                        u = float(rng.random())
                        late = int(-25 + 50 * u) if u < 0.5 else int(1 + (u - 0.5) * 180)
                        c = due + dt.timedelta(days=late)
                        completed = min(c, data_end - dt.timedelta(days=1)).isoformat()
                    elif r < 0.95:
                        status = "in progress"
                    else:
                        status = "dropped"
                else:
                    status = str(rng.choice(["not started", "in progress"], p=[0.6, 0.4]))
                out["milestones"].append(
                    [
                        f"{tid}-m{j + 1}",
                        tid,
                        slug,
                        f"Milestone {j + 1}: {title[:1].lower() + title[1:]}",
                        due.isoformat(),
                        completed,
                        status,
                    ]
                )
        # stocktakes every two months from two months after the first baseline
        start_idx = min(e[0] for e in evidence.values()) + 2
        levels = ["Green", "Amber-Green", "Amber-Red", "Red"]
        n_action = 0
        for s_idx in range(start_idx, span, 2):
            s_date = calendar.add_months(first, s_idx) + dt.timedelta(days=14)
            for tid, (b_idx, t_idx, base, goal, series) in evidence.items():
                if s_idx <= b_idx:
                    continue
                latest = series.get(s_idx - 1, series.get(s_idx - 2))
                if latest is None:
                    continue
                planned_progress = min((s_idx - 1 - b_idx) / (t_idx - b_idx), 1.0)
                ratio = (latest - base) / (goal - base) / max(planned_progress, 1e-9)
                lvl = 0 if ratio >= 0.95 else 1 if ratio >= 0.8 else 2 if ratio >= 0.6 else 3
                if rng.random() < 0.12:  # optimism: the recorded rating disagrees with the evidence
                    lvl = max(0, lvl - 2)
                comment = [
                    "On trajectory",
                    "Slightly behind; recovery plan agreed",
                    "Behind trajectory; risks escalated",
                    "Seriously off track",
                ][lvl]
                out["ratings"].append([slug, tid, s_date.isoformat(), levels[lvl], comment])
            tids = list(evidence)
            for _ in range(int(rng.integers(1, 3))):
                n_action += 1
                due = s_date + dt.timedelta(days=int(rng.integers(30, 61)))
                if due < calendar.add_months(last, 1):
                    status = str(rng.choice(["done", "overdue", "dropped"], p=[0.7, 0.22, 0.08]))
                else:
                    status = "open"
                tid = str(rng.choice(tids))
                out["actions"].append(
                    [
                        f"{slug}-a{n_action}",
                        slug,
                        tid,
                        s_date.isoformat(),
                        f"Submit recovery plan for {tid}",
                        str(rng.choice(OWNERS)),
                        due.isoformat(),
                        status,
                    ]
                )
    cols = {
        "targets": [
            "target_id",
            "department",
            "title",
            "unit",
            "direction",
            "baseline",
            "baseline_month",
            "target_value",
            "target_month",
            "owner",
            "has_districts",
        ],
        "target_trajectory": ["target_id", "month", "planned"],
        "target_actuals": ["target_id", "month", "district_pcode", "actual"],
        "milestones": [
            "milestone_id",
            "target_id",
            "department",
            "title",
            "due_date",
            "completed_date",
            "status",
        ],
        "ratings": ["department", "target_id", "stocktake_date", "rating", "comment"],
        "actions": [
            "action_id",
            "department",
            "target_id",
            "stocktake_date",
            "action",
            "owner",
            "due_date",
            "status",
        ],
    }
    return {k: pd.DataFrame(v, columns=cols[k]) for k, v in out.items()}


# ----------------------------------------------------------------------------------------- survey


def survey_waves(opts: SampleOptions) -> list[dt.date]:
    """Fieldwork months: the 6th and 12th month of every fiscal year (September and March for
    an April year)."""
    return [m for m in opts.months if calendar.fy_month_index(m) in (6, 12)]


def _service_use(s: str) -> float:
    return SERVICE_USE.get(s, OTHER_SERVICE_USE.get(s, DEFAULT_SERVICE_USE))


def _service_level(s: str) -> float:
    return SERVICE_LEVEL.get(s, OTHER_SERVICE_LEVEL.get(s, DEFAULT_SERVICE_LEVEL))


def _likert(latent: np.ndarray) -> np.ndarray:
    return np.digitize(latent, [-1.5, -0.5, 0.5, 1.5]) + 1


def survey(reg: Registry, opts: SampleOptions) -> dict[dt.date, pd.DataFrame]:
    """One wide respondent-level frame per wave (SPSS layout, 9 = don't know)."""
    rng = _rng(opts, "survey")
    pcodes = sorted(reg.pcodes)
    services = list(reg.services)
    if not pcodes:
        return {}
    pop = {pc: float(rng.lognormal(np.log(650_000), 0.45)) for pc in pcodes}
    for pc in sorted(SMALL_DISTRICTS & set(pcodes)):
        pop[pc] = float(rng.uniform(60_000, 160_000))
    pop = {pc: round(v) for pc, v in pop.items()}
    d_effect = {pc: float(rng.normal(0, 0.3)) for pc in pcodes}
    n_psu = {pc: int(rng.integers(8, 16)) for pc in pcodes}
    urban = {pc: float(rng.uniform(0.1, 0.6)) for pc in pcodes}
    raw_alloc = np.array([np.sqrt(pop[pc]) for pc in pcodes])
    out = {}
    for w, wave in enumerate(survey_waves(opts)):
        alloc = np.maximum(
            np.round(raw_alloc / raw_alloc.sum() * opts.respondents).astype(int), 2 * 8
        )
        frames = []
        rid = 0
        for pc, n in zip(pcodes, alloc, strict=True):
            k = min(n_psu[pc], max(2, n // 4))
            psu_idx = rng.integers(0, k, n)
            psu_effect = rng.normal(0, 0.2, k)[psu_idx]
            psu_wt = rng.lognormal(0, 0.35, k)[psu_idx]
            weight = psu_wt / psu_wt.sum() * pop[pc]
            is_urban = rng.random(n) < urban[pc]
            df = pd.DataFrame(
                {
                    "respondent_id": np.arange(rid + 1, rid + n + 1),
                    "district_pcode": pc,
                    "psu": [f"{pc}-{wave:%y%m}-{i + 1:02d}" for i in psu_idx],
                    "weight": np.round(weight, 4),
                    "stratum_population": float(pop[pc]),
                    "gender": np.where(rng.random(n) < 0.48, "female", "male"),
                    "age_band": rng.choice(
                        ["18-29", "30-44", "45-59", "60+"], n, p=[0.36, 0.32, 0.2, 0.12]
                    ),
                    "area": np.where(is_urban, "urban", "rural"),
                }
            )
            rid += n
            base = d_effect[pc] + psu_effect + 0.04 * w
            sat_sum = np.zeros(n)
            sat_n = np.zeros(n)
            extra = {}
            for s in services:
                use_p = _service_use(s) * (1.4 if s in {"waste", "transport"} else 1.0)
                used = rng.random(n) < np.where(is_urban, min(use_p * 1.3, 0.95), use_p * 0.85)
                extra[f"used_{s}"] = used.astype(int)
                lat = {}
                for p in ("staff", "wait", "cost", "avail", "clean"):
                    lat[p] = _service_level(s) + base + rng.normal(0, 0.9, n)
                    if p == "wait":
                        lat[p] -= 0.3 * is_urban
                # A weighted average of the attribute latents (so district and service levels carry
                # over one to one) plus a personal component the attributes do not explain.
                sat_lat = (
                    sum(DRIVERS[p] * lat[p] for p in DRIVERS) / DRIVER_TOTAL
                    + 0.3
                    + rng.normal(0, 0.7, n)
                )
                cols = {"sat": _likert(sat_lat), **{p: _likert(lat[p]) for p in DRIVERS}}
                for p in ATTRIBUTES:
                    v = cols[p].astype(float)
                    v[rng.random(n) < 0.03] = DONT_KNOW
                    v[~used] = np.nan
                    extra[f"{p}_{s}"] = v
                sat_sum += np.where(used, sat_lat, 0.0)
                sat_n += used
            overall = np.where(sat_n > 0, sat_sum / np.maximum(sat_n, 1), base) + rng.normal(
                0, 0.45, n
            )
            o = _likert(overall).astype(float)
            o[rng.random(n) < 0.04] = DONT_KNOW
            extra["overall_satisfaction"] = o
            df = pd.concat([df, pd.DataFrame(extra, index=df.index)], axis=1)
            frames.append(df)
        wave_df = pd.concat(frames, ignore_index=True)
        base_cols = [
            "respondent_id",
            "district_pcode",
            "psu",
            "weight",
            "stratum_population",
            "gender",
            "age_band",
            "area",
            "overall_satisfaction",
        ]
        out[wave] = wave_df[base_cols + [c for c in wave_df.columns if c not in base_cols]]
    return out


# -------------------------------------------------------------------------------------------- PSE


def pse(reg: Registry, opts: SampleOptions) -> pd.DataFrame:
    """Quarterly financial returns of public sector entities (late, missing, negative equity)."""
    rng = _rng(opts, "pse")
    deps = set(_departments(reg, opts))
    ents = reg.entities.loc[reg.entities["department"].isin(deps)]
    quarters = [
        pd.Timestamp(m) + pd.offsets.MonthEnd(0)
        for m in opts.months
        if calendar.fy_month_index(m) in (3, 6, 9, 12)
    ]
    scale = {
        "university": 1800,
        "medical teaching institution": 2500,
        "company": 900,
        "financial institution": 3000,
        "board": 250,
        "authority": 600,
        "development authority": 700,
        "foundation": 300,
    }
    unit = _PER_BILLION[profiles.active().currency.unit] / 1000.0  # scale is in millions
    rows = []
    ids = list(ents["entity_id"])
    neg_equity = set(rng.choice(ids, size=min(2, len(ids)), replace=False)) if ids else set()
    silent = set(rng.choice(ids, size=min(3, len(ids)), replace=False)) if ids else set()
    for e in ents.itertuples():
        size = scale.get(e.entity_type, 500) * unit * float(rng.lognormal(0, 0.5))
        own_share = float(rng.uniform(0.1, 0.7))
        assets = size * float(rng.uniform(3, 8))
        # Most entities are solvent with a few months of cash and a small surplus; about one in
        # six is stressed (thin cash, persistent deficit), as the oversight unit sees in practice.
        stressed = rng.random() < 0.15
        cash_months = float(rng.lognormal(np.log(1.0 if stressed else 4.0), 0.35))
        balance = float(rng.normal(-0.08 if stressed else 0.04, 0.04))
        liab_ratio = (
            float(rng.uniform(1.2, 1.8))
            if e.entity_id in neg_equity
            else float(rng.uniform(0.2, 0.7))
        )
        lateness = float(rng.uniform(15, 70))
        for qi, q in enumerate(quarters):
            if e.entity_id in silent and qi >= len(quarters) - 4:
                continue
            if rng.random() < 0.06:
                continue  # missing return
            growth = 1.02**qi
            exp = size * growth * float(rng.uniform(0.85, 1.15))
            own = exp * own_share * (1 + balance + float(rng.normal(0, 0.05)))
            grants = exp * (1 - own_share) * (1 + balance + float(rng.normal(0, 0.03)))
            a = assets * growth * float(rng.uniform(0.97, 1.03))
            liab = a * liab_ratio * float(rng.uniform(0.95, 1.05))
            cash = max(0.0, exp / 3 * cash_months * float(rng.uniform(0.85, 1.15)))
            sub = (q + pd.Timedelta(days=int(rng.gamma(4, lateness / 4)))).date().isoformat()
            if rng.random() < 0.02:
                sub = ""
            rows.append(
                [
                    e.entity_id,
                    q.date().isoformat(),
                    round(own, 3),
                    round(grants, 3),
                    round(exp, 3),
                    round(liab, 3),
                    round(a, 3),
                    round(cash, 3),
                    sub,
                ]
            )
    return pd.DataFrame(
        rows,
        columns=[
            "entity_id",
            "quarter_end",
            "own_revenue",
            "grants_received",
            "expenditure",
            "liabilities",
            "assets",
            "cash",
            "submitted_date",
        ],
    )


# ------------------------------------------------------------------------------------------ write

# ------------------------------------------------------------------------------ contracts


def contracts(reg: Registry, opts: SampleOptions) -> dict[str, pd.DataFrame]:
    """contracts, contract_kpis, contract_progress input frames: one contract per fiscal year
    for each department with sample targets (the profile's ``sample.targets``); each year's
    KPI target is a quarter of the way from the template's baseline to its goal, weights split
    100, quarterly actuals up to LAST_MONTH with a per-contract delivery factor."""
    rng = _rng(opts, "contracts")
    own = _config().get("targets") or {}
    depts = [d for d in _departments(reg, opts) if d in own]
    if not depts:
        return {}
    last = calendar.as_month(LAST_MONTH)
    con, kpis, prog = [], [], []
    for y, fy in enumerate(opts.fiscal_years):
        start = calendar.fy_start(fy)
        for d in depts:
            templates = [tuple(t) for t in own[d]]
            n = len(templates)
            weights = [100 // n + (1 if i < 100 % n else 0) for i in range(n)]
            bands = (85, 70, 55, 40) if d == "finance" else (None,) * 4
            con.append(
                {
                    "department": d,
                    "fiscal_year": fy,
                    "signed_date": calendar.add_months(start, 1).replace(day=15).isoformat(),
                    **dict(zip(("band_a", "band_b", "band_c", "band_d"), bands, strict=True)),
                }
            )
            delivery = float(np.clip(rng.normal(0.8, 0.2), 0.35, 1.15))
            for i, (title, unit, direction, base, goal) in enumerate(templates):
                b = base + (goal - base) * min(y, 3) / 4
                t = base + (goal - base) * min(y + 1, 4) / 4
                kid = f"{d}-{fy}-{i + 1}"
                kpis.append(
                    {
                        "kpi_id": kid,
                        "department": d,
                        "fiscal_year": fy,
                        "title": title,
                        "unit": unit,
                        "direction": direction,
                        "weight": weights[i],
                        "baseline": round(b, 2),
                        "target": round(t, 2),
                    }
                )
                for q in range(1, 5):
                    qe = calendar.add_months(start, 3 * q - 1)
                    if qe > last or rng.random() < 0.08:
                        continue
                    share = q / 4 * delivery * float(rng.normal(1.0, 0.08))
                    prog.append(
                        {
                            "kpi_id": kid,
                            "month": f"{qe:%Y-%m}",
                            "actual": round(b + (t - b) * share, 2),
                        }
                    )
    return {
        "contracts": pd.DataFrame(con),
        "contract_kpis": pd.DataFrame(kpis),
        "contract_progress": pd.DataFrame(prog),
    }


LIKERT_LABELS = {
    1.0: "Very dissatisfied",
    2.0: "Dissatisfied",
    3.0: "Neither",
    4.0: "Satisfied",
    5.0: "Very satisfied",
    9.0: "Don't know",
}


# The input groups each report family reads (the overview reads the others' inputs).
FAMILY_INPUTS = {
    "budget_execution": ("budget",),
    "stocktake": ("stocktake",),
    "citizen_survey": ("survey",),
    "pse_oversight": ("pse",),
    "pse_province": ("pse",),
    "performance_contract": ("contracts",),
    "province_overview": (),
}


def input_groups() -> set[str]:
    """The input groups to generate for the active profile: those of its ``families:`` (when
    it lists none, every group but the performance contracts); no survey for a profile without
    geography."""
    prof = profiles.active()
    if prof.families is None:  # performance contracts only when the profile lists them
        groups = {g for f, gs in FAMILY_INPUTS.items() if f != "performance_contract" for g in gs}
    else:
        groups = {g for f in prof.families for g in FAMILY_INPUTS.get(f, ())}
    if prof.geography is None:
        groups.discard("survey")
    return groups


def survey_label() -> str:
    """The survey files' label: the profile's ``sample.survey_label``, else from its short name."""
    prof = profiles.active()
    return str(prof.sample.get("survey_label") or f"{prof.short_name} citizen perception survey")


def write_sample(
    out: Path, opts: SampleOptions | None = None, registry: Registry | None = None
) -> list[Path]:
    """Write the input files of the active profile's families into ``out`` (created if needed);
    return the paths written."""
    import pyreadstat

    opts = opts or SampleOptions()
    reg = registry or load_registry()
    groups = input_groups()
    label = survey_label()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []

    def csv(df: pd.DataFrame, name: str) -> None:
        p = out / name
        df.to_csv(p, index=False, lineterminator="\n")
        written.append(p)

    if "budget" in groups:
        alloc, monthly = budget(reg, opts)
        csv(alloc, "budget_allocations.csv")
        csv(monthly, "budget_monthly.csv")
        book = revenue(reg, opts)
        if len(book):
            csv(book, "revenue.csv")
    if "stocktake" in groups:
        for name, df in stocktakes(reg, opts).items():
            csv(df, f"{name}.csv")
    for wave, df in (survey(reg, opts) if "survey" in groups else {}).items():
        p = out / f"survey_{wave:%Y-%m}.sav"
        likert_cols = [
            c for c in df.columns if c.split("_")[0] in ATTRIBUTES or c == "overall_satisfaction"
        ]
        pyreadstat.write_sav(
            df,
            str(p),
            file_label=f"{label}, fieldwork {wave:%B %Y}",
            variable_value_labels={c: LIKERT_LABELS for c in likert_cols},
        )
        _fix_sav_timestamp(p)
        written.append(p)
    if "contracts" in groups:
        for name, df in contracts(reg, opts).items():
            csv(df, f"{name}.csv")
    if "pse" in groups:
        p = out / "pse_returns.xlsx"
        frame = pse(reg, opts)
        with pd.ExcelWriter(p, engine="openpyxl") as xw:
            frame.to_excel(xw, index=False, sheet_name="returns")
        _normalise_xlsx_timestamps(p)
        written.append(p)
    return written


def _fix_sav_timestamp(path: Path) -> None:
    """Overwrite the creation date/time in the SPSS header (bytes 92-108) for reproducibility."""
    with open(path, "r+b") as fh:
        fh.seek(92)
        fh.write(b"01 Jan 2500:00:00")


def _normalise_xlsx_timestamps(path: Path) -> None:
    """Fix the zip member timestamps and core properties so the workbook is byte-reproducible."""
    import zipfile

    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "docProps/core.xml":
                import re

                data = re.sub(
                    rb"<dcterms:(created|modified)([^>]*)>[^<]*<",
                    rb"<dcterms:\1\2>2025-01-01T00:00:00Z<",
                    data,
                )
            info = zipfile.ZipInfo(item.filename, date_time=(2025, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zout.writestr(info, data)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m helpers.data.sample", description=__doc__.splitlines()[0]
    )
    ap.add_argument(
        "--out", type=Path, required=True, help="directory to write the input files into"
    )
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--respondents", type=int, default=10_000, help="survey respondents per wave")
    ap.add_argument("--departments", default=None, help="comma-separated slugs (default: all)")
    ap.add_argument(
        "--first-fy", default=None, help="first fiscal year (default: the one holding 2022-07)"
    )
    ap.add_argument(
        "--last-fy", default=None, help="last fiscal year (default: the one holding 2025-07)"
    )
    a = ap.parse_args(argv)
    opts = SampleOptions(
        seed=a.seed,
        first_fy=a.first_fy,
        last_fy=a.last_fy,
        respondents=a.respondents,
        departments=tuple(a.departments.split(",")) if a.departments else None,
    )
    try:
        files = write_sample(a.out, opts)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(files)} files to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
