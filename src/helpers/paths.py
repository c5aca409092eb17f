"""Where things live. Every path can be redirected with an environment variable (tests do)."""

import os
from pathlib import Path

ROOT = Path(os.environ.get("KP_ROOT", Path(__file__).resolve().parents[2]))
PARAMS_DIR = Path(os.environ.get("KP_PARAMS", ROOT / "params"))
NOTEBOOKS_DIR = Path(os.environ.get("KP_NOTEBOOKS", ROOT / "notebooks"))
REFERENCE_DIR = Path(os.environ.get("KP_REFERENCE", ROOT / "data" / "reference"))


def warehouse_path() -> Path:
    """The DuckDB warehouse that reports read (KP_WAREHOUSE overrides)."""
    return Path(os.environ.get("KP_WAREHOUSE", ROOT / "data" / "warehouse.duckdb"))


def outputs_dir() -> Path:
    """Root of published outputs (KP_OUTPUTS overrides)."""
    return Path(os.environ.get("KP_OUTPUTS", ROOT / "outputs"))
