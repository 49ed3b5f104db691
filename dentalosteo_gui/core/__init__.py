"""Core layer: no Qt, no TensorFlow (enforced by import-linter and tests/test_layers.py).

Subpackages, top to bottom (a package imports only those below it; see docs/architecture.md):

- ``screening``   engine, stages, spacing resolution, batch
- ``records``     history, audit, report, de-identification
- ``model_input`` model input per kind (ROI crop, cortex strip, landmark patches)
- ``anatomy``     ROI proposal, border, landmarks, cortex (MCW) and Klemetti rule
- ``imaging``     readers (image files, DICOM), pixel helpers, heatmap placement
- ``data``        dataset format, phantoms, protocols, metrics
- ``system``      paths, settings, logging, atomic writes

``types``, ``errors`` and ``cards`` (what a model card means) are the shared vocabulary every
layer may import.
"""
