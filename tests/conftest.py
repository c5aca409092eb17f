"""Fixtures shared by every test folder: a SMALL generated sample and a warehouse built from it
(seconds, not minutes).

- ``kp_small_raw``: a directory of input files (``SampleOptions.small()``: 3 departments,
  FY2024-25, 2 survey waves of about 600 respondents) generated once per session; treat it as
  read-only, copy it to change it;
- ``kp_small_warehouse``: the DuckDB file built from it (session-scoped, read-only).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.data import ingest
from helpers.data.sample import SampleOptions, write_sample


@pytest.fixture(scope="session")
def kp_small_raw(tmp_path_factory) -> Path:
    """Input files of the small sample (do not modify: copy with ``shutil.copytree``)."""
    out = tmp_path_factory.mktemp("kp_small_raw")
    write_sample(out, SampleOptions.small())
    return out


@pytest.fixture(scope="session")
def kp_small_warehouse(kp_small_raw, tmp_path_factory) -> Path:
    """A warehouse built from ``kp_small_raw`` (do not modify)."""
    target = tmp_path_factory.mktemp("kp_small_wh") / "warehouse.duckdb"
    code = ingest.run(kp_small_raw, target, log=lambda *a, **k: None)
    assert code == 0, "building the small warehouse failed"
    return target
