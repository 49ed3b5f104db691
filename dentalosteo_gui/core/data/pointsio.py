"""Landmark points JSON: ``{"right_condyle": [x, y], ...}`` or ``{"landmarks": {...}}``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..types import LANDMARK_NAMES, Landmarks


def parse_landmarks(data: Any, source: str = "<landmarks>") -> Landmarks:
    """Validate a landmarks mapping; every one of the eight names must be present."""
    if isinstance(data, dict) and "landmarks" in data and isinstance(data["landmarks"], dict):
        data = data["landmarks"]
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: landmarks must be a JSON object of name -> [x, y]")
    out: Landmarks = {}
    missing = [n for n in LANDMARK_NAMES if n not in data]
    if missing:
        raise ConfigError(f"{source}: missing landmark(s) {', '.join(missing)}; names: {', '.join(LANDMARK_NAMES)}")
    for name in LANDMARK_NAMES:
        v = data[name]
        if isinstance(v, dict):
            v = [v.get("x"), v.get("y")]
        try:
            x, y = float(v[0]), float(v[1])
        except (TypeError, ValueError, IndexError, KeyError, OverflowError):
            raise ConfigError(f"{source}: landmark {name} must be [x, y] numbers, not {v!r}") from None
        if not (math.isfinite(x) and math.isfinite(y)) or x < 0 or y < 0:
            raise ConfigError(f"{source}: landmark {name} has invalid coordinates {v!r}")
        out[name] = (x, y)
    unknown = sorted(set(data) - set(LANDMARK_NAMES))
    if unknown:
        raise ConfigError(f"{source}: unknown landmark name(s) {', '.join(map(str, unknown))}")
    return out


def load_landmarks(path: str | Path) -> Landmarks:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read landmarks file ({exc})") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{p}: not valid JSON ({exc})") from None
    except RecursionError:
        raise ConfigError(f"{p}: JSON nested too deeply to be a landmarks file") from None
    return parse_landmarks(data, str(p))


def check_inside(landmarks: Landmarks, width: int, height: int, source: str) -> None:
    for n, (x, y) in landmarks.items():
        if x >= width or y >= height:
            raise ConfigError(f"{source}: landmark {n} ({x:.0f}, {y:.0f}) lies outside the {width}x{height} image")
