"""Batch engine: plan, validate parameters, execute notebooks on warm kernels, cache, ledger."""
