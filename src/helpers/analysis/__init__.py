"""Analysis per report family: pure functions on tidy DataFrames (no I/O, no engine)."""
