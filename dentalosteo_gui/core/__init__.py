"""Core layer: types, errors, paths, settings, image I/O, anatomy, screening.

Imports neither Qt nor TensorFlow (enforced by import-linter and tests/test_layers.py).
"""
