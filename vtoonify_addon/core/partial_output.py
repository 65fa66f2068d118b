"""What a render that lost its engine left on disk, and what a new Stylize does with it (no bpy).

The add-on deletes a job's version folder only once the engine confirmed the job's end; when the
engine is lost mid-render (killed, crashed, connection dropped) the folder stays, since an engine
that only lost its connection may still be writing there. The report then names that folder, how many
frames it holds, and what Stylize does next: it always renders into a new version folder (the add-on
never resubmits with ``resume``), so those frames are not continued, only kept until purged.
"""

from __future__ import annotations

import os
import re

from .output_versions import next_version_dir


def written_frames(version_dir: str, stem: str) -> int:
    """How many frames of ``stem`` (``stem.<number>.<ext>``, the engine's beauty names) lie in
    ``version_dir`` as regular files: links, temp files (``.name....tmp``), the sidecar and matte
    files are not counted; 0 when the folder is missing."""
    frame = re.compile(rf"^{re.escape(stem)}\.-?\d+\.[A-Za-z0-9]+$")
    try:
        entries = list(os.scandir(version_dir))
    except OSError:
        return 0
    return sum(1 for e in entries if frame.match(e.name) and e.is_file(follow_symlinks=False))


def kept_after_loss(error: dict, version_dir: str, stem: str) -> dict:
    """``error`` (the protocol's ``code, message, fix``) with where the partial frames are, how many,
    and that a new Stylize renders every frame again into the next version folder."""
    if not os.path.isdir(version_dir) or os.path.islink(version_dir):
        return dict(error)
    count = written_frames(version_dir, stem)
    folder = os.path.normpath(version_dir)
    name = os.path.basename(folder)
    upcoming = os.path.basename(next_version_dir(os.path.dirname(folder)))
    if count == 0:
        kept = f"no frame was written yet; its output folder is kept: {folder}"
    elif count == 1:
        kept = f"the 1 frame written so far is kept in {folder}"
    else:
        kept = f"the {count} frames written so far are kept in {folder}"
    message = f"{error.get('message') or 'the render stopped'}; {kept}"
    fix = str(error.get("fix") or "").rstrip(". ")
    fix = (f"{fix + '. ' if fix else ''}Stylize renders every frame again into a new version folder ({upcoming}); "
           f"it does not continue {name}, which stays on disk (an engine that only lost its connection may still "
           f"be writing there) until you delete it, or use Purge Old VToonify Versions once the new result has "
           f"landed")
    return {**error, "message": message, "fix": fix}
