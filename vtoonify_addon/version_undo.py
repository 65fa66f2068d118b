"""Undo after Purge Old VToonify Versions: the purged versions wait in this session's bin
(``core.version_bin``); an undo or redo that shows one again brings it back before the Sequencer
draws, and the bin is emptied when the undo history ends (another file opened, File > New, Revert,
the add-on disabled or Blender quitting, which disables add-ons). A Blender that crashed never
empties its bin: the next session deletes it when the add-on starts (``core.orphan_bins``).
"""

from __future__ import annotations

import os

import bpy
from bpy.app.handlers import persistent

from . import engine_client, stylize
from .core.version_bin import VersionBin

_bins: list[VersionBin] = []
"""This session's bin while the add-on is registered (a list: no rebindable global)."""


def current() -> VersionBin | None:
    return _bins[-1] if _bins else None


@persistent
def bring_back_shown(*_args) -> None:
    """After Ctrl+Z / Shift+Ctrl+Z: every purged version a result or matte strip shows again leaves the bin."""
    version_bin = current()
    if version_bin is None or not version_bin.held():
        return
    for member in stylize.result_image_strips():
        if version_bin.bring_back(os.path.normpath(bpy.path.abspath(member.directory))):
            print(f"VToonify: {member.name} shows {member.directory} again: brought it back from the purge bin")
            member.invalidate_cache("RAW")


@persistent
def empty_before_load(*_args) -> None:
    """The file closes, and its undo history with it: no step can show a purged version again."""
    version_bin = current()
    if version_bin is not None:
        version_bin.empty()


HANDLERS = (("undo_post", bring_back_shown), ("redo_post", bring_back_shown), ("load_pre", empty_before_load))


def records_dir() -> str | None:
    """Where each session lists the stems it has a bin in: the extension's folder in Blender's user
    folders (None when the add-on runs as a legacy add-on from a checkout, which has none)."""
    try:
        return bpy.utils.extension_path_user(__package__, path="purge_bins")
    except (ValueError, AttributeError):
        return None


def register() -> None:
    version_bin = VersionBin(records_dir=records_dir(), alive=engine_client.load().pid_alive)
    _bins[:] = [version_bin]
    deleted = version_bin.sweep_ended_sessions()
    if deleted:
        print(f"VToonify: deleted {len(deleted)} purged version(s) a Blender that ended without closing its file left")
    for name, handler in HANDLERS:
        getattr(bpy.app.handlers, name).append(handler)


def unregister() -> None:
    for name, handler in HANDLERS:
        handlers = getattr(bpy.app.handlers, name)
        if handler in handlers:
            handlers.remove(handler)
    version_bin = current()
    _bins.clear()
    if version_bin is not None:
        version_bin.empty()
