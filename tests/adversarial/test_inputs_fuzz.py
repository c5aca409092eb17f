"""Property-based fuzzing of the input readers and validators (hypothesis).

For any input: no unhandled exception and no traceback reaches the user; either the file loads
cleanly or every problem is reported as ``<file> row <n>, column <c>: ...`` (or a whole-file
message naming the file); nothing non-finite or mistyped loads silently; and a failed load
leaves the existing warehouse byte-identical.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import math
import re
import shutil
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from helpers.data import ingest, readers, schemas, validate
from helpers.data.registry import load_registry

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

#: Cell values that have broken parsers elsewhere: overflow, locale digits, formulas, control
#: characters, impossible dates, spreadsheet errors, very long text.
NASTY = [
    "1e309",
    "-1e309",
    "1e-400",
    "9" * 30,
    "NaN",
    "inf",
    "-0",
    "0x1F",
    "1_000",
    "1,234.5",
    "1.234,5",
    "\u0661\u0662\u0663",
    "\uff11\uff12",
    "=1+1",
    '=HYPERLINK("http://x")',
    "#N/A",
    "#DIV/0!",
    "2025-02-30",
    "2025-13",
    "0000-01",
    "31/12/2024",
    " ",
    "\x00",
    "\t\r\n",
    "\u202e",
    "'; DROP TABLE budget_monthly; --",
    "<script>alert(1)</script>",
    "x" * 5000,
    "TRUE",
    "yes",
    "9",
    "7",
]
cell_values = st.one_of(st.sampled_from(NASTY), st.text(max_size=40))

ROW_MESSAGE = re.compile(
    r"^(?P<file>[^ ]+\.(csv|xlsx|sav)) (row|case) (?P<row>\d+), column (?P<col>[^:]+): "
)
FILE_MESSAGE = re.compile(r"^(?P<file>[^ ]+\.(csv|xlsx|sav)):? ")


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def _context(registry) -> schemas.Context:
    ctx = validate._ctx(registry)
    ctx.fiscal_years = frozenset({"2024-25"})
    return ctx


def _check_messages(messages: list[str], display: str, spec: schemas.InputSpec, n_rows: int):
    for m in messages:
        assert "Traceback" not in m
        row = ROW_MESSAGE.match(m)
        if row:
            assert row["file"] == display
            assert 1 <= int(row["row"]) <= n_rows + 1
            assert row["col"] in spec.columns
        else:
            assert FILE_MESSAGE.match(m) and m.startswith(display), m


def _assert_typed_clean(typed: pd.DataFrame, spec: schemas.InputSpec) -> None:
    """What loads is what the spec promises: finite numbers, whole ints, real dates."""
    for f in spec.fields:
        col = typed[f.name]
        if f.kind == "number":
            assert col.dropna().map(math.isfinite).all(), f.name
        elif f.kind in ("int", "likert"):
            assert str(col.dtype) == "Int64", f.name
        elif f.kind in ("month", "date"):
            assert pd.api.types.is_datetime64_any_dtype(col), f.name
        if f.required:
            assert col.notna().all(), f.name


@FUZZ
@given(data=st.data())
def test_csv_cells_are_loaded_cleanly_or_reported_with_row_and_column(kp_small_raw, registry, data):
    stem = data.draw(st.sampled_from(sorted(p.stem for p in kp_small_raw.glob("*.csv"))))
    spec = schemas.SPECS[stem]
    path = kp_small_raw / f"{stem}.csv"
    raw = ingest.read_input(path, f"{stem}.csv")
    raw.frame = raw.frame.head(12).copy()
    for _ in range(data.draw(st.integers(1, 4))):
        row = data.draw(st.sampled_from(list(raw.frame.index)))
        col = data.draw(st.sampled_from(spec.columns))
        raw.frame.loc[row, col] = data.draw(cell_values)
    raw.frame = readers._blank_to_na(raw.frame)
    out = ingest.Outcome()
    typed = validate._validate(raw, spec, _context(registry), out)
    _check_messages(out.messages, f"{stem}.csv", spec, len(raw.frame))
    assert typed is not None
    if not out.messages:
        _assert_typed_clean(typed, spec)
    rejected = {int(r) for r in out.rejected.get(path.name, pd.DataFrame({"row": []}))["row"]}
    assert rejected.isdisjoint(typed.index)  # a rejected row never loads


@FUZZ
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.lists(
            st.lists(
                st.sampled_from(['"', ",", "a", "1", "\n", "\r", "\x00", ";", " ", "\ufeff"]),
                max_size=12,
            ).map("".join),
            max_size=6,
        ).map(lambda rows: "\n".join(rows).encode("utf-8")),
    )
)
def test_any_bytes_as_csv_give_a_frame_or_a_clear_error(tmp_path_factory, body):
    path = tmp_path_factory.mktemp("csv") / "budget_monthly.csv"
    path.write_bytes(body)
    try:
        frame = ingest.read_csv(path, "budget_monthly.csv")
    except ingest.InputError as exc:
        assert str(exc).startswith("budget_monthly.csv")
        return
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.index) == list(range(2, len(frame) + 2))  # file row numbers
    out = ingest.Outcome()
    raw = ingest.RawFile(path, "budget_monthly.csv", frame)
    spec = schemas.SPECS["budget_monthly"]
    validate._validate(raw, spec, schemas.Context(), out)
    _check_messages(out.messages, "budget_monthly.csv", spec, len(frame))


def _xlsx_bytes(kp_small_raw: Path) -> bytes:
    return (kp_small_raw / "pse_returns.xlsx").read_bytes()


@FUZZ
@given(data=st.data())
def test_damaged_or_odd_xlsx_gives_a_frame_or_a_clear_error(
    kp_small_raw, registry, data, tmp_path_factory
):
    good = _xlsx_bytes(kp_small_raw)
    path = tmp_path_factory.mktemp("xlsx") / "pse_returns.xlsx"
    how = data.draw(st.sampled_from(["truncate", "flip", "cells"]))
    if how == "truncate":
        path.write_bytes(good[: data.draw(st.integers(0, len(good) - 1))])
    elif how == "flip":
        blob = bytearray(good)
        for _ in range(data.draw(st.integers(1, 20))):
            blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
        path.write_bytes(bytes(blob))
    else:
        wb = openpyxl.load_workbook(io.BytesIO(good))
        ws = wb.worksheets[0]
        for _ in range(data.draw(st.integers(1, 4))):
            value = data.draw(
                st.one_of(
                    cell_values.map(lambda v: v.replace("\x00", "")).filter(
                        lambda v: not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", v)
                    ),
                    st.floats(allow_nan=True, allow_infinity=True),
                    st.integers(-(2**70), 2**70),
                    st.booleans(),
                    st.datetimes(min_value=dt.datetime(1900, 3, 1)),
                    st.none(),
                )
            )
            ws.cell(
                row=data.draw(st.integers(1, 8)), column=data.draw(st.integers(1, 11)), value=value
            )
        wb.save(path)
    spec = schemas.SPECS["pse_returns"]
    try:
        raw = ingest.read_input(path, "pse_returns.xlsx")
    except ingest.InputError as exc:
        assert str(exc).startswith("pse_returns.xlsx")
        return
    raw.frame = raw.frame.head(12)
    out = ingest.Outcome()
    typed = validate._validate(raw, spec, _context(registry), out)
    _check_messages(out.messages, "pse_returns.xlsx", spec, len(raw.frame))
    if typed is not None and not out.messages:
        _assert_typed_clean(typed, spec)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@settings(
    max_examples=8,  # each example is a whole `make data` (~2 s): no shrinking either
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(data=st.data())
def test_a_failed_load_leaves_the_warehouse_byte_identical(
    kp_small_raw, kp_small_warehouse, tmp_path_factory, capsys, data
):
    tmp = tmp_path_factory.mktemp("load")
    raw = tmp / "raw"
    shutil.copytree(kp_small_raw, raw)
    wh = tmp / "warehouse.duckdb"
    shutil.copy(kp_small_warehouse, wh)
    before = _sha(wh)
    name = data.draw(st.sampled_from(sorted(p.name for p in raw.glob("*.csv"))))
    lines = (raw / name).read_text(encoding="utf-8").splitlines()
    how = data.draw(st.sampled_from(["cell", "line", "bytes"]))
    if how == "cell":
        df = pd.read_csv(raw / name, dtype=str, keep_default_na=False)
        df.iloc[
            data.draw(st.integers(0, len(df) - 1)), data.draw(st.integers(0, df.shape[1] - 1))
        ] = data.draw(cell_values)
        df.to_csv(raw / name, index=False)
    elif how == "line":
        i = data.draw(st.integers(0, len(lines) - 1))
        lines[i] = data.draw(st.text(max_size=60).map(lambda t: t.replace("\n", " ")))
        (raw / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        (raw / name).write_bytes(data.draw(st.binary(max_size=200)))
    code = ingest.cli(["--data-dir", str(raw), "--warehouse", str(wh)])
    captured = capsys.readouterr()
    assert code in (0, 1), captured.err
    assert "Traceback" not in captured.err + captured.out
    if code == 1:
        assert _sha(wh) == before
        lines = captured.err.splitlines()
        assert "the warehouse was not changed" in lines[0]
        problems = [ln.strip() for ln in lines[1:] if ln.startswith("  ")]
        assert problems and all(re.search(r"[\w-]+\.(csv|xlsx|sav)\b", p) for p in problems)
    assert not list(tmp.glob(".warehouse.duckdb.*"))


@settings(
    max_examples=15,  # a wave file has ~90 columns: each example validates them all
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_survey_wave_cells_are_loaded_cleanly_or_reported(kp_small_raw, registry, data):
    path = kp_small_raw / "survey_2024-12.sav"
    raw = ingest.read_input(path, "survey_2024-12.sav")
    raw.frame = raw.frame.head(40).copy()
    present = tuple(s for s in registry.services if f"used_{s}" in raw.frame.columns)
    spec = schemas.survey_spec(present)
    for _ in range(data.draw(st.integers(1, 5))):
        row = data.draw(st.sampled_from(list(raw.frame.index)))
        col = data.draw(st.sampled_from(spec.columns))
        value = data.draw(
            st.one_of(
                st.floats(allow_nan=True, allow_infinity=True),
                st.integers(-(2**62), 2**62).map(float),
                st.sampled_from([0.0, 6.0, 9.0, -1.0, 1.5, 1e20]),
            )
        )
        if pd.api.types.is_numeric_dtype(raw.frame[col]):
            raw.frame.loc[row, col] = value
        else:
            raw.frame.loc[row, col] = data.draw(cell_values)
    out = ingest.Outcome()
    typed = validate._validate(raw, spec, _context(registry), out)
    for m in out.messages:
        assert m.startswith("survey_2024-12.sav"), m
        case = re.match(r"^survey_2024-12\.sav case (\d+), column ([^:]+): ", m)
        assert case is None or (1 <= int(case[1]) <= 40 and case[2] in spec.columns), m
    if not out.messages:
        _assert_typed_clean(typed, spec)
        likert = [f.name for f in spec.fields if f.kind == "likert"]
        codes = typed[likert].stack().dropna()
        assert codes.isin(list(schemas.LIKERT_CODES)).all()
