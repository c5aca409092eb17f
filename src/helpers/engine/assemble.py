"""Publish a month atomically, and the per-month lock.

A month is built aside in ``outputs/.staging/<month>-<run>/`` (reports hard-linked from the
cache, failed notebooks, ``manifest.json``, ``index.html``), renamed to
``outputs/.builds/<month>-<run>/`` and published by pointing the symlink ``outputs/<month>`` at
it: a new symlink is created next to it and ``os.replace``d over the old one, which is atomic on
POSIX. Readers see the old month or the new one, never a mix; a run killed at any point leaves
the published month untouched (leftover staging directories are removed by the next run).

Before the swap the staged month must pass the disclosure scan
(:mod:`helpers.publish.disclosure`: no respondent identifiers or respondent-level rows, no survey
cell below its ``min_n``); a month that fails is not published (:class:`DisclosureBlocked`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from helpers import interrupts

STAGING = ".staging"
BUILDS = ".builds"
LOCKS = ".locks"


class MonthBusy(RuntimeError):
    """Another run of the same month holds its lock."""


class DisclosureBlocked(RuntimeError):
    """The staged month failed the disclosure scan: it was not published.

    ``findings`` are :class:`helpers.publish.disclosure.Finding` objects (file relative to the
    month folder, location, kind, detail).
    """

    def __init__(self, month: str, findings: list[Any]):
        self.month = month
        self.findings = list(findings)
        super().__init__(
            f"{month}: not published: the disclosure scan found {len(self.findings)} problem(s) "
            "in the outputs; the previously published month is unchanged"
        )


@contextlib.contextmanager
def month_lock(outputs_root: Path, month: str, wait: bool = False, log=print) -> Iterator[None]:
    """Hold an exclusive lock on one month for the duration of a run (fcntl.flock; released
    by the OS if the process dies)."""
    lock_dir = Path(outputs_root) / LOCKS
    lock_dir.mkdir(parents=True, exist_ok=True)
    path = lock_dir / f"{month}.lock"
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            if not wait:
                raise MonthBusy(
                    f"another run of {month} is in progress (pid {holder}); "
                    "wait for it to finish or pass --wait"
                ) from None
            log(f"another run of {month} is in progress (pid {holder}); waiting for it")
            fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class OutputsUnwritable(RuntimeError):
    """The outputs folder cannot be written (read-only, permissions, full disk): nothing ran,
    nothing was written (CLI exit status 2)."""


def check_writable(outputs_root: Path) -> None:
    """Before a run writes anything: the outputs folder (created if needed) takes a small
    file, or :class:`OutputsUnwritable` says why not, in one line."""
    outputs_root = Path(outputs_root)
    probe = outputs_root / f".write-check.{os.getpid()}"
    try:
        outputs_root.mkdir(parents=True, exist_ok=True)
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            # A full disk refuses data (not always a new name); no fsync: the up-to-date
            # exit stays fast, and tmpfs/ext4 refuse the write itself when out of space.
            os.write(fd, b"x" * 4096)
        finally:
            os.close(fd)
    except OSError as exc:
        raise OutputsUnwritable(
            f"the outputs folder {outputs_root} cannot be written "
            f"({exc.strerror or exc}); nothing was run and the published months are unchanged",
        ) from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


def staging_dir(outputs_root: Path, month: str, run_id: str) -> Path:
    return Path(outputs_root) / STAGING / f"{month}-{run_id}"


def clean_leftovers(outputs_root: Path, month: str) -> None:
    """Remove staging directories of earlier (dead) runs of ``month``. Call under the lock."""
    root = Path(outputs_root) / STAGING
    if root.is_dir():
        for d in root.glob(f"{month}-*"):
            shutil.rmtree(d, ignore_errors=True)
    for tmp in Path(outputs_root).glob(f".{month}.*.link"):
        tmp.unlink(missing_ok=True)


def published_manifest(outputs_root: Path, month: str) -> dict[str, Any] | None:
    """The manifest of the currently published month, if any."""
    try:
        return json.loads((Path(outputs_root) / month / "manifest.json").read_text())
    except (OSError, ValueError):
        return None


def link_or_copy(src: Path, dest: Path) -> None:
    """Hard-link ``src`` to ``dest`` (copy across file systems)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def swap_in(outputs_root: Path, month: str, build: Path, run_id: str) -> Path | None:
    """Point ``outputs/<month>`` at ``build`` atomically; returns the previous target."""
    outputs_root = Path(outputs_root)
    link = outputs_root / month
    previous: Path | None = None
    if link.is_symlink():
        previous = (outputs_root / os.readlink(link)).resolve()
    elif link.exists():  # a plain directory from an older layout: move it aside once
        aside = outputs_root / BUILDS / f"{month}-legacy-{run_id}"
        os.rename(link, aside)
        previous = aside
    tmp = outputs_root / f".{month}.{run_id}.link"
    tmp.unlink(missing_ok=True)
    os.symlink(os.path.relpath(build, outputs_root), tmp)
    os.replace(tmp, link)
    _fsync_dir(outputs_root)
    return previous


def gc_builds(outputs_root: Path, month: str, keep: set[Path]) -> None:
    """Delete old builds of ``month`` except ``keep`` (the current and the previous one, so a
    reader who opened the previous month a moment ago is not cut off). Every folder of the
    month in ``.builds`` follows the rule, a ``<month>-legacy-<run>`` folder (an old plain
    month directory moved aside) included."""
    keep = {p.resolve() for p in keep if p is not None}
    for d in _builds_of(outputs_root, month):
        if d.resolve() not in keep:
            shutil.rmtree(d, ignore_errors=True)


def _builds_of(outputs_root: Path, month: str) -> list[Path]:
    root = Path(outputs_root) / BUILDS
    return [d for d in root.glob(f"{month}-*") if d.is_dir() and not d.is_symlink()]


def newest_build(outputs_root: Path, month: str, exclude: Path | None = None) -> Path | None:
    """The most recently made build of ``month`` (by its manifest's, else the folder's,
    modification time), other than ``exclude``."""
    best: tuple[int, Path] | None = None
    skip = exclude.resolve() if exclude is not None else None
    for d in _builds_of(outputs_root, month):
        if d.resolve() == skip:
            continue
        try:
            stamp = (d / "manifest.json").stat().st_mtime_ns
        except OSError:
            try:
                stamp = d.stat().st_mtime_ns
            except OSError:
                continue
        if best is None or stamp > best[0]:
            best = (stamp, d)
    return best[1] if best else None


def dangling_target(outputs_root: Path, month: str) -> Path | None:
    """The missing build that ``outputs/<month>`` points at, if the link dangles (someone
    removed the build it showed), else None."""
    link = Path(outputs_root) / month
    if link.is_symlink() and not link.exists():
        return Path(outputs_root) / os.readlink(link)
    return None


def _rel(path: Path, root: Path) -> str:
    try:
        return os.path.relpath(path, root)
    except ValueError:
        return str(path)


def write_json_atomic(path: Path, payload: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=1, sort_keys=True, default=str), encoding="utf-8")
    os.replace(tmp, path)


def disclosure_gate(outputs_root: Path, month: str, staging: Path, manifest: dict[str, Any]):
    """Scan the staged month (:func:`helpers.publish.disclosure.scan_month`); raise
    :class:`DisclosureBlocked` when anything is found. Results are memoised per file content in
    ``outputs/.cache/disclosure``, so reports taken from the cache are not re-read."""
    from helpers.publish import disclosure

    findings = disclosure.scan_month(
        staging,
        min_n_for=disclosure.min_n_by_file(manifest),
        memo_dir=Path(outputs_root) / ".cache" / disclosure.MEMO_DIR,
        jobs=os.cpu_count() or 1,
    )
    if findings:
        raise DisclosureBlocked(month, findings)


def publish_month(
    outputs_root: Path,
    month: str,
    run_id: str,
    staging: Path,
    reports: list[dict[str, Any]],
    manifest: dict[str, Any],
    log=print,
    scan: bool = True,
) -> Path:
    """Finish the staging build (manifest, month index), move it to ``.builds`` and swap it in.

    ``reports`` are the portal items (contract in docs/architecture.md); the report files must
    already be in ``staging``. With ``scan`` (the default) the staged month must pass the
    disclosure scan first: otherwise :class:`DisclosureBlocked` is raised, the staging
    directory is removed and the published month is untouched. Returns the published build
    directory.
    """
    outputs_root = Path(outputs_root)
    staging.mkdir(parents=True, exist_ok=True)
    write_json_atomic(staging / "manifest.json", manifest)
    portal: ModuleType | None
    try:
        from helpers.publish import portal
    except ImportError:
        portal = None
        log("warning: helpers.publish.portal is not available; month index not written")
    if portal is not None:
        portal.write_month_index(staging, month, reports, manifest)
        portal.stage_month(outputs_root, month, staging, reports, manifest)  # what changed
    try:
        if scan:
            disclosure_gate(outputs_root, month, staging, manifest)
        interrupts.check()  # a Ctrl-C a library swallowed still stops the month here
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    builds = outputs_root / BUILDS
    builds.mkdir(parents=True, exist_ok=True)
    final = builds / f"{month}-{run_id}"
    missing = dangling_target(outputs_root, month)
    os.rename(staging, final)
    try:
        _fsync_dir(builds)
        previous = swap_in(outputs_root, month, final, run_id)
    except BaseException:
        link = outputs_root / month
        if not (link.is_symlink() and (outputs_root / os.readlink(link)).resolve() == final):
            shutil.rmtree(final, ignore_errors=True)  # never swapped in: drop it
        raise
    # The month is published from here on; housekeeping failures only warrant a warning.
    if missing is not None:
        # The link showed a removed build: the build kept as "previous" is the newest one
        # still there (never delete it because the link lost its target).
        previous = newest_build(outputs_root, month, exclude=final)
        log(
            f"warning: {month} pointed at a removed build ({_rel(missing, outputs_root)}); "
            f"repaired: it now shows {_rel(final, outputs_root)}"
            + (
                f", and {_rel(previous, outputs_root)} is kept as the previous build"
                if previous
                else ""
            )
        )
    try:
        gc_builds(outputs_root, month, keep={p for p in (final, previous) if p is not None})
        if portal is not None:
            portal.write_root_index(outputs_root)
    except OSError as exc:
        log(f"warning: {month} is published, but updating the list of months failed: {exc}")
    return final
