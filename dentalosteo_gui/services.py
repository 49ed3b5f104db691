"""Composition root: builds the one screening engine the GUI, CLI, batch and headless job use.

Lives outside ``core`` because it wires the core engine to the ML backend (TensorFlow is
still imported lazily, only when a model is actually loaded).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from .core.errors import DentalOsteoError, ModelError
from .core.imaging.imageio import load_radiograph
from .core.records.report import write_report
from .core.screening.batch import collect_files
from .core.screening.engine import Engine, EngineOptions
from .core.system import paths
from .core.system.settings import Settings, load_settings

log = logging.getLogger(__name__)

_cache: dict[tuple[str, str, str], Engine] = {}
_cache_lock = threading.Lock()


def _pack_exists(p: Path) -> bool:
    return (p / "card.json").exists() and (p / "model.keras").exists()


def make_engine(model_dir: str | Path | None = None, device: str | None = None,
                settings: Settings | None = None, require_model: bool = False,
                landmark_model_dir: str | Path | None = None) -> Engine:
    """The engine for these settings; cached, so the model is loaded once per process."""
    s = settings or load_settings()
    dev = device or s.device
    mdir = Path(model_dir) if model_dir else (Path(s.model_dir) if s.model_dir else paths.default_model_dir())
    ldir = Path(landmark_model_dir) if landmark_model_dir else paths.landmark_model_dir()
    key = (str(mdir), str(ldir), dev)
    with _cache_lock:
        if key in _cache:
            eng = _cache[key]
            eng.options = _options(s)
            return eng
        backend = None
        if _pack_exists(mdir):
            from .ml.backend import KerasBackend
            from .ml.tfimport import quiet_import_tensorflow

            quiet_import_tensorflow()

            t0 = time.perf_counter()
            backend = KerasBackend(mdir, device=dev)
            log.info("model %s loaded on %s in %.0f ms", backend.info.name, backend.device,
                     (time.perf_counter() - t0) * 1000)
        elif require_model or model_dir:
            raise ModelError(f"{mdir}: no model pack here (needs card.json and model.keras)",)

        def landmark_loader() -> Any:
            if not _pack_exists(ldir):
                return None
            from .ml.backend import KerasBackend
            from .ml.tfimport import quiet_import_tensorflow

            quiet_import_tensorflow()

            return KerasBackend(ldir, device=dev)

        eng = Engine(backend, landmark_loader, _options(s))
        _cache[key] = eng
        return eng


def _options(s: Settings) -> EngineOptions:
    return EngineOptions(
        operating_point=s.operating_point,
        gradcam_method=s.gradcam_method,
        default_pixel_spacing_mm=float(s.default_pixel_spacing_mm),
    )


def screen_files_to_pdf(targets: list[Path], out: Path, anonymize: bool | None = None,
                        errors: list[str] | None = None) -> list[Path]:
    """Headless main job: screen each file (folders expanded) and write one PDF per file.

    With ``errors`` given, a bad file is recorded there and the run goes on; otherwise the
    first bad file raises.
    """

    s = load_settings()
    engine = make_engine(settings=s)
    anon = s.anonymize_exports if anonymize is None else anonymize
    written: list[Path] = []
    files = collect_files(targets)
    multiple = len(files) > 1 or out.suffix.lower() != ".pdf"
    card = engine.roi_backend.card if engine.roi_backend else None
    for t in files:
        try:
            rad = load_radiograph(t)
            res = engine.screen(rad)
            dest = (out / f"{Path(t).stem}-report.pdf") if multiple else out
            dest.parent.mkdir(parents=True, exist_ok=True)
            written.append(write_report(res, rad, dest, settings=s, anonymize=anon, model_card=card))
        except DentalOsteoError as exc:
            if errors is None:
                raise
            errors.append(str(exc))
            continue
        print(summary_line(res))
    return written


def _num(v: Any) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def _px(v: Any) -> str:
    return "n/a" if v is None else f"{v:.0f}"


def mcw_text(res: Any) -> str:
    """MCW right/left with the dentist's value where measured: millimetres when the spacing
    is known, pixels when it is assumed (mm would rest on a guessed spacing)."""
    sides = ("right", "left")
    if res.spacing.assumed:
        text = "MCW right/left " + "/".join(_px(res.mcw_px(s)) for s in sides) + " px"
        said = [f"{s} {v:.0f} px" for s in sides if (v := res.dentist_mcw_px(s)) is not None]
    else:
        text = "MCW right/left " + "/".join(_num(v) for v in (res.mcw_right_mm, res.mcw_left_mm)) + " mm"
        said = [f"{s} {v:.2f} mm" for s in sides
                if (v := getattr(res, f"mcw_dentist_{s}_mm", None)) is not None]
    if said:  # the dentist's own MCW where measured (the one the reading uses)
        text += " (dentist-measured " + ", ".join(said) + ")"
    return text


def reading_text(res: Any) -> str:
    """The reading in one line of numbers (no file name, no patient data)."""
    risk = "n/a" if res.risk is None else f"{res.risk:.2f}"
    text = (f"risk {risk} ({res.risk_level or '-'}), Klemetti model {res.klemetti_class or '-'} / "
            f"rule {res.klemetti_rule or '-'}, {mcw_text(res)}")
    pmi = [getattr(res, f"pmi_{s}", None) for s in ("right", "left")]
    if any(v is not None for v in pmi) or res.spacing.assumed:  # uncalibrated: PMI always said
        text += ", PMI right/left " + "/".join(_num(v) for v in pmi)
    return text


def summary_line(res: Any) -> str:
    flag = "" if res.assessable else " NOT ASSESSABLE"
    scale = (f"no calibration: {res.spacing.mm_per_px:.3g} mm/px assumed, widths in px"
             if res.spacing.assumed else f"{res.spacing.source} spacing {res.spacing.mm_per_px:.3g} mm/px")
    return f"{Path(res.path).name}: {reading_text(res)} ({scale}), device {res.device}{flag}"


__all__ = ["make_engine", "screen_files_to_pdf", "DentalOsteoError"]
