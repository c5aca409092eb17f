"""How the province overview's cost grows with the number of departments (figures, not asserted).

For each size (default 33, 99 and 330 departments) this script builds, in a temporary folder,
a synthetic jurisdiction profile: the KP profile with its registry repeated (copy 1 is KP's own
33 departments; copy k adds ``<slug>-c<k>`` named ``<name> (copy k)``, same priority area, its
public sector entities repeated with new ids; the surveyed services stay KP's twelve). It then
generates that profile's sample with :mod:`helpers.data.sample` (``--respondents`` per wave),
loads it into a throw-away warehouse with :func:`helpers.data.ingest.run`, and times the code
cells of ``notebooks/province_overview.ipynb`` executed in this process, as a warm kernel runs
them (every displayed object rendered to HTML). One untimed warm-up run on the first size pays
the imports and first-use caches. Prints seconds and seconds per department.

Usage: .venv/bin/python benchmarks/scale_overview.py [--sizes 33,99,330] [--month 2025-03]
       [--respondents 3000] [--repeat 1] [--notebook notebooks/province_overview.ipynb]
       [--cprofile FILE]
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import cProfile
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from helpers import profile  # noqa: E402


def synthetic_registry(doc: dict, copies: int) -> dict:
    """The registry ``doc`` with its departments (and their entities) repeated ``copies`` times."""
    out = dict(doc)
    deps, ents = [], {}
    for k in range(1, copies + 1):
        for d in doc["departments"]:
            slug = d["slug"] if k == 1 else f"{d['slug']}-c{k}"
            names = [
                {**n, "name": n["name"] if k == 1 else f"{n['name']} (copy {k})"}
                for n in d["names"]
            ]
            deps.append({**d, "slug": slug, "names": names})
            if d["slug"] in (doc.get("entities") or {}):
                ents[slug] = [
                    {**e, "id": e["id"] if k == 1 else f"{e['id']}-C{k}"}
                    for e in doc["entities"][d["slug"]]
                ]
    out["departments"] = deps
    out["entities"] = ents
    return out


def make_profile(base: profile.Profile, folder: Path, departments: int) -> profile.Profile:
    """A copy of ``base`` in ``folder`` whose registry has ``departments`` departments."""
    doc = yaml.safe_load(base.source.read_text(encoding="utf-8"))
    reg = yaml.safe_load(base.registry_file.read_text(encoding="utf-8"))
    per = len(reg["departments"])
    if departments % per:
        raise SystemExit(f"--sizes: each size must be a multiple of {per} (the base registry)")
    folder.mkdir(parents=True)
    name = f"scale{departments}"
    doc["name"] = name
    (folder / "profile.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    (folder / base.registry_file.name).write_text(
        yaml.safe_dump(synthetic_registry(reg, departments // per), sort_keys=False),
        encoding="utf-8",
    )
    for p in base.folder.iterdir():  # survey.yaml, mappings/ ...: shared, linked
        if not (folder / p.name).exists():
            (folder / p.name).symlink_to(p)
    return profile.parse(doc, folder, name)


def build_warehouse(tmp: Path, respondents: int) -> Path:
    """Generate the active profile's sample in ``tmp/raw`` and load ``tmp/warehouse.duckdb``."""
    from helpers.data import ingest, sample

    raw, wh = tmp / "raw", tmp / "warehouse.duckdb"
    sample.write_sample(raw, sample.SampleOptions(respondents=respondents))
    code = ingest.run(raw, wh, force=True, log=lambda *a, **k: None)
    if code:
        raise SystemExit(f"loading the synthetic sample failed (exit {code})")
    return wh


def notebook_cells(path: Path, month: str) -> list:
    """The notebook's code cells compiled, the parameters cell replaced by ``month``."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = []
    for c in nb["cells"]:
        if c["cell_type"] != "code":
            continue
        src = "".join(c["source"])
        if "parameters" in c.get("metadata", {}).get("tags", []):
            src = f"month = {month!r}"
        tree = ast.parse(src)
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        cells.append((compile(tree, path.name, "exec"), last and compile(last, path.name, "eval")))
    return cells


def _render(obj) -> str:
    """What the report shows of ``obj``: its MIME bundle (HTML, plain text ...), else its HTML
    or Markdown, else its repr."""
    bundle = getattr(obj, "_repr_mimebundle_", None)
    if bundle is not None:
        return json.dumps(bundle(), sort_keys=True, default=str, ensure_ascii=False, indent=0)
    for attr in ("_repr_html_", "_repr_markdown_"):
        fn = getattr(obj, attr, None)
        if fn is not None:
            return str(fn())
    return repr(obj)


def run_notebook(cells: list, shown: list | None = None) -> tuple[float, float]:
    """Execute the cells in a fresh namespace (a reset warm kernel); return (wall, CPU) seconds
    (CPU: this process's, less disturbed by other work on a shared machine)."""
    import matplotlib.pyplot as plt

    def display(*objs, **_kw):
        for o in objs:
            text = _render(o)
            if shown is not None:
                shown.append(text)

    import IPython.display

    ns: dict = {"__name__": "__main__"}
    t0, c0 = time.perf_counter(), time.process_time()
    with contextlib.ExitStack() as stack:
        old = IPython.display.display
        IPython.display.display = display
        stack.callback(setattr, IPython.display, "display", old)
        for body, last in cells:
            exec(body, ns)
            if last is not None:
                value = eval(last, ns)
                if value is not None:
                    display(value)
    plt.close("all")
    return time.perf_counter() - t0, time.process_time() - c0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="33,99,330")
    ap.add_argument("--month", default="2025-03")
    ap.add_argument("--respondents", type=int, default=3000)
    ap.add_argument("--repeat", type=int, default=1, help="timed runs per size (best is kept)")
    ap.add_argument("--notebook", type=Path, default=ROOT / "notebooks" / "province_overview.ipynb")
    ap.add_argument("--cprofile", default=None, help="write a cProfile of the largest size here")
    a = ap.parse_args(argv)
    import matplotlib

    matplotlib.use("agg")
    sizes = [int(s) for s in a.sizes.split(",")]
    cells = notebook_cells(a.notebook, a.month)
    base = profile.active()
    with tempfile.TemporaryDirectory(prefix="scale-overview-") as tmp:
        for i, n in enumerate(sizes):
            where = Path(tmp) / str(n)
            prof = make_profile(base, where / "profile", n)
            with profile.use(prof):
                t0 = time.perf_counter()
                wh = build_warehouse(where, a.respondents)
                built = time.perf_counter() - t0
                os.environ["KP_WAREHOUSE"] = str(wh)
                try:
                    if i == 0:
                        run_notebook(cells)  # warm-up: imports and first-use caches
                    best = min(run_notebook(cells) for _ in range(a.repeat))
                    if a.cprofile and n == max(sizes):
                        pr = cProfile.Profile()
                        pr.runcall(run_notebook, cells)
                        pr.dump_stats(a.cprofile)
                finally:
                    os.environ.pop("KP_WAREHOUSE", None)
            wall, cpu = best
            print(
                f"{n:4d} departments: overview {wall:6.1f} s wall, {cpu:6.1f} s CPU, "
                f"{cpu / n:5.3f} s CPU per department (sample built and loaded in {built:.0f} s)",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
