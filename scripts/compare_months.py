"""Compare two published months: equal apart from the run stamp?

    .venv/bin/python scripts/compare_months.py OLD_MONTH_DIR NEW_MONTH_DIR [--no-raster]

Used to show that a change of structure changed nothing a reader sees: publish the month before
and after the change (into two outputs folders) and compare. What is compared, per file:

- the set of published files (relative paths);
- every file byte for byte, except HTML pages: all but the run stamp (the portal's ``Run`` and
  ``Code version``; each report footer's ``Code version``, ``Run at`` and ``Cache key``, which
  name the run and the code, not what the report says);
- executed notebooks (``.ipynb``): every cell's outputs, and with ``--with-code`` the code cells'
  source too (a change of structure rewrites the notebooks' code by design; readers see the
  outputs); execution metadata and timings left out;
- PDF: the page count and the text of every page (``pdftotext``, the stamp masked), and unless
  ``--no-raster`` the pages rendered at 40 dpi (``pdftoppm``), pixel for pixel, except the page
  that carries the stamp (compared by its text);
- ``manifest.json``: the inputs, selection, settings, not-provided and not-run lists, and each
  job's department, family, parameters, data checksum, status class (published or failed) and
  reason (run ids, times, durations, cache status, cache keys, file hashes and the code
  version left out: the files themselves are compared above).

Exit 0 when equal, 1 with one line per difference (at most 20 per kind) otherwise, 2 on bad use.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

# The run stamp: when and with which code a page was made, and the cache key (which hashes the
# code). The portal shows Run and Code version; each report's footer Code version, Run at and
# Cache key (in HTML as <dt>/<dd> pairs, in the PDF as "Name: value" text).
_HTML_STAMP = re.compile(r"(<dt>(?:Run|Run at|Code version|Cache key)</dt><dd>)[^<]*(</dd>)")
_PDF_STAMP = re.compile(
    r"(Code version:)\s*\S+(?: \(with uncommitted changes\))?|(Run at:)\s*[\d-]+ [\d:]+ UTC"
    r"|(Cache key:)\s*[0-9a-f]+"
)
_JOB_KEYS = ("department", "family", "params", "data_checksum", "reason")


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def _html(text: str) -> str:
    return _HTML_STAMP.sub(r"\1\2", text)


def _pdf_unstamped(text: str) -> str:
    return _PDF_STAMP.sub(lambda m: m.group(1) or m.group(2) or m.group(3), text)


def _notebook(path: Path, with_code: bool) -> list:
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = []
    for cell in nb.get("cells", []):
        outputs = [
            {k: v for k, v in out.items() if k not in ("execution_count", "metadata")}
            for out in cell.get("outputs", [])
        ]
        code = cell.get("cell_type") == "code"
        source = cell.get("source") if with_code or not code else None
        cells.append((cell.get("cell_type"), source, outputs))
    return cells


def _manifest(path: Path) -> dict:
    m = json.loads(path.read_text(encoding="utf-8"))
    jobs = {}
    for job in m.get("jobs", []):
        jobs[job.get("id")] = {
            **{k: job.get(k) for k in _JOB_KEYS},
            "published": job.get("status") in ("done", "cached"),
        }
    kept = ("month", "formats", "inputs", "selection", "settings", "not_provided")
    not_run = [
        {k: v for k, v in item.items() if k != "key"} if isinstance(item, dict) else item
        for item in m.get("not_run") or []
    ]
    return {**{k: m.get(k) for k in kept}, "not_run": not_run, "jobs": jobs}


def _pdf_text(path: Path) -> list[str]:
    out = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    return out.split("\f")


def _pdf_pages(path: Path, tmp: Path) -> list[bytes]:
    prefix = tmp / "page"
    for old in tmp.glob("page*"):
        old.unlink()
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(path), str(prefix)], check=True)
    return [p.read_bytes() for p in sorted(tmp.glob("page*.png"))]


def _dict_diff(a: dict, b: dict, where: str) -> list[str]:
    out = []
    for key in sorted(set(a) | set(b), key=str):
        if a.get(key) != b.get(key):
            out.append(f"{where}: {key} differs")
    return out


def _item_diffs(
    a: list, b: list, line: str, start: int = 1, skip: set[int] = frozenset()
) -> list[str]:
    """One line per position where two equally long sequences differ (numbered from start)."""
    return [
        line.format(i + start)
        for i, (x, y) in enumerate(zip(a, b, strict=False))
        if x != y and i not in skip
    ]


def compare(old: Path, new: Path, raster: bool = True, with_code: bool = False) -> list[str]:
    """Every difference between two published month folders, one line each."""
    old, new = old.resolve(), new.resolve()
    a, b = _files(old), _files(new)
    diffs = [f"only in {old.name}/: {p}" for p in sorted(a - b)]
    diffs += [f"only in {new.name}/: {p}" for p in sorted(b - a)]
    with tempfile.TemporaryDirectory() as tmpdir:
        ta, tb = Path(tmpdir, "a"), Path(tmpdir, "b")
        ta.mkdir()
        tb.mkdir()
        for rel in sorted(a & b):
            pa, pb = old / rel, new / rel
            suffix = pa.suffix.lower()
            if rel == "manifest.json":
                diffs += _dict_diff(_manifest(pa), _manifest(pb), rel)
            elif suffix == ".ipynb":
                ca, cb = _notebook(pa, with_code), _notebook(pb, with_code)
                if len(ca) != len(cb):
                    diffs.append(f"{rel}: {len(ca)} cells, now {len(cb)}")
                else:
                    diffs += _item_diffs(ca, cb, f"{rel}: cell {{}} differs", start=0)
            elif suffix == ".pdf":
                xa, xb = _pdf_text(pa), _pdf_text(pb)
                ua, ub = [_pdf_unstamped(x) for x in xa], [_pdf_unstamped(x) for x in xb]
                if len(xa) != len(xb):
                    diffs.append(f"{rel}: {len(xa) - 1} pages, now {len(xb) - 1}")
                else:
                    diffs += _item_diffs(ua, ub, f"{rel}: text of page {{}} differs")
                    if raster:
                        ra, rb = _pdf_pages(pa, ta), _pdf_pages(pb, tb)
                        # a page that carries the stamp is compared by its text only
                        stamped = {i for i, x in enumerate(xa) if _pdf_unstamped(x) != x}
                        diffs += _item_diffs(
                            ra, rb, f"{rel}: page {{}} looks different", skip=stamped
                        )
            elif suffix == ".html":
                if _html(pa.read_text(encoding="utf-8")) != _html(pb.read_text(encoding="utf-8")):
                    diffs.append(f"{rel}: differs")
            elif pa.read_bytes() != pb.read_bytes():  # text, images, data: byte for byte
                diffs.append(f"{rel}: differs")
    return diffs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("old", type=Path, help="a published month folder, e.g. outputs/2025-03")
    p.add_argument("new", type=Path)
    p.add_argument("--no-raster", action="store_true", help="compare PDF text only, not pixels")
    p.add_argument(
        "--with-code", action="store_true", help="also compare the notebooks' code cells"
    )
    args = p.parse_args(argv)
    for d in (args.old, args.new):
        if not d.is_dir():
            print(f"compare_months: {d} is not a folder", file=sys.stderr)
            return 2
    diffs = compare(args.old, args.new, raster=not args.no_raster, with_code=args.with_code)
    if not diffs:
        print(f"equal apart from the run stamp: {len(_files(args.old.resolve()))} files")
        return 0
    kinds: dict[str, int] = {}
    for line in diffs:
        kind = line.split(":", 1)[0] if line.startswith("only in") else line.rsplit(": ", 1)[-1]
        kinds[kind] = kinds.get(kind, 0) + 1
        if kinds[kind] <= 20:
            print(line)
    print(f"{len(diffs)} differences", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
