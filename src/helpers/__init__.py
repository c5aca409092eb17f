"""KP performance-monitoring reports: data layer, analysis, presentation, batch engine, publishers.

Layout (dependencies point one way: notebooks -> present/analysis -> data; engine -> publish):
- helpers.data      registry, input schemas, ingestion, warehouse access, sample generator
- helpers.analysis  budget, stocktake, survey, pse: pure functions, tidy in/out
- helpers.present   theme, charts, tables, narrative: what notebooks display
- helpers.engine    plan, parameters, execution, cache, ledger: the batch run
- helpers.publish   HTML, PDF, Quarto, portal
The public names other code relies on are re-exported as helpers.budget and helpers.survey.
"""

__version__ = "0.3.0"
