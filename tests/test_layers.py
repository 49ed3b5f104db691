"""Layering: core imports neither Qt nor TensorFlow; ML imports TensorFlow lazily."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sorted(sys.modules)))"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


def test_core_and_cli_import_neither_qt_nor_tensorflow() -> None:
    import pkgutil

    import dentalosteo_gui.core as core

    mods = [m.name for m in pkgutil.walk_packages(core.__path__, "dentalosteo_gui.core.")]
    code = "import importlib\n" + "\n".join(f"importlib.import_module({m!r})" for m in mods)
    code += "\nimport dentalosteo_gui.cli.main as m; m.build_parser()"
    loaded = _modules_after(code)
    for banned in ("PySide6", "pyqtgraph", "tensorflow", "keras", "tf_keras_vis"):
        assert banned not in loaded, f"{banned} imported by the core/CLI layer"


def test_ml_package_imports_tensorflow_lazily() -> None:
    import pkgutil

    import dentalosteo_gui.ml as ml

    mods = [m.name for m in pkgutil.walk_packages(ml.__path__, "dentalosteo_gui.ml.")]
    code = "import importlib\n" + "\n".join(f"importlib.import_module({m!r})" for m in mods)
    loaded = _modules_after(code)
    assert "tensorflow" not in loaded and "keras" not in loaded


def test_no_qt_imports_outside_gui_package() -> None:
    offenders = []
    for py in (ROOT / "dentalosteo_gui").rglob("*.py"):
        rel = py.relative_to(ROOT / "dentalosteo_gui")
        if rel.parts[0] == "gui":
            continue
        text = py.read_text(encoding="utf-8")
        for line in text.splitlines():
            s = line.strip()
            if s.startswith(("import PySide6", "from PySide6", "import pyqtgraph", "from pyqtgraph")):
                offenders.append(f"{rel}: {s}")
    assert not offenders, offenders


def test_import_linter_contracts() -> None:
    import shutil

    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    if not Path(exe).exists():
        import pytest

        pytest.skip("import-linter not installed")
    out = subprocess.run([exe], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
