"""Remove outputs and execution counts from notebooks (run by `make format`)."""

import sys

import nbformat


def strip(path: str) -> bool:
    nb = nbformat.read(path, as_version=4)
    changed = False
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if cell.get("outputs") or cell.get("execution_count") is not None:
            cell.outputs, cell.execution_count, changed = [], None, True
        for key in ("execution", "papermill"):
            if key in cell.metadata:
                del cell.metadata[key]
                changed = True
    for key in ("papermill", "widgets"):
        if key in nb.metadata:
            del nb.metadata[key]
            changed = True
    if changed:
        nbformat.write(nb, path)
    return changed


if __name__ == "__main__":
    for p in sys.argv[1:]:
        if strip(p):
            print(f"stripped {p}")
