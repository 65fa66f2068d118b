"""Safe loading: hostile pickles never run, wrong/truncated files give one clear error, official
VToonify files load with their architecture inferred from the tensors."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

from engine.errors import ConfigError, ModelFileError
from engine.models import build_model, infer_vtoonify_config, load_exstyles, load_face_parser, load_vtoonify
from engine.models.checkpoints import load_state_dict_strict, load_torch_file
from engine.models.psp import GradualStyleEncoder

ATOL = RTOL = 1e-4
GOLDENS = [
    "vtoonify_d_golden.pt",
    "vtoonify_t_golden.pt",
    "dualstylegan_golden.pt",
    "psp_narrow_golden.pt",
    "bisenet_golden.pt",
]


class CreatesFileWhenUnpickled:
    """Unpickling calls ``open(marker, 'w')``, which creates the marker: proof that code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_hostile_torch_file_is_refused_and_runs_nothing(tmp_path):
    control_marker, marker = tmp_path / "control_ran", tmp_path / "ran"
    control = tmp_path / "control.pt"
    torch.save({"g_ema": CreatesFileWhenUnpickled(str(control_marker))}, control)
    torch.load(control, weights_only=False)  # control: an unrestricted load does run the payload
    assert control_marker.exists()

    hostile = tmp_path / "vtoonify.pt"
    torch.save({"g_ema": CreatesFileWhenUnpickled(str(marker))}, hostile)
    with pytest.raises(ModelFileError) as info:
        load_vtoonify(hostile)
    assert "refusing to load" in info.value.message and "vtoonify.pt" in info.value.message
    assert not marker.exists()


def test_hostile_exstyle_npy_is_refused_and_runs_nothing(tmp_path):
    control_marker, marker = tmp_path / "control_ran", tmp_path / "ran"
    control = tmp_path / "control.npy"
    np.save(control, {"style": CreatesFileWhenUnpickled(str(control_marker))}, allow_pickle=True)
    np.load(control, allow_pickle=True)  # control: numpy's own loader runs the payload
    assert control_marker.exists()

    hostile = tmp_path / "exstyle_code.npy"
    np.save(hostile, {"style": CreatesFileWhenUnpickled(str(marker))}, allow_pickle=True)
    with pytest.raises(ModelFileError, match=r"refusing to load .*exstyle_code\.npy.*forbidden global"):
        load_exstyles(hostile)
    assert not marker.exists()


def test_exstyle_codes_round_trip_in_order(tmp_path):
    rng = np.random.default_rng(3)
    codes = {f"{i:03d}.jpg": rng.standard_normal((1, 18, 512)).astype(np.float32) for i in (7, 2, 9)}
    path = tmp_path / "exstyle_code.npy"
    np.save(path, codes, allow_pickle=True)
    loaded = load_exstyles(path)
    assert list(loaded) == list(codes)  # style_id indexes this order
    for name, code in codes.items():
        assert loaded[name].dtype == torch.float32 and loaded[name].shape == (1, 18, 512)
        assert np.array_equal(loaded[name].numpy(), code)


def test_exstyle_file_written_by_numpy_1_loads(tmp_path):
    """Official files were saved by numpy 1.x: pickle protocol 3 naming ``numpy.core.multiarray``."""
    codes = {"a": np.full((1, 18, 512), 0.25, np.float32)}
    payload = pickle.dumps(np.array(codes, dtype=object), protocol=3)
    payload = payload.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"cnumpy.core.multiarray\n_reconstruct" in payload
    path = tmp_path / "exstyle_code.npy"
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": "|O", "fortran_order": False, "shape": ()})
        handle.write(payload)
    assert torch.equal(load_exstyles(path)["a"], torch.full((1, 18, 512), 0.25))


def test_truncated_and_garbage_files_name_the_file(tmp_path, reference_dir):
    good = (reference_dir / "psp_narrow_golden.pt").read_bytes()
    truncated = tmp_path / "encoder.pt"
    truncated.write_bytes(good[: len(good) // 3])
    with pytest.raises(ModelFileError, match=r"encoder\.pt is truncated or corrupt"):
        load_torch_file(truncated)
    empty = tmp_path / "vtoonify.pt"
    empty.write_bytes(b"")
    with pytest.raises(ModelFileError, match=r"vtoonify\.pt is empty"):
        load_vtoonify(empty)
    npy = tmp_path / "exstyle_code.npy"
    np.save(npy, {"a": np.zeros((1, 18, 512), np.float32)}, allow_pickle=True)
    npy.write_bytes(npy.read_bytes()[:300])
    with pytest.raises(ModelFileError, match=r"exstyle_code\.npy is truncated or corrupt"):
        load_exstyles(npy)
    with pytest.raises(ModelFileError, match=r"exstyle_code\.npy is a numpy \.npy file"):
        load_vtoonify(npy)
    with pytest.raises(ModelFileError, match="not found"):
        load_face_parser(tmp_path / "faceparsing.pth")


def test_file_of_another_model_says_what_it_looks_like(tmp_path, reference_dir):
    bisenet = torch.load(reference_dir / "bisenet_golden.pt")["state_dict"]
    path = tmp_path / "vtoonify_s_d.pt"
    torch.save(bisenet, path)
    with pytest.raises(ModelFileError) as info:
        load_vtoonify(path)
    assert "vtoonify_s_d.pt is not a VToonify model" in info.value.message
    assert "BiSeNet face parser" in info.value.message
    dualstylegan = torch.load(reference_dir / "dualstylegan_golden.pt")["state_dict"]
    torch.save({"g_ema": dualstylegan}, path)
    with pytest.raises(ModelFileError, match="it looks like a DualStyleGAN generator"):
        load_vtoonify(path)


def test_strict_check_reports_missing_unexpected_and_shapes_at_once(tmp_path):
    model = GradualStyleEncoder(widths={"W1": 16, "W2": 16, "W3": 16, "W4": 16}, n_styles=18)
    state = dict(model.state_dict())
    dropped = [k for k in state if k.endswith(".weight")][:12]
    for key in dropped:
        del state[key]
    state["extra.weight"] = torch.zeros(1)
    state["latlayer2.bias"] = torch.zeros(3)
    with pytest.raises(ModelFileError) as info:
        load_state_dict_strict(model, state, tmp_path / "encoder.pt", "the pSp GradualStyleEncoder")
    message = info.value.message
    assert "encoder.pt does not fit the pSp GradualStyleEncoder" in message
    assert f"missing 12 keys such as {dropped[0]}" in message
    assert "unexpected 1 keys such as extra.weight" in message
    assert "shape mismatch at 1 tensors such as latlayer2.bias (file [3], model [16])" in message


@pytest.mark.parametrize("name", ["vtoonify_d_golden.pt", "vtoonify_t_golden.pt"])
def test_load_vtoonify_reproduces_golden_main_case(name, reference_dir, tmp_path):
    golden = torch.load(reference_dir / name)
    path = tmp_path / "vtoonify.pt"
    torch.save({"g_ema": golden["state_dict"], "g": {}, "args": {"iter": 1}}, path)  # official layout
    model = load_vtoonify(path)
    assert not model.training and next(model.parameters()).dtype == torch.float32
    inferred = infer_vtoonify_config(golden["state_dict"])
    assert inferred["backbone"] == golden["config"]["backbone"]
    assert inferred["channels"] == golden["config"]["channels"]
    case = next(c for c in golden["cases"] if c["name"] == "main")
    with torch.no_grad():
        image = model(case["inputs"]["x"], case["inputs"]["style"], d_s=case["call"]["d_s"])
    expected = case["outputs"]["image"]
    assert torch.allclose(image, expected, atol=ATOL, rtol=RTOL), (image - expected).abs().max()


def test_file_without_fir_kernels_still_loads_right(reference_dir, tmp_path):
    """The FIR kernels are derivable constants: a file lacking them gets the module's own values."""
    golden = torch.load(reference_dir / "vtoonify_t_golden.pt")
    state = {k: v for k, v in golden["state_dict"].items() if not k.endswith(".kernel")}
    assert len(state) < len(golden["state_dict"])
    path = tmp_path / "vtoonify.pt"
    torch.save({"g_ema": state}, path)
    model = load_vtoonify(path)
    case = next(c for c in golden["cases"] if c["name"] == "style2d")  # the smallest case
    with torch.no_grad():
        image = model(case["inputs"]["x"], case["inputs"]["style"], d_s=case["call"]["d_s"])
    assert torch.allclose(image, case["outputs"]["image"], atol=ATOL, rtol=RTOL)


def test_load_vtoonify_names_a_shape_mismatch(reference_dir, tmp_path):
    state = dict(torch.load(reference_dir / "vtoonify_t_golden.pt")["state_dict"])
    state["fusion_skip.0.bias"] = torch.zeros(5)
    path = tmp_path / "vtoonify.pt"
    torch.save({"g_ema": state}, path)
    with pytest.raises(ModelFileError, match=r"vtoonify\.pt does not fit VToonify-T.*fusion_skip\.0\.bias"):
        load_vtoonify(path)


@pytest.mark.parametrize("name", GOLDENS)
def test_build_model_accepts_every_golden_config(name, reference_dir):
    golden = torch.load(reference_dir / name)
    model = build_model(golden["config"])
    model.load_state_dict(golden["state_dict"], strict=True)


def test_build_model_accepts_json_config_with_string_channel_keys(reference_dir):
    golden = torch.load(reference_dir / "dualstylegan_golden.pt")
    config = json.loads(json.dumps(golden["config"]))  # as the service or a sidecar carries it
    assert all(isinstance(k, str) for k in config["channels"])
    build_model(config).load_state_dict(golden["state_dict"], strict=True)


def test_build_model_rejects_unknown_class_and_arguments():
    with pytest.raises(ConfigError, match="unknown model class 'ResNet'"):
        build_model({"class_name": "ResNet"})
    with pytest.raises(ConfigError, match="unknown BiSeNet arguments: depth"):
        build_model({"class_name": "BiSeNet", "depth": 3, "size_note": "ignored"})


@pytest.mark.parametrize(
    ("backbone", "manifest"), [("toonify", "vtoonify_t_keys.json"), ("dualstylegan", "vtoonify_d_keys.json")]
)
def test_minimal_config_means_official_full_size(backbone, manifest, reference_dir):
    keys = json.loads((reference_dir / manifest).read_text())["keys"]
    with torch.device("meta"):
        state = build_model({"class_name": "VToonify", "backbone": backbone}).state_dict()
    assert list(state) == list(keys)
    assert all(list(state[k].shape) == v["shape"] for k, v in keys.items())


def write_zip_bomb(path, inflated_mb: int = 32) -> None:
    """A zip shaped like a torch checkpoint whose one entry inflates ~1000x (zeros deflate to nothing)."""
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb/data.pkl", pickle.dumps({"w": 0}))
        with archive.open("bomb/data/0", "w") as entry:
            block = bytes(1 << 20)
            for _ in range(inflated_mb):
                entry.write(block)


def test_zip_bomb_checkpoint_is_refused_before_anything_is_inflated(tmp_path, monkeypatch):
    bomb = tmp_path / "vtoonify_s_d.pt"
    write_zip_bomb(bomb)
    assert bomb.stat().st_size < 1 << 20

    def must_not_run(*args, **kwargs):
        raise AssertionError("torch.load ran on a zip bomb")

    monkeypatch.setattr(torch, "load", must_not_run)
    with pytest.raises(ModelFileError, match="zip bomb") as info:
        load_torch_file(bomb)
    assert str(bomb) in info.value.message and "33.6 MB" in info.value.message


def test_a_real_checkpoint_passes_the_zip_size_check(tmp_path):
    path = tmp_path / "real.pt"
    torch.save({"w": torch.arange(100_000, dtype=torch.float32)}, path)
    assert torch.equal(load_torch_file(path)["w"], torch.arange(100_000, dtype=torch.float32))
