"""Shot changes (cuts) inside one clip: found on frames the job decodes anyway, and only warned about.

Why: the analysis assumes one shot (one crop per face from its first sighting, one style code per face,
``--faces all`` ids kept by screen position). After a cut the crop sits where the first shot's face was
and, where two people swap sides, ``face01`` is the other person stylized with the first one's code.
The engine does not split the job (the artist decides); it names the cut frames and the ``--frames`` fix.

The test compares consecutive frames' 16x16 luma thumbnails (area-averaged: a moving face blurs into a
few cells), each normalised to zero mean and unit spread (lighting flicker and exposure changes cancel).
The score is their mean absolute difference. On the real sample clips (natural head motion) it stays
at or below 0.16; between two different clips it is 0.19 to 1.3 (0.56 and above unless they are parts
of the same recording), and two faces swapping sides score 0.8 to 1.3. ``CUT_SCORE`` sits at twice the
sample clips' largest value.

Where: a render's decode thread feeds ``CutWatch`` the pictures it decodes for the frames it renders (no
second decode, which on a 300-frame 1920x1080 clip held the first frame back by about 12 s on two busy
cores); ``--follow-faces`` feeds its per-frame face search to a ``CutFinder`` during the analysis.
"""

from __future__ import annotations

import numpy as np

from engine.errors import setting

THUMB = 16
"""Thumbnail side (pixels) the frames are compared at."""

PRE_SHRINK = 8
"""A frame whose short side is 4 * THUMB * PRE_SHRINK pixels or more is first shrunk by a whole factor to
about THUMB * PRE_SHRINK on that side (``signature``)."""

CUT_SCORE = 0.32
"""Score (mean absolute difference of normalised thumbnails) at and above which two frames are a cut."""

MAX_NAMED = 8
"""Cuts named in the warning (the message stays short whatever the clip)."""


def signature(rgb: np.ndarray) -> np.ndarray:
    """The frame's 16x16 luma thumbnail, normalised to zero mean and unit spread (float32).

    A large frame is first shrunk by a whole factor (OpenCV's fast area path; the few edge rows and
    columns past a multiple of it are left out): the same block means within rounding, and 1920x1080
    costs about 1 ms instead of 15 (a 16x16 area resize of a size it does not divide is slow)."""
    import cv2

    luma = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    h, w = luma.shape
    factor = min(h, w) // (THUMB * PRE_SHRINK)
    if factor >= 4:  # small frames are cheap as they are (and keep exactly the thumbnails measured below)
        luma = cv2.resize(np.ascontiguousarray(luma[: h // factor * factor, : w // factor * factor]),
                          (w // factor, h // factor), interpolation=cv2.INTER_AREA)
    thumb = cv2.resize(luma, (THUMB, THUMB), interpolation=cv2.INTER_AREA).astype(np.float32)
    return (thumb - thumb.mean()) / max(float(thumb.std()), 8.0)  # a flat frame is not amplified into noise


def cut_score(a: np.ndarray, b: np.ndarray) -> float:
    """How different two signatures are: 0 for the same picture, about 1.1 for unrelated ones."""
    return float(np.abs(a - b).mean())


class CutFinder:
    """Fed every frame of the shot in order (``add``), keeps the first frame of each new shot (``cuts``)."""

    def __init__(self) -> None:
        self.previous: np.ndarray | None = None
        self.cuts: list[int] = []
        self.scores: list[float] = []

    def add(self, number: int, rgb: np.ndarray) -> None:
        current = signature(rgb)
        if self.previous is not None:
            score = cut_score(self.previous, current)
            self.scores.append(score)
            if score >= CUT_SCORE:
                self.cuts.append(int(number))
        self.previous = current


class CutWatch:
    """Cuts among the frames a render decodes anyway: its decode thread feeds each picture (``add``), so
    no frame is decoded twice and none is kept (only the last thumbnail). A picture is compared only with
    the frame right before it in the source: across frames the job does not decode (outside its
    ``--frames``, skipped by a resume) nothing is compared, except that the frame before the job's first
    is read once (``seed``), so a farm chunk that starts on a cut still finds it. The writer thread asks
    for the warning (``news`` before each batch, ``rest`` at the end), so one thread sends events."""

    def __init__(self, numbers: list[int], kind: str) -> None:
        self.numbers = numbers
        """Every frame number of the source, ascending."""
        self.kind = kind
        self.finder = CutFinder()
        self.last: int | None = None
        """The last frame the previous picture covers (a held picture of a variable-frame-rate clip covers
        several)."""
        self.told = 0

    def before(self, number: int) -> int | None:
        """The source's frame right before ``number``, None for its first."""
        import bisect

        position = bisect.bisect_left(self.numbers, number)
        return self.numbers[position - 1] if position > 0 else None

    def seed(self, source, first: int) -> None:
        """Read the frame before ``first`` (if any) to compare ``first`` with; one that cannot be read is
        skipped (it is not this job's frame to fail on)."""
        previous = self.before(first)
        if previous is None:
            return
        try:
            rgb = source.read(previous)
        except Exception:  # damaged, missing: nothing to compare the first frame with
            return
        self.add(previous, rgb)

    def add(self, number: int, rgb: np.ndarray, through: int | None = None) -> None:
        """The picture of frame ``number``, shown through frame ``through`` (held pictures)."""
        if self.last is None or self.before(number) != self.last:
            self.finder.previous = None  # not the next frame of the source: compared with nothing
        self.finder.add(number, rgb)
        self.last = number if through is None else through

    def news(self) -> str | None:
        """The warning for the cuts found so far, once (None before the first cut and after telling)."""
        if self.told or not self.finder.cuts:
            return None
        return self._tell()

    def rest(self) -> str | None:
        """At the job's end: the warning naming every cut, if more were found after ``news`` told."""
        return self._tell() if len(self.finder.cuts) > self.told else None

    def _tell(self) -> str | None:
        cuts = list(self.finder.cuts)
        self.told = len(cuts)
        return cut_warning(cuts, self.numbers, self.kind)


def cut_warning(cuts: list[int], frames: list[int], kind: str = "video") -> str | None:
    """The analysis warning for ``cuts`` (first frames of new shots) in a clip of ``frames``; None without.

    ``--frames`` alone is no fix: it picks the frames to render, while the analysis always covers the
    whole source. So the fix is one source per shot, each rendered on its own."""
    if not cuts:
        return None
    named = cuts[:MAX_NAMED]
    more = f" (and {len(cuts) - len(named)} more)" if len(cuts) > len(named) else ""
    where = f"frame {named[0]}" if len(named) == 1 else "frames " + ", ".join(str(c) for c in named)
    position = {n: i for i, n in enumerate(frames)}
    shots = ", ".join(f"{a}-{frames[position[b] - 1]}" for a, b in zip([frames[0], *named], named))
    shots += f", {named[-1]}-{frames[-1]}" if not more else ", ..."
    if kind == "video":
        first = position[named[0]]
        split = (f"e.g. ffmpeg -i IN -vf trim=end_frame={first} shot1.mov and ffmpeg -i IN -vf "
                 f"trim=start_frame={first},setpts=PTS-STARTPTS shot2.mov, rendered with "
                 f"{setting('start_number', named[0])} so its frames keep their numbers")
    else:
        split = "e.g. each shot's files moved into a folder of their own"
    return (f"the clip changes shot (a cut) at {where}{more}: the analysis treats it as one shot, so after the "
            "cut each face keeps the crop and style code of its first sighting (with several faces, ids go "
            "by screen position and may now be another person). Render each shot (frames "
            f"{shots}) as its own source into its own output folder; {setting('frames')} alone is not enough, the "
            f"analysis always covers the whole source. Split the clip at the cut, {split}")
