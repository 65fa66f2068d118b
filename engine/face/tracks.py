"""Several faces per shot: dlib boxes on sampled frames linked into tracks with stable ids.

Why sampled frames: the crop of each face is fixed for the whole shot (the official video rule), so
the analysis only needs to know which faces the shot holds and where each is first seen; a bounded
number of frames spread over the shot finds faces that enter later without decoding every frame.
Linking is greedy and deterministic (best overlap first, ties by track then box order), and ids
follow first appearance, then left to right, so every farm chunk that repeats it gets the same ids.

Re-identification: a face that is gone for a while (left the frame, hidden, missed by dlib) and comes
back somewhere else would start a new track and so a new id, mattes and Cryptomatte id. A box no
track continues by position is given back to a lost track when its look (``appearance``) is that
track's and no other's: both ways unique, and only below ``SAME_LOOK``, since merging two people is
worse than a new id. And linking by position asks the look too (``look_allows``): never a box whose
look is clearly another person's, and for a track not seen on the previous searched frame only one
whose look is the track's (someone who steps in where another stood is not that other).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.errors import setting
from engine.face.appearance import DIFFERENT_LOOK, SAME_LOOK, Look, look_distance

Box = tuple[int, int, int, int]
"""left, top, right, bottom in source pixels (dlib's rectangle)."""

MIN_IOU = 0.2
"""Boxes overlapping less than this belong to different faces, unless their centres are close."""

MAX_CENTRE_SHIFT = 0.5
"""...closer than this fraction of the larger box side (a face moved between two sampled frames)."""


@dataclass(frozen=True)
class Sighting:
    frame: int
    box: Box
    landmarks: np.ndarray
    """68x2 int64 dlib landmarks of this face in this frame."""
    look: Look | None = None
    """Its colours (``appearance.face_look``), None when not measured."""
    returned: bool = False
    """Given back to its track by its look after the track lost it (not by position)."""


@dataclass
class FaceTrack:
    sightings: list[Sighting] = field(default_factory=list)

    @property
    def first(self) -> Sighting:
        return self.sightings[0]

    @property
    def last(self) -> Sighting:
        return self.sightings[-1]

    @property
    def look(self) -> Look | None:
        """The look of its latest sighting that has one: the light and pose nearest a return."""
        return next((s.look for s in reversed(self.sightings) if s.look is not None), None)


def sample_frames(numbers: list[int], start: int, count: int) -> list[int]:
    """Up to ``count`` frame numbers spread evenly from ``numbers[start]`` to the last, both included."""
    tail = numbers[start:]
    if len(tail) <= count:
        return list(tail)
    picks = np.linspace(0, len(tail) - 1, count).round().astype(int)
    return [tail[i] for i in sorted(set(picks.tolist()))]


def iou(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match_score(a: Box, b: Box) -> float:
    """How surely ``b`` continues ``a``: the IoU, or a small score for close centres, 0 = never."""
    overlap = iou(a, b)
    if overlap >= MIN_IOU:
        return overlap
    side = max(a[2] - a[0], a[3] - a[1], b[2] - b[0], b[3] - b[1], 1)
    shift = np.hypot((a[0] + a[2] - b[0] - b[2]) / 2, (a[1] + a[3] - b[1] - b[3]) / 2) / side
    return 1e-3 * (1.0 - shift / MAX_CENTRE_SHIFT) if shift < MAX_CENTRE_SHIFT else 0.0


STALE_WEIGHT = 0.5
"""A box that lies only where a face last was scores this fraction of its ``match_score``."""


MOTION_SIGHTINGS = 5
"""A face's motion is the straight line fitted through its centres on this many last sightings."""


def predicted_box(seen: list[tuple[int, Box]], at: int) -> Box:
    """Where a face seen at ``seen`` ((frame number, box), in order; the last ``MOTION_SIGHTINGS`` used) is
    on frame ``at`` if it keeps its motion: its centre on the line fitted through its last centres (so
    one jittery dlib box does not throw it), its size the last box's; the last box when seen on one frame.

    Why: when two faces cross, the one in front hides the other for a few frames; compared with the last
    box only, the face in front then lies where the hidden one was last seen and passes to it (an
    identity swap). Each face's motion carried on puts every face where it really is."""
    seen = seen[-MOTION_SIGHTINGS:]
    last = seen[-1][1]
    frames = np.array([f for f, _ in seen], np.float64)
    if len(seen) < 2 or frames.min() == frames.max():
        return last
    centres = np.array([((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for _, b in seen], np.float64)
    x, y = (np.polyval(np.polyfit(frames, centres[:, k], 1), at) for k in range(2))
    dx, dy = round(x - (last[0] + last[2]) / 2), round(y - (last[1] + last[3]) / 2)
    return last[0] + dx, last[1] + dy, last[2] + dx, last[3] + dy


def best_first_pairs(previous: list[Box | None], boxes: list[Box], predicted: list[Box | None] | None = None,
                     allowed=None) -> list[tuple[int, int]]:
    """Greedy one-to-one links ``(i, k)``: ``boxes[k]`` continues ``previous[i]`` (None: no box), best
    score first, ties by lower ``i`` then lower ``k``; each side used at most once.

    The score is ``match_score`` against ``predicted[i]`` (where the face's motion puts it), or
    ``STALE_WEIGHT`` times that against ``previous[i]`` when higher (a face that stopped while hidden is
    found again), so a box that continues a face's motion wins over one that only lies where a face was.
    ``allowed(i, k)`` False forbids a pair (a look that is clearly another person's)."""
    predicted = predicted or previous

    def score(i: int, box: Box) -> float:
        return max(match_score(predicted[i], box), STALE_WEIGHT * match_score(previous[i], box))

    pairs = sorted((-s, i, k) for i, old in enumerate(previous) if old is not None
                   for k, box in enumerate(boxes) if (s := score(i, box)) > 0 and (allowed is None or allowed(i, k)))
    used_i, used_k, links = set(), set(), []
    for _, i, k in pairs:
        if i not in used_i and k not in used_k:
            used_i.add(i)
            used_k.add(k)
            links.append((i, k))
    return links


def look_allows(old: Look | None, new: Look | None, stale: bool) -> bool:
    """May a box of look ``new`` continue by position a face last looking ``old``? Not when the looks
    are clearly two people's; and for a face not seen on the last searched frame (it may have left and
    someone else stepped in) only when they are the same person's. Unknown looks decide nothing."""
    distance = look_distance(old, new)
    return distance is None or distance <= (SAME_LOOK if stale else DIFFERENT_LOOK)


MAX_SIZE_CHANGE = 2.0
"""A returning face's box side is within this factor of its last one (it came nearer or went away)."""


def _side(box: Box) -> float:
    return float(max(box[2] - box[0], box[3] - box[1], 1))


def resume_pairs(lost: list[tuple[Look | None, Box]], faces: list[tuple[Look | None, Box]]
                 ) -> list[tuple[int, int]]:
    """``(i, k)``: ``faces[k]`` is the face ``lost[i]`` (its latest look and box) come back, by look
    alone: at most ``SAME_LOOK`` apart, sizes within ``MAX_SIZE_CHANGE``, and neither has another
    such partner (a look that two tracks or two boxes share decides nothing: new id)."""
    close = [(i, k) for i, (old_look, old_box) in enumerate(lost) for k, (look, box) in enumerate(faces)
             if (d := look_distance(old_look, look)) is not None and d <= SAME_LOOK
             and 1 / MAX_SIZE_CHANGE <= _side(box) / _side(old_box) <= MAX_SIZE_CHANGE]
    return sorted((i, k) for i, k in close if sum(a == i for a, _ in close) == 1 and sum(b == k for _, b in close) == 1)


def _look_of(face) -> Look | None:
    return face[2] if len(face) > 2 else None


def link_tracks(detections: list[tuple[int, list]], may_resume=None, veto: bool = False) -> list[FaceTrack]:
    """Greedy frame-to-frame association of ``(frame, [(box, landmarks[, look]), ...])`` in frame order.

    Per frame, (track, box) pairs are taken best score first (ties: lower track, then lower box
    index), each track compared where its motion puts it (``predicted_box``); with ``veto`` only
    where ``look_allows`` it. A box left over is given back to a track not seen on
    this frame when ``may_resume(track, sighting)`` allows it and ``resume_pairs`` says it is that
    track's face (None: never); else it starts a new track, left to right."""
    tracks: list[FaceTrack] = []
    before = None
    for frame, faces in detections:
        used_faces = set()
        predicted = [predicted_box([(s.frame, s.box) for s in track.sightings[-MOTION_SIGHTINGS:]], frame)
                     for track in tracks]

        def allowed(t: int, f: int, faces=faces, before=before) -> bool:
            return not veto or look_allows(tracks[t].look, _look_of(faces[f]), tracks[t].last.frame != before)

        for t, f in best_first_pairs([track.last.box for track in tracks], [face[0] for face in faces], predicted,
                                     allowed):
            used_faces.add(f)
            tracks[t].sightings.append(Sighting(frame, faces[f][0], faces[f][1], _look_of(faces[f])))
        left = [f for f in range(len(faces)) if f not in used_faces]
        if may_resume is not None and left:
            lost = [t for t, track in enumerate(tracks) if track.last.frame != frame]
            for i, k in resume_pairs([(tracks[t].look, tracks[t].last.box) for t in lost],
                                     [(_look_of(faces[f]), faces[f][0]) for f in left]):
                t, f = lost[i], left[k]
                sighting = Sighting(frame, faces[f][0], faces[f][1], _look_of(faces[f]), returned=True)
                if may_resume(tracks[t], sighting):
                    used_faces.add(f)
                    tracks[t].sightings.append(sighting)
        new = sorted((faces[f][0][0], faces[f][0][1], f) for f in range(len(faces)) if f not in used_faces)
        for _, _, f in new:
            tracks.append(FaceTrack([Sighting(frame, faces[f][0], faces[f][1], _look_of(faces[f]))]))
        before = frame
    return tracks


def choose_tracks(tracks: list[FaceTrack], max_faces: int, frame_order: dict[int, int]
                  ) -> tuple[list[FaceTrack], list[str]]:
    """At most ``max_faces`` tracks, ordered by first appearance then left to right (ids 1, 2, ...).

    When there are more, the ones seen on most sampled frames are kept (ties: earlier, then further
    left), and a warning names how many were left out."""
    def place(t: FaceTrack):
        return frame_order[t.first.frame], t.first.box[0], t.first.box[1]

    kept = sorted(tracks, key=lambda t: (-len(t.sightings), *place(t)))[:max_faces]
    notes = []
    if len(tracks) > max_faces:
        notes.append(f"the shot shows {len(tracks)} faces; the {max_faces} seen most often are stylized "
                     f"(raise {setting('max_faces')} to include more)")
    return sorted(kept, key=place), notes


def nearest_landmarks(found: list[tuple[Box, np.ndarray]], expected: np.ndarray) -> np.ndarray | None:
    """The landmarks among ``found`` whose centre is nearest ``expected``'s (68x2), or None if none:
    a crop may show part of a neighbour, which must not stand in for its own face."""
    if not found:
        return None
    centre = np.asarray(expected, np.float64).mean(axis=0)
    distances = [float(np.hypot(*(np.asarray(points, np.float64).mean(axis=0) - centre))) for _, points in found]
    return found[int(np.argmin(distances))][1]
