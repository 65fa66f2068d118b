"""Where a job writes, per its output policy, decided before it is sent (plain Python, no Qt).

The engine refuses a folder that holds another job's frames of the same shot (so one folder never
mixes two looks) unless told to overwrite them. The panel sees that first and acts per policy:

* ``version`` (default): write into the first ``<output>/vNNN`` that holds no render of this shot;
* ``resume``: the given folder, skipping frames already there (same settings only: a folder of other
  settings is refused in the panel when it can tell, see ``resume_conflict``);
* ``overwrite``: the given folder, replacing an earlier render (the panel asks first).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path

from engine.pipeline.outputs import frame_digits, source_stem

VERSION = "version"
RESUME = "resume"
OVERWRITE = "overwrite"
POLICIES = {VERSION: "New version", RESUME: "Resume", OVERWRITE: "Overwrite"}
POLICY_TIPS = {
    VERSION: "Write into the next free version folder (v001, v002, ...); nothing is ever replaced",
    RESUME: "Write into the output folder and skip the frames already rendered there with the same settings",
    OVERWRITE: "Write into the output folder and delete an earlier render of this shot there first",
}
VERSION_FOLDER = re.compile(r"^v(\d{3,})$")


def shot_stem(settings: dict) -> str:
    """The stem of the job's output files (the engine's rule: ``name``, else the source's stem)."""
    return settings.get("name") or source_stem(str(settings.get("source", "")))


def earlier_render(folder: str | os.PathLike, stem: str) -> bool:
    """Whether ``folder`` holds a render of this shot (its sidecar or any of its frames)."""
    folder = Path(folder)
    if (folder / f"{stem}.vtoonify.json").exists():
        return True
    pattern = re.compile(rf"^{re.escape(stem)}\.(?:matte_[A-Za-z0-9_]+\.)?-?\d+\.(?:exr|png)$")
    try:
        return any(pattern.match(name) for name in os.listdir(folder))
    except OSError:
        return False


def version_folder(root: str, stem: str, taken: set[tuple[str, str]] = frozenset()) -> str:
    """The first ``root/vNNN`` with no render of ``stem`` on disk and not given to another job of
    this shot (``taken``: (folder, stem) pairs of jobs sent before)."""
    number = 1
    while True:
        folder = os.path.join(root, f"v{number:03d}")
        if (folder, stem) not in taken and not earlier_render(folder, stem):
            return folder
        number += 1


def resolve(settings: dict, policy: str, taken: set[tuple[str, str]] = frozenset()) -> dict:
    """The settings to send: output folder and resume/overwrite flags set per ``policy``.

    ``taken`` holds the (folder, stem) pairs of jobs sent before this one, so two renders of one
    shot never share a version folder (other shots may share it: their files differ by stem)."""
    root = str(settings.get("output", ""))
    out = dict(settings, resume=False, overwrite=False)
    if policy == VERSION:
        out["output"] = version_folder(root, shot_stem(settings), taken)
    elif policy == RESUME:
        out["resume"] = True
    elif policy == OVERWRITE:
        out["overwrite"] = True
    else:
        raise ValueError(f"unknown output policy {policy!r}")
    return out


def resume_conflict(settings: dict) -> str | None:
    """Why the engine would refuse to resume into the output folder, when the panel can know it:
    the folder's sidecar belongs to other settings. Exact for the classic backend (its job key
    depends on the settings only); None otherwise (the engine then decides)."""
    if settings.get("backend") != "classic":
        return None
    from engine.pipeline.classic_backend import ClassicBackend  # no torch in the panel
    from engine.pipeline.config import RenderConfig
    from engine.pipeline.shot import job_key, job_settings, settings_difference, sidecar_path

    stem = shot_stem(settings)
    try:
        recorded = json.loads(sidecar_path(Path(settings.get("output", "")), stem).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # RecursionError: a planted "[[[[..." sidecar
        return None
    if not isinstance(recorded, dict):
        return None
    config = RenderConfig.from_dict({k: v for k, v in settings.items() if k not in ("resume", "overwrite")})
    # the key as the engine forms it: with the backend's own precision (classic has no network)
    config = dataclasses.replace(config, precision=ClassicBackend.precision)
    if recorded.get("job_key") in (None, job_key(config, "classic", {}, "cpu")):
        return None
    if recorded.get("job_key") == job_key(config, "classic", {}, "cpu", linear_png=False):  # its own, but sRGB
        return (f"{settings.get('output')} holds a render of {stem} by an earlier engine, which placed PNG frames "
                "into the plate in sRGB (this one places them in linear light, so the lines would change mid-shot), "
                "so Resume cannot continue it; pick New version (a new folder) or Overwrite")
    diff = settings_difference(recorded.get("job_settings"), job_settings(config, "classic", {}, "cpu"))
    return (f"{settings.get('output')} holds a render of {stem} with other settings"
            f"{f' ({diff[0]})' if diff else ''}, so Resume cannot continue it; pick New version (a new "
            "folder) or Overwrite")


def needs_confirmation(settings: dict, policy: str) -> bool:
    """Overwrite replaces files only when an earlier render is there: then the artist confirms."""
    return policy == OVERWRITE and earlier_render(settings.get("output", ""), shot_stem(settings))


def output_pattern(settings: dict, last_frame: int | None = None) -> str:
    """The frames' path pattern (``/out/v001/908.####.png``), as the engine will name them."""
    digits = frame_digits([last_frame]) if last_frame is not None else 4
    return os.path.join(str(settings.get("output", "")),
                        f"{shot_stem(settings)}.{'#' * digits}.{settings.get('format', 'exr')}")
