"""`dentalosteo info` and the CLI's error contract (exit 2, one line, no traceback)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from dentalosteo_gui import __version__
from dentalosteo_gui.cli.main import main


def test_version(capsys) -> None:
    try:
        main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert __version__ in capsys.readouterr().out


def test_info_json(tmp_path: Path, capsys) -> None:
    p = tmp_path / "a.png"
    Image.fromarray(np.zeros((100, 300), np.uint8)).save(p)
    assert main(["info", str(p), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    for key in ("path", "format", "width", "height", "bits_stored", "photometric", "modality",
                "pixel_spacing_mm", "pixel_spacing_source"):
        assert key in d
    assert d["width"] == 300 and d["pixel_spacing_mm"] is None and "patient" not in d


def test_info_phi_only_on_request(tmp_path: Path, capsys) -> None:
    from tests.test_io import _write_dicom

    p = tmp_path / "p.dcm"
    _write_dicom(p, np.zeros((80, 80), np.uint16), PixelSpacing=[0.1, 0.1])
    assert main(["info", str(p)]) == 0
    assert "TEST^PATIENT" not in capsys.readouterr().out
    assert main(["info", str(p), "--phi", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["patient"]["name"] == "TEST^PATIENT"


def test_bad_input_exit_2_one_line_no_traceback(tmp_path: Path) -> None:
    p = tmp_path / "broken.png"
    p.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    r = subprocess.run([sys.executable, "-m", "dentalosteo_gui.cli.main", "info", str(p)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "broken.png" in lines[0]
    assert "Traceback" not in r.stderr
