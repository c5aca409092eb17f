"""Everything the province overview shows for a month, as text, to compare two versions.

Executes the code cells of ``notebooks/province_overview.ipynb`` in this process on the
current warehouse (as a warm kernel would) and writes each displayed object's HTML, one per
block, with every embedded PNG replaced by its SHA-256 (so a changed chart shows as a changed
line). Run it before and after a change and ``diff`` the two files: the numbers and words a
reader sees are equal when the files are.

Usage: .venv/bin/python benchmarks/overview_outputs.py --month 2025-03 --out before.txt
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale_overview import ROOT, notebook_cells, run_notebook

_PNG = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")


def _digest(m: re.Match) -> str:
    return "png-sha256:" + hashlib.sha256(base64.b64decode(m.group(1))).hexdigest()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--month", default="2025-03")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--notebook", type=Path, default=ROOT / "notebooks" / "province_overview.ipynb")
    a = ap.parse_args(argv)
    import matplotlib

    matplotlib.use("agg")
    shown: list[str] = []
    run_notebook(notebook_cells(a.notebook, a.month), shown)
    text = "\n\n".join(_PNG.sub(_digest, s) for s in shown)
    a.out.write_text(text + "\n", encoding="utf-8")
    print(f"{len(shown)} displayed objects written to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
