"""Screening an archive on a Dask cluster (``dentalosteo batch ... --scheduler``).

Dask workers read and screen the images (one engine, i.e. one model load, per worker
process); the client process stays the one writer of the batch CSV and the history, so the
CSV format, resuming and the history are those of the single-PC batch.

Dask is an optional extra (``pip install 'dentalosteo[distributed]'``): nothing here imports
it at module level, and the plain batch never imports this package's cluster module.
``docs/scale.md`` has the measurements and the projection to a million images.
"""

from __future__ import annotations

from .cluster import ClusterScreener, open_cluster, require_dask

__all__ = ["ClusterScreener", "open_cluster", "require_dask"]
