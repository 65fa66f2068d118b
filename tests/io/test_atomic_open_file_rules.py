"""Atomic writes under Windows' rule that a file still open cannot be renamed or deleted.

On Windows ``os.replace``/``os.unlink`` of a file some handle still holds open fails with a sharing
violation (WinError 32), and there is no ``dir_fd`` nor ``/proc/self/fd``. These tests run on Linux, so
that rule is simulated: renames and deletes of a file this process still has open raise PermissionError,
``os.supports_dir_fd`` is empty and ``fd_name`` finds no reopenable name. Not a Windows run: it proves
the temp is closed before it is renamed or removed, which is what Windows needs.
"""

from __future__ import annotations

import errno
import os
import stat

import pytest

from engine.io import atomic


def _open_inodes() -> set[tuple[int, int]]:
    """(device, inode) of every regular file this process holds open."""
    held = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            st = os.stat(f"/proc/self/fd/{name}")
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            held.add((st.st_dev, st.st_ino))
    return held


@pytest.fixture
def windows_file_rules(monkeypatch):
    """os.replace/rename/unlink/remove refuse a file that is still open, as Windows does."""

    def guarded(real):
        def call(src, *args, **kwargs):
            try:
                st = os.lstat(src, dir_fd=kwargs.get("src_dir_fd", kwargs.get("dir_fd")))
            except OSError:
                return real(src, *args, **kwargs)
            if (st.st_dev, st.st_ino) in _open_inodes():
                raise PermissionError(
                    errno.EACCES,
                    "The process cannot access the file because it is being "
                    "used by another process (simulated WinError 32)",
                    str(src),
                )
            return real(src, *args, **kwargs)

        return call

    for name in ("replace", "rename", "unlink", "remove"):
        monkeypatch.setattr(os, name, guarded(getattr(os, name)))
    monkeypatch.setattr(os, "supports_dir_fd", set())
    monkeypatch.setattr(atomic, "fd_name", lambda fd: None)


def _left(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("replace", [True, False])
def test_atomic_path_renames_a_closed_temp(tmp_path, windows_file_rules, replace):
    target = tmp_path / "shot.0001.png"
    with atomic.atomic_path(target, replace=replace) as temp:
        temp.write_bytes(b"frame one")
    assert target.read_bytes() == b"frame one"
    assert _left(tmp_path) == ["shot.0001.png"]


def test_atomic_reopenable_replaces_an_existing_file(tmp_path, windows_file_rules):
    target = tmp_path / "shot.0001.exr"
    target.write_bytes(b"old")
    with atomic.atomic_reopenable(target) as name:
        with open(name, "wb") as handle:
            handle.write(b"new frame")
    assert target.read_bytes() == b"new frame"
    assert _left(tmp_path) == ["shot.0001.exr"]


def test_atomic_open_writes_json_through_its_own_handle(tmp_path, windows_file_rules):
    target = tmp_path / "shot.vtoonify.json"
    with atomic.atomic_open(target, "w", encoding="utf-8") as handle:
        handle.write('{"ok": true}')
    assert target.read_text(encoding="utf-8") == '{"ok": true}'
    assert _left(tmp_path) == ["shot.vtoonify.json"]


def test_a_failed_write_leaves_no_temp(tmp_path, windows_file_rules):
    target = tmp_path / "shot.0001.png"
    with pytest.raises(RuntimeError), atomic.atomic_path(target) as temp:
        temp.write_bytes(b"half")
        raise RuntimeError("writer crashed")
    assert _left(tmp_path) == []


def test_an_empty_write_is_refused_and_leaves_no_temp(tmp_path, windows_file_rules):
    from engine.errors import OutputError

    with pytest.raises(OutputError, match="nothing was written"), atomic.atomic_path(tmp_path / "a.png"):
        pass
    assert _left(tmp_path) == []


def test_replace_false_keeps_the_existing_file(tmp_path, windows_file_rules):
    target = tmp_path / "shot.0001.png"
    target.write_bytes(b"theirs")
    with pytest.raises(atomic.TargetExistsError), atomic.atomic_path(target, replace=False) as temp:
        temp.write_bytes(b"ours")
    assert target.read_bytes() == b"theirs"
    assert _left(tmp_path) == ["shot.0001.png"]
