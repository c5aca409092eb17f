"""Optional publisher: Quarto (``quarto render``) on the executed notebook, without re-executing.

Quarto is a separate download (https://quarto.org/docs/get-started/); its PyPI package fetches the
binary from the internet at install time and cannot be installed on the offline network. When it
is not on PATH, :func:`render` raises :class:`QuartoNotInstalled` with a one-line explanation.

The notebook is first reduced to what a reader sees (:func:`helpers.publish.notebook.publishable`
keeps the outputs, drops parameter cells, sources and streams), then rendered once per format:
``html`` (self-contained) and ``typst`` (a PDF through Quarto's bundled Typst).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import nbformat

from helpers.publish import notebook as nbread

INSTALL_URL = "https://quarto.org/docs/get-started/"
#: Requested format -> (Quarto ``--to`` format, output suffix). ``pdf`` is the suite's name for
#: the Typst PDF (``formats: [html, pdf]`` in params/suite.yaml).
SUPPORTED_FORMATS = {
    "html": ("html", ".html"),
    "typst": ("typst", ".pdf"),
    "pdf": ("typst", ".pdf"),
}
TIMEOUT_SECONDS = 300


class QuartoNotInstalled(RuntimeError):
    """Quarto is not on PATH."""

    def __init__(self) -> None:
        super().__init__(
            "Quarto is not installed (no `quarto` on PATH): download and install it from "
            f"{INSTALL_URL} (the PyPI package cannot install here), or use publisher: nbconvert."
        )


class QuartoError(RuntimeError):
    """``quarto render`` failed."""


def executable() -> str | None:
    """Path of the ``quarto`` executable, or None."""
    return shutil.which("quarto")


def available() -> bool:
    """True when ``quarto`` is on PATH."""
    return executable() is not None


def command(
    ipynb_path: str | Path, out_dir: str | Path, fmt: str, quarto: str = "quarto"
) -> list[str]:
    """The ``quarto render`` command line for one format (no execution, no code, no warnings).

    ``fmt`` is ``html``, ``typst`` or ``pdf`` (an alias of ``typst``: a PDF through Typst).
    """
    if fmt not in SUPPORTED_FORMATS:
        raise ValueError(
            f"unsupported Quarto format {fmt!r}; expected one of {sorted(SUPPORTED_FORMATS)}"
        )
    ipynb_path = Path(ipynb_path)
    if ipynb_path.suffix != ".ipynb":
        raise ValueError(f"expected an .ipynb file, got {ipynb_path.name}")
    to = SUPPORTED_FORMATS[fmt][0]
    cmd = [
        quarto,
        "render",
        str(ipynb_path),
        "--to",
        to,
        "--no-execute",
        "--output-dir",
        str(Path(out_dir)),
        "-M",
        "echo:false",
        "-M",
        "warning:false",
        "-M",
        "error:false",
        "-M",
        "toc:true",
    ]
    if to == "html":
        cmd += ["-M", "embed-resources:true"]
    if to == "typst":
        cmd += ["-M", "papersize:a4"]
    return cmd


def render(
    ipynb_path: str | Path,
    out_dir: str | Path,
    formats: Sequence[str] = ("html", "typst"),
) -> dict[str, Path]:
    """Render an executed notebook with Quarto; return {format: output path}.

    Writes ``<notebook stem>.html`` / ``<notebook stem>.pdf`` into ``out_dir``; the notebook
    itself is not modified (a cleaned copy is rendered from a temporary folder).

    Raises :class:`QuartoNotInstalled` when quarto is missing and :class:`QuartoError` when a
    render fails or produces no file.
    """
    exe = executable()
    if exe is None:
        raise QuartoNotInstalled()
    ipynb_path = Path(ipynb_path)
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    for fmt in formats:
        command(ipynb_path, out_dir, fmt)  # validate every format before running anything
    results: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(prefix="kp-quarto-") as tmp:
        src = Path(tmp) / ipynb_path.name
        nbformat.write(nbread.publishable(ipynb_path), src)
        for fmt in formats:
            cmd = command(src, out_dir, fmt, quarto=exe)
            try:
                proc = subprocess.run(
                    cmd, cwd=tmp, capture_output=True, text=True, timeout=TIMEOUT_SECONDS
                )
            except subprocess.TimeoutExpired as exc:
                raise QuartoError(
                    f"quarto render --to {fmt} timed out after {TIMEOUT_SECONDS} s"
                ) from exc
            if proc.returncode != 0:
                tail = (proc.stderr or proc.stdout).strip()[-800:]
                raise QuartoError(f"quarto render --to {fmt} failed ({proc.returncode}): {tail}")
            out = out_dir / (ipynb_path.stem + SUPPORTED_FORMATS[fmt][1])
            if not out.is_file():
                raise QuartoError(f"quarto render --to {fmt} did not produce {out}")
            results[fmt] = out
    return results
