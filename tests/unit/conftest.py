"""Unit-test fixtures on top of the small sample of ``tests/conftest.py``:

- ``use_small_warehouse``: points ``KP_WAREHOUSE`` at that file for one test, so
  ``helpers.data.warehouse`` reads it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


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
