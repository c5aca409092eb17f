"""The one home of the small wording helpers that report sentences share.

Every view module (budget, stocktake, survey, pse, contracts, overview) builds its sentences
with these, so a percentage, a list of names or a count reads the same in every report.
The publishers keep their own single copy of what they need (``helpers.publish.html``): they
never import the views.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

#: A gap smaller than this (a ratio: 0.005 = half a percentage point) rounds to 0 points in a
#: sentence, so it reads as no gap: "in line with the benchmark", "about the same as last
#: year". A wording rule, not an analysis one (``analysis.budget.CHOICE_TOLERANCE`` is the
#: projection method's choice margin, a different decision that happens to share the value).
IN_LINE = 0.005


def ok(x) -> bool:
    """True for a number that can be shown (not None, not NaN, not NA)."""
    return x is not None and not (isinstance(x, float) and math.isnan(x)) and not pd.isna(x)


def pct(x, digits: int = 0) -> str:
    """0.613 -> '61%' (``digits`` decimals); 'n/a' when missing."""
    return "n/a" if not ok(x) else f"{float(x) * 100:.{digits}f}%"


def pts(x) -> str:
    """A gap between two ratios in whole percentage points: -0.12 -> '12 points'."""
    n = abs(float(x)) * 100
    return f"{n:.0f} point{'s' if round(n) != 1 else ''}"


def in_line(gap) -> bool:
    """True when a gap between two ratios reads as none (see :data:`IN_LINE`)."""
    return abs(gap) < IN_LINE


def join(items: Sequence[str]) -> str:
    """'A', 'A and B', 'A, B and C'; semicolons when an item holds a comma ('Health; Finance,
    Planning and Development; and Zakat'), so names that contain commas stay readable."""
    items = [str(x) for x in items]
    if len(items) <= 1:
        return "".join(items)
    sep = "; " if any("," in x for x in items) else ", "
    last = "; and " if sep == "; " and len(items) > 2 else " and "
    return sep.join(items[:-1]) + last + items[-1]


def plural(n: int, one: str, many: str | None = None) -> str:
    """'1 target', '3 targets'; ``many`` for an irregular plural ('2 entities')."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


def lower_first(text: str) -> str:
    """'Waiting time' -> 'waiting time' (for a label inside a sentence)."""
    return text[:1].lower() + text[1:] if text else text
