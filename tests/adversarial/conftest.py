"""Fixtures of the adversarial suite (helpers and constants live in adv_support.py).

- ``kp_small_raw`` / ``kp_small_warehouse`` (from ``tests/conftest.py``): the small sample.
- ``hostile_month``: a warehouse whose department, district, target, rating comment and action
  texts are hostile (HTML, quotes, Markdown, Typst and mathtext specials), and the month the real
  engine published from it for a narrow plan (stocktake and citizen survey, two departments).
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from adv_support import (
    HOSTILE,
    MONTH,
    edit_csv,
    hostile_registry,
)

from helpers.data import ingest
from helpers.data.registry import load_registry
from helpers.data.sample import SampleOptions, write_sample


@pytest.fixture(scope="session")
def hostile_month(tmp_path_factory) -> dict:
    """Publish stocktake and citizen-survey reports of health and local-government for MONTH
    from a warehouse full of hostile text, with the real notebooks, engine and publishers.

    Built once per test session even under pytest-xdist (the first worker builds it under a
    file lock in the session's shared temporary folder; the others read it): with pytest 9,
    xdist's ``--dist loadgroup`` does not keep an ``xdist_group`` on one worker."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    done = shared / "hostile_month.json"
    with open(shared / "hostile_month.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            result = _build_hostile_month(shared / "hostile")
            done.write_text(json.dumps({k: str(v) for k, v in result.items()}))
    info = json.loads(done.read_text())
    return {k: (int(v) if k == "status" else Path(v)) for k, v in info.items()}


def _build_hostile_month(tmp: Path) -> dict:
    from helpers.engine import run as engine_run

    tmp.mkdir(parents=True, exist_ok=True)
    params, geo = hostile_registry(tmp)
    raw = tmp / "raw"
    write_sample(raw, SampleOptions.small())
    health = lambda df: df["department"] == "health"  # noqa: E731

    def targets(df):
        df.loc[health(df).idxmax(), "title"] = f"Target {HOSTILE}"
        return df

    def ratings(df):
        df.loc[health(df), "comment"] = f"Comment {HOSTILE}"
        return df

    def actions(df):
        df.loc[health(df), "action"] = f"Action {HOSTILE}"
        return df

    edit_csv(raw / "targets.csv", targets)
    edit_csv(raw / "ratings.csv", ratings)
    edit_csv(raw / "actions.csv", actions)
    registry = load_registry(params / "profiles" / "kp" / "departments.yaml", geo)
    warehouse = tmp / "warehouse.duckdb"
    messages: list[str] = []
    code = ingest.run(raw, warehouse, registry=registry, log=lambda *a, **k: messages.append(a))
    assert code == 0, messages
    outputs = tmp / "outputs"
    argv = [
        "--month",
        MONTH,
        "--suite",
        str(params / "suite.yaml"),
        "--outputs",
        str(outputs),
        "--warehouse",
        str(warehouse),
        "--dept",
        "health,local-government",
        "--notebook",
        "stocktake,citizen_survey",
        "--jobs",
        "2",
    ]
    status = engine_run.cli(argv)
    return {
        "status": status,
        "outputs": outputs,
        "month": outputs / MONTH,
        "warehouse": warehouse,
        "params": params,
    }
