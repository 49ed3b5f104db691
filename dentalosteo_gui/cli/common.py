"""Helpers shared by subcommands (JSON output, pixel-spacing override)."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import numpy as np

from ..core.errors import ConfigError


def _default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _clean(o: Any) -> Any:
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    return o


def dumps(obj: Any) -> str:
    return json.dumps(_clean(obj), indent=2, default=_default)


def print_json(obj: Any) -> None:
    sys.stdout.write(dumps(obj) + "\n")


def spacing_arg(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise ConfigError(f"--pixel-spacing must be a number in mm, not {text!r}") from None
    if not (0.005 <= v <= 2.0):
        raise ConfigError(f"--pixel-spacing {v} mm is outside 0.005-2.0 mm")
    return v
