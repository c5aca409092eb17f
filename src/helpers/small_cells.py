"""The survey small-cell rule shared by the analysis, which suppresses small cells, and the
publishers' disclosure gate, which checks that none was published. Its own module so that the
publishers need not import the analysis stack (docs/architecture.md, import rules)."""

#: Default minimum unweighted n of a published survey cell (a report's ``min_n`` parameter
#: overrides it).
DEFAULT_MIN_N = 30
