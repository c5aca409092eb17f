"""Read what publishers need from an executed report notebook.

The display objects in :mod:`helpers.present.display` put custom MIME bundles in the outputs of an
executed notebook (report metadata, key messages, headline figures). These functions find them,
and :func:`publishable` returns the cleaned copy of a notebook the HTML publisher renders: no
parameter cells, no streams, no source, and the bundles the title block shows taken out of the
body.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from helpers.bundles import HEADLINE_MIME, KEY_MESSAGES_MIME, LIFTED_MIMES, META_MIME

if TYPE_CHECKING:
    import nbformat

#: Cell tags whose cells never appear in a published report.
HIDDEN_TAGS = frozenset({"parameters", "injected-parameters", "remove-cell", "remove_cell"})


class NotebookError(ValueError):
    """The notebook is not an executed report notebook the publishers can read."""


def load(nb: Any) -> nbformat.NotebookNode:
    """Return a NotebookNode from a NotebookNode, a dict or a path to an ``.ipynb`` file."""
    import nbformat  # here: the portal and the driver import this module, not nbformat

    if isinstance(nb, nbformat.NotebookNode):
        return nb
    if isinstance(nb, (str, Path)):
        path = Path(nb)
        if not path.is_file():
            raise NotebookError(f"notebook not found: {path}")
        return nbformat.read(path, as_version=4)
    if isinstance(nb, dict):
        return nbformat.from_dict(nb)
    raise NotebookError(f"expected a notebook, a dict or a path, got {type(nb).__name__}")


def _bundles(nb: Any, mime: str) -> Iterator[Any]:
    for cell in load(nb).cells:
        if cell.get("cell_type") != "code":
            continue
        for out in cell.get("outputs", []):
            data = out.get("data") or {}
            if mime in data:
                yield data[mime]


def _last(nb: Any, mime: str) -> Any | None:
    found = None
    for found in _bundles(nb, mime):  # noqa: B007 - the last one wins
        pass
    return found


def report_meta(nb: Any) -> dict[str, str]:
    """The report metadata bundle (title, department, month, as_of, family).

    Missing keys are empty strings; a notebook without ``report_meta(...)`` gives a dict of empty
    strings (with the notebook's ``metadata.title`` as title when there is one).
    """
    nb = load(nb)
    meta_mime = META_MIME
    meta = _last(nb, meta_mime) or {}
    if not isinstance(meta, dict):
        raise NotebookError(f"{meta_mime} bundle is not a JSON object")
    out = {k: "" if meta.get(k) is None else str(meta.get(k)) for k in _META_KEYS}
    if not out["title"]:
        out["title"] = str(nb.metadata.get("title", "") or "")
    return out


_META_KEYS = ("title", "department", "month", "as_of", "family")


def key_messages(nb: Any) -> list[str]:
    """The key messages (all ``key_messages(...)`` outputs in order, as plain strings)."""
    messages: list[str] = []
    for bundle in _bundles(nb, KEY_MESSAGES_MIME):
        items = bundle.get("messages", []) if isinstance(bundle, dict) else []
        messages.extend(str(m) for m in items)
    return messages


def headline(nb: Any) -> dict[str, Any]:
    """Headline figures for the portal badges (later ``headline(...)`` calls override earlier)."""
    merged: dict[str, Any] = {}
    for bundle in _bundles(nb, HEADLINE_MIME):
        if isinstance(bundle, dict):
            merged.update(bundle)
    return merged


def _hidden(cell: Any) -> bool:
    tags = set(cell.get("metadata", {}).get("tags", []) or [])
    return bool(tags & HIDDEN_TAGS)


def publishable(nb: Any) -> nbformat.NotebookNode:
    """A deep copy of ``nb`` reduced to what a reader sees.

    Drops parameter/injected-parameter cells and cells tagged ``remove-cell``, code sources,
    stdout/stderr streams (warnings, prints) and outputs carrying the report-meta, key-messages or
    headline bundles (the title block and the portal show those). Errors keep only
    ``ename: evalue`` (no ANSI traceback). Execution counts are cleared.
    """
    nb = copy.deepcopy(load(nb))
    lifted = LIFTED_MIMES
    cells = []
    for cell in nb.cells:
        if _hidden(cell):
            continue
        if cell.get("cell_type") == "code":
            cell["source"] = ""
            cell["execution_count"] = None
            outs = []
            for out in cell.get("outputs", []):
                kind = out.get("output_type")
                if kind == "stream":
                    continue
                if kind == "error":
                    out["traceback"] = [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"]
                    outs.append(out)
                    continue
                data = out.get("data") or {}
                if any(m in data for m in lifted):
                    continue
                if "execution_count" in out:
                    out["execution_count"] = None
                outs.append(out)
            cell["outputs"] = outs
            if not outs:
                continue
        cells.append(cell)
    nb.cells = cells
    return nb
