"""scale_and_crop on a wide shot: a small face means a large scale, so the whole frame is resized to
several times its size before the ~400x400 crop is cut. The crop must not keep that rescaled frame
alive: crops wait in the render's queues (several batches in flight), and each one pinned a frame of
~80 MB here (a 1080p plate at scale 3.56), which doubled the render's peak memory."""

from __future__ import annotations

import gc
import tracemalloc

import cv2
import numpy as np

from engine.face import CropParams, scale_and_crop


def test_a_crop_does_not_keep_its_rescaled_frame_alive():
    rng = np.random.default_rng(0)
    plate = rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8)
    params = CropParams(h=3840, w=6827, top=1744, bottom=2144, left=3200, right=3600, scale=3.5556)
    gc.collect()
    tracemalloc.start()
    try:
        crops = [scale_and_crop(plate, params) for _ in range(4)]
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert all(c.shape == (400, 400, 3) for c in crops)
    assert held < 4 * crops[0].nbytes + (1 << 20)  # the crops themselves, not 4 x 78 MB rescaled frames
    whole = cv2.resize(plate, (params.w, params.h))
    assert np.array_equal(crops[0], whole[1744:2144, 3200:3600])  # the same pixels as before
