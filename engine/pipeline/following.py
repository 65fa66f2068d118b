"""``--follow-faces``: every face's crop position on every frame, computed once per shot.

The shot analysis (under the folder lock, once per farm job in ``prepare``) runs dlib on every frame
(around each face's last box: a fraction of the frame's cost), links the faces found to the faces the
analysis chose (their first sightings), and stores per face a fixed crop size and its offsets as runs
``[[frame, left, top], ...]`` (an entry where the offset changes) in the sidecar's ``follow``. Every
chunk reads the same runs, so chunked and whole renders give the same files; the math (gaps,
smoothing, snapping to the network's step) is ``engine.face.follow``.
"""

from __future__ import annotations

import time

import numpy as np

from engine.face.follow import (
    SMOOTH_FRAMES,
    SeedLinker,
    detect_in,
    eye_centre,
    follow_offsets,
    is_step,
    offset_at,
    runs_problem,
    to_runs,
)


def follow_shot(analysis, source, config, step: int, cancel=None, on_event=None, cuts=None) -> dict:
    """The ``follow`` entry of the sidecar: ``{"step", "smooth_frames", "faces": [{"size", "seen",
    "returned", "runs"}]}``, one face per stylized face in id order (the one face of a one-face job);
    ``returned``: the frames where the face was found again by its look after it was lost.

    The per-frame search reads the whole shot before the first frame renders, so it reports itself
    through ``on_event`` as ``progress`` events with ``"phase": "analysis"`` (docs/PROTOCOL.md). ``cuts``
    (a ``CutFinder``) sees every frame it reads, so shot changes are found at no extra decoding."""
    from engine.errors import JobCancelled
    from engine.face import locate_all_faces
    from engine.face.appearance import face_look

    frames = list(source.frame_numbers)
    seeds = [(face["frame"], tuple(face["box"])) for face in analysis.faces] if analysis.faces else [
        (analysis.face_frame, _box_of(locate_all_faces(source.read(analysis.face_frame)), analysis.landmarks))]
    linker = SeedLinker(frames, seeds)
    report = SearchProgress(on_event, len(frames))
    for done, (number, rgb) in enumerate(source.read_many(frames), 1):
        if cancel is not None and cancel.is_set():
            raise JobCancelled("job cancelled during shot analysis")
        if cuts is not None:
            cuts.add(number, rgb)
        windows = linker.windows(number, (rgb.shape[1], rgb.shape[0]))
        if windows != []:  # frames before the first face need no search
            linker.add(number, [(box, points, face_look(rgb, points))
                                for box, points in detect_in(locate_all_faces, rgb, windows)])
        report(done, number)
    found = linker.found
    firsts = [face["landmarks"] for face in analysis.faces] or [analysis.landmarks]
    faces = []
    for crop, sightings, (seed_frame, _), first, returned in zip(analysis.face_crops(), found, seeds, firsts,
                                                                 linker.returned):
        sightings.setdefault(seed_frame, np.asarray(first))  # the analysis saw it there, whatever dlib says now
        centres = np.full((len(frames), 2), np.nan)
        for i, number in enumerate(frames):
            if number in sightings:
                centres[i] = eye_centre(sightings[number])
        size, offsets = follow_offsets(centres, crop, tuple(config.padding), step)
        faces.append({"size": list(size), "seen": len(sightings), "returned": returned,
                      "runs": to_runs(frames, offsets)})
    return {"step": int(step), "smooth_frames": SMOOTH_FRAMES, "faces": faces}


class SearchProgress:
    """``progress`` events of the per-frame face search: the first and last frame, and between them at
    most one every ``interval_s`` (a fast search must not flood the clients' event queues)."""

    def __init__(self, on_event, total: int, interval_s: float = 0.5, clock=time.monotonic) -> None:
        self.on_event, self.total, self.interval_s, self.clock = on_event, total, interval_s, clock
        self.started = self.last = clock()
        self._send(0, None, self.started)

    def __call__(self, done: int, frame: int) -> None:
        now = self.clock()
        if done >= self.total or done == 1 or now - self.last >= self.interval_s:
            self._send(done, frame, now)

    def _send(self, done: int, frame, now: float) -> None:
        if self.on_event is None:
            return
        self.last = now
        elapsed = now - self.started
        fps = done / elapsed if done and elapsed > 0 else 0.0
        eta = (self.total - done) / fps if fps > 0 else None
        self.on_event({"event": "progress", "phase": "analysis", "done": done, "total": self.total,
                       "frame": frame, "fps": round(fps, 3), "eta_s": None if eta is None else round(eta, 1),
                       "skipped": 0})


def _box_of(found: list, landmarks) -> tuple:
    """The box of the detection whose landmarks are the analysis's (the nearest, should dlib differ)."""
    target = np.asarray(landmarks, np.float64).mean(axis=0)
    if not found:
        points = np.asarray(landmarks)
        return (int(points[:, 0].min()), int(points[:, 1].min()), int(points[:, 0].max()), int(points[:, 1].max()))
    distances = [float(np.hypot(*(np.asarray(lm, np.float64).mean(axis=0) - target))) for _, lm in found]
    return tuple(found[int(np.argmin(distances))][0])


def frame_crops(analysis, frame: int) -> list:
    """Every face's ``CropParams`` on ``frame``: its following crop (same scale and size all shot)."""
    from engine.face import CropParams

    crops = []
    for base, face in zip(analysis.face_crops(), analysis.follow["faces"]):
        left, top = offset_at(face["runs"], frame)
        width, height = face["size"]
        crops.append(CropParams(base.h, base.w, top, top + height, left, left + width, base.scale))
    return crops


def follow_problem(analysis, source) -> str | None:
    """Why a sidecar's ``follow`` cannot be used for this source (None when it can)."""
    follow = analysis.follow
    if not isinstance(follow, dict) or not is_step(follow.get("step")) or not isinstance(follow.get("faces"), list):
        return "malformed follow"
    bases = analysis.face_crops()
    if len(follow["faces"]) != len(bases):
        return f"follow lists {len(follow['faces'])} faces, the analysis {len(bases)}"
    frames = list(source.frame_numbers)
    for index, (base, face) in enumerate(zip(bases, follow["faces"]), 1):
        size = face.get("size") if isinstance(face, dict) else None
        if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and not isinstance(v, bool)
                                                                  and v >= 8 and v % 8 == 0 for v in size)
                and size[0] <= base.w and size[1] <= base.h):
            return f"face {index}: follow crop size {size!r} is not whole multiples of 8 within the frame"
        problem = runs_problem(face.get("runs"), frames, tuple(size), (base.w, base.h), follow["step"])
        if problem is not None:
            return f"face {index}: {problem}"
    return None
