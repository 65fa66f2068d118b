"""A face that leaves the shot and comes back keeps its id (re-identification by its look).

The plates put real clip frames of the shared media on a grey canvas (real faces, real landmarks,
synthetic comings and goings): person A is 529.mp4 (her return uses frames 200 on, so she has moved
and talks: a real change of look), person B is 908.mp4. Asserted on the files: the sidecar's ids,
each Cryptomatte id's coverage on the side of the plate where its person is, and the mattes.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.face import locate_all_faces
from engine.face.appearance import SAME_LOOK, face_look, look_distance
from engine.face.tracks import link_tracks
from engine.io import open_source, write_png
from engine.io.cryptomatte import decode
from engine.pipeline.config import RenderConfig
from engine.pipeline.render import render

from .test_plate_registration import read_float as _read

WIDTH, HEIGHT = 900, 380
LEFT, RIGHT = 20, 480
"""x of a 400 px wide tile on the left and on the right half of the plate."""


def _frames(media_dir, name: str, start: int, count: int) -> list[np.ndarray]:
    with open_source(str(media_dir / name)) as src:
        numbers = src.frame_numbers[start : start + count]
        return [rgb[:360, :400] for _, rgb in src.read_many(numbers)]


@pytest.fixture(scope="module")
def people(media_dir):
    """Three frames each: A early, A later (returning), B."""
    return {
        "A": _frames(media_dir, "529.mp4", 0, 3),
        "A later": _frames(media_dir, "529.mp4", 200, 3),
        "B": _frames(media_dir, "908.mp4", 0, 3),
    }


def _plate(tiles: list[tuple[np.ndarray, int]]) -> np.ndarray:
    canvas = np.full((HEIGHT, WIDTH, 3), 90, np.uint8)
    for tile, x in tiles:
        canvas[10 : 10 + tile.shape[0], x : x + tile.shape[1]] = tile
    return canvas


def _sequence(folder, stem: str, canvases: list[np.ndarray]) -> str:
    for frame, canvas in enumerate(canvases, 1):
        write_png(folder / f"{stem}.{frame:04d}.png", canvas)
    return str(folder / f"{stem}.####.png")


def _render(pattern: str, out, **extra):
    config = RenderConfig(
        source=pattern,
        output=str(out),
        backend="classic",
        faces="all",
        follow_faces=True,
        mattes=True,
        cryptomatte=True,
        padding=(64, 64, 64, 64),
        **extra,
    )
    return render(config)


def _centre_x(out, stem: str, frame: int, name: str) -> float:
    """x (plate px) of the centre of ``name``'s solid Cryptomatte coverage on ``frame``."""
    pixels, spec = _read(out / f"{stem}.{frame:04d}.exr")
    names = list(spec.channelnames)
    crypto = pixels[..., [names.index(f"CryptoFace{layer:02d}.{c}") for layer in range(3) for c in "RGBA"]]
    covered = np.nonzero(decode(crypto, name) > 0.5)[1]
    assert covered.size, (frame, name)
    skin = pixels[..., names.index(f"matte.{name}_skin")]
    assert skin.max() > 0.5 and (skin <= decode(crypto, name) + 2e-3).all()  # its mattes go with its id
    return spec.x + float(covered.mean())


def test_the_same_person_looks_alike_over_a_clip_and_two_people_do_not(people):
    looks = {}
    for who, frames in people.items():
        looks[who] = []
        for rgb in frames:
            ((_, points),) = locate_all_faces(rgb)
            looks[who].append(face_look(rgb, points))
    same = [look_distance(a, b) for a in looks["A"] for b in looks["A later"]]
    other = [look_distance(a, b) for a in looks["A"] + looks["A later"] for b in looks["B"]]
    assert max(same) < SAME_LOOK < min(other) / 1.5, (same, other)


def test_a_face_that_leaves_comes_back_with_its_id_after_another_stood_in_its_place(people, tmp_path):
    """A on the left (frames 1-3), nobody (4-6), B where A stood (7-9), A back on the right (10-12).
    Before: B took face01 by position (it stood where A was last seen) and A came back as face02."""
    canvases = (
        [_plate([(f, LEFT)]) for f in people["A"]]
        + [_plate([])] * 3
        + [_plate([(f, LEFT)]) for f in people["B"]]
        + [_plate([(f, RIGHT)]) for f in people["A later"]]
    )
    pattern = _sequence(tmp_path, "away", canvases)
    out = tmp_path / "out"
    _render(pattern, out)
    sidecar = json.loads((out / "away.vtoonify.json").read_text())
    faces = sidecar["faces"]
    assert [(f["name"], f["frame"]) for f in faces] == [("face01", 1), ("face02", 7)]  # no third face
    assert faces[0]["returned"] == [10] and faces[1]["returned"] == []
    assert sidecar["follow"]["faces"][0]["returned"] == [10] and sidecar["follow"]["faces"][0]["seen"] == 6
    for frame in (1, 3):
        assert _centre_x(out, "away", frame, "face01") < WIDTH / 2
    for frame in (7, 9):
        assert _centre_x(out, "away", frame, "face02") < WIDTH / 2
    for frame in (11, 12):  # the follow smoothing needs a frame to catch up with the jump
        assert _centre_x(out, "away", frame, "face01") > WIDTH / 2, frame
    manifest = json.loads(
        next(a.value for a in _read(out / "away.0011.exr")[1].extra_attribs if a.name.endswith("/manifest"))
    )
    assert sorted(manifest) == ["face01", "face02"]

    # a resumed job (the last frames lost) keeps the ids: the sidecar is reused, not analysed again
    for frame in (11, 12):
        (out / f"away.{frame:04d}.exr").unlink()
    result = _render(pattern, out, resume=True)
    assert not result.analysed and result.rendered == 2
    assert json.loads((out / "away.vtoonify.json").read_text()) == sidecar
    assert _centre_x(out, "away", 12, "face01") > WIDTH / 2


def test_two_faces_that_leave_and_come_back_swapped_keep_their_ids(people, tmp_path):
    """A left and B right (frames 1-3), nobody (4-6), then A right and B left (7-9): by position
    alone each would take the other's id (each stands where the other was last seen)."""
    canvases = (
        [_plate([(a, LEFT), (b, RIGHT)]) for a, b in zip(people["A"], people["B"])]
        + [_plate([])] * 3
        + [_plate([(b, LEFT), (a, RIGHT)]) for a, b in zip(people["A later"], people["B"])]
    )
    pattern = _sequence(tmp_path, "swap", canvases)
    out = tmp_path / "out"
    _render(pattern, out)
    faces = json.loads((out / "swap.vtoonify.json").read_text())["faces"]
    assert [(f["name"], f["frame"], f["returned"]) for f in faces] == [("face01", 1, [7]), ("face02", 1, [7])]
    assert _centre_x(out, "swap", 2, "face01") < WIDTH / 2 < _centre_x(out, "swap", 2, "face02")
    assert _centre_x(out, "swap", 9, "face02") < WIDTH / 2 < _centre_x(out, "swap", 9, "face01")


def test_a_look_shared_by_two_lost_faces_gives_no_id_back(people):
    """Two lost tracks that look alike (the same person twice, as a stand-in for look-alikes): the
    returning face is given neither id (a wrong merge is worse than a new one)."""
    rgb = people["A"][0]
    ((box, points),) = locate_all_faces(rgb)
    look = face_look(rgb, points)
    moved = (box[0] + 300, box[1], box[2] + 300, box[3])
    far = (box[0] + 600, box[1], box[2] + 600, box[3])
    detections = [(1, [(box, points, look), (far, points, look)]), (2, []), (3, [(moved, points, look)])]
    tracks = link_tracks(detections, lambda track, sighting: True, veto=True)
    assert [[s.frame for s in t.sightings] for t in tracks] == [[1], [1], [3]]
    alone = link_tracks(
        [detections[0][:1] + ([(box, points, look)],), (2, []), (3, [(moved, points, look)])],
        lambda track, sighting: True,
        veto=True,
    )
    assert [[(s.frame, s.returned) for s in t.sightings] for t in alone] == [[(1, False), (3, True)]]


def test_with_fixed_crops_a_face_is_given_back_its_id_only_inside_its_own_crop(people):
    """A fixed crop cannot move: the same face back inside it keeps its id, elsewhere it gets a new one
    (its own crop there), else it would go unstylized under an id whose crop shows nothing."""
    from engine.pipeline.shot import inside_first_crop

    rgb = people["A"][0]
    ((box, points),) = locate_all_faces(rgb)
    look = face_look(rgb, points)
    may_resume = inside_first_crop((WIDTH, HEIGHT), (200, 200, 200, 200))  # the default padding
    side = box[2] - box[0]
    for shift, tracks in ((-int(0.8 * side), 1), (440, 2)):  # too far to link by position; inside, outside
        back = (box[0] + shift, box[1], box[2] + shift, box[3])
        found = link_tracks([(1, [(box, points, look)]), (2, []), (3, [(back, points + [shift, 0], look)])], may_resume)
        assert len(found) == tracks, shift
        assert found[0].sightings[-1].returned == (tracks == 1)


def test_paint_order_of_two_faces_of_one_size_does_not_flicker_as_their_crops_move():
    """Two following crops of one size and scale: their data windows are 1 px wider or narrower as
    each crop's edges fall on the plate's pixel grid (floor / ceil of a non-integer scale), so ordered
    by window area the face on top changed from frame to frame. Ordered by the crop's own size on the
    plate (constant over the shot) the larger stays on top, and of equal ones the higher id."""
    from engine.face import CropParams
    from engine.pipeline.multiface import paint_order
    from engine.pipeline.placement import plan_plate_placement

    orders = set()
    for step in range(12):
        crops = [
            CropParams(h=700, w=1300, top=100, bottom=300, left=8 * step, right=8 * step + 200, scale=0.7),
            CropParams(h=700, w=1300, top=100, bottom=300, left=600 + 8 * step, right=800 + 8 * step, scale=0.7),
        ]
        placements = [plan_plate_placement(c, (1857, 1000), 1.0, (800, 800)) for c in crops]
        orders.add(tuple(paint_order(placements)))
    assert orders == {(0, 1)}  # face02 on top on every frame
    bigger = CropParams(h=700, w=1300, top=100, bottom=308, left=8, right=216, scale=0.7)
    placements = [plan_plate_placement(c, (1857, 1000), 1.0, (832, 832)) for c in (bigger, crops[1])]
    assert paint_order(placements) == [1, 0]  # the larger face01 on top
