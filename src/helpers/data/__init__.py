"""Data layer: registry, input schemas, ingestion, warehouse access, sample generator."""
