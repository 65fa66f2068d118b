"""Full-size official layouts: state_dict names/shapes equal the key manifests; full-size forward shapes."""

from __future__ import annotations

import json

import pytest
import torch

from engine.models.stylegan import Generator, default_channels
from engine.models.vtoonify import VToonify


def manifest(reference_dir, name: str) -> dict:
    return json.loads((reference_dir / name).read_text())


def layout(model: torch.nn.Module) -> dict[str, tuple[tuple[int, ...], str]]:
    params = {name for name, _ in model.named_parameters()}
    return {
        name: (tuple(t.shape), "parameter" if name in params else "buffer")
        for name, t in model.state_dict().items()
    }


@pytest.mark.parametrize(
    "file,backbone", [("vtoonify_d_keys.json", "dualstylegan"), ("vtoonify_t_keys.json", "toonify")]
)
def test_full_size_state_dict_matches_manifest(reference_dir, file, backbone):
    expected = manifest(reference_dir, file)
    with torch.device("meta"):
        model = VToonify(backbone=backbone)
    actual = layout(model)
    want = {k: (tuple(v["shape"]), v["kind"]) for k, v in expected["keys"].items()}
    missing = sorted(set(want) - set(actual))
    unexpected = sorted(set(actual) - set(want))
    assert not missing and not unexpected, f"missing {missing[:5]}, unexpected {unexpected[:5]}"
    wrong = {k: (actual[k], want[k]) for k in want if actual[k] != want[k]}
    assert not wrong, f"shape/kind mismatches: {list(wrong.items())[:5]}"
    assert len(actual) == expected["num_state_dict_tensors"]
    assert sum(p.numel() for p in model.parameters()) == expected["num_parameters"]
    assert sum(b.numel() for b in model.buffers()) == expected["num_buffer_elements"]


def test_default_channel_table_is_official():
    assert default_channels(2) == {
        4: 512,
        8: 512,
        16: 512,
        32: 512,
        64: 512,
        128: 256,
        256: 128,
        512: 64,
        1024: 32,
    }


def test_fir_kernels_are_the_official_constants():
    """[1,3,3,1] outer product / 64, times 4 for the upsampling kernels (README: identical to the file)."""
    g = Generator(16, 512, 1, channels={4: 4, 8: 4, 16: 4})
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
    expected = torch.outer(taps, taps) / 64 * 4
    assert torch.equal(g.to_rgbs[0].upsample.kernel, expected)
    assert torch.equal(g.convs[0].conv.blur.kernel, expected)
    assert [k for k in g.state_dict() if k.startswith("noises.")] == [f"noises.noise_{i}" for i in range(5)]
    assert [tuple(g.noises.noise_4.shape)] == [(1, 1, 16, 16)]


@pytest.mark.slow
def test_full_size_vtoonify_d_output_sizes():
    """Random-weight official-size VToonify-D: output is 4x the input for square and portrait crops."""
    torch.manual_seed(0)
    model = VToonify(backbone="dualstylegan").eval()
    style = torch.randn(1, 18, 512)
    with torch.no_grad():
        for h, w in [(256, 256), (200, 152)]:
            x = torch.randn(1, 22, h, w).clamp(-1, 1)
            image, masks = model(x, style, d_s=0.5, return_mask=True)
            assert image.shape == (1, 3, 4 * h, 4 * w)
            assert torch.isfinite(image).all()
            assert [tuple(m.shape[2:]) for m in masks] == [
                (h // 8, w // 8),
                (h // 4, w // 4),
                (h // 2, w // 2),
                (h, w),
            ]
