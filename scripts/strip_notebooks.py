"""Remove outputs, execution counts and volatile metadata from notebooks.

One definition of a clean notebook, used three ways:

    python scripts/strip_notebooks.py NOTEBOOK...            # rewrite files (make format)
    python scripts/strip_notebooks.py --stdin                # git clean filter (.gitattributes)
    python scripts/strip_notebooks.py --check-staged FILE... # pre-commit: the staged blobs are clean

Volatile: outputs and execution counts, cell metadata that JupyterLab, papermill or
extensions add (`execution`, `papermill`, `collapsed`, `scrolled`, `ExecuteTime`), notebook
metadata `papermill`, `widgets`, `signature`, and everything in `language_info` but its
`name` (JupyterLab writes the kernel's version, mimetype, lexer ... on open). The kernelspec,
tags and cell ids stay: papermill and the engine need them.
"""

import subprocess
import sys

import nbformat

CELL_KEYS = ("execution", "papermill", "collapsed", "scrolled", "ExecuteTime")
NOTEBOOK_KEYS = ("papermill", "widgets", "signature")


def strip_node(nb) -> bool:
    """Strip a notebook node in place; True if anything changed."""
    changed = False
    for cell in nb.cells:
        for key in CELL_KEYS:
            if key in cell.get("metadata", {}):
                del cell.metadata[key]
                changed = True
        if cell.cell_type != "code":
            continue
        if cell.get("outputs") or cell.get("execution_count") is not None:
            cell.outputs, cell.execution_count, changed = [], None, True
    for key in NOTEBOOK_KEYS:
        if key in nb.metadata:
            del nb.metadata[key]
            changed = True
    info = nb.metadata.get("language_info")
    if isinstance(info, dict) and set(info) - {"name"}:
        nb.metadata["language_info"] = {"name": info.get("name", "python")}
        changed = True
    return changed


def strip_text(text: str) -> str:
    """The clean text of a notebook (what git stores); text that is not a notebook is kept."""
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception:  # not JSON / not a notebook: never lose the analyst's file
        return text
    strip_node(nb)
    out = nbformat.writes(nb)
    return out if out.endswith("\n") else out + "\n"


def strip(path: str) -> bool:
    nb = nbformat.read(path, as_version=4)
    changed = strip_node(nb)
    if changed:
        nbformat.write(nb, path)
    return changed


def check_staged(paths: list[str]) -> int:
    """Exit status for pre-commit: 1 when a staged notebook carries outputs or volatile metadata."""
    dirty = []
    for path in paths:
        staged = subprocess.run(
            ["git", "show", f":{path}"], capture_output=True, text=True, encoding="utf-8"
        )
        if staged.returncode != 0:  # not staged (deleted): nothing to check
            continue
        if strip_text(staged.stdout) != staged.stdout:
            dirty.append(path)
    for path in dirty:
        print(
            f"{path}: staged with outputs or volatile metadata; run `make setup` (installs the "
            f"git filter) and `git add {path}` again, or `make format`"
        )
    return 1 if dirty else 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["--stdin"]:
        # bytes in, bytes out: git's locale may not be UTF-8
        text = sys.stdin.buffer.read().decode("utf-8", errors="surrogateescape")
        sys.stdout.buffer.write(strip_text(text).encode("utf-8", errors="surrogateescape"))
        return 0
    if argv[:1] == ["--check-staged"]:
        return check_staged(argv[1:])
    for p in argv:
        if strip(p):
            print(f"stripped {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
