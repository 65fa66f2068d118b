"""A plate opaque at its first frame and transparent later: the render says so, before that frame's file."""

from __future__ import annotations

import numpy as np
import OpenImageIO as oiio

from engine.pipeline.config import RenderConfig
from engine.pipeline.render import render


def _rgba_plates(folder, face_png, keyed_from: int, count: int) -> None:
    buf = oiio.ImageBuf(str(face_png))
    rgb = buf.get_pixels(oiio.UINT8)[..., :3]
    folder.mkdir()
    for number in range(1, count + 1):
        rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)
        if number >= keyed_from:
            rgba[:12, :, 3] = 0  # a keyed-out strip along the top
        spec = oiio.ImageSpec(rgba.shape[1], rgba.shape[0], 4, oiio.UINT8)
        spec.attribute("oiio:UnassociatedAlpha", 1)
        out = oiio.ImageOutput.create(str(folder / f"shot.{number:04d}.png"))
        out.open(str(folder / f"shot.{number:04d}.png"), spec)
        out.write_image(rgba)
        out.close()


def test_a_render_warns_when_it_reaches_the_first_transparent_frame(reference_dir, tmp_path, empty_models_dir):
    plates = tmp_path / "plates"
    _rgba_plates(plates, reference_dir / "preprocess" / "529_2_frame0.png", keyed_from=3, count=4)
    events = []
    result = render(RenderConfig(source=str(plates / "shot.####.png"), output=str(tmp_path / "out"),
                                 backend="classic", padding=(48, 48, 48, 48), batch=1, format="png"),
                    on_event=events.append)
    seen = [e for e in events if e["event"] in ("warning", "frame_done")]
    told = [i for i, e in enumerate(seen) if e["event"] == "warning" and "transparent from frame 3" in e["message"]]
    written = [i for i, e in enumerate(seen) if e["event"] == "frame_done" and e["frame"] == 3]
    assert len(told) == 1 and told[0] < written[0], seen  # said before that frame's file (the decoder reads ahead)
    assert sum("transparent from frame 3" in w for w in result.warnings) == 1
    assert not any("alpha" in w and "transparent from" not in w for w in result.warnings)  # none at the start
    assert result.rendered == 4
