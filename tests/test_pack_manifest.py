"""Issue 22 item 7: the whole pack is covered by its manifest; the manifest's sha256 is the
pack identity shown everywhere (an edited card can no longer change a result silently)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dentalosteo_gui.core.errors import ModelError
from dentalosteo_gui.ml.packs import load_pack, verify_manifest, write_manifest

BUNDLED = Path(__file__).resolve().parents[1] / "models" / "default"


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    if not (BUNDLED / "model.keras").exists():
        pytest.skip("no bundled model pack")
    dst = tmp_path / "pack"
    shutil.copytree(BUNDLED, dst)
    return dst


def test_bundled_pack_identity_is_its_manifest(pack: Path) -> None:
    identity = verify_manifest(pack)
    assert load_pack(pack).sha256 == identity == write_manifest(pack)


@pytest.mark.parametrize("tamper", ["card", "extra", "missing_plot", "no_manifest", "bad_manifest"])
def test_tampered_pack_is_refused(pack: Path, tamper: str) -> None:
    if tamper == "card":  # the attack of the issue: a card edited to change the words and bands
        card = json.loads((pack / "card.json").read_text())
        card["operating_points"]["bands"]["high_min"] = 0.2
        card["training_data"]["source"] = "real"
        (pack / "card.json").write_text(json.dumps(card))
    elif tamper == "extra":
        (pack / "extra.py").write_text("print('hi')")
    elif tamper == "missing_plot":
        next((pack / "plots").glob("*.png")).unlink()
    elif tamper == "no_manifest":
        (pack / "manifest.json").unlink()
    else:
        (pack / "manifest.json").write_text("{}")
    with pytest.raises(ModelError) as err:
        load_pack(pack)
    assert "reinstall" in str(err.value) and "\n" not in str(err.value)


def test_screen_refuses_a_tampered_pack_with_one_line(pack: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dentalosteo_gui.cli.main import main

    card = json.loads((pack / "card.json").read_text())
    card["statement"] = "validated on patients"
    (pack / "card.json").write_text(json.dumps(card))
    sample = Path(__file__).resolve().parents[1] / "resources" / "samples" / "phantom_c1.png"
    assert main(["screen", str(sample), "--model", str(pack), "--json"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "card.json" in err[0]
