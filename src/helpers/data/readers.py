"""Reading input files as text cells: CSV, Excel (.xlsx), SPSS (.sav) and JSON.

Every reader returns cells as text with ``frame.index`` holding the row numbers messages use;
a file that cannot be read at all raises :class:`InputError` with a one-line reason. Typing
and checking the cells is :mod:`helpers.data.validate`'s job.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from helpers import paths
from helpers.data import mapping as mappings
from helpers.hashing import (
    sha256_file,
)


class InputError(Exception):
    """A whole file cannot be read (missing, empty, not UTF-8, corrupt, bad header)."""


@dataclass
class RawFile:
    """An input file read as cells; ``frame.index`` holds the row numbers used in messages."""

    path: Path
    display: str
    frame: pd.DataFrame
    row_word: str = "row"
    sha256: str = ""
    #: mapped sources: where a canonical cell came from, (file, 'row 12', source column)
    locate: object = None
    #: name of the rejected-rows file (default: the input file's name)
    rejected_name: str | None = None
    #: canonical rows a mapping marked as lines that may be negative
    negative_rows: frozenset = frozenset()

    def where(self, index, column: str | None) -> tuple[str, str, str | None]:
        if self.locate is not None:
            return self.locate(index, column)
        return self.display, f"{self.row_word} {index}", column


def _blank_to_na(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in out.columns:
        s = out[c]
        if s.dtype == object or pd.api.types.is_string_dtype(s):
            t = s.astype("string").str.strip()
            out[c] = t.where(t != "")
    return out


def read_csv(
    path: Path, display: str, encoding: str = "utf-8", header_row: int = 1
) -> pd.DataFrame:
    """CSV as text cells. UTF-8 (a BOM is accepted); other encodings are rejected clearly
    unless a mapping declares the file's encoding (``encoding: latin-1``)."""
    data = path.read_bytes()
    if not data.strip():
        raise InputError(f"{display}: file is empty")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        if encoding.lower().replace("_", "-") not in {"utf-8", "utf8"}:
            raise InputError(
                f"{display} row {line}: not {encoding} text (byte 0x{data[exc.start]:02x}) as "
                "its mapping declares"
            ) from None
        raise InputError(
            f"{display} row {line}: not UTF-8 text (byte 0x{data[exc.start]:02x}, e.g. a latin-1 "
            "export); save the file as 'CSV UTF-8' (or declare encoding: in a mapping)"
        ) from None
    try:
        df = pd.read_csv(
            io.StringIO(text),
            dtype=str,
            keep_default_na=False,
            na_values=[],
            skip_blank_lines=False,
            skiprows=header_row - 1,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise InputError(f"{display}: not a readable CSV file ({str(exc).strip()})") from None
    df.columns = [str(c).strip() for c in df.columns]
    _check_header(list(df.columns), display)
    df.index = pd.RangeIndex(header_row + 1, len(df) + header_row + 1)
    return _blank_to_na(df)


def _check_header(header: list[str], display: str) -> None:
    """Row 1 must name each column once (a repeated name makes the column ambiguous)."""
    seen: set[str] = set()
    dups = [h for h in header if h and (h in seen or seen.add(h))]
    if dups:
        raise InputError(
            f"{display} row 1: column name(s) {', '.join(repr(d) for d in dict.fromkeys(dups))} "
            "appear more than once in the header"
        )


def _cell_text(v) -> object:
    if v is None:
        return None
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time(0) else v.isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float):
        return repr(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    return str(v)


def read_xlsx(path: Path, display: str, sheet=None, header_row: int = 1) -> pd.DataFrame:
    """A worksheet (default the first) as text cells; ``header_row`` (default 1) is the header."""
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            if sheet is None:
                ws = wb.worksheets[0]
            elif isinstance(sheet, int):
                ws = wb.worksheets[sheet - 1]
            elif sheet in wb.sheetnames:
                ws = wb[sheet]
            else:
                raise InputError(
                    f"{display}: no worksheet {sheet!r} (sheets: {', '.join(wb.sheetnames)})"
                )
            rows = [tuple(_cell_text(v) for v in r) for r in ws.iter_rows(values_only=True)]
            rows = rows[header_row - 1 :]
        finally:
            wb.close()
    except InputError:
        raise
    except Exception as exc:  # openpyxl raises many types for damaged files
        kind = type(exc).__name__
        raise InputError(
            f"{display}: cannot read the Excel workbook (truncated or corrupt? {kind}: {exc})"
        ) from None
    while rows and all(v is None for v in rows[-1]):
        rows.pop()
    if not rows:
        raise InputError(f"{display}: file is empty")
    header = [str(h).strip() if h is not None else "" for h in rows[0]]
    _check_header(header, display)
    width = len(header)
    body = [list(r[:width]) + [None] * (width - len(r)) for r in rows[1:]]
    df = pd.DataFrame(body, columns=header, dtype=object)
    df = df.loc[:, [h != "" for h in header]]
    df.index = pd.RangeIndex(header_row + 1, len(df) + header_row + 1)
    return _blank_to_na(df)


def read_sav(path: Path, display: str) -> pd.DataFrame:
    """SPSS system file (codes, not value labels); cases numbered from 1."""
    import pyreadstat

    if path.stat().st_size == 0:
        raise InputError(f"{display}: file is empty")
    try:
        df, _meta = pyreadstat.read_sav(str(path))
    except Exception as exc:  # pyreadstat.ReadstatError and friends
        raise InputError(
            f"{display}: cannot read the SPSS file (truncated or corrupt? {exc})"
        ) from None
    df.columns = [str(c).strip() for c in df.columns]
    _check_header(list(df.columns), display)
    df.index = pd.RangeIndex(1, len(df) + 1)
    return _blank_to_na(df)


def read_input(path: Path, display: str) -> RawFile:
    """Read any supported input by extension (.csv, .xlsx, .sav)."""
    ext = path.suffix.lower()
    if ext == ".csv":
        frame, word = read_csv(path, display), "row"
    elif ext == ".xlsx":
        frame, word = read_xlsx(path, display), "row"
    elif ext == ".sav":
        frame, word = read_sav(path, display), "case"
    else:
        raise InputError(f"{display}: unsupported file type {ext!r} (use .csv or .xlsx)")
    return RawFile(path, display, frame, word, sha256_file(path))


def _fmt_value(v) -> str:
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, float) and v.is_integer():
        return str(v)
    return str(v)


def read_source(path: Path, display: str, m: mappings.Mapping) -> pd.DataFrame:
    """A mapped source file as text cells (index = source row numbers), as its mapping says."""
    ext = path.suffix.lower()
    if ext == ".csv":
        return read_csv(path, display, encoding=m.encoding, header_row=m.header_row)
    if ext == ".xlsx":
        return read_xlsx(path, display, sheet=m.sheet, header_row=m.header_row)
    if ext == ".sav":
        return read_sav(path, display)
    if ext == ".json":
        return read_json(path, display, m.records, m.fields_from, m.encoding)
    raise InputError(f"{display}: unsupported file type {ext!r} (use .csv, .xlsx or .json)")


def _dig(value, path: str | None, display: str, where: str):
    for part in (path or "").split(".") if path else []:
        if not isinstance(value, dict) or part not in value:
            raise InputError(f"{display}: {where}: no {part!r} (path {path!r})")
        value = value[part]
    return value


def read_json(
    path: Path, display: str, records: str | None, fields_from: str | None, encoding: str = "utf-8"
) -> pd.DataFrame:
    """A JSON list of records as text cells, one row per record (row 1 = the first record):
    the keys of ``fields_from`` inside each record are the columns, under their own names;
    the record's other values are columns named by their dotted path (a list of numbers,
    e.g. [lon, lat], gives one column per element: center.0, center.1)."""
    import json

    try:
        doc = json.loads(path.read_bytes().decode(encoding))
    except UnicodeDecodeError as exc:
        raise InputError(f"{display}: not {encoding} text (byte offset {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{display} line {exc.lineno}: not valid JSON ({exc.msg})") from None
    rows = _dig(doc, records, display, "records")
    if not isinstance(rows, list) or not rows:
        raise InputError(
            f"{display}: expected a non-empty list of records at {records or 'the top'}"
        )
    out = []
    for i, rec in enumerate(rows, start=1):
        if not isinstance(rec, dict):
            raise InputError(f"{display} record {i}: not an object")
        flat: dict[str, object] = {}

        def walk(v, prefix: str, skip: str | None, flat=flat) -> None:
            if prefix and prefix == skip:
                return
            if isinstance(v, dict):
                for k, x in v.items():
                    walk(x, f"{prefix}.{k}" if prefix else str(k), skip)
            elif isinstance(v, list) and all(not isinstance(x, dict | list) for x in v):
                for k, x in enumerate(v):
                    flat[f"{prefix}.{k}"] = x
            else:
                flat[prefix] = v

        walk(rec, "", fields_from)
        if fields_from:
            own = _dig(rec, fields_from, display, f"record {i}")
            if not isinstance(own, dict):
                raise InputError(f"{display} record {i}: {fields_from!r} is not an object")
            flat |= {str(k): v for k, v in own.items()}
        out.append({k: None if v is None else str(v) for k, v in flat.items()})
    df = pd.DataFrame(out, dtype="object")
    df.columns = [str(c).strip() for c in df.columns]
    _check_header(list(df.columns), display)
    df.index = pd.RangeIndex(1, len(df) + 1)
    return _blank_to_na(df)


def _display(path: Path) -> str:
    """A path as messages and the recorded checksums name it: relative to the project when
    inside it (the same from any working directory), else to the working directory, else as
    given."""
    full = Path(path).resolve()
    for base in (paths.ROOT, Path.cwd()):
        try:
            return str(full.relative_to(Path(base).resolve()))
        except ValueError:
            continue
    return str(path)
