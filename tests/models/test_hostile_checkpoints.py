"""Checkpoints a reviewer edits by hand: weights of the wrong kind, NaN/Inf, oversized style files.

Decision: non-finite or non-float weights are refused (ModelFileError naming the tensors), not warned
about: they can only give NaN or black frames, and an official file never holds them. float64 and
float16 weights load (cast to the module's float32), as ``load_state_dict`` does.
"""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
import torch

from engine.errors import ModelFileError
from engine.models import load_exstyles, load_torch_file, load_vtoonify
from engine.models.checkpoints import MAX_EXSTYLE_BYTES


@pytest.fixture(scope="module")
def golden_state(reference_dir):
    return dict(torch.load(reference_dir / "vtoonify_t_golden.pt", weights_only=True)["state_dict"])


KEY = "fusion_out.0.weight"


@pytest.mark.parametrize("damage, expected", [
    (lambda w: w.clone().index_fill_(0, torch.tensor([0]), float("nan")), r"NaN or infinite values in 1 tensors"),
    (lambda w: torch.full_like(w, float("inf")), r"NaN or infinite values in 1 tensors"),
    (lambda w: w.round().to(torch.int64), r"not floating point, such as fusion_out\.0\.weight \(int64\)"),
    (lambda w: w > 0, r"not floating point, such as fusion_out\.0\.weight \(bool\)"),
], ids=["nan", "inf", "int64", "bool"])
def test_non_finite_or_non_float_weights_are_refused_naming_the_tensor(golden_state, tmp_path, damage, expected):
    # Before: load_state_dict cast int/bool weights and kept NaN/Inf, and every frame came out NaN or black.
    path = tmp_path / "vtoonify.pt"
    torch.save({"g_ema": {**golden_state, KEY: damage(golden_state[KEY])}}, path)
    with pytest.raises(ModelFileError, match=expected) as info:
        load_vtoonify(path)
    assert str(path) in info.value.message and KEY in info.value.message


def test_float64_and_float16_weights_still_load(golden_state, tmp_path):
    path = tmp_path / "vtoonify.pt"
    torch.save({"g_ema": {**golden_state, KEY: golden_state[KEY].double(),
                          "fusion_out.0.bias": golden_state["fusion_out.0.bias"].half()}}, path)
    model = load_vtoonify(path)
    assert torch.equal(model.state_dict()[KEY], golden_state[KEY])


def _exstyle_file(path, codes):
    array = np.empty((), dtype=object)
    array[()] = codes
    np.save(path, array, allow_pickle=True)
    return path


def test_nan_style_code_is_refused(tmp_path):
    good = np.zeros((1, 18, 512), np.float32)
    bad = good.copy()
    bad[0, 3, 7] = np.nan
    path = _exstyle_file(tmp_path / "exstyle_code.npy", {"a.jpg": good, "b.jpg": bad})
    with pytest.raises(ModelFileError, match=r"style code 'b\.jpg' holds NaN or infinite values"):
        load_exstyles(path)


def test_oversized_style_file_is_refused_before_it_is_read(tmp_path, monkeypatch):
    # Before: the whole file was read into memory first, whatever its size.
    path = _exstyle_file(tmp_path / "exstyle_code.npy", {"a.jpg": np.zeros((1, 18, 512), np.float32)})
    with open(path, "r+b") as handle:
        handle.truncate(MAX_EXSTYLE_BYTES + 1)  # sparse: no disk space used
    monkeypatch.setattr(type(path), "read_bytes", lambda self: pytest.fail("the file was read"))
    with pytest.raises(ModelFileError, match=r"is 268 MB; an official exstyle_code\.npy is about 12 MB"):
        load_exstyles(path)


def test_a_huge_npy_header_is_refused_without_advice_to_lift_the_limit(tmp_path):
    header = b"{'descr': '|O', 'fortran_order': False, 'shape': (), }" + b" " * 200_000 + b"\n"
    path = tmp_path / "exstyle_code.npy"
    path.write_bytes(b"\x93NUMPY\x02\x00" + len(header).to_bytes(4, "little") + header)
    with pytest.raises(ModelFileError, match=r"is not a valid \.npy file \(Header info length") as info:
        load_exstyles(path)
    assert "max_header_size" not in info.value.user_message and "\n" not in info.value.user_message


@pytest.fixture
def full_disk(tmp_path):
    """A 256 KiB filesystem that really fills up; skipped where mounting is not allowed."""
    import subprocess

    folder = tmp_path / "full"
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()})")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def test_models_fetch_onto_a_full_disk_exits_75_not_offline(full_disk, capsys):
    # Before: ENOSPC while writing the download became OfflineError ("download ... was interrupted"):
    # exit 2 and a network diagnosis for a disk problem.
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from engine.cli import main
    from engine.errors import EXIT_RETRY

    class Megabyte(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(1 << 20))
            self.end_headers()
            self.wfile.write(bytes(1 << 20))

    server = ThreadingHTTPServer(("127.0.0.1", 0), Megabyte)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        code = main(["models", "fetch", "--models", str(full_disk), "--base-url",
                     f"http://127.0.0.1:{server.server_address[1]}/"])
    finally:
        server.shutdown()
    err = capsys.readouterr().err
    assert code == EXIT_RETRY and "error: the disk is full or over quota writing" in err and "interrupted" not in err


def test_an_encoder_with_a_nan_mean_latent_is_refused(reference_dir, tmp_path):
    # Before: a NaN latent_avg loaded; every style code, so every frame, came out NaN.
    from engine.models import load_style_encoder

    golden = torch.load(reference_dir / "psp_narrow_golden.pt", weights_only=True)
    layout = golden["checkpoint_layout_example"]
    state = {layout["state_dict_prefix"] + k: v for k, v in golden["state_dict"].items()}
    path = tmp_path / "encoder.pt"
    torch.save({"opts": dict(layout["opts"]), "state_dict": state,
                "latent_avg": torch.full_like(golden["latent_avg"], float("nan"))}, path)
    with pytest.raises(ModelFileError, match="no finite floating-point 'latent_avg'"):
        load_style_encoder(path)


def test_an_encoder_whose_mean_latent_claims_billions_of_values_is_refused_before_it_is_read(reference_dir,
                                                                                             tmp_path):
    # A stride-0 view: one stored number, 2**36 values claimed. Before, the finite check ran before the
    # shape check and asked for 64 GiB (out of memory, or an 'internal' allocation error). Now every
    # file's claimed sizes are checked as it is loaded (the latent_avg check stays as a second guard).
    from engine.models import load_style_encoder

    golden = torch.load(reference_dir / "psp_narrow_golden.pt", weights_only=True)
    layout = golden["checkpoint_layout_example"]
    state = {layout["state_dict_prefix"] + k: v for k, v in golden["state_dict"].items()}
    path = tmp_path / "encoder.pt"
    torch.save({"opts": dict(layout["opts"]), "state_dict": state,
                "latent_avg": torch.zeros(1).expand(1 << 36)}, path)
    assert path.stat().st_size < 10 << 20
    with pytest.raises(ModelFileError, match=r"claim 274,\d+\.\d MB of values over"):
        load_style_encoder(path)


def test_weights_that_claim_more_values_than_the_file_stores_are_refused_before_allocating(reference_dir,
                                                                                          tmp_path):
    # Before: the face parser's class count is read off its head's shape, so three stride-0 heads of 10**8
    # classes (a 27 MB file) built a 100 GB model: "can't allocate memory", which exits 75 (retry) and a
    # farm requeued it forever.
    from engine.models import load_face_parser

    state = dict(torch.load(reference_dir / "bisenet_golden.pt", weights_only=True)["state_dict"])
    for key in ("conv_out.conv_out.weight", "conv_out16.conv_out.weight", "conv_out32.conv_out.weight"):
        state[key] = torch.zeros(1).expand(10**8, *state[key].shape[1:])
    path = tmp_path / "faceparsing.pth"
    torch.save(state, path)
    with pytest.raises(ModelFileError, match=r"refusing to load .*faceparsing\.pth: its tensors claim "
                                             r"[\d,.]+ MB of values over [\d,.]+ MB stored") as info:
        load_face_parser(path)
    assert "untrusted sources" in info.value.fix


def test_a_hundred_names_for_one_stored_tensor_are_refused(tmp_path):
    # The same through views of one shared storage: a model built from them would allocate each.
    pool = torch.zeros(1 << 22)
    path = tmp_path / "vtoonify.pt"
    torch.save({"g_ema": {f"w{i}": pool.view(1024, 4096) for i in range(100)}}, path)
    with pytest.raises(ModelFileError, match=r"claim 1,677\.7 MB of values over 16\.8 MB stored"):
        load_torch_file(path)


def test_tied_weights_sharing_one_storage_still_load(tmp_path):
    weight = torch.randn(64, 64)
    path = tmp_path / "tied.pt"
    torch.save({"a": weight, "b": weight, "c": weight[:32]}, path)
    assert torch.equal(load_torch_file(path)["b"], weight)


def test_an_empty_style_code_file_says_so_and_names_the_fetch_for_its_style_and_folder(tmp_path):
    """An exstyle_code.npy holding ``{}`` is said to hold no style codes (not "found dict"), and the fix is
    the `models fetch` that downloads that very family into that very (non-default) folder."""
    import shlex

    from engine.cli import build_parser
    from engine.commands import engine_command

    models = tmp_path / "my models"
    (models / "vtoonify_d_arcane").mkdir(parents=True)
    path = _exstyle_file(models / "vtoonify_d_arcane" / "exstyle_code.npy", {})
    with pytest.raises(ModelFileError, match=r"exstyle_code\.npy holds no style codes") as info:
        load_exstyles(path)
    assert "found dict" not in info.value.message
    command = engine_command("models", "fetch", "--style", "arcane", "--models", str(models))
    assert info.value.fix == f"download it again with `{command}` or copy the original file to {path}"
    words = shlex.split(command)
    args = build_parser().parse_args(words[words.index("models"):])
    assert args.style == ["arcane"] and args.models_dir == str(models)


def test_a_bad_checkpoint_in_the_default_folder_names_its_style_but_no_models_flag(tmp_path, monkeypatch):
    from engine.commands import engine_command

    monkeypatch.setenv("VTOONIFY_MODELS", str(tmp_path / "models"))
    path = tmp_path / "models" / "vtoonify_t_pixar" / "vtoonify.pt"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")  # a download cut off at its first byte
    with pytest.raises(ModelFileError) as info:
        load_vtoonify(path)
    command = engine_command("models", "fetch", "--style", "pixar", "--backbone", "toonify")
    assert f"download it again with `{command}` or copy the original file to {path}" in info.value.fix
    house = tmp_path / "models" / "vtoonify_d_house" / "exstyle_code.npy"   # a studio-trained style
    house.parent.mkdir()
    _exstyle_file(house, {})
    with pytest.raises(ModelFileError) as info:
        load_exstyles(house)
    assert "'house' is not an official style" in info.value.fix and "models fetch --style" not in info.value.fix


def _plant(kind, path):
    if kind == "dangling link":
        path.symlink_to(path.parent / "moved-away.pt")
    elif kind == "link loop":
        path.symlink_to(path)
    elif kind == "folder":
        path.mkdir()
    else:
        os.mkfifo(path)


@pytest.mark.parametrize("kind, expected", [
    ("dangling link", r"is a link to .*moved-away\.pt, which does not exist"),
    ("link loop", r"links to itself round a loop"), ("folder", r"is a folder, not a file"),
    ("fifo", r"is not a regular file \(a FIFO, socket or device\)"),
])
def test_a_model_path_that_is_no_file_names_what_it_is_and_blocks_nothing(tmp_path, kind, expected):
    # Before: the model cache's stat raised FileNotFoundError/OSError (an 'internal error', exit 1) for
    # a dangling link or a loop; a folder or a FIFO was reported as "model file not found".
    from engine.models.checkpoints import load_exstyle_codes, load_torch_file
    from engine.pipeline.modelcache import ModelCache

    family = tmp_path / "vtoonify_d_cartoon"
    family.mkdir()
    for name, load in (("vtoonify_s_d_c.pt", load_torch_file), ("exstyle_code.npy", load_exstyle_codes),
                       ("vtoonify_s_d.pt", lambda p: ModelCache("cpu").get("vtoonify", str(p), load_vtoonify))):
        _plant(kind, family / name)
        with pytest.raises(ModelFileError, match=expected) as info:
            load(family / name)
        assert "models fetch" in info.value.fix


def test_a_pickle_asking_for_code_is_refused_naming_what_it_asked_for(tmp_path):
    class Payload:
        def __reduce__(self):
            return (os.system, ("true",))

    hostile = tmp_path / "vtoonify.pt"
    torch.save({"g_ema": Payload()}, hostile)
    with pytest.raises(ModelFileError, match=r"GLOBAL (posix|nt)\.system") as info:
        load_vtoonify(hostile)
    assert "documentation" not in info.value.message  # torch's closing pointer, which named nothing


@pytest.mark.parametrize("key, shown", [(5, "5"), ((1, 2), r"\(1, 2\)")], ids=["int", "tuple"])
def test_a_key_that_is_no_name_is_named_as_unexpected_not_an_internal_error(golden_state, reference_dir, tmp_path,
                                                                            key, shown):
    # Before: AttributeError ("'int' object has no attribute 'startswith'"): an 'internal' error.
    from engine.models import load_style_encoder

    path = tmp_path / "vtoonify.pt"
    torch.save({"g_ema": {**golden_state, key: torch.zeros(1)}}, path)
    with pytest.raises(ModelFileError, match=rf"does not fit VToonify-T .*: unexpected 1 keys such as {shown}$"):
        load_vtoonify(path)
    golden = torch.load(reference_dir / "psp_narrow_golden.pt", weights_only=True)
    layout = golden["checkpoint_layout_example"]
    state = {layout["state_dict_prefix"] + k: v for k, v in golden["state_dict"].items()}
    torch.save({"opts": dict(layout["opts"]), "state_dict": {**state, key: torch.zeros(1)},
                "latent_avg": golden["latent_avg"]}, tmp_path / "encoder.pt")
    assert load_style_encoder(tmp_path / "encoder.pt") is not None  # only encoder.* keys are read, as officially


def test_a_truncated_checkpoint_names_the_damage_without_torchs_cut_off_advice(tmp_path):
    # Before: "... failed finding central directory. This is an internal miniz error. If you are seeing
    # this error, there is a high)": torch's appended advice, cut mid-sentence at 160 characters.
    whole = tmp_path / "whole.pt"
    torch.save({"w": torch.zeros(64)}, whole)
    path = tmp_path / "faceparsing.pth"
    path.write_bytes(whole.read_bytes()[:100])
    with pytest.raises(ModelFileError) as info:
        load_torch_file(path)
    assert info.value.message == (f"model file {path} is truncated or corrupt (PytorchStreamReader failed "
                                  "reading zip archive: failed finding central directory)")


def test_float8_weights_load_and_sparse_weights_are_refused_naming_the_tensor(golden_state, reference_dir, tmp_path):
    # Before: NotImplementedError ("isfinite" has no float8 kernel; sparse tensors have no 'ne'): internal errors.
    from engine.models import load_style_encoder

    path = tmp_path / "vtoonify.pt"
    weight = golden_state[KEY]
    torch.save({"g_ema": {**golden_state, KEY: weight.to(torch.float8_e4m3fn)}}, path)
    loaded = load_vtoonify(path).state_dict()[KEY]
    assert loaded.dtype == torch.float32 and torch.equal(loaded, weight.to(torch.float8_e4m3fn).float())
    torch.save({"g_ema": {**golden_state, KEY: weight.to_sparse()}}, path)
    with pytest.raises(ModelFileError, match=rf"1 tensors are stored sparse or quantized, not as plain weights, "
                                             rf"such as {re.escape(KEY)} \(sparse_coo\)"):
        load_vtoonify(path)
    golden = torch.load(reference_dir / "psp_narrow_golden.pt", weights_only=True)
    layout = golden["checkpoint_layout_example"]
    state = {layout["state_dict_prefix"] + k: v for k, v in golden["state_dict"].items()}
    torch.save({"opts": dict(layout["opts"]), "state_dict": state,
                "latent_avg": golden["latent_avg"].to_sparse()}, tmp_path / "encoder.pt")
    with pytest.raises(ModelFileError, match="has no finite floating-point 'latent_avg' tensor"):
        load_style_encoder(tmp_path / "encoder.pt")


def test_a_style_file_naming_one_code_thousands_of_times_is_refused_before_copying_them(tmp_path):
    # Before: the pickle's memo let a 180 KB file name one float16 code 8,000 times; each was copied to
    # float32 (300 MB here; a 44 MB file under the size cap would ask for 70 GB): refused by the total now.
    from engine.models.checkpoints import read_exstyle_arrays

    code = np.zeros((1, 18, 1024), np.float16)  # 4,000 names: under the count cap, so the total is what refuses
    path = _exstyle_file(tmp_path / "exstyle_code.npy", {f"style_{i:05d}.jpg": code for i in range(4000)})
    assert path.stat().st_size < 400_000
    with pytest.raises(ModelFileError, match=r"holds 4000 style codes of 73,728,000 values in all, more than"):
        read_exstyle_arrays(path)


@pytest.mark.parametrize("key, value, expected", [
    ("generator.conv1.conv.weight", 5, r"generator\.conv1\.conv\.weight is a Python int, expected a 5-d tensor"),
    ("encoder.5.weight", torch.tensor(1.0), r"encoder\.5\.weight is a 0-d tensor, expected a 4-d tensor"),
    ("encoder.40.weight", torch.zeros(1), r"encoder ends at encoder\.40, an input of 2\*\*43 px, which the 1024 px "
                                          r"generator has no layer for"),
    ("encoder.100000.weight", torch.zeros(1), r"an input of 2\*\*100003 px"),
    ("generator.convs.99.conv.weight", torch.zeros(1), r"generator\.convs\.N are numbered 0, 1, 2, 3, \.\.\. 99, "
                                                       r"expected 0 to at most 19 in a row"),
], ids=["int", "0-d", "encoder index 40", "encoder index 100000", "a gap in the generator layers"])
def test_sizes_read_off_a_hand_edited_vtoonify_file_are_checked_before_building(golden_state, tmp_path, key, value,
                                                                                expected):
    # Before: AttributeError / IndexError, or a KeyError out of the constructor (whose text for 2**100003 could
    # not even be printed): all "internal error, please report it" instead of naming the tensor.
    path = tmp_path / "vtoonify.pt"
    torch.save({"g_ema": {**golden_state, key: value}}, path)
    with pytest.raises(ModelFileError, match=r"looks like VToonify but its layout is incomplete \(.*" + expected):
        load_vtoonify(path)


def test_a_pSp_or_face_parser_tensor_of_the_wrong_kind_is_named_not_an_internal_error(reference_dir, tmp_path):
    from engine.models import load_face_parser, load_style_encoder

    golden = torch.load(reference_dir / "psp_narrow_golden.pt", weights_only=True)
    layout = golden["checkpoint_layout_example"]
    state = {layout["state_dict_prefix"] + k: v for k, v in golden["state_dict"].items()}
    good = {"opts": dict(layout["opts"]), "state_dict": state, "latent_avg": golden["latent_avg"]}
    path = tmp_path / "encoder.pt"
    torch.save({**good, "state_dict": {**state, "encoder.input_layer.0.weight": 3}}, path)
    with pytest.raises(ModelFileError, match=r"unexpected pSp layout \(input_layer\.0\.weight is a Python int"):
        load_style_encoder(path)
    torch.save({**good, "latent_avg": torch.tensor(0.0)}, path)
    with pytest.raises(ModelFileError, match=r"latent_avg has shape \[\], expected \[18, 48\] or \[48\]"):
        load_style_encoder(path)

    parser = dict(torch.load(reference_dir / "bisenet_golden.pt", weights_only=True)["state_dict"])
    path = tmp_path / "faceparsing.pth"
    torch.save({**parser, "conv_out.conv_out.weight": torch.tensor(1.0)}, path)
    with pytest.raises(ModelFileError, match=r"conv_out\.conv_out\.weight \(file \[\], model \[19, 256, 1, 1\]\)"):
        load_face_parser(path)


def test_an_integer_style_code_is_named_with_its_dtype_and_shape(tmp_path):
    path = _exstyle_file(tmp_path / "exstyle_code.npy", {"a.jpg": np.zeros((1, 18, 512), np.int64)})
    with pytest.raises(ModelFileError, match=r"'a\.jpg' is not a float array \(found int64 array of shape "
                                             r"\(1, 18, 512\)\)"):
        load_exstyles(path)


def _flip_a_byte_of(path, entry_suffix: str) -> None:
    """Damage one stored byte of a torch.save zip's entry, leaving the zip's directory (and CRC) as written."""
    import struct
    import zipfile

    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith(entry_suffix))
    data = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26 : info.header_offset + 30])
    data[info.header_offset + 30 + name_len + extra_len + 5] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_checkpoint_whose_bytes_fail_their_crc_is_refused_not_loaded_with_wrong_weights(tmp_path):
    # Before: torch's zip reader does not check CRC-32, so a file damaged on disk or in a copy loaded its
    # changed bytes as weights without a word (a silently wrong model).
    path = tmp_path / "faceparsing.pth"
    torch.save({"w": torch.arange(1000, dtype=torch.float32)}, path)
    _flip_a_byte_of(path, "data/0")
    with pytest.raises(ModelFileError, match=r"is corrupt: its entry \S*data/0 fails its CRC-32 check") as info:
        load_torch_file(path)
    assert str(path) in info.value.message and "models fetch" in info.value.fix


def test_a_checkpoint_saved_without_crcs_still_loads(tmp_path):
    # torch.serialization.set_crc32_options(False) writes 0 for every CRC: nothing to check, not damage.
    path = tmp_path / "faceparsing.pth"
    torch.serialization.set_crc32_options(False)
    try:
        torch.save({"w": torch.arange(1000, dtype=torch.float32)}, path)
    finally:
        torch.serialization.set_crc32_options(True)
    assert torch.equal(load_torch_file(path)["w"], torch.arange(1000, dtype=torch.float32))


@pytest.mark.parametrize("golden, folder, found, wanted", [
    ("vtoonify_t_golden.pt", "vtoonify_d_cartoon", "VToonify-T", "VToonify-D"),
    ("vtoonify_d_golden.pt", "vtoonify_t_cartoon", "VToonify-D", "VToonify-T"),
], ids=["T file in a D folder", "D file in a T folder"])
def test_a_model_of_the_other_kind_in_a_family_folder_is_named_not_rendered_as_it(reference_dir, tmp_path, golden,
                                                                                  folder, found, wanted):
    # Before: a VToonify-T file at vtoonify_d_cartoon/vtoonify_s_d.pt rendered as VToonify-T (exemplar codes and
    # --style-id ignored without a word); a VToonify-D file at vtoonify_t_cartoon/vtoonify.pt failed the render
    # with "internal error: KeyError: 'exstyle'".
    state = torch.load(reference_dir / golden, weights_only=True)["state_dict"]
    path = tmp_path / folder / ("vtoonify_s_d.pt" if folder.startswith("vtoonify_d") else "vtoonify.pt")
    path.parent.mkdir()
    torch.save({"g_ema": {k: v.float() if v.is_floating_point() else v for k, v in state.items()}}, path)
    with pytest.raises(ModelFileError) as info:
        load_vtoonify(path)
    assert info.value.message.startswith(f"{path} is a {found} model, but its folder {folder} holds {wanted} models")
    fetch = "models fetch --backbone toonify --models" if wanted == "VToonify-T" else "models fetch --models"
    assert info.value.fix.startswith("move it ") and fetch in info.value.fix


def _prefixed(state, prefix):
    return {prefix + k: v for k, v in state.items()}


@pytest.mark.parametrize("layout, where", [
    ("vtoonify under state_dict", "under the key 'state_dict'"),
    ("vtoonify under generator", "under the key 'generator'"),
    ("vtoonify prefixed module.", "with every name prefixed 'module.'"),
    ("parser under state_dict", "under the key 'state_dict'"),
    ("parser prefixed module.", "with every name prefixed 'module.'"),
    ("encoder prefixed module.", "with every name prefixed 'module.'"),
])
def test_the_right_weights_in_another_layout_are_named_as_such_not_as_another_model(golden_state, reference_dir,
                                                                                    tmp_path, layout, where):
    # Before: "X is not a VToonify model: it looks like a VToonify-T model" (under 'state_dict'), or "... it looks
    # like an unknown model (keys such as module.encoder.0.0.bias...)": it contradicted itself or named no cause.
    from engine.models import load_face_parser, load_style_encoder

    parser = {k: v.float() if v.is_floating_point() else v
              for k, v in torch.load(reference_dir / "bisenet_golden.pt", weights_only=True)["state_dict"].items()}
    psp = torch.load(reference_dir / "psp_narrow_golden.pt", weights_only=True)
    encoder = {"opts": dict(psp["checkpoint_layout_example"]["opts"]), "latent_avg": psp["latent_avg"],
               "state_dict": _prefixed(psp["state_dict"], "module.encoder.")}
    obj, load, model = {
        "vtoonify under state_dict": ({"state_dict": golden_state}, load_vtoonify, "a VToonify-T model"),
        "vtoonify under generator": ({"generator": golden_state}, load_vtoonify, "a VToonify-T model"),
        "vtoonify prefixed module.": ({"g_ema": _prefixed(golden_state, "module.")}, load_vtoonify,
                                      "a VToonify-T model"),
        "parser under state_dict": ({"state_dict": parser}, load_face_parser, "the BiSeNet face parser"),
        "parser prefixed module.": (_prefixed(parser, "module."), load_face_parser, "the BiSeNet face parser"),
        "encoder prefixed module.": (encoder, load_style_encoder, "a pSp style encoder"),
    }[layout]
    path = tmp_path / "model.pt"
    torch.save(obj, path)
    with pytest.raises(ModelFileError) as info:
        load(path)
    assert info.value.message.startswith(f"{path} holds {model}")
    assert f"{where}, not in the official file's layout" in info.value.message
    assert "use the official file unchanged" in info.value.fix


class _ArrayState:
    """Pickles as numpy pickles an ndarray (``_reconstruct`` then ``__setstate__``), with any state."""

    def __init__(self, state):
        self.state = state

    def __reduce__(self):
        from numpy._core.multiarray import _reconstruct

        return _reconstruct, (np.ndarray, (0,), b"b"), self.state


@pytest.mark.parametrize("state, expected", [
    ((1, (1000,), np.dtype("O"), False, [1.0]), r"an object array of 1000 values holds 1"),
    ((1, (4,), np.dtype("f4"), False, b"\0" * 4), r"a float32 array of 4 values holds 4 bytes, not 16"),
    ((1, (2,), np.dtype([("a", "f4")]), False, b"\0" * 8), r"holds an array of a structured or sub-array dtype"),
], ids=["object array longer than its values", "float array longer than its bytes", "structured dtype"])
def test_a_style_file_whose_arrays_do_not_match_their_data_is_refused_without_crashing_the_engine(tmp_path, state,
                                                                                                  expected):
    # Before: numpy's ndarray.__setstate__ (allowed by the restricted unpickler) read past the end of an object
    # array's value list: a 200-byte exstyle_code.npy killed the engine (or the service listing styles) with a
    # segmentation fault. Run in a child process so that a crash fails this test, not the test run.
    import pickle
    import subprocess
    import sys

    path = tmp_path / "exstyle_code.npy"
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": "|O", "fortran_order": False, "shape": ()})
        handle.write(pickle.dumps({"x": _ArrayState(state)}, protocol=3))
    code = ("import sys; from engine.models import load_exstyles; from engine.errors import ModelFileError\n"
            "try:\n    load_exstyles(sys.argv[1])\nexcept ModelFileError as exc:\n    print(exc.message)")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-400:]}"
    assert re.search(rf"^{re.escape(str(path))} is corrupt: .*{expected}", done.stdout), done.stdout


@pytest.mark.parametrize("kind, expected", [
    ("dangling link", r"encoder\.pt is a link to .*moved-away\.pt, which does not exist"),
    ("link loop", r"encoder\.pt is a link round a loop"), ("folder", r"encoder\.pt is a folder, not a file"),
    ("fifo", r"encoder\.pt is not a regular file \(a FIFO, socket or device\)"),
])
def test_a_render_names_what_stands_where_a_model_file_belongs_not_just_missing(tmp_path, kind, expected):
    # Before: "style 'cartoon' (toonify) cannot render: missing encoder.pt ... run `models fetch`", though a folder,
    # FIFO or broken link was there, which that fetch then refused ("is not a regular file ... move it away").
    from engine.models.inventory import scan_models, unusable_reason

    models = tmp_path / "models"
    (models / "vtoonify_t_cartoon").mkdir(parents=True)
    (models / "faceparsing.pth").write_bytes(b"x")
    (models / "vtoonify_t_cartoon" / "vtoonify.pt").write_bytes(b"x")
    _plant(kind, models / "encoder.pt")
    problem, fix = unusable_reason(scan_models(models).family("cartoon", "toonify"), models)
    assert re.search(rf"cannot render: missing encoder\.pt in .*models: {expected}", problem), problem
    path = models / "encoder.pt"
    expected_fix = (f"fix the link {path}, or run `" if "link" in kind else
                    f"move {path} away (`models fetch` replaces no folder or FIFO), then run `")
    assert fix.startswith(expected_fix), fix


def test_a_studio_style_lacking_only_the_shared_files_is_sent_to_a_fetch_that_works(tmp_path, capsys):
    # Before: "run `models fetch --style house --backbone toonify`", which models fetch refuses ("no official
    # style 'house'"): the suggested command could not bring the shared encoder.pt.
    from engine.models.inventory import models_command, scan_models, unusable_reason
    from engine.models_cli import _check_official

    models = tmp_path / "models"
    (models / "vtoonify_t_house").mkdir(parents=True)
    (models / "vtoonify_t_house" / "vtoonify.pt").write_bytes(b"x")
    (models / "faceparsing.pth").write_bytes(b"x")
    problem, fix = unusable_reason(scan_models(models).family("house", "toonify"), models)
    assert problem.endswith(f"cannot render: missing encoder.pt in {models}")
    assert f"run `{models_command('fetch', models_dir=models)}` (encoder.pt comes with any official style)" in fix
    assert "--style house" not in fix
    _check_official("cartoon", ("dualstylegan",))  # what that command fetches is published


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.99])
def test_a_truncated_legacy_format_checkpoint_is_named_truncated_not_a_non_checkpoint(tmp_path, fraction):
    # Before: "is not a PyTorch checkpoint (expected a zip archive; ...)" for a cut file in torch's pre-1.6
    # format, which loads when whole (models fetch accepts it too): the wrong diagnosis for a cut download.
    whole = tmp_path / "whole.pth"
    torch.save({"w": torch.arange(4096, dtype=torch.float32)}, whole, _use_new_zipfile_serialization=False)
    assert torch.equal(load_torch_file(whole)["w"], torch.arange(4096, dtype=torch.float32))
    path = tmp_path / "faceparsing.pth"
    data = whole.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ModelFileError) as info:
        load_torch_file(path)
    assert info.value.message.startswith(f"model file {path} is truncated or corrupt (a checkpoint in torch's "
                                         "legacy (pre-1.6) format")
    assert "models fetch" in info.value.fix


@pytest.mark.parametrize("names, expected", [
    (["n" * 2_000_000], r"style name 'nnnnnnnnnn…' is 2,000,000 characters long; an exemplar's file name has "
                        r"at most 255"),
    (["a\nb.jpg"], r"style name 'a\\nb\.jpg' holds control characters"),
    ([f"{i:06d}.jpg" for i in range(5000)], r"holds 5,000 style codes, more than the 4,096 read"),
], ids=["a 2 MB name", "a newline", "5000 codes"])
def test_style_names_that_could_not_be_sent_to_the_panel_are_refused(tmp_path, names, expected):
    # Before: one style name of 2 MB loaded, and the service's capabilities reply (every style's names) broke the
    # protocol's 1 MiB line limit: the panel and the add-on could list no style at all.
    codes = {name: np.zeros((1, 1, 1), np.float32) for name in names}
    path = _exstyle_file(tmp_path / "exstyle_code.npy", codes)
    with pytest.raises(ModelFileError, match=expected) as info:
        load_exstyles(path)
    assert str(path) in info.value.message


def _torch_zip_with_pickle(path, payload: bytes) -> None:
    """A checkpoint in torch.save's zip layout whose data.pkl is ``payload`` (opcodes written by hand)."""
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", payload)
        archive.writestr("archive/byteorder", "little")
        archive.writestr("archive/version", "3\n")


@pytest.mark.parametrize("layout", ["top level", "in g_ema"])
@pytest.mark.parametrize("key", ["5 MB name", "a million-int tuple", "a tuple 100,000 deep"])
def test_keys_of_any_size_or_depth_are_shown_short_in_the_message(golden_state, tmp_path, layout, key):
    # Before: a 5 MB key or a million-int tuple key was printed whole (a 5-8 MB error message, past the service's
    # 1 MiB line limit for the job's failure); a tuple nested 100,000 deep raised RecursionError (an internal error).
    path = tmp_path / "vtoonify.pt"
    if key == "a tuple 100,000 deep":  # torch.save cannot pickle it (recursion); the unpickler can build it
        deep = b")" + b"\x85" * 100_000  # EMPTY_TUPLE, then TUPLE1 100,000 times
        inner = b"}" + deep + b"K\x05s"  # {deep: 5}
        _torch_zip_with_pickle(path, b"\x80\x02" + (b"}U\x05g_ema" + inner + b"s" if layout == "in g_ema" else inner)
                               + b".")
    else:
        name = "k" * 5_000_000 if key == "5 MB name" else tuple(range(10**6))
        state = {"g_ema": {**golden_state, name: torch.zeros(1)}} if layout == "in g_ema" else {name: 1}
        torch.save(state, path)
    with pytest.raises(ModelFileError) as info:
        load_vtoonify(path)
    assert str(path) in info.value.message and len(info.value.message) < 1000, info.value.message[:300]


@pytest.mark.parametrize("kind", ["checkpoint", "style codes"])
def test_a_key_nested_a_million_deep_is_refused_without_crashing_the_engine(tmp_path, kind):
    # Before: a 1 MB file whose dict key was a tuple nested 1,000,000 deep killed the process with SIGSEGV while
    # unpickling (hashing the key recurses in C): torch.load(weights_only=True) and the .npy unpickler alike.
    # Run in a child process so that a crash fails this test, not the test run.
    import subprocess
    import sys

    deep_key = b")" + b"\x85" * 1_000_000  # EMPTY_TUPLE, then TUPLE1 a million times
    if kind == "checkpoint":
        path = tmp_path / "vtoonify.pt"
        _torch_zip_with_pickle(path, b"\x80\x02}" + deep_key + b"K\x05s.")
        load = "load_vtoonify"
    else:
        path = tmp_path / "exstyle_code.npy"
        with open(path, "wb") as handle:
            np.lib.format.write_array_header_1_0(handle, {"descr": "|O", "fortran_order": False, "shape": ()})
            handle.write(b"\x80\x03}" + deep_key + b"K\x05s.")
        load = "load_exstyles"
    code = (f"import sys; from engine.models import {load}; from engine.errors import ModelFileError\n"
            f"try:\n    {load}(sys.argv[1])\nexcept ModelFileError as exc:\n    print(exc.message)")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-400:]}"
    assert re.match(rf"refusing to load {re.escape(str(path))}: its pickle nests objects 1,000,00\d deep \(a model "
                    r"file's: under 10; at most 200 read", done.stdout), done.stdout


def test_models_list_beside_a_training_file_nested_a_million_deep_does_not_crash(tmp_path):
    # Before: the inventory reads the options a D family's pretrain.pt recorded (torch.load, bypassing
    # load_torch_file's checks), so a planted 1 MB pretrain.pt crashed `models list`, every render's model
    # lookup and the service's capabilities with SIGSEGV. Now the file is passed over, as any unreadable one.
    import subprocess
    import sys

    family = tmp_path / "vtoonify_d_house"
    family.mkdir()
    _torch_zip_with_pickle(family / "pretrain.pt", b"\x80\x02}" + b")" + b"\x85" * 1_000_000 + b"K\x05s.")
    done = subprocess.run([sys.executable, "-m", "engine", "models", "list", "--models", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-400:]}"
    assert "house" in done.stdout and "vtoonify_d_house/vtoonify_s_d.pt" in done.stdout


@pytest.mark.parametrize("protocol", [4, 5])
def test_a_checkpoint_pickled_with_protocol_4_or_5_is_named_so_not_as_code(tmp_path, protocol):
    # Before: "refusing to load ...: it contains objects other than tensors and plain data (a pickle that could
    # run code): Unsupported operand 149": torch's weights-only loader lacks protocol 4's FRAME instruction, so a
    # plain state dict saved with torch.save(..., pickle_protocol=4) was called hostile.
    path = tmp_path / "vtoonify.pt"
    torch.save({"w": torch.ones(3)}, path, pickle_protocol=protocol)
    with pytest.raises(ModelFileError) as info:
        load_torch_file(path)
    assert info.value.message == (f"cannot load {path}: its pickle uses protocol 4 or later, which torch's "
                                  "weights-only loader (the only one the engine uses) cannot read; nothing in it ran")
    assert "pickle_protocol=2" in info.value.fix


@pytest.mark.parametrize("key", [5, 2.5, b"a.jpg", ("a", "b")], ids=["int", "float", "bytes", "tuple"])
def test_a_style_code_whose_name_is_no_string_is_refused(tmp_path, key):
    # Before: {5: code} loaded as a style named "5" (str(key)): a hand-made file passed for an official one, whose
    # keys are always exemplar file names (strings, e.g. "Cartoons_00038_07.jpg").
    path = _exstyle_file(tmp_path / "exstyle_code.npy", {"a.jpg": np.zeros((1, 18, 512), np.float32),
                                                         key: np.zeros((1, 18, 512), np.float32)})
    with pytest.raises(ModelFileError, match=rf"style code named {re.escape(repr(key))} \(a {type(key).__name__}\); "
                                             r"an official file names each code by its exemplar's file name, a "
                                             r"string") as info:
        load_exstyles(path)
    assert str(path) in info.value.message and "models fetch" in info.value.fix
