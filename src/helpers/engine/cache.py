"""Cache keys and the content-addressed store of job outputs (``outputs/.cache/<key>/``).

A job's key is the SHA-256 of everything that determines its output:

- the notebook's code (cell types and sources, kernel name; not outputs or metadata noise),
- the resolved parameters,
- the data it reads (``slice_checksum(department)``; ``slice_checksum(None)`` for province jobs),
- the helpers' code (every ``src/helpers/**/*.py``),
- the locked environment (``requirements.lock``),
- the publishing templates (``src/helpers/publish/templates/**``), the formats and the publisher,
- the engine's cache-format version.

An entry is written to a temporary directory and renamed into place, so a reader sees either
no entry or a complete one, even if the writer is killed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.hashing import sha256_file
from helpers.status import Status

CACHE_FORMAT = 1
VERIFIED_FILE = ".verified"  # stat of each file at its last hash check
RESULT_FILE = "result.json"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tree_hash(root: Path, patterns: Iterable[str]) -> str:
    """Hash of the relative paths and contents of the files under ``root`` matching any glob
    pattern (missing root: hash of nothing). Caches and bytecode are ignored."""
    h = hashlib.sha256()
    root = Path(root)
    files: set[Path] = set()
    if root.is_dir():
        for pat in patterns:
            files.update(p for p in root.glob(pat) if p.is_file() and "__pycache__" not in p.parts)
    for p in sorted(files):
        h.update(p.relative_to(root).as_posix().encode() + b"\0")
        h.update(sha256_file(p).encode() + b"\n")
    return h.hexdigest()


def notebook_code_hash(path: Path) -> str:
    """Hash of what a notebook *does*: cell types and sources and the kernel name.
    Outputs, execution counts and metadata other than tags do not count."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    cells = []
    for cell in nb.get("cells", []):
        src = cell.get("source", "")
        if isinstance(src, list):
            src = "".join(src)
        tags = sorted(cell.get("metadata", {}).get("tags", []) or [])
        cells.append([cell.get("cell_type"), src, tags])
    kernel = nb.get("metadata", {}).get("kernelspec", {}).get("name")
    return sha256_bytes(json.dumps([kernel, cells], sort_keys=True).encode())


@dataclass(frozen=True)
class Environment:
    """Hashes shared by every job of a run (computed once)."""

    helpers: str
    lock: str
    templates: str
    formats: tuple[str, ...]
    publisher: str
    params: str = ""

    @classmethod
    def compute(
        cls,
        helpers_dir: Path,
        lock_file: Path,
        formats: Iterable[str],
        publisher: str,
        params_dir: Path | None = None,
        profile_files: Iterable[Path] = (),
    ) -> Environment:
        """``params_dir``: the other parameter files (scorecard weights, PSE thresholds...)
        count too; suite.yaml itself enters through each job's resolved parameters.
        ``profile_files``: the active jurisdiction profile's files (names, currency, calendar,
        boundary file), which shape every report's wording."""
        lock = sha256_file(lock_file) if Path(lock_file).is_file() else "no-lock-file"
        params = ""
        if params_dir is not None:
            h = hashlib.sha256()
            for p in sorted(Path(params_dir).glob("*.y*ml")):
                if p.name not in {"suite.yaml", "suite.yml"} and p.is_file():
                    h.update(p.name.encode() + b"\0" + sha256_file(p).encode() + b"\n")
            for p in profile_files:
                h.update(b"profile:" + Path(p).name.encode() + b"\0" + sha256_file(p).encode())
            params = h.hexdigest()
        return cls(
            helpers=tree_hash(helpers_dir, ["**/*.py"]),
            lock=lock,
            templates=tree_hash(Path(helpers_dir) / "publish" / "templates", ["**/*"]),
            formats=tuple(sorted(formats)),
            publisher=publisher,
            params=params,
        )


def job_key(
    *, notebook_hash: str, params: dict[str, Any], data_checksum: str, env: Environment
) -> str:
    """The cache key of one job (hex SHA-256)."""
    payload = {
        "cache_format": CACHE_FORMAT,
        "notebook": notebook_hash,
        "params": params,
        "data": data_checksum,
        "helpers": env.helpers,
        "lock": env.lock,
        "templates": env.templates,
        "formats": list(env.formats),
        "publisher": env.publisher,
        "param_files": env.params,
    }
    return sha256_bytes(json.dumps(payload, sort_keys=True, default=str).encode())


class Cache:
    """Content-addressed store: ``<root>/<key>/{<family>.ipynb,.html,.pdf,result.json}``."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def entry(self, key: str) -> Path:
        return self.root / key

    def result(self, key: str) -> dict[str, Any] | None:
        """The stored result record of a complete, intact entry, or None.

        Intact: every file is there and its SHA-256 equals the one recorded when the entry was
        made (a file edited in place, truncated or replaced fails). An entry that fails is
        removed, so the report is executed again. Hashing is skipped for a file whose size,
        inode and modification time are those recorded at its last check (``.verified``)."""
        entry = self.entry(key)
        try:
            rec = json.loads((entry / RESULT_FILE).read_text())
        except (OSError, ValueError):
            return None
        if rec.get("status") != Status.DONE or rec.get("key") != key:
            return None
        for name in rec.get("files", {}).values():
            if not (entry / name).is_file():
                return None
        if not self._intact(entry, rec):
            shutil.rmtree(entry, ignore_errors=True)
            return None
        return rec

    @staticmethod
    def _intact(entry: Path, rec: dict[str, Any]) -> bool:
        hashes = rec.get("hashes") or {}
        stamp_file = entry / VERIFIED_FILE
        try:
            stamps = json.loads(stamp_file.read_text())
        except (OSError, ValueError):
            stamps = {}
        fresh = {}
        for kind, name in rec.get("files", {}).items():
            path = entry / name
            st = path.stat()
            stamp = [st.st_size, st.st_ino, st.st_mtime_ns]
            if stamps.get(name) != stamp:
                want = hashes.get(kind)
                if want is not None and sha256_file(path) != want:
                    return False
            fresh[name] = stamp
        if fresh != stamps:
            with contextlib.suppress(OSError):
                stamp_file.write_text(json.dumps(fresh, sort_keys=True))
        return True

    def has(self, key: str) -> bool:
        return self.result(key) is not None

    def staging_dir(self, key: str) -> Path:
        """A fresh private directory to build an entry in (same file system as the store).

        Its name carries the key, the host and the process id (``<key>-<host>-<pid>-<ns>``), so
        :meth:`clean_stale_tmp` on one host never removes another host's work in progress when
        the store is on shared storage."""
        tmp = self.root / ".tmp" / f"{key}-{_host()}-{os.getpid()}-{time.monotonic_ns()}"
        tmp.mkdir(parents=True)
        return tmp

    def commit(self, tmp: Path, key: str, record: dict[str, Any]) -> Path:
        """Write ``result.json`` into ``tmp`` and rename it to the entry (atomic).

        An existing entry is *replaced*: the files just built are the ones the caller reports
        (their hashes go into the manifest and the ledger), so keeping an older entry would
        publish files that the records do not describe (``--force``). The old entry is renamed
        aside first and deleted afterwards; the month being published hard-links the new files,
        and earlier builds keep their own links to the old ones."""
        record = dict(record, key=key)
        (tmp / RESULT_FILE).write_text(json.dumps(record, indent=1, sort_keys=True, default=str))
        dest = self.entry(key)
        for _ in range(5):
            try:
                os.rename(tmp, dest)
                return dest
            except OSError:
                if not dest.exists():
                    raise
            aside = self.root / ".tmp" / f"{key}-{_host()}-{os.getpid()}-{time.monotonic_ns()}"
            try:
                os.rename(dest, aside)
            except FileNotFoundError:
                continue  # another writer moved it first: try again
            shutil.rmtree(aside, ignore_errors=True)
        os.rename(tmp, dest)
        return dest

    def clean_stale_tmp(self) -> None:
        """Remove temporary build directories of this host's processes that no longer exist
        (directories of other hosts are left alone: their owner cannot be checked from here)."""
        tmp_root = self.root / ".tmp"
        if not tmp_root.is_dir():
            return
        for d in tmp_root.iterdir():
            owner = _tmp_owner(d.name)
            if owner is None:
                continue
            host, pid = owner
            if host not in ("", _host()):
                continue
            if not _pid_alive(pid):
                shutil.rmtree(d, ignore_errors=True)


def _host() -> str:
    """This machine's name as used in temporary folder names (no ``/``; ``-`` kept)."""
    return (socket.gethostname() or "localhost").replace("/", "_")


def _tmp_owner(name: str) -> tuple[str, int] | None:
    """(host, pid) of a temporary folder name ``<key>-<host>-<pid>-<ns>``; host ``''`` for the
    older ``<key>-<pid>-<ns>`` form (made on this host). None if the name is not one of ours."""
    parts = name.rsplit("-", 2)
    if len(parts) != 3:
        return None
    try:
        pid = int(parts[1])
        int(parts[2])
    except ValueError:
        return None
    _, sep, host = parts[0].partition("-")
    return (host if sep else ""), pid


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
