"""VToonify-D / -T against the official goldens (narrow random-weight models, see reference README), on the
``--device`` of the run (tests/conftest.py: the goldens were made on CPU; CUDA keeps their tolerance)."""

from __future__ import annotations

import copy

import pytest
import torch

from engine.errors import EngineError, InputError
from engine.models.stylegan import set_modulated_conv_fused, set_ops_impl
from engine.models.vtoonify import VToonify
from tests.conftest import DEVICE_ATOL, deterministic_kernels, to_device

ATOL = RTOL = 1e-4
assert DEVICE_ATOL["cuda"] == DEVICE_ATOL["cpu"] == ATOL  # TF32 off on CUDA: the CPU's tolerance holds
D_CASES = [
    "main",
    "ds_0.0",
    "ds_1.0",
    "nonsquare",
    "style2d",
    "pipeline_exstyle_mix",
    "pipeline_color_transfer",
    "dualstylegan_return_feat_training",
    "zplus2wplus",
]
T_CASES = [
    "main",
    "feat_style_none",
    "nonsquare",
    "style2d",
    "pipeline_toonify",
    "generator_return_feature_ind6",
    "zplus2wplus",
]
EXSTYLE_LATENTS = 7  # style_transfer.py takes the first 7 W+ latents from the exemplar


def load_golden(reference_dir, name: str, device="cpu") -> tuple[dict, VToonify]:
    """The golden file (its cases' tensors on ``device``) and its model on ``device``; on CUDA the
    engine's float32 setting (TF32 off) is applied, as every engine load on CUDA does."""
    from engine.models.precision import exact_fp32

    golden = torch.load(reference_dir / name)
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in golden["state_dict"].items()}
    config = {k: v for k, v in golden["config"].items() if k not in ("class_name", "channels_note")}
    model = VToonify(**config)
    model.load_state_dict(state, strict=True)
    exact_fp32(device)
    golden = dict(golden, cases=to_device(golden["cases"], device))
    return golden, model.to(device).eval()


def cases_by_name(golden: dict) -> dict[str, dict]:
    return {case["name"]: case for case in golden["cases"]}


def assert_close(actual: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    assert actual.shape == expected.shape, f"{what}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    actual, expected = actual.detach().cpu(), expected.detach().cpu()
    err = (actual - expected).abs().max().item()
    assert torch.allclose(actual, expected, atol=ATOL, rtol=RTOL), f"{what}: max abs error {err:.3g}"


@pytest.fixture(scope="module")
def golden_d(reference_dir, device):
    return load_golden(reference_dir, "vtoonify_d_golden.pt", device)


@pytest.fixture(scope="module")
def golden_t(reference_dir, device):
    return load_golden(reference_dir, "vtoonify_t_golden.pt", device)


def check_forward_case(model: VToonify, case: dict) -> None:
    """Run image / mask / feature calls of one case and compare each stored output."""
    inputs, outputs = case["inputs"], case["outputs"]
    call = {k: v for k, v in case["call"].items() if k != "return_feat"}
    x, style = inputs["x"], inputs["style"]
    with torch.no_grad():
        if "image" in outputs and "masks" not in outputs:
            assert_close(model(x, style, **call), outputs["image"], "image")
        if "masks" in outputs:  # the image comes along (a plain call is checked in other tests)
            image, masks = model(x, style, return_mask=True, **call)
            assert_close(image, outputs["image"], "image (return_mask)")
            assert len(masks) == len(outputs["masks"])
            for k, (m, ref) in enumerate(zip(masks, outputs["masks"])):
                assert_close(m, ref, f"mask {k}")
        if "feat_out" in outputs:
            feat, skip = model(x, style, return_feat=True, **call)
            assert_close(feat, outputs["feat_out"], "feat_out")
            assert_close(skip, outputs["feat_skip"], "feat_skip")


def check_glue(model: VToonify, case: dict) -> None:
    """Rebuild the case's style from its z+ codes as style_transfer.py does; it must equal the stored one."""
    inputs, name = case["inputs"], case["name"]
    batch = inputs["x"].shape[0]
    with torch.no_grad():
        if name == "main":
            style = model.zplus2wplus(inputs["zplus"])
        elif name == "pipeline_exstyle_mix":
            exstyle = model.zplus2wplus(inputs["zplus_exstyle"])
            style = model.zplus2wplus(inputs["zplus_psp"])
            assert_close(exstyle, case["intermediates"]["exstyle_wplus"], "exstyle_wplus")
            assert_close(style, case["intermediates"]["wplus_psp"], "wplus_psp")
            style[:, :EXSTYLE_LATENTS] = exstyle[:, :EXSTYLE_LATENTS]
            style = style.repeat(batch, 1, 1)
        elif name == "pipeline_color_transfer":
            style = model.zplus2wplus(inputs["zplus_exstyle"]).repeat(batch, 1, 1)
        elif name == "pipeline_toonify":
            style = model.zplus2wplus(inputs["zplus_psp"]).repeat(batch, 1, 1)
        else:
            return
    assert_close(style, inputs["style"], f"{name}: rebuilt style")
    if name == "pipeline_exstyle_mix" or name == "pipeline_toonify":
        assert_close(style[:1], case["intermediates"]["s_w"], "s_w")


def check_generator_case(model: VToonify, case: dict) -> None:
    inputs, outputs, call = case["inputs"], case["outputs"], case["call"]
    with torch.no_grad():
        if "exstyles" in inputs:
            feat, skip = model.generator([inputs["ws"]], inputs["exstyles"], **call)
        else:
            feat, skip = model.generator([inputs["ws"]], **call)
    assert_close(feat, outputs["feat_out"], "generator feat_out")
    assert_close(skip, outputs["feat_skip"], "generator feat_skip")


def run_case(model: VToonify, case: dict) -> None:
    if case["name"] == "zplus2wplus":
        with torch.no_grad():
            assert_close(model.zplus2wplus(case["inputs"]["zplus"]), case["outputs"]["wplus"], "wplus")
    elif "x" in case["inputs"]:
        check_glue(model, case)
        check_forward_case(model, case)
    else:
        check_generator_case(model, case)


@pytest.mark.parametrize("name", D_CASES)
def test_vtoonify_d_case(golden_d, name):
    golden, model = golden_d
    run_case(model, cases_by_name(golden)[name])


@pytest.mark.parametrize("name", T_CASES)
def test_vtoonify_t_case(golden_t, name):
    golden, model = golden_t
    run_case(model, cases_by_name(golden)[name])


def test_golden_files_hold_exactly_the_known_cases(golden_d, golden_t):
    assert list(cases_by_name(golden_d[0])) == D_CASES
    assert list(cases_by_name(golden_t[0])) == T_CASES


def test_vtoonify_d_style_intermediates(golden_d):
    """ModRes styles (colour MLP per latent) and decoder styles (structure linears for 7..17)."""
    golden, model = golden_d
    case = cases_by_name(golden)["main"]
    with torch.no_grad():
        resstyles, adastyles = model._styles(case["inputs"]["style"])
    assert_close(resstyles, case["intermediates"]["resstyles"], "resstyles")
    assert_close(adastyles, case["intermediates"]["adastyles"], "adastyles")


def test_vtoonify_d_plain_call_returns_the_golden_image(golden_d):
    """Without return_mask the D model returns the image tensor alone; d_s changes it."""
    golden, model = golden_d
    cases = cases_by_name(golden)
    x, style = cases["ds_0.0"]["inputs"]["x"], cases["ds_0.0"]["inputs"]["style"]
    with torch.no_grad():
        a = model(x, style, d_s=0.0)
        b = model(x, style, d_s=1.0)
    assert_close(a, cases["ds_0.0"]["outputs"]["image"], "image d_s=0")
    assert_close(b, cases["ds_1.0"]["outputs"]["image"], "image d_s=1")
    assert (a - b).norm() / a.norm() > 0.1


def test_vtoonify_t_ignores_style_degree(golden_t):
    golden, model = golden_t
    case = cases_by_name(golden)["style2d"]
    with torch.no_grad(), deterministic_kernels():
        a = model(case["inputs"]["x"], case["inputs"]["style"], d_s=0.0)
        b = model(case["inputs"]["x"], case["inputs"]["style"], d_s=1.0)
    assert torch.equal(a, b)
    assert model(case["inputs"]["x"], case["inputs"]["style"], return_mask=True).shape == a.shape


@pytest.mark.parametrize("impl,fused", [("ref", True), ("fast", False)])
def test_vtoonify_d_alternative_op_routes_match_golden(golden_d, impl, fused):
    """The reference FIR/activation ops (bitwise official) and the unfused modulated conv match too."""
    golden, model = golden_d
    model = set_modulated_conv_fused(set_ops_impl(copy.deepcopy(model), impl), fused)
    case = cases_by_name(golden)["style2d"]
    with torch.no_grad():
        image = model(case["inputs"]["x"], case["inputs"]["style"], **case["call"])
    assert_close(image, case["outputs"]["image"], f"image impl={impl} fused={fused}")


def test_channels_table_accepts_string_keys(golden_d):
    golden, model = golden_d
    config = {k: v for k, v in golden["config"].items() if k not in ("class_name", "channels_note")}
    config["channels"] = {str(k): v for k, v in config["channels"].items()}
    rebuilt = VToonify(**config)
    shapes = {k: tuple(v.shape) for k, v in rebuilt.state_dict().items()}
    assert shapes == {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize(
    "shape,needle",
    [
        ((1, 3, 64, 64), "[N, 22, H, W]"),
        ((22, 64, 64), "[N, 22, H, W]"),
        ((1, 22, 60, 64), "multiples of 8"),
        ((1, 22, 64, 36), "multiples of 8"),
    ],
)
def test_wrong_input_shape_gives_clear_error(golden_t, device, shape, needle):
    _, model = golden_t
    with pytest.raises(InputError) as info:
        model(torch.zeros(shape, device=device), torch.zeros(1, 18, 512, device=device))
    assert needle in info.value.message
    assert info.value.fix
    assert isinstance(info.value, EngineError)


@pytest.mark.parametrize("style_shape", [(2, 18, 512), (1, 14, 512), (1, 18, 256), (1, 1, 18, 512)])
def test_wrong_style_shape_gives_clear_error(golden_d, device, style_shape):
    _, model = golden_d
    with pytest.raises(InputError, match="style must be") as info:
        model(torch.zeros(1, 22, 32, 32, device=device), torch.zeros(style_shape, device=device))
    assert "repeat" in info.value.fix


def test_dualstylegan_backbone_needs_a_style(golden_d, device):
    _, model = golden_d
    with pytest.raises(InputError, match="style code"):
        model(torch.zeros(1, 22, 32, 32, device=device), None, return_feat=True)


def test_unknown_backbone_rejected():
    with pytest.raises(ValueError, match="backbone"):
        VToonify(
            backbone="stylegan3", channels={4: 8, 8: 8, 16: 8, 32: 8, 64: 8, 128: 8, 256: 8, 512: 8, 1024: 8}
        )
