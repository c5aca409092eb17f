"""Where things live. Every path can be redirected with an environment variable (tests do).

Each jurisdiction profile has its own inputs, warehouse, rejected rows and outputs (with the
cache and ledger inside), so profiles never share state. The suite's default profile keeps the
top-level places (``data/raw``, ``data/warehouse.duckdb``, ``outputs/``); any other profile
``<p>`` uses ``data/<p>/raw``, ``data/<p>/warehouse.duckdb`` and ``outputs/<p>/``.
"""

import os
from pathlib import Path

ROOT = Path(os.environ.get("KP_ROOT", Path(__file__).resolve().parents[2]))
PARAMS_DIR = Path(os.environ.get("KP_PARAMS", ROOT / "params"))
NOTEBOOKS_DIR = Path(os.environ.get("KP_NOTEBOOKS", ROOT / "notebooks"))
REFERENCE_DIR = Path(os.environ.get("KP_REFERENCE", ROOT / "data" / "reference"))


def _profile_part() -> tuple[str, ...]:
    """() for the default profile, (name,) for any other."""
    from helpers import profile

    name = profile.active_name()
    return () if profile.is_default(name) else (name,)


def data_root() -> Path:
    """``data/`` for the default profile, ``data/<profile>/`` for another."""
    return ROOT.joinpath("data", *_profile_part())


def raw_dir() -> Path:
    """Default input folder of the active profile (the sample is generated here when empty)."""
    return data_root() / "raw"


def warehouse_path() -> Path:
    """The DuckDB warehouse that reports read (KP_WAREHOUSE overrides)."""
    return Path(os.environ.get("KP_WAREHOUSE", data_root() / "warehouse.duckdb"))


def outputs_dir() -> Path:
    """Root of published outputs (KP_OUTPUTS overrides)."""
    return Path(os.environ.get("KP_OUTPUTS", ROOT.joinpath("outputs", *_profile_part())))
