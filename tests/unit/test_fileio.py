"""gateway.fileio: the one atomic, durable replace shared by the auth files and the state files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gateway import fileio


def test_new_file_gets_new_mode_and_no_temporary_file_is_left(tmp_path: Path) -> None:
    fileio.atomic_write_text(tmp_path / "state.json", "one", new_mode=0o644)
    assert (tmp_path / "state.json").read_text() == "one"
    assert stat.S_IMODE(os.stat(tmp_path / "state.json").st_mode) == 0o644
    assert os.listdir(tmp_path) == ["state.json"]
    fileio.atomic_write_text(tmp_path / "secret", "x")
    assert stat.S_IMODE(os.stat(tmp_path / "secret").st_mode) == 0o600


def test_replacing_keeps_the_existing_mode(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("old")
    path.chmod(0o640)
    fileio.atomic_write_text(path, "new", new_mode=0o644)
    assert path.read_text() == "new"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


def test_a_failed_replace_leaves_the_old_content_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f"
    path.write_text("old")

    def fail(src: str, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fileio.os, "replace", fail)
    with pytest.raises(OSError, match="No space left"):
        fileio.atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["f"]


def test_the_directory_is_fsynced_after_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real_replace, real_fsync_directory = os.replace, fileio.fsync_directory

    def replace(a: Path, b: Path) -> None:
        calls.append("replace")
        real_replace(a, b)

    def fsync_directory(d: Path) -> None:
        calls.append(f"fsync {Path(d).name}")
        real_fsync_directory(d)

    monkeypatch.setattr(fileio.os, "replace", replace)
    monkeypatch.setattr(fileio, "fsync_directory", fsync_directory)
    fileio.atomic_write_text(tmp_path / "f", "x")
    assert calls == ["replace", f"fsync {tmp_path.name}"]
