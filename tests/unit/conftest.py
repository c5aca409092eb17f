"""Shared fixtures: a SMALL generated sample and a warehouse built from it (seconds, not minutes).

Reuse them from any unit test:
- ``kp_small_raw``: a directory of input files (3 departments, FY2024-25, 2 survey waves of about
  600 respondents) generated once per session — treat it as read-only, copy it to change it;
- ``kp_small_warehouse``: the DuckDB file built from it (session-scoped, read-only);
- ``use_small_warehouse``: points ``KP_WAREHOUSE`` at that file for one test, so
  ``helpers.data.warehouse`` reads it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from helpers.data import ingest
from helpers.data.sample import SampleOptions, write_sample

SMALL_OPTIONS = SampleOptions(
    seed=7,
    first_fy="2024-25",
    last_fy="2024-25",
    respondents=600,
    departments=("health", "local-government", "zakat-ushr"),
)


@pytest.fixture(scope="session")
def kp_small_raw(tmp_path_factory) -> Path:
    """Input files of the small sample (do not modify: copy with ``shutil.copytree``)."""
    out = tmp_path_factory.mktemp("kp_small_raw")
    write_sample(out, SMALL_OPTIONS)
    return out


@pytest.fixture(scope="session")
def kp_small_warehouse(kp_small_raw, tmp_path_factory) -> Path:
    """A warehouse built from ``kp_small_raw`` (do not modify)."""
    target = tmp_path_factory.mktemp("kp_small_wh") / "warehouse.duckdb"
    code = ingest.run(kp_small_raw, target, log=lambda *a, **k: None)
    assert code == 0, "building the small warehouse failed"
    return target


@pytest.fixture
def use_small_warehouse(kp_small_warehouse, monkeypatch) -> Path:
    """Point helpers.data.warehouse at the small warehouse for this test."""
    monkeypatch.setenv("KP_WAREHOUSE", str(kp_small_warehouse))
    return kp_small_warehouse


@pytest.fixture
def small_raw_copy(kp_small_raw, tmp_path) -> Path:
    """A private, writable copy of the small sample inputs."""
    dst = tmp_path / "raw"
    shutil.copytree(kp_small_raw, dst)
    return dst
