"""Atomic writes: complete file or nothing, one clear error naming the target."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from dentalosteo_gui.core.errors import DentalOsteoError
from dentalosteo_gui.core.system import atomic
from dentalosteo_gui.core.system.atomic import (
    WriteError,
    atomic_write_bytes,
    atomic_write_text,
    atomic_writer,
)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def test_write_and_replace(tmp_path: Path) -> None:
    p = tmp_path / "a.txt"
    atomic_write_text(p, "one")
    atomic_write_text(p, "two")
    assert p.read_text() == "two"
    atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert _leftovers(tmp_path) == []


def test_exception_inside_block_keeps_old_file(tmp_path: Path) -> None:
    p = tmp_path / "keep.txt"
    p.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_writer(p, "w") as fh:
            fh.write("half of the new cont")
            raise RuntimeError("boom")
    assert p.read_text() == "old"
    assert _leftovers(tmp_path) == []


def test_disk_full_gives_one_clear_error_and_no_partial_file(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full)
    p = tmp_path / "report.pdf"
    with pytest.raises(WriteError) as ei:
        atomic_write_bytes(p, b"%PDF-1.4 " * 1000)
    msg = str(ei.value)
    assert str(p) in msg and "disk is full" in msg and "\n" not in msg
    assert isinstance(ei.value, DentalOsteoError)
    assert not p.exists() and _leftovers(tmp_path) == []


def test_read_only_folder(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "existing.pdf").write_bytes(b"old")
    ro.chmod(0o555)
    try:
        if os.access(ro, os.W_OK):
            _read_only_as_nobody()
            return
        with pytest.raises(WriteError) as ei:
            atomic_write_bytes(ro / "new.pdf", b"data")
        assert str(ro / "new.pdf") in str(ei.value) and "permission denied" in str(ei.value)
        with pytest.raises(WriteError):
            atomic_write_bytes(ro / "existing.pdf", b"new")
        assert (ro / "existing.pdf").read_bytes() == b"old"
        assert sorted(p.name for p in ro.iterdir()) == ["existing.pdf"]
    finally:
        ro.chmod(0o755)


def _read_only_as_nobody() -> None:
    """As root chmod is ineffective: repeat the check in a child running as 'nobody'."""
    import shutil
    import subprocess
    import sys
    import tempfile

    if not hasattr(os, "setuid") or os.geteuid() != 0:
        pytest.skip("folder is writable despite chmod and we cannot drop privileges")
    base = Path(tempfile.mkdtemp(prefix="atomic-ro-"))
    try:
        base.chmod(0o755)
        ro = base / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        code = (
            "import sys\n"
            "from dentalosteo_gui.core.system.atomic import atomic_write_bytes, WriteError\n"
            "try:\n"
            f"    atomic_write_bytes({str(ro / 'new.pdf')!r}, b'data')\n"
            "except WriteError as e:\n"
            "    print(e); sys.exit(0)\n"
            "sys.exit(1)\n"
        )

        def drop() -> None:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)

        try:
            r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                               preexec_fn=drop, cwd=str(Path(__file__).resolve().parents[1]),
                               timeout=60)
        except PermissionError as exc:
            pytest.skip(f"the 'nobody' user cannot run the interpreter here: {exc}")
        if r.returncode != 0 and "Permission denied" in r.stderr and "atomic" not in r.stdout:
            pytest.skip(f"the 'nobody' user cannot run the interpreter here: {r.stderr[-200:]}")
        assert r.returncode == 0, r.stdout + r.stderr
        assert str(ro / "new.pdf") in r.stdout and "permission denied" in r.stdout
        assert list(ro.iterdir()) == []
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_missing_folder_and_folder_target(tmp_path: Path) -> None:
    with pytest.raises(WriteError, match="does not exist"):
        atomic_write_text(tmp_path / "nope" / "x.csv", "a")
    (tmp_path / "dir.pdf").mkdir()
    with pytest.raises(WriteError, match="folder"):
        atomic_write_text(tmp_path / "dir.pdf", "a")


def test_file_mode(tmp_path: Path) -> None:
    p = atomic_write_text(tmp_path / "secret", "s", file_mode=0o600)
    assert p.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("code,words", [(errno.EACCES, "permission denied"),
                                        (errno.EROFS, "read-only")])
def test_unwritable_folder_simulated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     code: int, words: str) -> None:
    """Runs as root too: the folder refuses the temp file (what a read-only folder does)."""

    def refuse(*a: object, **k: object) -> tuple[int, str]:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)
    with pytest.raises(WriteError) as ei:
        atomic_write_text(tmp_path / "out.csv", "a,b\n")
    assert str(tmp_path / "out.csv") in str(ei.value) and words in str(ei.value)
    assert list(tmp_path.iterdir()) == []
