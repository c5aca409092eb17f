"""The warehouse's tables: one definition of every column and its type, read by the loader
(DDL), the analysis (the columns each frame must have) and the tests that hold the input
specifications (:data:`helpers.data.schemas.SPECS`) to it. Light: no pandas, any room may
import it.
"""

#: table -> ([(column, SQL type)], the sort order rows are stored in)
TABLES: dict[str, tuple[list[tuple[str, str]], list[str]]] = {
    "departments": (
        [
            ("slug", "VARCHAR"),
            ("name", "VARCHAR"),
            ("priority_area", "VARCHAR"),
            ("valid_from", "DATE"),
            ("valid_to", "DATE"),
        ],
        ["slug", "valid_from"],
    ),
    "districts": ([("pcode", "VARCHAR"), ("name", "VARCHAR")], ["pcode"]),
    "entities": (
        [
            ("entity_id", "VARCHAR"),
            ("name", "VARCHAR"),
            ("department", "VARCHAR"),
            ("entity_type", "VARCHAR"),
        ],
        ["department", "entity_id"],
    ),
    "survey_services": (
        [("service", "VARCHAR"), ("label", "VARCHAR"), ("department", "VARCHAR")],
        ["service"],
    ),
    "budget_allocations": (
        [
            ("department", "VARCHAR"),
            ("fiscal_year", "VARCHAR"),
            ("fund", "VARCHAR"),
            ("object_class", "VARCHAR"),
            ("budget_estimate", "DOUBLE"),
            ("revised_estimate", "DOUBLE"),
            ("revised_month", "DATE"),
        ],
        ["department", "fiscal_year", "fund", "object_class"],
    ),
    "budget_monthly": (
        [
            ("department", "VARCHAR"),
            ("fiscal_year", "VARCHAR"),
            ("month", "DATE"),
            ("fund", "VARCHAR"),
            ("object_class", "VARCHAR"),
            ("release", "DOUBLE"),
            ("expenditure", "DOUBLE"),
        ],
        ["department", "month", "fund", "object_class"],
    ),
    "revenue": (
        [
            ("department", "VARCHAR"),
            ("fiscal_year", "VARCHAR"),
            ("category", "VARCHAR"),
            ("budget_estimate", "DOUBLE"),
            ("actual", "DOUBLE"),
        ],
        ["department", "fiscal_year", "category"],
    ),
    "targets": (
        [
            ("target_id", "VARCHAR"),
            ("department", "VARCHAR"),
            ("title", "VARCHAR"),
            ("unit", "VARCHAR"),
            ("direction", "VARCHAR"),
            ("baseline", "DOUBLE"),
            ("baseline_month", "DATE"),
            ("target_value", "DOUBLE"),
            ("target_month", "DATE"),
            ("owner", "VARCHAR"),
            ("has_districts", "BOOLEAN"),
            ("frequency", "VARCHAR"),
            ("tolerance", "DOUBLE"),
            ("tolerance_basis", "VARCHAR"),
            ("band_low", "DOUBLE"),
            ("band_high", "DOUBLE"),
            ("verifies", "VARCHAR"),
            ("district_rollup", "VARCHAR"),
        ],
        ["department", "target_id"],
    ),
    "target_trajectory": (
        [("target_id", "VARCHAR"), ("month", "DATE"), ("planned", "DOUBLE")],
        ["target_id", "month"],
    ),
    "target_actuals": (
        [
            ("target_id", "VARCHAR"),
            ("month", "DATE"),
            ("district_pcode", "VARCHAR"),
            ("actual", "DOUBLE"),
        ],
        ["target_id", "month", "district_pcode NULLS FIRST"],
    ),
    "milestones": (
        [
            ("milestone_id", "VARCHAR"),
            ("target_id", "VARCHAR"),
            ("department", "VARCHAR"),
            ("title", "VARCHAR"),
            ("due_date", "DATE"),
            ("completed_date", "DATE"),
            ("status", "VARCHAR"),
        ],
        ["department", "target_id", "due_date", "milestone_id"],
    ),
    "ratings": (
        [
            ("department", "VARCHAR"),
            ("target_id", "VARCHAR"),
            ("stocktake_date", "DATE"),
            ("rating", "VARCHAR"),
            ("comment", "VARCHAR"),
        ],
        ["department", "target_id", "stocktake_date"],
    ),
    "actions": (
        [
            ("action_id", "VARCHAR"),
            ("department", "VARCHAR"),
            ("target_id", "VARCHAR"),
            ("stocktake_date", "DATE"),
            ("action", "VARCHAR"),
            ("owner", "VARCHAR"),
            ("due_date", "DATE"),
            ("status", "VARCHAR"),
        ],
        ["department", "stocktake_date", "action_id"],
    ),
    "survey_respondents": (
        [
            ("wave", "DATE"),
            ("respondent_id", "BIGINT"),
            ("district_pcode", "VARCHAR"),
            ("psu", "VARCHAR"),
            ("weight", "DOUBLE"),
            ("stratum", "VARCHAR"),
            ("stratum_population", "DOUBLE"),
            ("gender", "VARCHAR"),
            ("age_band", "VARCHAR"),
            ("area", "VARCHAR"),
            ("overall_satisfaction", "TINYINT"),
        ],
        ["wave", "respondent_id"],
    ),
    "survey_ratings": (
        [
            ("wave", "DATE"),
            ("respondent_id", "BIGINT"),
            ("service", "VARCHAR"),
            ("satisfaction", "TINYINT"),
            ("staff_behaviour", "TINYINT"),
            ("waiting_time", "TINYINT"),
            ("cost", "TINYINT"),
            ("availability", "TINYINT"),
            ("cleanliness", "TINYINT"),
        ],
        ["wave", "service", "respondent_id"],
    ),
    "pse_returns": (
        [
            ("entity_id", "VARCHAR"),
            ("quarter_end", "DATE"),
            ("own_revenue", "DOUBLE"),
            ("grants_received", "DOUBLE"),
            ("expenditure", "DOUBLE"),
            ("liabilities", "DOUBLE"),
            ("assets", "DOUBLE"),
            ("cash", "DOUBLE"),
            ("submitted_date", "DATE"),
        ],
        ["entity_id", "quarter_end"],
    ),
    "contracts": (
        [
            ("department", "VARCHAR"),
            ("fiscal_year", "VARCHAR"),
            ("signed_date", "DATE"),
            ("band_a", "DOUBLE"),
            ("band_b", "DOUBLE"),
            ("band_c", "DOUBLE"),
            ("band_d", "DOUBLE"),
        ],
        ["department", "fiscal_year"],
    ),
    "contract_kpis": (
        [
            ("kpi_id", "VARCHAR"),
            ("department", "VARCHAR"),
            ("fiscal_year", "VARCHAR"),
            ("title", "VARCHAR"),
            ("unit", "VARCHAR"),
            ("direction", "VARCHAR"),
            ("weight", "DOUBLE"),
            ("baseline", "DOUBLE"),
            ("target", "DOUBLE"),
            ("band_low", "DOUBLE"),
            ("band_high", "DOUBLE"),
        ],
        ["department", "fiscal_year", "kpi_id"],
    ),
    "contract_progress": (
        [("kpi_id", "VARCHAR"), ("month", "DATE"), ("actual", "DOUBLE"), ("planned", "DOUBLE")],
        ["kpi_id", "month"],
    ),
    "data_notes": (
        [
            ("file", "VARCHAR"),
            ("row", "BIGINT"),
            ("column", "VARCHAR"),
            ("rule", "VARCHAR"),
            ("value", "VARCHAR"),
            ("department", "VARCHAR"),
        ],
        ["file", "row NULLS FIRST", "rule"],
    ),
    "load_info": ([("key", "VARCHAR"), ("value", "VARCHAR")], ["key"]),
    "source_files": (
        [("file", "VARCHAR"), ("sha256", "VARCHAR"), ("rows", "BIGINT"), ("table_name", "VARCHAR")],
        ["file"],
    ),
}

#: Stored columns that no input file has: derived at load (the fiscal year of a month).
DERIVED = {"budget_monthly": ("fiscal_year",)}
#: Input columns that are not stored: applied at load (a reversal flag signs the amounts).
INPUT_ONLY = {"budget_monthly": ("reversal",)}


def columns(table: str) -> tuple[str, ...]:
    """The columns of a warehouse table, in their stored order."""
    return tuple(c for c, _ in TABLES[table][0])
