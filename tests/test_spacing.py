"""Pixel spacing has one owner: resolve_spacing. roi, screen, batch and the report agree."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from dentalosteo_gui.cli.main import main as cli_main
from dentalosteo_gui.core.imaging.imageio import from_array, load_radiograph
from dentalosteo_gui.core.screening.spacing import dataset_record, resolve_spacing
from dentalosteo_gui.core.types import Radiograph, Spacing

SAMPLES = Path(__file__).resolve().parents[1] / "resources" / "samples"


def test_precedence_user_file_dataset_assumed(tmp_path: Path) -> None:
    rad = from_array(np.zeros((100, 100), np.float32), spacing=0.2)
    rad.pixel_spacing_source = "PixelSpacing"
    assert resolve_spacing(rad, 0.05, 0.1) == Spacing(0.05, "user")
    assert resolve_spacing(rad, None, 0.1) == Spacing(0.2, "file", "PixelSpacing")
    # a dataset record ranks below the file's own statement, above the default
    assert resolve_spacing(rad, dataset_record(0.3), 0.1).source == "file"
    rad.pixel_spacing_mm = None
    assert resolve_spacing(rad, dataset_record(0.3), 0.1) == Spacing(0.3, "dataset", "labels.csv")
    got = resolve_spacing(rad, None, 0.1)
    assert got.assumed and got.mm_per_px == 0.1 and got.source == "assumed"
    calibrated = Spacing(0.104, "calibrated", "profile X")
    assert resolve_spacing(rad, calibrated, 0.1) is calibrated


def test_sidecar_beside_a_png_is_found(tmp_path: Path) -> None:
    png = tmp_path / "a.png"
    shutil.copy(SAMPLES / "phantom_c1.png", png)
    (tmp_path / "labels.csv").write_text("file,label,pixel_spacing_mm\na.png,0,0.25\n")
    sp = resolve_spacing(load_radiograph(png), None, 0.1)
    assert sp == Spacing(0.25, "dataset", "labels.csv")


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_spacing_refuses_nonsense(bad: float) -> None:
    with pytest.raises(ValueError):
        Spacing(bad, "user")
    with pytest.raises(ValueError):
        Spacing(0.1, "guessed")


def test_json_round_trip() -> None:
    sp = Spacing(0.21, "dataset", "labels.csv")
    assert Spacing.from_json({"spacing": sp.as_dict()}) == sp
    legacy = Spacing.from_json({"pixel_spacing_mm": 0.1, "mcw_mm": {"assumed_spacing": True}})
    assert legacy.assumed and legacy.mm_per_px == 0.1
    assert sp.as_dict() == {"mm_per_px": 0.21, "source": "dataset", "assumed": False, "detail": "labels.csv",
                            "profile": None, "magnification": None}


def _pdf_text(pdf: Path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) not installed")
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout


@pytest.mark.parametrize("name", ["phantom_c1.png", "phantom_c2.dcm", "phantom_c3.png"])
def test_roi_screen_batch_and_report_agree(name: str, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    src = SAMPLES / name
    assert cli_main(["roi", str(src), "--json"]) == 0
    roi = json.loads(capsys.readouterr().out)
    pdf = tmp_path / "r.pdf"
    assert cli_main(["screen", str(src), "--json", "--pdf", str(pdf)]) == 0
    scr = json.loads(capsys.readouterr().out)
    out_csv = tmp_path / "b.csv"
    assert cli_main(["batch", str(src), "--csv", str(out_csv), "--quiet"]) == 0
    capsys.readouterr()
    row = next(csv.DictReader(out_csv.open()))

    sp = scr["spacing"]
    assert roi["spacing"] == sp, (roi["spacing"], sp)
    assert sp["source"] in ("file", "dataset") and not sp["assumed"]
    assert row["spacing_source"] == sp["source"]
    assert float(row["spacing_mm_per_px"]) == pytest.approx(sp["mm_per_px"], abs=1e-5)
    for side in ("left", "right"):
        assert roi["mcw_mm"][side] == pytest.approx(scr["mcw_mm"][side], abs=1e-3)
        assert float(row[f"mcw_{side}_mm"]) == pytest.approx(scr["mcw_mm"][side], abs=1e-3)
    text = _pdf_text(pdf)
    assert f"{sp['mm_per_px']:.3f} mm/pixel ({sp['source']}" in text
    for side in ("right", "left"):
        assert f"{scr['mcw_mm'][side]:.1f} mm" in text


def test_report_says_user_when_spacing_was_overridden(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """The bug of the spine issue: the PDF named the file's attribute for an override."""
    pdf = tmp_path / "r.pdf"
    assert cli_main(["screen", str(SAMPLES / "phantom_c2.dcm"), "--pixel-spacing", "0.2", "--json",
                     "--pdf", str(pdf)]) == 0
    scr = json.loads(capsys.readouterr().out)
    assert scr["spacing"] == {"mm_per_px": 0.2, "source": "user", "assumed": False, "profile": None,
                              "magnification": None}
    text = _pdf_text(pdf)
    assert "0.200 mm/pixel (user" in text and "PixelSpacing" not in text


def test_radiograph_file_spacing_names_the_attribute() -> None:
    rad = load_radiograph(SAMPLES / "phantom_c2.dcm")
    sp = rad.file_spacing
    assert isinstance(rad, Radiograph) and sp is not None and sp.source == "file" and sp.detail


@pytest.mark.parametrize("attrs,mm,mag,detail", [
    ({"PixelSpacing": [0.1, 0.1]}, 0.1, None, "PixelSpacing"),
    ({"ImagerPixelSpacing": [0.125, 0.125]}, 0.125, None, "ImagerPixelSpacing"),
    ({"ImagerPixelSpacing": [0.125, 0.125], "EstimatedRadiographicMagnificationFactor": 1.25}, 0.1, 1.25,
     "ImagerPixelSpacing/EstimatedRadiographicMagnificationFactor"),
    # PixelSpacing is in the patient plane already: the factor must not be applied twice
    ({"PixelSpacing": [0.1, 0.1], "ImagerPixelSpacing": [0.125, 0.125],
      "EstimatedRadiographicMagnificationFactor": 1.25}, 0.1, None, "PixelSpacing"),
])
def test_dicom_spacing_and_magnification_combinations(tmp_path: Path, attrs: dict, mm: float,
                                                      mag: float | None, detail: str) -> None:
    import pydicom

    ds = pydicom.dcmread(SAMPLES / "phantom_c2.dcm")
    for kw in ("PixelSpacing", "ImagerPixelSpacing", "EstimatedRadiographicMagnificationFactor"):
        if kw in ds:
            delattr(ds, kw)
    for kw, v in attrs.items():
        setattr(ds, kw, v)
    out = tmp_path / "x.dcm"
    ds.save_as(out)
    sp = resolve_spacing(load_radiograph(out), None, 0.1)
    assert sp.source == "file" and sp.mm_per_px == pytest.approx(mm) and sp.magnification == mag
    assert sp.detail == detail
