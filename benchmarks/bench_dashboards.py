"""Benchmark the leadership dashboards: a full rebuild over N published months, the no-change
re-run (a new process, as `python -m helpers.cli dashboards` runs it) and one new month.

    PYTHONPATH=src python benchmarks/bench_dashboards.py [--months 48] [--keep DIR]

The months are synthetic but full-sized (33 departments with budget, stocktake, survey and
entity reports, the province overview and 174 entities with their trend window), written as
the engine writes them (manifest.json + dashboard.json per month). Prints the figures; the
targets are under 10 s for 48 months and under 2 s for the no-change re-run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from helpers.publish import dashboards

N_DEPTS, N_ENTITIES, N_TARGETS = 33, 174, 4
AREAS = ["Education", "Health", "Local Government", "Energy", "CM initiatives", "Other"]
RATINGS = ["Green", "Amber-Green", "Amber-Red", "Red"]
STATUSES = ["on track", "on track", "met", "off track", "missed"]


def _months(n: int, start=(2022, 7)) -> list[str]:
    y, m = start
    out = []
    for _ in range(n):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _quarter(month: str) -> str:
    y, m = int(month[:4]), int(month[5:7])
    q_end = ((m - 1) // 3) * 3  # last completed quarter's end month
    if q_end == 0:
        y, q_end = y - 1, 12
    day = {3: 31, 6: 30, 9: 30, 12: 31}[q_end]
    return f"{y:04d}-{q_end:02d}-{day}"


def month_reports(month: str, rng: random.Random) -> list[dict]:
    reps = []
    q = _quarter(month)
    ents = []
    for i in range(N_ENTITIES):
        rating = rng.choice(["Low", "Medium", "Medium", "High", "No return"])
        status = rng.choice(["On time", "On time", "Late", "Missing", "Not due"])
        ents.append(
            {
                "id": f"PSE-{i:03d}",
                "name": f"Entity {i:03d}",
                "department": f"dept-{i % N_DEPTS:02d}",
                "type": rng.choice(["authority", "board", "company", "university"]),
                "rating": rating,
                "previous_rating": "Medium",
                "return_status": status,
                "days_late": rng.randint(1, 60) if status == "Late" else None,
                "reasons": "cash cover below 3 months" if rating == "High" else "",
                "grant_dependence": round(rng.random(), 4),
                "own_revenue_share": round(rng.random(), 4),
                "surplus_margin": round(rng.uniform(-0.2, 0.2), 4),
                "cash_cover_months": round(rng.uniform(0, 8), 2),
                "liabilities_growth_yoy": round(rng.uniform(-0.1, 0.3), 4),
                "negative_equity": False,
            }
        )
    panel = [
        {
            "id": e["id"],
            "quarter": f"{int(q[:4]) - k // 4}-{q[5:]}",
            "rating": e["rating"],
            "return_status": "On time",
            "days_late": None,
            "grant_dependence": e["grant_dependence"],
            "own_revenue_share": e["own_revenue_share"],
            "surplus_margin": e["surplus_margin"],
            "cash_cover_months": e["cash_cover_months"],
            "liabilities_growth_yoy": e["liabilities_growth_yoy"],
        }
        for e in ents
        for k in range(1, 8)
    ]

    def item(family, dept, headline):
        return {
            "family": family,
            "family_title": family,
            "scope": "department" if dept else "province",
            "department": dept,
            "department_name": f"Department {dept}" if dept else None,
            "priority_area": AREAS[hash(dept) % len(AREAS)] if dept else None,
            "status": "done",
            "html": f"{dept or 'province'}/{family}.html",
            "headline": headline,
        }

    reps.append(item("province_overview", None, {"utilisation": 0.6, "benchmark": 0.7}))
    reps.append(
        item(
            "pse_province",
            None,
            {
                "at_risk": 20,
                "entities": N_ENTITIES,
                "detail": {"quarter": q, "at_risk_ratings": ["High"], "entities": ents,
                           "panel": panel},
            },
        )
    )  # fmt: skip
    for d in range(N_DEPTS):
        dept = f"dept-{d:02d}"
        flags = [
            {"kind": k, "scope": "development", "message": f"{k} on development"}
            for k in ("underspend", "gap")
            if rng.random() < 0.3
        ]
        reps.append(
            item(
                "budget_execution",
                dept,
                {
                    "utilisation": rng.uniform(0.3, 0.9),
                    "benchmark": 0.7,
                    "detail": {"flags": flags},
                },
            )
        )
        targets = [
            {"id": f"{dept}-t{t}", "title": f"Target {t}", "status": rng.choice(STATUSES),
             "rating": rng.choice(RATINGS)}
            for t in range(N_TARGETS)
        ]  # fmt: skip
        on = sum(t["status"] in ("on track", "met") for t in targets)
        reps.append(
            item(
                "stocktake",
                dept,
                {"on_track": on, "targets": N_TARGETS, "detail": {"targets": targets}},
            )
        )
        reps.append(
            item(
                "citizen_survey",
                dept,
                {
                    "satisfaction": rng.uniform(0.3, 0.7),
                    "wave": f"{month[:4]}-06-01",
                    "detail": {"changes": [{"service": "s", "label": "Service", "change": 0.05,
                                            "current": 0.5, "p_value": 0.01,
                                            "significant": True}]},
                },
            )
        )  # fmt: skip
        mine = [e for e in ents if e["department"] == dept]
        reps.append(
            item(
                "pse_oversight",
                dept,
                {"at_risk": sum(e["rating"] == "High" for e in mine), "entities": len(mine),
                 "detail": {"quarter": q, "at_risk_ratings": ["High"], "entities": mine}},
            )
        )  # fmt: skip
    return reps


def write_months(root: Path, months: list[str], seed: int = 0) -> None:
    rng = random.Random(seed)
    for m in months:
        d = root / m
        d.mkdir(parents=True, exist_ok=True)
        (d / "manifest.json").write_text(json.dumps({"month": m, "jobs": []}))
        snap = dashboards.snapshot(m, month_reports(m, rng))
        (d / dashboards.SNAPSHOT).write_text(json.dumps(snap, indent=0, sort_keys=True))


def _cli(root: Path) -> tuple[float, str]:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "helpers.cli", "dashboards", "--outputs", str(root)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return time.perf_counter() - t0, out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--months", type=int, default=48)
    ap.add_argument("--keep", default=None, help="build here and keep it (default: a temp dir)")
    args = ap.parse_args(argv)
    root = Path(args.keep or tempfile.mkdtemp(prefix="kp-dash-bench-"))
    months = _months(args.months + 1)
    try:
        write_months(root, months[:-1])
        size = sum(f.stat().st_size for f in root.glob(f"*/{dashboards.SNAPSHOT}"))
        print(f"{args.months} synthetic months, snapshots {size / 1e6:.1f} MB in {root}")

        t0 = time.perf_counter()
        res = dashboards.build_site(root, force=True)
        full = time.perf_counter() - t0
        print(f"full rebuild ({res.months} months, {res.pages} pages, {res.written} files): "
              f"{full:.2f} s  (target < 10 s)")  # fmt: skip

        wall, out = _cli(root)
        print(f"no-change re-run, new process incl. interpreter start: {wall:.2f} s "
              f"(target < 2 s) -> {out}")  # fmt: skip

        write_months(root, months[-1:], seed=1)
        t0 = time.perf_counter()
        res = dashboards.build_site(root)
        print(f"one new month ({res.written} files written): {time.perf_counter() - t0:.2f} s")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
