"""Input groups: the files each report family reads (names only, so the engine can plan
without importing pandas).

A group is provided when any of its files is in the data folder; then its required files must
all be there, and a missing optional file loads as an empty table. A group with no files is
"not provided": the families that read it are not planned and the portal says so. The survey
group is the ``survey_YYYY-MM`` files (one per wave). ``params/suite.yaml`` names, per family,
the groups it reads (``data:``).
"""

# group -> (required file stems, optional file stems)
INPUT_GROUPS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # budget estimates alone (an annual budget book: BE vs revised) are a budget without spending;
    # the revenue book (budgeted and actual receipts per year, for PEFA PI-3) is optional
    "budget": (("budget_allocations",), ("budget_monthly", "revenue")),
    "stocktake": (
        ("targets", "target_trajectory"),
        ("target_actuals", "milestones", "ratings", "actions"),
    ),
    "pse": (("pse_returns",), ()),
    "contracts": (("contracts", "contract_kpis"), ("contract_progress",)),
    "survey": ((), ()),
}
