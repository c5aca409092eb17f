"""Where a report's time goes: kernel start, imports, notebook cells, HTML, pandoc, Typst.

Runs a few representative jobs through :class:`helpers.engine.execute.KernelWorker` in this
process (one warm kernel, the engine's own code path), with timers around every stage:

- ``kernel_start``: starting the ``kp-reports`` kernel process (``start_kernel`` minus boot);
- ``kernel_boot``: the boot cell (pre-importing pandas, matplotlib, statsmodels, helpers ...);
- per job: ``load+parameterize``, ``reset`` (the hidden reset cell), each notebook cell,
  ``html`` (``render_html``), ``pandoc`` (HTML -> Typst), ``typst`` (compile), ``write+hash``.

Options: ``--month`` (default 2025-03), ``--dept`` (default health), ``--families`` (comma
list), ``--repeat N`` (warm runs of each job, default 2), ``--fresh`` (also one fresh-kernel run
per job), ``--cells`` (print the slowest cells of each job; ``--top N`` of them, default 6),
``--cprofile FILE`` (a cProfile of the driver side: loading, parameterizing and publishing; the
cells run in the kernel process, so they are timed here by wall clock only) and ``--keep DIR``
(copy the executed notebooks there). To find analysis hot spots inside a cell, run the notebook
in JupyterLab with ``%%prun``.

Usage: .venv/bin/python benchmarks/profile_jobs.py [--month 2025-03] [--dept health]
       [--families budget_execution,stocktake,citizen_survey,pse_oversight] [--repeat 2]
       [--fresh] [--cells [--top N]] [--cprofile FILE] [--keep DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import pstats
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from helpers import paths  # noqa: E402

DEFAULT_FAMILIES = "budget_execution,stocktake,citizen_survey,pse_oversight"


class Timers:
    """Accumulates wall-clock seconds per label."""

    def __init__(self) -> None:
        self.t: dict[str, float] = defaultdict(float)

    @contextlib.contextmanager
    def __call__(self, label: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.t[label] += time.perf_counter() - t0


def _instrument(timers: Timers) -> None:
    """Wrap the publishers' stages with timers (monkeypatching module attributes)."""
    from helpers.publish import html as html_pub
    from helpers.publish import pdf as pdf_pub

    def wrap(mod, name, label):
        fn = getattr(mod, name)
        if getattr(fn, "_kp_timed", False):
            return

        def timed(*a, **k):
            with timers(label):
                return fn(*a, **k)

        timed._kp_timed = True
        setattr(mod, name, timed)

    wrap(html_pub, "render_html", "publish.html")
    wrap(pdf_pub, "html_to_typst", "publish.pdf.pandoc")
    wrap(pdf_pub, "compile_typst", "publish.pdf.typst")
    wrap(pdf_pub, "render_pdf", "publish.pdf.total")


def job_specs(month: str, dept: str, families: list[str], outputs: Path) -> list[dict]:
    """Engine job specs (as `make reports` would build them) for the chosen jobs, as dicts
    (``JobSpec.to_dict``: the benchmark varies their keys per repeat)."""
    from helpers.engine.cache import Cache, Environment
    from helpers.engine.inputs import Warehouse
    from helpers.engine.params import load_suite
    from helpers.engine.plan import plan_month
    from helpers.engine.run import compute_keys, job_spec

    suite = load_suite(paths.PARAMS_DIR / "suite.yaml")
    wh = paths.warehouse_path()
    facts = Warehouse(wh)
    plan = plan_month(
        suite,
        facts,
        month=month,
        notebooks_dir=paths.NOTEBOOKS_DIR,
        depts=[dept],
        notebooks=families,
    )
    cache = Cache(outputs / ".cache")
    env = Environment.compute(
        ROOT / "src" / "helpers",
        ROOT / "requirements.lock",
        suite.formats,
        suite.settings.publisher,
        params_dir=paths.PARAMS_DIR,
    )
    compute_keys(plan, facts, env, cache)
    git = {"commit": "profile", "dirty": False}
    return [
        job_spec(
            j,
            settings=suite.settings,
            formats=suite.formats,
            cache=cache,
            staging=outputs / "staging",
            git=git,
            warehouse=wh,
            params_dir=paths.PARAMS_DIR,
            log_dir=outputs / "logs",
        ).to_dict()
        for j in plan.selected_jobs()
    ]


KERNEL_PRUN = r"""
import cProfile as _cp, pstats as _ps, io as _io
_kp_prof = _cp.Profile()
"""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--month", default="2025-03")
    p.add_argument("--dept", default="health")
    p.add_argument("--families", default=DEFAULT_FAMILIES)
    p.add_argument("--repeat", type=int, default=2, help="warm runs of each job (default 2)")
    p.add_argument("--fresh", action="store_true", help="also time one fresh-kernel run per job")
    p.add_argument("--cprofile", type=Path, help="write a cProfile of the driver side here")
    p.add_argument("--cells", action="store_true", help="print each cell's time")
    p.add_argument("--top", type=int, default=6, help="with --cells: how many cells per job")
    p.add_argument("--keep", type=Path, help="copy the executed notebooks into this folder")
    args = p.parse_args(argv)
    families = [f for f in args.families.split(",") if f]

    from helpers.engine import execute
    from helpers.engine.jobs import JobSpec

    timers = Timers()
    prof = cProfile.Profile() if args.cprofile else None
    with tempfile.TemporaryDirectory(prefix="kp-profile-") as tmp:
        outputs = Path(tmp)
        specs = job_specs(args.month, args.dept, families, outputs)
        print(f"{len(specs)} jobs: {', '.join(s['id'] for s in specs)}")
        t0 = time.perf_counter()
        execute.preimport_publishers()
        print(
            f"worker imports (papermill, nbconvert, publishers): {time.perf_counter() - t0:.2f} s"
        )
        _instrument(timers)

        worker = execute.KernelWorker("warm", 100)
        # Split start_kernel into process start and boot cell.
        orig_boot = execute.BOOT_CELL
        execute.BOOT_CELL = "pass"
        t0 = time.perf_counter()
        worker.start_kernel()
        t_start = time.perf_counter() - t0
        execute.BOOT_CELL = orig_boot
        import nbformat
        from nbclient import NotebookClient

        boot = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(orig_boot)])
        t0 = time.perf_counter()
        client = NotebookClient(boot, km=worker.km, kernel_name=worker.kernel_name, timeout=600)
        client.kc = worker.kc  # one client per kernel (a second one would steal the replies)
        client.execute()
        t_boot = time.perf_counter() - t0
        print(f"kernel start {t_start:.2f} s, boot cell (pre-imports) {t_boot:.2f} s")

        # Per-cell timing through nbclient's hooks.
        cell_times: dict[str, list[tuple[int, float, str]]] = defaultdict(list)
        current: dict = {}
        import nbclient.client as ncc

        orig_init = ncc.NotebookClient.__init__

        def init(self, *a, **k):
            def started(cell, cell_index, **_):
                current["t"] = time.perf_counter()

            def done(cell, cell_index, **_):
                src = cell.source.splitlines()[0][:60] if cell.source else ""
                cell_times[current["job"]].append(
                    (cell_index, time.perf_counter() - current["t"], src)
                )

            k.setdefault("on_cell_start", started)
            k.setdefault("on_cell_executed", done)
            orig_init(self, *a, **k)

        ncc.NotebookClient.__init__ = init
        try:
            rows = []
            for rep in range(args.repeat):
                for spec in specs:
                    before = dict(timers.t)
                    current["job"] = f"{spec['id']}#{rep}"
                    spec = dict(spec, key=f"{spec['key']}-{rep}")
                    if prof:
                        prof.enable()
                    t0 = time.perf_counter()
                    res = worker.run_job(JobSpec.from_dict(spec)).to_dict()
                    total = time.perf_counter() - t0
                    if prof:
                        prof.disable()
                    delta = {k: v - before.get(k, 0.0) for k, v in timers.t.items()}
                    cells = cell_times[current["job"]]
                    reset = cells[0][1] if cells else 0.0
                    body = sum(c[1] for c in cells[1:])
                    rows.append((spec["id"], rep, res, total, reset, body, delta))
                    if res["status"] != "done":
                        print(
                            f"  {spec['id']}: {res['status']} {res.get('reason')}: {res.get('error')}"
                        )
                    if args.cells:
                        for idx, secs, src in sorted(cells, key=lambda c: -c[1])[: args.top]:
                            print(f"    {spec['id']} cell {idx}: {secs:.3f} s  {src}")
            if args.fresh:
                fw = execute.KernelWorker("fresh", 1)
                for spec in specs:
                    current["job"] = f"{spec['id']}#fresh"
                    t0 = time.perf_counter()
                    fresh = dict(spec, key=spec["key"] + "-fresh", isolation="fresh")
                    res = fw.run_job(JobSpec.from_dict(fresh)).to_dict()
                    rows.append((spec["id"], "fresh", res, time.perf_counter() - t0, 0, 0, {}))
                fw.shutdown()
        finally:
            ncc.NotebookClient.__init__ = orig_init
            worker.shutdown()
        if args.keep:
            import shutil

            args.keep.mkdir(parents=True, exist_ok=True)
            for nb_file in (outputs / ".cache").glob("*-0/*.ipynb"):
                shutil.copy2(nb_file, args.keep / nb_file.name)

    print()
    hdr = (
        f"{'job':<28} {'run':>5} {'total':>6} {'exec':>6} {'reset':>6} {'cells':>6} "
        f"{'html':>6} {'pandoc':>6} {'typst':>6} {'pdf':>6} {'publish':>7}"
    )
    print(hdr)
    for jid, rep, res, total, reset, body, d in rows:
        print(
            f"{jid:<28} {rep!s:>5} {total:6.2f} {res.get('execute_s', 0):6.2f} {reset:6.2f} "
            f"{body:6.2f} {d.get('publish.html', 0):6.2f} {d.get('publish.pdf.pandoc', 0):6.2f} "
            f"{d.get('publish.pdf.typst', 0):6.2f} {d.get('publish.pdf.total', 0):6.2f} "
            f"{res.get('publish_s', 0):7.2f}"
        )
    if prof:
        prof.dump_stats(str(args.cprofile))
        pstats.Stats(prof).sort_stats("cumulative").print_stats(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
