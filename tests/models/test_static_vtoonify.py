"""The per-shot static VToonify against the official goldens and the general (reference) model, on the run's
``--device`` (tests/conftest.py); the C-kernel and CPU-heap tests are CPU only."""

from __future__ import annotations

import pytest
import torch

from engine.errors import InputError
from engine.models import static_vtoonify
from engine.models.precision import resolve_precision
from engine.models.static import memory_format_for
from tests.conftest import deterministic_kernels
from tests.models.test_vtoonify_golden import assert_close, cases_by_name, load_golden

D_IMAGE_CASES = ["main", "ds_0.0", "ds_1.0", "nonsquare", "style2d", "pipeline_exstyle_mix",
                 "pipeline_color_transfer"]
T_IMAGE_CASES = ["main", "nonsquare", "style2d", "pipeline_toonify"]


@pytest.fixture(scope="module")
def golden_d(reference_dir, device):
    return load_golden(reference_dir, "vtoonify_d_golden.pt", device)


@pytest.fixture(scope="module")
def golden_t(reference_dir, device):
    return load_golden(reference_dir, "vtoonify_t_golden.pt", device)


def check_static_case(model, case: dict) -> None:
    """One static network per distinct style row; a repeated shot style runs as one batch."""
    x, style, outputs = case["inputs"]["x"], case["inputs"]["style"], case["outputs"]
    d_s = case["call"]["d_s"]
    one_style = bool((style == style[:1]).all())
    groups = [slice(0, x.shape[0])] if one_style else [slice(i, i + 1) for i in range(x.shape[0])]
    for rows in groups:
        net = static_vtoonify(model, style[rows][:1], d_s=d_s)
        with torch.no_grad():
            if "masks" in outputs:
                image, masks = net(x[rows], return_mask=True)
                assert len(masks) == len(outputs["masks"])
                for k, (m, ref) in enumerate(zip(masks, outputs["masks"])):
                    assert_close(m, ref[rows], f"{case['name']} mask {k}")
                assert_close(net(x[rows]), image, "plain call == return_mask image")
            else:
                image = net(x[rows])
        assert image.dtype == torch.float32
        assert_close(image, outputs["image"][rows], f"{case['name']} image rows {rows}")


@pytest.mark.parametrize("name", D_IMAGE_CASES)
def test_static_vtoonify_d_matches_golden(golden_d, name):
    golden, model = golden_d
    check_static_case(model, cases_by_name(golden)[name])


@pytest.mark.parametrize("name", T_IMAGE_CASES)
def test_static_vtoonify_t_matches_golden(golden_t, name):
    golden, model = golden_t
    check_static_case(model, cases_by_name(golden)[name])


@pytest.mark.parametrize("d_s", [0.0, 0.25, 0.6, 1.0])
def test_static_matches_reference_path_over_style_degrees_and_batches(golden_d, d_s):
    """Any d_s, a batch of 3 frames: static == general model with the style repeated."""
    golden, model = golden_d
    case = cases_by_name(golden)["pipeline_exstyle_mix"]
    style = case["inputs"]["style"][:1]
    x = torch.cat([case["inputs"]["x"], case["inputs"]["x"][:1].flip(3)])  # [3,22,48,40]
    with torch.no_grad():
        expected, expected_masks = model(x, style.repeat(3, 1, 1), d_s=d_s, return_mask=True)
        image, masks = static_vtoonify(model, style, d_s=d_s)(x, return_mask=True)
    assert_close(image, expected, f"d_s={d_s}")
    for m, ref in zip(masks, expected_masks):
        assert_close(m, ref, f"d_s={d_s} mask")


def test_static_t_ignores_degree_and_returns_a_tensor_with_return_mask(golden_t):
    golden, model = golden_t
    case = cases_by_name(golden)["pipeline_toonify"]
    x, style = case["inputs"]["x"], case["inputs"]["style"][:1]
    with torch.no_grad(), deterministic_kernels():
        a = static_vtoonify(model, style, d_s=0.0)(x)
        b = static_vtoonify(model, style, d_s=1.0)(x, return_mask=True)
    assert isinstance(b, torch.Tensor) and torch.equal(a, b)


def test_memory_format_is_nchw_only_for_float32_on_cuda():
    assert memory_format_for("cuda:0", torch.float32) == torch.contiguous_format
    assert memory_format_for("cuda", torch.bfloat16) == torch.channels_last
    assert memory_format_for("cpu", torch.float32) == torch.channels_last


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_static_network_runs_in_its_devices_layout(golden_d, device, precision):
    """The folded weights and the encoder's maps are laid out as ``memory_format_for`` says for this
    device and dtype (fp32 on CUDA: NCHW), and the image still matches the reference path."""
    golden, model = golden_d
    case = cases_by_name(golden)["pipeline_exstyle_mix"]
    x, style = case["inputs"]["x"], case["inputs"]["style"][:1]
    net = static_vtoonify(model, style, d_s=0.6, precision=precision)
    layout = memory_format_for(device, net.dtype)
    assert net.memory_format == layout
    weights = [b for b in net.buffers() if b.dim() == 4]
    assert weights and all(b.is_contiguous(memory_format=layout) for b in weights)
    with torch.no_grad():
        feat, _, _ = net.encode(x)
        image = net(x)
        expected = model(x, style.repeat(x.shape[0], 1, 1), d_s=0.6)
    assert feat.shape[1] > 3 and feat.is_contiguous(memory_format=layout)
    if precision == "fp32":
        assert_close(image, expected, "fp32 image")
    else:
        assert (image - expected).abs().max().item() < 0.1


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_low_precision_stays_close_to_fp32(golden_d, precision):
    """bf16/fp16 compute, float32 out: PSNR of the clamped [0,1] image against fp32 above 30 dB here
    (narrow random weights; the full-size figure is in benchmarks/bench_inference.py)."""
    golden, model = golden_d
    case = cases_by_name(golden)["pipeline_color_transfer"]
    x, style = case["inputs"]["x"], case["inputs"]["style"][:1]
    with torch.no_grad():
        ref = static_vtoonify(model, style)(x)
        low = static_vtoonify(model, style, precision=precision)(x)
    assert low.dtype == torch.float32 and low.shape == ref.shape
    a, b = ((ref.clamp(-1, 1) + 1) / 2), ((low.clamp(-1, 1) + 1) / 2)
    psnr = 10 * torch.log10(1 / (a - b).pow(2).mean())
    assert psnr > 30, psnr
    assert not torch.equal(ref, low)


@pytest.mark.cpu_only("bf16 Winograd runs as C kernels on CPU maps")
def test_bf16_winograd_routes_stay_close_to_fp32(golden_d, monkeypatch):
    """The bf16 network's wide convs run as bf16 Winograd convs (C kernels; the narrow goldens are made
    wide enough by lowering the width rule): PSNR against fp32 stays above 30 dB and every tile
    route is taken, so the transformed bf16 weights and the fusion's bf16 mask kernels are in the
    picture (dilated sub-grids: tests/ops/test_native.py)."""
    from native_kernels import require

    from engine.ops import winograd

    require()
    golden, model = golden_d
    case = cases_by_name(golden)["pipeline_color_transfer"]
    x, style = case["inputs"]["x"], case["inputs"]["style"][:1]
    monkeypatch.setattr(winograd, "MIN_CHANNELS", 1)
    monkeypatch.setattr(winograd, "TUNE_MIN_SIDE_6", 20)  # 48x40 input: F(4x4,3x3) at 12x10, F(6x6,3x3) above
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    with torch.no_grad():
        ref = static_vtoonify(model, style, autotune=False)(x)
    calls, native_conv = [], winograd.winograd_native

    def spy(lib, v, u, d, *rest):
        calls.append((rest[-1], d, v.dtype, u.dtype))
        return native_conv(lib, v, u, d, *rest)

    monkeypatch.setattr(winograd, "winograd_native", spy)
    with torch.no_grad():
        low = static_vtoonify(model, style, precision="bf16", autotune=False)(x)
    assert {tile for tile, *_ in calls} == {4, 6}, calls
    assert all(v == u == torch.bfloat16 for *_, v, u in calls)
    a, b = ((ref.clamp(-1, 1) + 1) / 2), ((low.clamp(-1, 1) + 1) / 2)
    psnr = 10 * torch.log10(1 / (a - b).pow(2).mean())
    assert psnr > 30, psnr


def test_static_rejects_a_batch_of_different_styles_and_bad_input(golden_d):
    golden, model = golden_d
    case = cases_by_name(golden)["main"]
    with pytest.raises(InputError, match="one style"):
        static_vtoonify(model, case["inputs"]["style"])
    net = static_vtoonify(model, case["inputs"]["style"][:1])
    with pytest.raises(InputError, match="multiples of 8"):
        net(torch.zeros(1, 22, 30, 32, device=case["inputs"]["x"].device))


def test_auto_precision_follows_the_hardware(monkeypatch):
    import engine.models.precision as precision

    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: True)
    assert resolve_precision("auto", "cpu") == "bf16"
    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: False)
    assert resolve_precision("auto", "cpu") == "fp32"
    assert resolve_precision("fp16", "cpu") == "fp16"
    from engine.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown precision"):
        resolve_precision("fp8", "cpu")


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    from engine.models.precision import cpu_has_fast_bf16

    with_bf16 = tmp_path / "a"
    with_bf16.write_text("processor : 0\nflags : fpu avx512f avx512_bf16\n")
    without = tmp_path / "b"
    without.write_text("processor : 0\nflags : fpu avx2\n")
    assert cpu_has_fast_bf16(str(with_bf16)) and not cpu_has_fast_bf16(str(without))
    assert not cpu_has_fast_bf16(str(tmp_path / "missing"))


@pytest.mark.parametrize("golden_name", ["vtoonify_d_golden.pt", "vtoonify_t_golden.pt"])
def test_strip_decoding_equals_the_whole_frame(reference_dir, device, golden_name):
    """Decoding the high-resolution stages in strips (bounded memory) gives the whole-frame numbers:
    whole-frame norm statistics and margins wider than the receptive field leave no seams."""
    from engine.models.static import tiled

    golden, model = load_golden(reference_dir, golden_name, device)
    case = cases_by_name(golden)["main"]
    x = torch.nn.functional.interpolate(case["inputs"]["x"], size=(96, 80), mode="bilinear")
    net = static_vtoonify(model, case["inputs"]["style"][:1], d_s=0.6)
    with torch.no_grad():
        whole = net(x)
        for strip_pixels in (80 * 24, 80 * 8):  # several strips per stage, down to one row block
            strips = tiled(net, x, strip_pixels=strip_pixels)
            assert strips.shape == whole.shape == (2, 3, 384, 320)
            torch.testing.assert_close(strips, whole, atol=1e-5, rtol=0)


def test_strip_rows_weight_wide_stages_and_keep_the_usual_crops_unchanged():
    """Stages wider than STRIP_CHANNELS get proportionally shorter strips (a 1600x1280 crop's 512
    channel stage: 102 rows, not whole); the 256x256 and 400x320 crops' stages split as before."""
    from engine.models.static import STRIP_PIXELS, strip_rows

    def rows(c, h, w):
        return strip_rows(torch.empty(1, c, h, w, device="meta"), STRIP_PIXELS)

    assert rows(64, 512, 512) == 256 and rows(128, 256, 256) is None  # 256x256 crop: last stage in 2 strips
    assert rows(64, 800, 640) == 204 and rows(128, 400, 320) is None  # 400x320 crop
    assert rows(512, 400, 320) == 102 and rows(256, 800, 640) == 102 and rows(128, 1600, 1280) == 102
    assert rows(512, 200, 160) is None
    assert rows(1024, 4000, 4000) == 8  # never under 8 rows


def test_huge_frames_recompute_the_full_size_feature_in_bands_with_the_same_numbers(reference_dir, device,
                                                                                   monkeypatch):
    """A frame of more than BANDED_FEATURE_STRIPS strips never holds the encoder's full-size feature whole: each
    strip (and the fusion's statistics) recomputes its band from the input, with the whole-frame
    numbers; narrow stages count as wide when STRIP_CHANNELS is lowered, and still match."""
    from engine.models import static

    golden, model = load_golden(reference_dir, "vtoonify_d_golden.pt", device)
    case = cases_by_name(golden)["main"]
    x = torch.nn.functional.interpolate(case["inputs"]["x"], size=(96, 80), mode="bilinear")
    net = static_vtoonify(model, case["inputs"]["style"][:1], d_s=0.6)
    bands = []
    real_rows = static.EncodedRows.rows

    def recording_rows(self, top, bottom):
        bands.append(bottom - top)
        return real_rows(self, top, bottom)

    with torch.no_grad():
        whole = net._forward(x, False)
        monkeypatch.setattr(static.EncodedRows, "rows", recording_rows)
        strips = static.tiled(net, x, strip_pixels=80 * 16)  # 96x80 is 6 such strips, over BANDED_FEATURE_STRIPS
        assert bands and max(bands) < 96  # used, and never the whole height
        torch.testing.assert_close(strips, whole, atol=1e-5, rtol=0)
        bands.clear()
        monkeypatch.setattr(static, "STRIP_CHANNELS", 2)
        narrow = static.tiled(net, x, strip_pixels=80 * 16)
    torch.testing.assert_close(narrow, whole, atol=1e-5, rtol=0)
    unsplit = []
    monkeypatch.setattr(static.EncodedRows, "__init__", lambda *a: unsplit.append(1) or None)
    with torch.no_grad():
        static.tiled(net, x, strip_pixels=80 * 24)  # 96x80 is 4 such strips: held whole
    assert not unsplit


def test_cpu_forward_decodes_the_large_stages_in_strips_with_the_whole_frame_numbers(reference_dir, monkeypatch):
    """``forward`` on CPU runs decoder stages above ``STRIP_PIXELS`` in strips (cache-warm, less memory
    to page in); the image is the whole-frame one, and a call asking for the masks runs whole."""
    from engine.models import static

    golden, model = load_golden(reference_dir, "vtoonify_d_golden.pt")
    case = cases_by_name(golden)["main"]
    x = torch.nn.functional.interpolate(case["inputs"]["x"], size=(96, 80), mode="bilinear")
    net = static_vtoonify(model, case["inputs"]["style"][:1], d_s=0.6)
    calls = []
    real_tiled = static.tiled

    def counting_tiled(*args, **kwargs):
        calls.append(args[2])
        return real_tiled(*args, **kwargs)

    with torch.no_grad():
        whole = net._forward(x, False)
        monkeypatch.setattr(static, "tiled", counting_tiled)
        monkeypatch.setattr(static, "STRIP_PIXELS", 80 * 8)
        strips = net(x)
        image, masks = net(x, return_mask=True)
        monkeypatch.setattr(static, "STRIP_PIXELS", 1 << 30)
        unsplit = net(x)
    assert calls == [80 * 8]  # once: not for the masks, not for a frame under the threshold
    torch.testing.assert_close(strips, whole, atol=1e-5, rtol=0)
    torch.testing.assert_close(image, whole, atol=0, rtol=0)
    torch.testing.assert_close(unsplit, whole, atol=0, rtol=0)
    assert len(masks) == len(net.fusions)


@pytest.mark.cpu_only("the reused heap is glibc's, for CPU feature maps")
def test_cpu_forward_keeps_its_freed_pages_within_the_frame(golden_t, monkeypatch):
    """On CPU ``forward`` runs inside ``reused_heap(linger=True)`` (engine.models.heap), so API callers
    get the page reuse too, within the frame and from call to call; the pixels are the same either way."""
    import contextlib

    from engine.models import static as static_module

    golden, model = golden_t
    case = cases_by_name(golden)["main"]
    x, style = case["inputs"]["x"][:1], case["inputs"]["style"][:1]
    net = static_vtoonify(model, style, d_s=case["call"]["d_s"])
    with torch.no_grad():
        plain = net(x)
    entered = []

    @contextlib.contextmanager
    def recording_heap(linger=False):
        entered.append(linger)
        yield True

    monkeypatch.setattr(static_module, "reused_heap", recording_heap)
    with torch.no_grad():
        recorded = net(x)
    assert entered == [True]
    assert torch.equal(plain, recorded)


@pytest.mark.parametrize("d_s", [0.0, 0.6, 1.0])
@pytest.mark.parametrize("tile", [2, 4, 6])
def test_winograd_convs_match_the_reference_path(golden_d, d_s, tile, monkeypatch):
    """With a Winograd 3x3 route forced on for every eligible conv of the narrow model (tile 2:
    residual, ModRes with dilations 4/2/1, fusion convs; tiles 4 and 6: every dilation-1 3x3 conv of
    the encoder, fusions and decoder stages), the static network still equals the general model."""
    from engine.models import static as static_module
    from engine.ops import winograd

    golden, model = golden_d
    if tile == 6:
        if next(model.parameters()).device.type != "cpu":
            pytest.skip("F(6x6,3x3) is a CPU C kernel only (tiles 2 and 4 run their torch routes here)")
        from native_kernels import require

        require()  # F(6x6,3x3) is a C kernel only
    case = cases_by_name(golden)["pipeline_exstyle_mix"]
    style, x = case["inputs"]["style"][:1], case["inputs"]["x"]
    monkeypatch.setenv("VTOONIFY_AUTOTUNE", "0")  # the fixed rules, forced below (autotune: test_autotune.py)
    forced = lambda v, cin, cout, dilation=1: tile if tile == 2 or dilation == 1 else 0  # noqa: E731
    monkeypatch.setattr(winograd, "tile_for", forced)
    calls = []
    real = winograd.conv3x3
    monkeypatch.setattr(winograd, "conv3x3", lambda *a, **k: calls.append(k["tile"]) or real(*a, **k))
    with torch.no_grad():
        expected, expected_masks = model(x, style.repeat(x.shape[0], 1, 1), d_s=d_s, return_mask=True)
        image, masks = static_module.static_vtoonify(model, style, d_s=d_s)(x, return_mask=True)
    n_modres = 12 if d_s and tile == 2 else 0  # 6 ModRes blocks x 2 convs, none at d_s = 0 (dilated: direct at 4, 6)
    assert calls.count(tile) == len(calls) >= 12 + n_modres  # 6 residual blocks x 2 convs at least
    assert_close(image, expected, f"winograd F({tile}x{tile},3x3) d_s={d_s}")
    for m, ref in zip(masks, expected_masks):
        assert_close(m, ref, f"winograd F({tile}x{tile},3x3) d_s={d_s} mask")


@pytest.mark.cpu_only("the C kernels and their fallback are the CPU routes; CUDA runs check_static_case above")
@pytest.mark.parametrize("route", ["native", "torch"])
@pytest.mark.parametrize("name", ["main", "pipeline_color_transfer", "ds_1.0"])
def test_native_kernels_and_their_torch_fallback_both_match_the_golden(golden_d, name, route, monkeypatch):
    """The C kernels (F(4x4,3x3) transforms, the fusion mask) and the torch ops they fall back to give
    the golden's numbers; with them on, the fusion mask really comes from the kernels."""
    from native_kernels import require

    from engine.ops import gate, native

    if route == "torch":
        monkeypatch.setattr(native, "library", lambda: None)
    else:
        require()
    calls = []
    real = gate.mask_logits
    monkeypatch.setattr(gate, "mask_logits", lambda *a, **k: calls.append(1) or real(*a, **k))
    golden, model = golden_d
    check_static_case(model, cases_by_name(golden)[name])
    assert bool(calls) == (route == "native")
