"""BiSeNet face parser and VToonify's parsing step against the official golden."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from engine.errors import ModelFileError
from engine.models import build_model, load_face_parser, parsing_maps
from engine.models.bisenet import BiSeNet

ATOL, RTOL = 2e-4, 1e-4


@pytest.fixture(scope="module")
def golden(reference_dir):
    return torch.load(reference_dir / "bisenet_golden.pt")


@pytest.fixture(scope="module")
def parser_file(golden, tmp_path_factory):
    """The golden weights written as the official ``faceparsing.pth`` (a bare state dict)."""
    path = tmp_path_factory.mktemp("models") / "faceparsing.pth"
    torch.save(golden["state_dict"], path)
    return path


@pytest.fixture(scope="module")
def parser(parser_file):
    return load_face_parser(parser_file)


def assert_close(actual: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    assert actual.shape == expected.shape, f"{what}: {tuple(actual.shape)} != {tuple(expected.shape)}"
    err = (actual - expected).abs().max().item()
    assert torch.allclose(actual, expected, atol=ATOL, rtol=RTOL), f"{what}: max abs error {err:.3g}"


def test_raw_heads_match_golden(golden, parser):
    case = next(c for c in golden["cases"] if c["name"] == "raw")
    assert not parser.training
    with torch.no_grad():
        heads = parser(case["inputs"]["x"])
    for head, name in zip(heads, ("out", "out16", "out32")):
        assert_close(head, case["outputs"][name], name)


def test_pipeline_parsing_and_vtoonify_input_match_golden(golden, parser):
    case = next(c for c in golden["cases"] if c["name"] == "pipeline")
    x = case["inputs"]["x"]
    with torch.no_grad():
        x_p = parsing_maps(parser, x)
    assert_close(x_p, case["outputs"]["x_p"], "x_p")
    assert_close(torch.cat([x, x_p / 16], dim=1), case["outputs"]["vtoonify_input"], "vtoonify_input")


def test_half_step_equals_official_nearest_downsample(parser):
    """``[..., ::2, ::2]`` must equal the official ``F.interpolate(scale_factor=0.5)`` nearest step."""
    frames = torch.rand(1, 3, 40, 24) * 2 - 1
    with torch.no_grad():
        ours = parsing_maps(parser, frames)
        full = parser(2 * F.interpolate(frames, scale_factor=2, mode="bilinear", align_corners=False))[0]
        official = F.interpolate(full, scale_factor=0.5, recompute_scale_factor=False)
    assert torch.equal(ours, official)


def test_full_size_names_and_shapes_equal_manifest(reference_dir, golden):
    manifest = json.loads((reference_dir / "bisenet_keys.json").read_text())["keys"]
    with torch.device("meta"):
        state = BiSeNet(19).state_dict()
    assert list(state) == list(manifest)
    wrong = [k for k, v in manifest.items() if list(state[k].shape) != v["shape"]]
    assert not wrong, wrong[:5]
    assert isinstance(build_model(golden["config"]), BiSeNet)  # golden config, 'mode'/'note' ignored


def test_parser_file_of_other_model_is_named(tmp_path, reference_dir):
    psp = torch.load(reference_dir / "psp_narrow_golden.pt")
    path = tmp_path / "faceparsing.pth"
    torch.save(
        {
            "opts": {},
            "state_dict": {"encoder." + k: v for k, v in psp["state_dict"].items()},
            "latent_avg": psp["latent_avg"],
        },
        path,
    )
    with pytest.raises(ModelFileError, match=r"faceparsing\.pth is not the BiSeNet face parser.*pSp"):
        load_face_parser(path)
