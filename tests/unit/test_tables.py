"""One definition of the warehouse's columns: every input specification stores exactly its
table's columns (besides the declared derived and input-only ones), and the analysis asks for
the columns the warehouse has."""

from __future__ import annotations

import pytest

from helpers.analysis import budget, pse
from helpers.data import tables
from helpers.data.schemas import SPECS


@pytest.mark.parametrize("stem", sorted(SPECS))
def test_input_spec_and_warehouse_table_agree(stem):
    spec = SPECS[stem]
    stored = set(tables.columns(spec.table)) - set(tables.DERIVED.get(spec.table, ()))
    read = set(spec.columns) - set(tables.INPUT_ONLY.get(spec.table, ()))
    assert read == stored, f"{stem}: only in the file {read - stored}, only stored {stored - read}"
    assert set(spec.key) <= set(spec.columns)


def test_declared_exceptions_exist():
    for table, cols in tables.DERIVED.items():
        assert set(cols) <= set(tables.columns(table))
    for table, cols in tables.INPUT_ONLY.items():
        assert set(cols) <= {c for s in SPECS.values() if s.table == table for c in s.columns}


def test_analysis_reads_the_warehouse_columns():
    assert budget.ALLOCATION_COLUMNS == tables.columns("budget_allocations")
    assert budget.MONTHLY_COLUMNS == tables.columns("budget_monthly")
    assert pse.RETURN_COLUMNS == tables.columns("pse_returns")
