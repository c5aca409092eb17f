"""The warm-kernel floor: the benchmark's notebooks executed back to back on ONE warm kernel.

No publishing, no cache, no ledger, no reset beyond closing figures: what executing the
notebooks costs at best on one core. Parameters are injected with papermill's own
``parameterize_notebook`` (as the engine and the papermill CLI do); the kernel is started once
(that start and the libraries' import are measured and reported apart) and reused through one nbclient client.

Reads a JSON list of jobs ``[{"id", "family", "notebook", "params"}]`` and writes a JSON result
``{"kernel_start_s", "total_s", "reports": [{"id", "family", "wall_s", "cpu_s"}]}`` where
``cpu_s`` is the kernel process's user + system CPU time spent on that notebook.

Usage (run by benchmarks/run.py in the benchmark's environment):
    .venv/bin/python benchmarks/warm_floor.py --jobs jobs.json --out floor.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

KERNEL = "kp-reports"
CLOSE_FIGURES = "import matplotlib.pyplot as _plt\n_plt.close('all')"
#: Imported before the clock starts, as the engine's workers pre-import them at kernel boot.
WARM_UP = "import pandas, numpy, matplotlib.pyplot, seaborn, statsmodels.api, scipy.stats, duckdb"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=Path, required=True, help="JSON list of jobs")
    ap.add_argument("--out", type=Path, required=True, help="where to write the JSON result")
    args = ap.parse_args(argv)
    jobs = json.loads(args.jobs.read_text())

    import nbformat
    import psutil
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    t0 = time.monotonic()
    km = KernelManager(kernel_name=KERNEL)
    km.start_kernel(env=dict(os.environ, MPLBACKEND="Agg"))
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=120)
    kernel = psutil.Process(km.provisioner.process.pid)
    warm = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(WARM_UP)])
    client = NotebookClient(warm, km=km, kernel_name=KERNEL, timeout=600)
    client.kc = kc
    client.execute()
    kernel_start = time.monotonic() - t0

    def cpu() -> float:
        t = kernel.cpu_times()
        return t.user + t.system

    reports = []
    t_all = time.monotonic()
    try:
        for job in jobs:
            nb_path = Path(job["notebook"])
            nb = load_notebook_node(str(nb_path))
            nb = parameterize_notebook(nb, job["params"], kernel_name=KERNEL, language="python")
            nb.cells.insert(0, nbformat.v4.new_code_cell(f"%cd {nb_path.parent}"))
            nb.cells.append(nbformat.v4.new_code_cell(CLOSE_FIGURES))
            client = NotebookClient(nb, km=km, kernel_name=KERNEL, timeout=600)
            client.kc = kc
            c0, w0 = cpu(), time.monotonic()
            client.execute()
            reports.append(
                {
                    "id": job["id"],
                    "family": job["family"],
                    "wall_s": round(time.monotonic() - w0, 3),
                    "cpu_s": round(cpu() - c0, 3),
                }
            )
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    result = {
        "kernel_start_s": round(kernel_start, 3),
        "total_s": round(time.monotonic() - t_all, 3),
        "reports": reports,
    }
    args.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
