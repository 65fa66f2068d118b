"""What the engine's GPU paths need, proven without a GPU: float32 kept exact (no TF32) on every CUDA
device the engine resolves, and networks that run off the CPU with no host tensor mixed in and no
host sync inside a frame (the ``meta`` device: any ``.item()`` fails there)."""

from __future__ import annotations

import pytest
import torch

from engine.models import static_vtoonify
from engine.models.precision import exact_fp32
from tests.models.test_vtoonify_golden import cases_by_name, load_golden


@pytest.fixture
def tf32_on():
    """cuDNN's default (TF32 convs on), restored afterwards."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def test_exact_fp32_turns_tf32_off_on_cuda_only(tf32_on):
    exact_fp32("cpu")
    assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
    exact_fp32("cuda:1")
    assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32


@pytest.mark.parametrize("name", ["cuda", "cuda:1", "auto"])
def test_every_cuda_device_the_engine_resolves_keeps_fp32_exact(tf32_on, monkeypatch, name):
    """Before, cuDNN's default TF32 convs ran every fp32 job on a GPU (~1e-3 from the reference numbers)."""
    from engine.pipeline.device import resolve_device, resolve_device_name

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device(name).type == "cuda"
    assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = True
    assert resolve_device_name(name).startswith("cuda")
    assert not torch.backends.cudnn.allow_tf32


def test_a_static_network_keeps_fp32_exact_on_its_device(reference_dir, monkeypatch):
    from engine.models import static

    seen = []
    monkeypatch.setattr(static, "exact_fp32", seen.append)
    _, model = load_golden(reference_dir, "vtoonify_t_golden.pt")
    static_vtoonify(model, torch.zeros(1, 18, 512))
    assert seen == [torch.device("cpu")]


@pytest.mark.parametrize("golden_name", ["vtoonify_d_golden.pt", "vtoonify_t_golden.pt"])
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_networks_run_off_the_cpu_without_host_tensors_or_syncs(reference_dir, golden_name, precision):
    """The general model, the static network and its strips (``tiled``, as huge crops run on a GPU) on the
    ``meta`` device: a CPU tensor mixed into an elementwise op, or an ``.item()``, would raise."""
    from engine.models.static import tiled

    golden, model = load_golden(reference_dir, golden_name)
    case = cases_by_name(golden)["main"]
    x = torch.nn.functional.interpolate(case["inputs"]["x"], size=(96, 80), mode="bilinear").to("meta")
    style = case["inputs"]["style"][:1].to("meta")
    model = model.to("meta")
    with torch.inference_mode():
        net = static_vtoonify(model, style, d_s=0.6, precision=precision)
        assert net(x).shape == (2, 3, 384, 320)
        assert tiled(net, x, strip_pixels=80 * 16).shape == (2, 3, 384, 320)  # EncodedRows bands too
        assert model(x, style.expand(2, -1, -1), d_s=0.6).shape == (2, 3, 384, 320)
