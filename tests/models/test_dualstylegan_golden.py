"""DualStyleGAN (size 256, narrow channels) against the official golden, plus generator semantics."""

from __future__ import annotations

import copy

import pytest
import torch

from engine.models.dualstylegan import AdaResBlock, DualStyleGAN
from engine.models.stylegan import set_modulated_conv_fused, set_ops_impl

ATOL = RTOL = 1e-4
CASES = ["zplus_interp", "training_like", "z_and_exstyle_2d", "no_res", "fuse_index", "explicit_noise"]


def assert_close(actual: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    assert actual.shape == expected.shape, f"{what}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    err = (actual - expected).abs().max().item()
    assert torch.allclose(actual, expected, atol=ATOL, rtol=RTOL), f"{what}: max abs error {err:.3g}"


@pytest.fixture(scope="module")
def golden(reference_dir):
    data = torch.load(reference_dir / "dualstylegan_golden.pt")
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in data["state_dict"].items()}
    config = {k: v for k, v in data["config"].items() if k != "class_name"}
    model = DualStyleGAN(**config)
    model.load_state_dict(state, strict=True)
    return data, model.eval(), {case["name"]: case for case in data["cases"]}


def run(model: DualStyleGAN, case: dict, **extra):
    inputs = case["inputs"]
    kwargs = dict(case["call"], **extra)
    if "noise" in inputs:
        kwargs["noise"] = inputs["noise"]
    with torch.no_grad():
        return model(inputs["styles"], inputs["exstyles"], **kwargs)


def test_golden_holds_exactly_the_known_cases(golden):
    assert list(golden[2]) == CASES


@pytest.mark.parametrize("name", CASES)
def test_dualstylegan_case(golden, name):
    _, model, cases = golden
    case = cases[name]
    image, latent = run(model, case)
    assert_close(image, case["outputs"]["image"], "image")
    if "latent" in case["outputs"]:
        assert_close(latent, case["outputs"]["latent"], "latent")
    else:
        assert latent is None
    if "feat_out" in case["outputs"]:
        feat, skip = run(model, case, return_feat=True)
        assert_close(feat, case["outputs"]["feat_out"], "feat_out")
        assert_close(skip, case["outputs"]["feat_skip"], "feat_skip")


@pytest.mark.parametrize("impl,fused", [("ref", True), ("ref", False), ("fast", False)])
def test_alternative_op_routes_match_golden(golden, impl, fused):
    _, model, cases = golden
    model = set_modulated_conv_fused(set_ops_impl(copy.deepcopy(model), impl), fused)
    case = cases["fuse_index"]
    image, _ = run(model, case)
    assert_close(image, case["outputs"]["image"], f"image impl={impl} fused={fused}")


def test_intrinsic_path_equals_plain_generator_without_res(golden):
    """use_res=False must be exactly the StyleGAN2 generator on the intrinsic code."""
    _, model, cases = golden
    case = cases["no_res"]
    with torch.no_grad():
        image, _ = model.generator(case["inputs"]["styles"], input_is_latent=True, randomize_noise=False)
    assert_close(image, case["outputs"]["image"], "generator image")


def test_zero_interp_weights_leave_structure_layers_to_the_intrinsic_code(golden):
    """With all weights 0 the extrinsic path contributes nothing (ModRes returns x, blends pick latent)."""
    _, model, cases = golden
    case = cases["training_like"]
    styles, exstyles = case["inputs"]["styles"], case["inputs"]["exstyles"]
    with torch.no_grad():
        mixed, _ = model(
            styles, exstyles, input_is_latent=True, randomize_noise=False, interp_weights=[0] * 18
        )
        plain, _ = model(styles, None, input_is_latent=True, randomize_noise=False, use_res=False)
    assert torch.equal(mixed, plain)


def test_random_noise_departs_from_the_fixed_noise_golden(golden):
    _, model, cases = golden
    case = cases["no_res"]
    with torch.no_grad():
        random_image, _ = model(case["inputs"]["styles"], None, input_is_latent=True, use_res=False)
    assert not torch.allclose(random_image, case["outputs"]["image"], atol=1e-3)


def test_style_mixing_uses_second_code_from_inject_index(golden):
    _, model, cases = golden
    z = cases["zplus_interp"]["inputs"]["styles"][0]  # [2,14,512]
    with torch.no_grad():
        _, latent = model(
            [z[:1], z[1:]],
            None,
            z_plus_latent=True,
            use_res=False,
            inject_index=5,
            randomize_noise=False,
            return_latents=True,
        )
        _, ref = model(
            [z], None, z_plus_latent=True, use_res=False, randomize_noise=False, return_latents=True
        )
    assert torch.equal(latent[0, :5], ref[0, :5])
    assert torch.equal(latent[0, 5:], ref[1, 5:])


def test_modres_block_is_identity_at_weight_zero():
    block = AdaResBlock(4)
    x = torch.randn(2, 4, 8, 8)
    assert block(x, torch.randn(2, 512), 0) is x
    assert not torch.equal(block(x, torch.randn(2, 512), 1), x)


def test_layer_layout_matches_res_index():
    model = DualStyleGAN(64, 512, 8, channels={4: 8, 8: 8, 16: 8, 32: 8, 64: 4})
    kinds = [type(m).__name__ for m in model.res]
    # conv1 + 8,16,32 (ModRes) + 64 (two linears) + the last to_rgb linear
    assert kinds == ["AdaResBlock"] * 7 + ["EqualLinear"] * 3
    assert model.n_latent == 10 and len(model.style) == 3
