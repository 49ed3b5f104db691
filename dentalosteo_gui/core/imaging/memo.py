"""Values derived from one pixel array, computed once per screening and shared by its stages.

The region proposal, the quality check and the cortex measurement each start from the same
derived values of the radiograph (its content frame, the working copy about 640 px wide).
Inside :func:`image_memo` (the engine opens one per screening) a value asked for twice is
computed once: keyed by the array's identity (the array is held until the scope ends, so its
id cannot be reused) and by what is derived from it. Outside a scope nothing is kept and every
call computes afresh, so library callers see plain pure functions. The value returned from the
memo is the very value that would be computed: the results are the same, bit for bit.

Arrays put in the memo are made read-only: a caller that wanted to change one in place would
fail loudly instead of changing what a later stage reads.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import cv2
import numpy as np

T = TypeVar("T")

_STORE: contextvars.ContextVar[dict[tuple[Any, ...], tuple[np.ndarray, Any]] | None] = contextvars.ContextVar(
    "dentalosteo_image_memo", default=None)
_LOCK = threading.Lock()  # the cortex thread shares the store (``contextvars.copy_context``)


@contextmanager
def image_memo() -> Iterator[None]:
    """A scope (one screening) in which :func:`memoised` values are shared; nested scopes
    share the outer one."""
    if _STORE.get() is not None:
        yield
        return
    token = _STORE.set({})
    try:
        yield
    finally:
        _STORE.reset(token)


def memoised(pixels: np.ndarray, key: tuple[Any, ...], make: Callable[[], T]) -> T:
    """``make()``, computed once per scope for this very array (identity) and ``key``."""
    store = _STORE.get()
    if store is None:
        return make()
    k = (id(pixels), *key)
    with _LOCK:
        hit = store.get(k)
    if hit is not None and hit[0] is pixels:
        return hit[1]  # type: ignore[no-any-return]
    value = make()
    if isinstance(value, np.ndarray):
        value.setflags(write=False)
    with _LOCK:
        store[k] = (pixels, value)
    return value


def area_resized(pixels: np.ndarray, width: int, height: int, dtype: Any = None) -> np.ndarray:
    """``cv2.resize(pixels.astype(dtype, copy=False), (width, height), interpolation=cv2.INTER_AREA)``
    (``dtype`` None: ``pixels``' own), shared within a screening (read-only there). Keyed on
    ``pixels`` itself, so a converted copy is neither kept nor needed to find the value."""
    dsize = (int(width), int(height))
    dt = np.dtype(pixels.dtype if dtype is None else dtype)

    def make() -> np.ndarray:
        out: np.ndarray = cv2.resize(pixels.astype(dt, copy=False), dsize, interpolation=cv2.INTER_AREA)
        return out

    return memoised(pixels, ("area_resized", dt.name, dsize), make)
