"""Data-layer timings: ingestion of data/raw and department slice queries (figures, not asserted).

``python benchmarks/bench_data.py`` prints the figures; ``run()`` returns them as a dict.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from helpers.data import ingest, warehouse
from helpers.data.registry import load_registry


def run(data_dir: Path | None = None) -> dict:
    """Build a throw-away warehouse from ``data_dir`` (default data/raw) and time reads on it."""
    data_dir = Path(data_dir or os.environ.get("DATA_DIR") or ingest.default_data_dir())
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "warehouse.duckdb"
        t0 = time.perf_counter()
        outcome = ingest.collect(data_dir, load_registry())
        t1 = time.perf_counter()
        if not outcome.ok:
            raise SystemExit("input files invalid:\n" + "\n".join(outcome.messages[:20]))
        ingest.build_warehouse(target, outcome.tables, outcome.sources)
        t2 = time.perf_counter()
        old = os.environ.get("KP_WAREHOUSE")
        os.environ["KP_WAREHOUSE"] = str(target)
        try:
            slugs = warehouse.departments()["slug"].tolist()
            t3 = time.perf_counter()
            for s in slugs:
                warehouse.budget_monthly(s)
                warehouse.budget_allocations(s)
                warehouse.targets(s)
                warehouse.actuals(s)
                warehouse.pse_returns(s)
            t4 = time.perf_counter()
            sums = [warehouse.slice_checksum(s) for s in slugs]
            t5 = time.perf_counter()
            svc = warehouse.survey_services("health")["service"].tolist()
            frame = warehouse.survey_frame(warehouse.survey_waves()[-1], svc)
            t6 = time.perf_counter()
        finally:
            if old is None:
                os.environ.pop("KP_WAREHOUSE", None)
            else:
                os.environ["KP_WAREHOUSE"] = old
        return {
            "validate_seconds": round(t1 - t0, 3),
            "load_seconds": round(t2 - t1, 3),
            "warehouse_mb": round(target.stat().st_size / 1e6, 2),
            "departments": len(slugs),
            "slices_5_tables_all_departments_seconds": round(t4 - t3, 3),
            "slice_checksum_all_departments_seconds": round(t5 - t4, 3),
            "distinct_checksums": len(set(sums)),
            "survey_frame_rows": len(frame),
            "survey_frame_seconds": round(t6 - t5, 3),
        }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
