"""pSp GradualStyleEncoder against the narrow golden and the full-size key manifest."""

from __future__ import annotations

import json

import pytest
import torch

from engine.errors import ModelFileError
from engine.models import build_model, infer_psp_config, load_style_encoder
from engine.models.psp import GradualStyleEncoder, StyleEncoder

ATOL = RTOL = 1e-4


@pytest.fixture(scope="module")
def golden(reference_dir):
    return torch.load(reference_dir / "psp_narrow_golden.pt")


def official_layout(golden: dict) -> dict:
    """A checkpoint as pSp training writes it (see ``checkpoint_layout_example``): the whole pSp
    under ``state_dict`` (decoder keys too, which the loader must ignore) plus opts and latent_avg."""
    layout = golden["checkpoint_layout_example"]
    state = {layout["state_dict_prefix"] + k: v for k, v in golden["state_dict"].items()}
    state["decoder.style.1.weight"] = torch.zeros(4, 4)  # rest of pSp: not part of the encoder
    for key in [k for k in state if k.endswith("num_batches_tracked")]:
        del state[key]  # files saved by older torch lack the BatchNorm counters
    return {"opts": dict(layout["opts"]), "state_dict": state, "latent_avg": golden["latent_avg"]}


def test_narrow_encoder_matches_golden_raw_output(golden):
    case = golden["cases"][0]
    encoder = build_model(golden["config"])
    encoder.load_state_dict(golden["state_dict"], strict=True)
    with torch.no_grad():
        out = encoder.eval()(case["inputs"]["x"])
    expected = case["outputs"]["output_raw"]
    assert out.shape == expected.shape == (2, 18, 48)
    assert torch.allclose(out, expected, atol=ATOL, rtol=RTOL), (out - expected).abs().max()


def test_official_layout_file_loads_and_adds_latent_avg(golden, tmp_path):
    path = tmp_path / "encoder.pt"
    torch.save(official_layout(golden), path)
    model = load_style_encoder(path)
    assert isinstance(model, StyleEncoder) and not model.training
    assert model.encoder.widths == golden["config"]["widths"]  # inferred from the tensors
    case = golden["cases"][0]
    with torch.no_grad():  # second face only: eval-mode samples are independent, and it halves the time
        out = model(case["inputs"]["x"][1:])
    expected = case["outputs"]["output_with_latent_avg"][1:]
    assert torch.allclose(out, expected, atol=ATOL, rtol=RTOL), (out - expected).abs().max()
    # latent_avg really is added: the raw output differs from the hooked one
    assert not torch.allclose(out, case["outputs"]["output_raw"][1:], atol=1e-2)


def test_full_size_names_and_shapes_equal_manifest(reference_dir):
    manifest = json.loads((reference_dir / "psp_encoder_keys.json").read_text())["keys"]
    with torch.device("meta"):  # 267M parameters: compare structure without allocating ~1 GB
        encoder = GradualStyleEncoder(50, "ir_se", input_nc=3, n_styles=18)
    state = encoder.state_dict()
    assert list(state) == list(manifest)
    wrong = [k for k, v in manifest.items() if list(state[k].shape) != v["shape"]]
    assert not wrong, wrong[:5]
    assert sum(p.numel() for p in encoder.parameters()) == 267_136_704
    # inference of the config from full-size (meta) tensors gives the official defaults
    config = infer_psp_config(state, {"output_size": 1024})
    assert config["widths"] is None and config["n_styles"] == 18 and config["mode"] == "ir_se"


def test_missing_latent_avg_and_wrong_shapes_are_named(golden, tmp_path):
    ckpt = official_layout(golden)
    del ckpt["latent_avg"]
    no_avg = tmp_path / "no_avg.pt"
    torch.save(ckpt, no_avg)
    with pytest.raises(ModelFileError, match="latent_avg"):
        load_style_encoder(no_avg)

    ckpt = official_layout(golden)
    ckpt["state_dict"]["encoder.latlayer1.bias"] = torch.zeros(7)
    bad = tmp_path / "bad_shape.pt"
    torch.save(ckpt, bad)
    with pytest.raises(ModelFileError) as info:
        load_style_encoder(bad)
    assert "bad_shape.pt" in info.value.message
    assert "shape mismatch at 1 tensors such as latlayer1.bias (file [7], model [48])" in info.value.message


def test_encoder_needs_256_input(golden):
    encoder = GradualStyleEncoder(widths=golden["config"]["widths"]).eval()
    with pytest.raises(ValueError, match="256"):
        encoder(torch.zeros(1, 3, 128, 128))
