"""Parsing-map smoothing (paper Eq. 6-7): padding rule, static-scene identity, chunk independence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.pipeline.smoothing import WINDOW, FlowEstimator, blur_downsample, fuse, padded_neighbours, warp


def test_padding_repeats_the_first_and_last_frames_as_the_official_script():
    # official: Is_ = cat(Is[0:5], Is, Is[-5:]); frame i uses Is_[i : i + 11]
    n = 12
    padded = list(range(5)) + list(range(n)) + list(range(n - 5, n))
    for i in range(n):
        assert padded_neighbours(i, n) == padded[i:i + 2 * WINDOW + 1]
    assert padded_neighbours(0, 12)[:6] == [0, 1, 2, 3, 4, 0]


def test_blur_downsample_halves_and_keeps_constants():
    x = torch.full((1, 19, 16, 12), 3.0)
    y = blur_downsample(x)
    assert y.shape == (1, 19, 8, 6)
    assert torch.allclose(y[..., 1:-1, 1:-1], torch.full_like(y[..., 1:-1, 1:-1], 3.0))


def test_static_scene_fuses_to_the_frame_itself():
    """Identical frames: zero flow, equal weights, so the fused logits equal the centre's."""
    rng = np.random.default_rng(0)
    img = torch.from_numpy(rng.uniform(-1, 1, (1, 3, 40, 48)).astype(np.float32))
    logits = torch.from_numpy(rng.normal(size=(1, 19, 40, 48)).astype(np.float32))
    grey = ((img[0].mean(0).numpy() + 1) * 127.5).astype(np.uint8)
    flow = FlowEstimator().flow_and_mask(grey, grey)
    assert np.abs(flow[0]).max() < 1e-3 and flow[1].mean() > 0.99
    offsets = list(range(-WINDOW, WINDOW + 1))
    fused = fuse(img, [img] * len(offsets), [logits] * len(offsets), offsets,
                 [None if o == 0 else flow for o in offsets])
    assert torch.allclose(fused, logits, atol=1e-5)


def test_warp_follows_a_known_shift():
    x = torch.arange(20 * 30, dtype=torch.float32).reshape(1, 1, 20, 30)
    flow = np.zeros((20, 30, 2), np.float32)
    flow[..., 0] = 2.0                                      # sample two pixels to the right
    y = warp(x, flow)
    assert torch.allclose(y[..., :, :-2], x[..., :, 2:])
    assert torch.all(y[..., :, -1] == 0)                    # outside the frame: zero (masked)


@pytest.mark.slow
def test_smoothed_parsing_is_chunk_independent(media_dir, narrow_models_dir):
    """Frame 6's smoothed map is the same whether its chunk starts at frame 1 or frame 6."""
    from engine.face import crop_parameters, find_landmarks, scale_and_crop
    from engine.io import open_source
    from engine.pipeline.backends import VToonifyBackend
    from engine.pipeline.config import RenderConfig
    from engine.pipeline.modelcache import ModelCache
    from engine.pipeline.selection import choose_files
    from engine.pipeline.smoothing import SourceParsingSmoother

    config = RenderConfig(source=str(media_dir / "529_2.mp4"), output="unused", backend="vtoonify",
                          models_dir=str(narrow_models_dir))
    config, files, _ = choose_files(config)
    backend = VToonifyBackend(config, files, ModelCache("cpu"))
    with open_source(config.source) as src:
        first = src.read(1)
        crop = crop_parameters(find_landmarks(first), first.shape[:2], (24, 24, 24, 24))
        crops = {n: scale_and_crop(src.read(n), crop) for n in (5, 6)}
        a = SourceParsingSmoother(src, crop, backend, torch.device("cpu")).parsing_for([5, 6], [crops[5], crops[6]])
        b = SourceParsingSmoother(src, crop, backend, torch.device("cpu")).parsing_for([6], [crops[6]])
        raw = backend.parsing(backend.network_input([crops[6]])[:, :3])
    assert a.shape == (2, 19) + crops[6].shape[:2]
    assert torch.allclose(a[1:], b, atol=1e-5)
    assert not torch.allclose(b, raw, atol=1e-3)            # smoothing changed the map


@pytest.mark.slow
def test_render_with_smooth_parsing(media_dir, narrow_models_dir, tmp_path):
    from engine.pipeline.config import RenderConfig
    from engine.pipeline.render import render

    result = render(RenderConfig(source=str(media_dir / "529_2.mp4"), output=str(tmp_path), frames="3-4",
                                 backend="vtoonify", models_dir=str(narrow_models_dir), smooth_parsing=True,
                                 padding=(24, 24, 24, 24), format="png"))
    assert result.rendered == 2 and all((tmp_path / p).exists() for p in result.outputs)
