"""Vocabularies shared by the input checks and the analysis (one home each, so they cannot
disagree). Light: no pandas, so any room may import it."""

#: Likelihood-of-delivery ratings recorded by the delivery unit, worst to best.
DELIVERY_RATINGS: tuple[str, ...] = ("Red", "Amber-Red", "Amber-Green", "Green")
#: Target directions: up (higher is better), down, maintain (stay within a band).
DIRECTIONS: tuple[str, ...] = ("up", "down", "maintain")
#: Statuses of delivery-plan milestones and of actions agreed at a stocktake.
MILESTONE_STATUSES: tuple[str, ...] = ("not started", "in progress", "completed", "dropped")
ACTION_STATUSES: tuple[str, ...] = ("open", "done", "overdue", "dropped")
#: Grade-band columns of a performance contract: the lowest weighted score of grades A..D (%).
CONTRACT_BANDS: tuple[str, ...] = ("band_a", "band_b", "band_c", "band_d")
#: How a target's department-wide value is made from its district values when the data give
#: districts only (targets.district_rollup; blank = no roll-up).
DISTRICT_ROLLUPS: tuple[str, ...] = ("sum", "mean")
