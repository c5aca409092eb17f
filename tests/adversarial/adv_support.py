"""Helpers and constants of the adversarial suite (see docs/reliability.md for the cases).

- ``AdvEnv``: the engine sandbox of ``tests/e2e/test_engine.py`` (fake suite, fake warehouse
  facts, real kernels and publishers) with this suite's fixture notebooks added.
- ``HOSTILE*``: texts that must reach readers as text.
- ``hostile_registry``/``edit_csv``: build the hostile inputs of the ``hostile_month`` fixture.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pandas as pd
import yaml

from helpers import paths

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FIXTURES = HERE / "fixtures"
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from test_engine import LAUNCHER, MONTH, Env, FakeWarehouse, family  # noqa: E402

__all__ = ["LAUNCHER", "MONTH", "AdvEnv", "FakeWarehouse", "family", "edit_csv", "hostile_registry"]

#: Text that must reach readers as text: HTML, quotes, Markdown, Typst and mathtext specials.
HOSTILE = "<script>alert(1)</script> \"q\" 'a' & **md** # h $x$ @ref <b> *s* _u_ \\ ] `c`"
HOSTILE_DEPT = 'Health <script>alert(1)</script> & "Population" #1 $5 @dept'
HOSTILE_DISTRICT = "Peshawar <img src=x onerror=alert(2)> $\\frac{1}{2}$ #d"


class AdvEnv(Env):
    """The e2e engine sandbox with the adversarial fixture notebooks copied in as well."""

    def __init__(self, tmp: Path, families: list[str], formats="[html]", settings=""):
        super().__init__(tmp, families, formats, settings)
        for nb in FIXTURES.glob("*.ipynb"):
            shutil.copy(nb, self.nbdir / nb.name)

    def ledger_runs(self) -> list[dict]:
        from helpers.engine.ledger import Ledger

        return Ledger(self.outputs / "ledger.duckdb").runs(MONTH)


def hostile_registry(tmp: Path) -> tuple[Path, Path]:
    """Copies of the registry files with the health department and one district renamed."""
    params = tmp / "params"
    shutil.copytree(paths.PARAMS_DIR, params)
    reg = params / "profiles" / "kp" / "departments.yaml"
    doc = yaml.safe_load(reg.read_text(encoding="utf-8"))
    for dept in doc["departments"]:
        if dept["slug"] == "health":
            for entry in dept["names"]:
                entry["name"] = HOSTILE_DEPT
    reg.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    geo_src = paths.REFERENCE_DIR / "kp_adm2_districts_simplified.geojson"
    geo = json.loads(geo_src.read_text(encoding="utf-8"))
    for feat in geo["features"]:
        if feat["properties"]["admin2Name_en"] == "Peshawar":
            feat["properties"]["admin2Name_en"] = HOSTILE_DISTRICT
    geo_path = tmp / "districts.geojson"
    geo_path.write_text(json.dumps(geo), encoding="utf-8")
    return params, geo_path


def edit_csv(path: Path, fn) -> None:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    fn(df).to_csv(path, index=False)
