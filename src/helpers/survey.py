"""Public survey API: ``from helpers.survey import SurveyDesign``.

Re-exports the design-based estimator (:mod:`helpers.analysis.survey_design`) and the citizen
survey analysis (:mod:`helpers.analysis.survey`) under one stable name.
"""

from helpers.analysis.survey import (
    ATTRIBUTES,
    DEFAULT_MIN_N,
    RSE_THRESHOLD,
    SurveyDataError,
    SurveyResults,
    analyse,
    apply_disclosure,
    compare_waves,
    design_for,
    district_estimates,
    key_drivers,
    prepare_frame,
    select_wave,
    service_estimates,
    wave_trend,
)
from helpers.analysis.survey_design import (
    LonelyPSUError,
    RakingError,
    SurveyDesign,
    SurveyDesignError,
    rake,
)

__all__ = [
    "ATTRIBUTES",
    "DEFAULT_MIN_N",
    "RSE_THRESHOLD",
    "LonelyPSUError",
    "RakingError",
    "SurveyDataError",
    "SurveyDesign",
    "SurveyDesignError",
    "SurveyResults",
    "analyse",
    "apply_disclosure",
    "compare_waves",
    "design_for",
    "district_estimates",
    "key_drivers",
    "prepare_frame",
    "rake",
    "select_wave",
    "service_estimates",
    "wave_trend",
]
