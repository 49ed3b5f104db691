"""One phantom screened by the rule-based engine (no model, no calibration profiles): the
shared case of the #17 tests (PMI, foramen, dentist MCW, uncalibrated readings)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from dentalosteo_gui.core.data.phantoms import generate_phantom
from dentalosteo_gui.core.imaging.imageio import from_array
from dentalosteo_gui.core.screening.engine import Engine, EngineOptions
from dentalosteo_gui.core.types import Radiograph, ScreeningResult, Spacing


@lru_cache(maxsize=1)
def phantom_radiograph() -> Radiograph:
    case = generate_phantom(1)
    img = case.image.astype(np.float32) / (65535.0 if case.image.dtype == np.uint16 else 255.0)
    return from_array(img)


def screen_phantom(spacing: float | Spacing | None = None, **kw: object) -> ScreeningResult:
    eng = Engine(options=EngineOptions(use_calibration_profiles=False))
    return eng.screen(phantom_radiograph(), pixel_spacing_mm=spacing, **kw)  # type: ignore[arg-type]
