"""Screening: the engine, its stages, spacing resolution and folder batches."""
