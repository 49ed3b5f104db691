"""Issue 17: calibration profiles (CLI round trips, matching, precedence, magnification)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from dentalosteo_gui.cli.main import main as cli_main
from dentalosteo_gui.core.errors import ConfigError
from dentalosteo_gui.core.imaging.imageio import from_array, load_radiograph
from dentalosteo_gui.core.screening.spacing import resolve_spacing
from dentalosteo_gui.core.system.profiles import ProfileStore, from_pixel_size, from_ruler

SAMPLES = Path(__file__).resolve().parents[1] / "resources" / "samples"


def _png(tmp_path: Path, folder: str = "clinic") -> Path:
    d = tmp_path / folder
    d.mkdir(exist_ok=True)
    dst = d / "pano.png"
    shutil.copy(SAMPLES / "phantom_c1.png", dst)  # no labels.csv beside it: spacing unknown
    return dst


def test_ruler_profile_round_trip_through_screen(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = _png(tmp_path)
    assert cli_main(["calibrate", str(png), "--known-mm", "25", "--points", "100,100,350,100",
                     "--profile", "OP300"]) == 0
    assert "calibrated: profile OP300, 0.1 mm/px" in capsys.readouterr().out
    assert cli_main(["screen", str(png), "--json"]) == 0
    sp = json.loads(capsys.readouterr().out)["spacing"]
    assert sp["source"] == "calibrated" and sp["profile"] == "OP300" and sp["mm_per_px"] == pytest.approx(0.1)
    assert not sp["assumed"] and sp["magnification"] is None
    # the user's explicit value still wins over the profile
    assert cli_main(["screen", str(png), "--json", "--pixel-spacing", "0.2"]) == 0
    assert json.loads(capsys.readouterr().out)["spacing"]["source"] == "user"
    # the same size from another folder is another source
    other = _png(tmp_path, "elsewhere")
    assert cli_main(["screen", str(other), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["spacing"]["source"] == "assumed"


def test_pixel_size_with_magnification_and_list_export_import(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    png = _png(tmp_path)
    assert cli_main(["calibrate", str(png), "--spacing", "0.125", "--magnification", "1.25",
                     "--any-folder", "--profile", "X"]) == 0
    capsys.readouterr()
    prof = ProfileStore().match(load_radiograph(_png(tmp_path, "other")))  # any folder
    assert prof is not None and prof.mm_per_px == pytest.approx(0.1) and prof.magnification == 1.25
    assert cli_main(["screen", str(png), "--json"]) == 0
    sp = json.loads(capsys.readouterr().out)["spacing"]
    assert sp["magnification"] == 1.25 and sp["mm_per_px"] == pytest.approx(0.1)
    assert cli_main(["calibrate", "--list"]) == 0
    assert "profile X" in capsys.readouterr().out
    exported = tmp_path / "profiles.json"
    assert cli_main(["calibrate", "--export", str(exported)]) == 0
    # another PC: a fresh settings folder
    monkeypatch.setenv("DENTALOSTEO_CONFIG_DIR", str(tmp_path / "pc2"))
    assert ProfileStore().load() == []
    assert cli_main(["calibrate", "--import", str(exported)]) == 0
    assert [p.name for p in ProfileStore().load()] == ["X"]


def test_profile_beats_the_file_but_not_the_user() -> None:
    rad = from_array(np.zeros((300, 600), np.float32), spacing=0.2)
    prof = from_pixel_size("P", rad, 0.1, None)
    assert resolve_spacing(rad, None, 0.1, calibrated=prof.spacing()).source == "calibrated"
    assert resolve_spacing(rad, 0.05, 0.1, calibrated=prof.spacing()).source == "user"
    assert resolve_spacing(rad, None, 0.1).source == "file"


def test_dicom_profiles_are_keyed_by_device_and_size(tmp_path: Path) -> None:
    rad = load_radiograph(SAMPLES / "phantom_c2.dcm")
    prof = from_ruler("dev", rad, 10.0, (0, 0), (100, 0))
    assert prof.key.width == rad.width and prof.key.folder == ""
    assert prof.key.manufacturer == rad.patient.manufacturer


@pytest.mark.parametrize("args,needle", [
    (["--known-mm", "25"], "--points"),
    (["--known-mm", "-3", "--points", "0,0,100,0"], "positive"),
    (["--known-mm", "25", "--points", "0,0,3,0"], "at least 10 px"),
    (["--spacing", "5"], "pixel spacing must be"),
    (["--spacing", "0.1", "--magnification", "7"], "magnification must be"),
    (["--known-mm", "25", "--points", "a,b"], "four numbers"),
])
def test_bad_calibration_input_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  args: list[str], needle: str) -> None:
    assert cli_main(["calibrate", str(_png(tmp_path)), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]


def test_corrupt_profiles_file_warns_and_screening_goes_on(tmp_path: Path) -> None:
    store = ProfileStore()
    store.path.parent.mkdir(parents=True, exist_ok=True)
    store.path.write_text("{not json")
    with pytest.raises(ConfigError):
        store.load()
    from dentalosteo_gui.core.screening.engine import Engine

    res = Engine().screen(load_radiograph(_png(tmp_path)))
    assert res.spacing.source == "assumed"
    assert any("calibration profiles not used" in w for w in res.warnings)
