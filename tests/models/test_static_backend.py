"""The backend's use of the static network, precision and device settings, device-memory errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from engine.errors import ConfigError, DeviceError, DeviceOutOfMemoryError, TransientError
from engine.pipeline.config import RenderConfig
from engine.pipeline.modelcache import ModelCache


def narrow_backend(models_dir, device="cpu", **settings):
    from engine.pipeline.backends import VToonifyBackend
    from engine.pipeline.selection import choose_files

    config = RenderConfig(source="unused.mp4", output="unused", models_dir=str(models_dir), backend="vtoonify",
                          device=str(device), **settings)
    config, files, _ = choose_files(config)
    cache = ModelCache(str(device))
    return VToonifyBackend(config, files, cache), cache


@pytest.mark.parametrize("degree", [0.7])
def test_backend_stylizes_with_the_static_network_as_the_reference_path(narrow_models_dir, device, degree):
    """fp32 backend output == clamp(general model(x, W+ repeated, d_s)), for a batch of 2 crops, on the
    run's ``--device`` (models loaded there by the cache, TF32 off on CUDA)."""
    backend, _ = narrow_backend(narrow_models_dir, device, precision="fp32", degree=degree)
    assert next(backend.vtoonify.parameters()).device.type == device.type
    rng = np.random.default_rng(1)
    crops = [rng.integers(0, 256, (40, 32, 3), dtype=np.uint8) for _ in range(2)]
    wplus = torch.randn(1, 18, 512, generator=torch.Generator().manual_seed(3))
    backend.prepare(None, wplus)
    assert backend.net.precision == "fp32" and backend.net.d_s == degree
    results = backend.stylize(crops)
    with torch.no_grad():
        x = backend.network_input(crops)
        assert x.device.type == device.type
        expected = backend.vtoonify(x, wplus.to(device).repeat(2, 1, 1), d_s=degree).clamp(-1, 1)
    expected = ((expected + 1) / 2).permute(0, 2, 3, 1).cpu().numpy()
    for result, ref in zip(results, expected):
        assert result.rgb.shape == (160, 128, 3) and result.rgb.dtype == np.float32
        np.testing.assert_allclose(result.rgb, ref, atol=1e-4)


def test_backend_stylizes_in_bf16_with_mattes_on_the_device(narrow_models_dir, device):
    """bf16 network and BiSeNet mattes on ``--device``: float32 pictures and mattes in [0,1] come back to
    the host, close to the fp32 network's (bf16: a few 1e-2 at most on this narrow model)."""
    rng = np.random.default_rng(4)
    crops = [rng.integers(0, 256, (40, 32, 3), dtype=np.uint8)]
    wplus = torch.randn(1, 18, 512, generator=torch.Generator().manual_seed(5))
    results = {}
    for precision in ("fp32", "bf16"):
        backend, _ = narrow_backend(narrow_models_dir, device, precision=precision, mattes=True)
        backend.prepare(None, wplus)
        assert backend.net.precision == precision
        results[precision] = backend.stylize(crops)[0]
    low, exact = results["bf16"], results["fp32"]
    assert low.rgb.dtype == np.float32 and low.rgb.shape == (160, 128, 3)
    assert 0 <= low.rgb.min() and low.rgb.max() <= 1
    assert np.abs(low.rgb - exact.rgb).max() < 0.05
    assert set(low.mattes) == set(exact.mattes) and low.mattes
    for name, matte in low.mattes.items():
        assert matte.shape == (160, 128) and matte.dtype == np.float32
        assert np.abs(matte - exact.mattes[name]).max() < 0.05


def test_cuda_runs_usual_crops_whole_and_only_huge_ones_in_strips():
    """On a GPU strips are for memory alone: the 256x256 and 400x320 crops of the speed figures run every
    stage whole, a 1600x1280 crop still decodes its last stages in strips; CPU keeps its cache-sized
    strips (``tests/models/test_static_vtoonify.py`` checks strips give the whole frame's numbers)."""
    from engine.models.static import GPU_STRIP_PIXELS, STRIP_PIXELS, strip_pixels_for, strip_rows

    assert strip_pixels_for("cpu") == STRIP_PIXELS
    assert strip_pixels_for("cuda:0") == strip_pixels_for(torch.device("cuda")) == GPU_STRIP_PIXELS
    largest = {size: torch.empty(1, 64, 2 * size[0], 2 * size[1], device="meta")  # last stage's input
               for size in ((256, 256), (400, 320), (1600, 1280))}
    assert strip_rows(largest[(256, 256)], STRIP_PIXELS) is not None  # CPU: strips
    assert strip_rows(largest[(256, 256)], GPU_STRIP_PIXELS) is None
    assert strip_rows(largest[(400, 320)], GPU_STRIP_PIXELS) is None
    assert strip_rows(largest[(1600, 1280)], GPU_STRIP_PIXELS) is not None


def test_backend_takes_the_strip_budget_of_its_device(narrow_models_dir, monkeypatch):
    from engine.pipeline import backends

    seen = []
    real = backends.tiled
    monkeypatch.setattr(backends, "tiled", lambda net, x, strip_pixels, whole: seen.append(strip_pixels)
                        or real(net, x, strip_pixels=strip_pixels, whole=whole))
    monkeypatch.setattr(backends, "strip_pixels_for", lambda device: 1234 if device.type == "cpu" else 0)
    backend, _ = narrow_backend(narrow_models_dir, precision="fp32")
    backend.prepare(None, torch.zeros(1, 18, 512))
    backend.stylize([np.zeros((40, 32, 3), np.uint8)])
    assert seen == [1234]


def test_backend_releases_the_style_encoder_after_the_style_code(narrow_models_dir, tmp_path):
    from engine.models import load_style_encoder

    backend, cache = narrow_backend(narrow_models_dir, precision="fp32")
    encoder_file = next(narrow_models_dir.rglob("encoder.pt"))
    cache.get("encoder", str(encoder_file), load_style_encoder)
    assert any(m.startswith("encoder:") for m in cache.stats()["models"])
    backend.prepare(None, torch.zeros(1, 18, 512))
    assert not any(m.startswith("encoder:") for m in cache.stats()["models"])
    assert any(m.startswith("vtoonify:") for m in cache.stats()["models"])


def test_precision_and_cuda_index_settings_are_checked():
    base = {"source": "a.mp4", "output": "out"}
    assert RenderConfig(**base).precision == "auto"
    assert RenderConfig(**base, precision="bf16", device="cuda:1").device == "cuda:1"
    with pytest.raises(ConfigError, match="precision"):
        RenderConfig(**base, precision="fp8")
    with pytest.raises(ConfigError, match="device"):
        RenderConfig(**base, device="cuda:x")
    assert RenderConfig.from_dict({**base, "precision": "fp16"}).precision == "fp16"


def test_cli_takes_precision_and_gpu_index():
    from engine.cli import _config_from_args, build_parser

    args = build_parser().parse_args(["render", "a.mp4", "-o", "out", "--precision", "bf16", "--device", "cuda:2"])
    config = _config_from_args(args)
    assert (config.precision, config.device) == ("bf16", "cuda:2")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["render", "a.mp4", "-o", "out", "--device", "gpu"])


def test_job_key_separates_precisions():
    """Chunks rendered in bf16 and fp32 must never share one output folder's sidecar."""
    from engine.pipeline.shot import job_key

    config = RenderConfig(source="a.mp4", output="out")
    keys = {job_key(dataclasses.replace(config, precision=p), "vtoonify", {}) for p in ("fp32", "bf16", "fp16")}
    assert len(keys) == 3


def test_unknown_or_missing_gpu_is_a_device_error(monkeypatch):
    from engine.pipeline.device import resolve_device

    with pytest.raises(DeviceError, match="unknown device"):
        resolve_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(DeviceError, match="no GPU cuda:2"):
        resolve_device("cuda:2")


def test_out_of_device_memory_is_a_retryable_error():
    from engine.pipeline.backends import device_memory_errors

    with pytest.raises(DeviceOutOfMemoryError, match="ran out of memory") as info:
        with device_memory_errors("cuda:0"):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    assert isinstance(info.value, TransientError)  # exit 75: a farm retries it
    with pytest.raises(ValueError):  # anything else passes through untouched
        with device_memory_errors("cpu"):
            raise ValueError("other")


def test_short_jobs_and_previews_reuse_timed_routes_but_time_none(narrow_models_dir, monkeypatch):
    """Route timing (``engine.models.autotune``) costs seconds on a shot's first frame: a job of fewer
    than ``TUNE_MIN_FRAMES`` frames (a preview, a short farm chunk) times nothing, yet takes what a
    longer job in the same process chose; a long job times its shapes."""
    from engine.models import autotune
    from engine.pipeline import backends

    monkeypatch.delenv(autotune.ENV, raising=False)
    autotune.forget()
    wplus = torch.randn(1, 18, 512, generator=torch.Generator().manual_seed(3))
    crops = [np.random.default_rng(2).integers(0, 256, (40, 32, 3), dtype=np.uint8)]
    try:
        short, _ = narrow_backend(narrow_models_dir, precision="fp32")
        short.prepare(None, wplus, frames=backends.TUNE_MIN_FRAMES - 1)
        first = short.stylize(crops)[0].rgb
        assert short.net.tuner.timed == 0 and short.net.tuner.chosen  # fixed rules, untimed
        preview, _ = narrow_backend(narrow_models_dir, precision="fp32")
        preview.prepare(None, wplus)
        preview.stylize(crops)
        assert preview.net.tuner.timed == 0
        long_job, _ = narrow_backend(narrow_models_dir, precision="fp32")
        long_job.prepare(None, wplus, frames=backends.TUNE_MIN_FRAMES)
        np.testing.assert_allclose(long_job.stylize(crops)[0].rgb, first, atol=1e-5)
        assert long_job.net.tuner.timed > 0  # the upsampling stages, timed on their whole maps
        after, _ = narrow_backend(narrow_models_dir, precision="fp32")
        after.prepare(None, wplus, frames=1)
        after.stylize(crops)
        assert after.net.tuner.timed == 0 and after.net.tuner.chosen == long_job.net.tuner.chosen
    finally:
        autotune.forget()
