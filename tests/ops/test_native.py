"""engine.ops.native: the C kernels of F(4x4,3x3) against F.conv2d and the torch route, and how they
are built, cached, refused and turned off (with the torch route still giving the same numbers)."""

from __future__ import annotations

import os
import sys

import pytest
import torch
from native_kernels import require
from torch.nn import functional as F

from engine.ops import native, winograd

pytestmark = pytest.mark.cpu_only("C kernels built with the system compiler, called through ctypes on CPU maps")


@pytest.fixture
def fresh_native(tmp_path, monkeypatch):
    """A private, empty kernel cache for this test; the process's own state comes back after it."""
    monkeypatch.setenv("VTOONIFY_NATIVE_DIR", str(tmp_path / "native"))
    monkeypatch.delenv("VTOONIFY_NATIVE", raising=False)
    native.reset()
    yield tmp_path / "native"
    native.reset()


def _conv_then_act(x, weight, bias, d, slope):
    y = F.conv2d(x, weight, bias, padding=d, dilation=d)
    return y if slope is None else F.leaky_relu(y, slope)


SHAPES = [  # (N, Cin, Cout, H, W, dilation): whole and partial channel blocks, odd sizes, batches, sub-grids
    (1, 16, 32, 12, 12, 1),
    (2, 17, 33, 9, 13, 1),
    (1, 40, 8, 1, 3, 1),
    (1, 32, 16, 21, 19, 2),
    (2, 5, 48, 33, 17, 4),
    (1, 64, 64, 40, 24, 1),
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("bias_and_slope", [(True, 0.2), (False, None), (True, None)])
@pytest.mark.parametrize("chunk", [1, winograd.CHUNK])
@pytest.mark.parametrize("tile", [4, 6])
def test_native_winograd_equals_conv2d_and_the_torch_route(monkeypatch, shape, bias_and_slope, chunk, tile):
    """F(4x4,3x3) and F(6x6,3x3) in C against conv2d (+ leaky ReLU); F(4x4,3x3) also against its torch
    route."""
    lib = require()
    n, cin, cout, h, w, d = shape
    with_bias, slope = bias_and_slope
    torch.manual_seed(sum(shape))
    x = torch.randn(n, cin, h, w).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(cout, cin, 3, 3) / (9 * cin) ** 0.5
    bias = torch.randn(cout) if with_bias else None
    u = winograd.winograd_weight(weight, tile)
    monkeypatch.setattr(winograd, "CHUNK", chunk)  # 1: one tile row per band, so bands meet everywhere
    got = winograd.winograd_native(lib, x, u, d, bias, slope, tile)
    assert got.shape == (n, cout, h, w) and got.is_contiguous(memory_format=torch.channels_last)
    ref = _conv_then_act(x, weight, bias, d, slope)
    torch.testing.assert_close(got, ref, atol=6e-5, rtol=1e-5)
    if tile == 4:
        torch_route = winograd._conv_f4(x, u, d, bias, slope)[:, :h, :w].permute(0, 3, 1, 2)
        torch.testing.assert_close(got, torch_route, atol=4e-5, rtol=1e-5)


def test_conv3x3_takes_the_native_route_and_any_input_layout():
    """``conv3x3(tile=4)`` on CPU float32 runs the kernels (NCHW input too) and gives conv2d's numbers."""
    lib = require()
    calls = []

    class Counting:
        def __getattr__(self, name):
            calls.append(name)
            return getattr(lib, name)

    torch.manual_seed(4)
    x = torch.randn(1, 24, 18, 14)  # NCHW
    weight = torch.randn(20, 24, 3, 3) / 15
    original = native.library
    native.library = lambda: Counting()
    try:
        for tile in (4, 6):
            got = winograd.conv3x3(x, weight, tile=tile)
            torch.testing.assert_close(got, F.conv2d(x, weight, padding=1), atol=6e-5, rtol=1e-5)
    finally:
        native.library = original
    assert {"f4_input", "f4_output", "f6_input", "f6_output"} <= set(calls)


def test_tile_six_is_timed_only_with_the_kernels_and_runs_direct_without(monkeypatch):
    big = torch.zeros(1, 256, 64, 64)
    if native.library() is not None:
        assert 6 in winograd.candidate_tiles(big, 256, 256)
        assert 6 not in winograd.candidate_tiles(torch.zeros(1, 256, 32, 32), 256, 256)  # loses on small maps
        assert 6 not in winograd.candidate_tiles(big, 256, 256, dilation=2)
    monkeypatch.setattr(native, "library", lambda: None)
    assert 6 not in winograd.candidate_tiles(big, 256, 256) and 4 in winograd.candidate_tiles(big, 256, 256)
    torch.manual_seed(6)
    x, weight, bias = torch.randn(1, 8, 13, 11), torch.randn(5, 8, 3, 3) / 9, torch.randn(5)
    torch.testing.assert_close(winograd.conv3x3(x, weight, bias, tile=6, slope=0.2),
                               F.leaky_relu(F.conv2d(x, weight, bias, padding=1), 0.2))


def test_built_once_into_a_private_cache_then_reused(fresh_native, monkeypatch):
    require()
    built = sorted(fresh_native.glob("kernels-*.so"))
    assert len(built) == 1
    assert os.stat(fresh_native).st_mode & 0o077 == 0
    assert not [p for p in fresh_native.iterdir() if p.name.startswith(".build-")]  # no temp file left
    native.reset()

    def no_build(*args):
        raise AssertionError("a built library was compiled again")

    monkeypatch.setattr(native, "_build", no_build)
    assert native.library() is not None and native.problem() is None


def test_no_compiler_keeps_the_torch_route(fresh_native, monkeypatch):
    monkeypatch.setenv("CC", str(fresh_native.parent / "no-such-cc"))
    assert native.library() is None
    assert "no C compiler" in native.problem() and "CC" in native.problem()
    torch.manual_seed(5)
    x, weight = torch.randn(1, 8, 11, 10), torch.randn(6, 8, 3, 3) / 9
    torch.testing.assert_close(winograd.conv3x3(x, weight, tile=4), F.conv2d(x, weight, padding=1),
                               atol=4e-5, rtol=1e-5)


def test_turned_off_by_the_environment(fresh_native, monkeypatch):
    monkeypatch.setenv("VTOONIFY_NATIVE", "0")
    assert native.library() is None and "VTOONIFY_NATIVE=0" in native.problem()
    assert not fresh_native.exists()  # nothing built or created


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX permissions")
def test_a_cache_others_can_write_to_is_refused(fresh_native):
    fresh_native.mkdir(mode=0o700)
    os.chmod(fresh_native, 0o777)
    assert native.library() is None
    assert "not private" in native.problem() and str(fresh_native) in native.problem()
    assert not list(fresh_native.iterdir())  # nothing built there


def test_links_are_never_followed(fresh_native, tmp_path, monkeypatch):
    """A linked cache folder, or a link where the built library should be, is refused, not loaded."""
    real = tmp_path / "elsewhere"
    real.mkdir(mode=0o700)
    fresh_native.symlink_to(real, target_is_directory=True)
    assert native.library() is None and "link" in native.problem()
    assert not list(real.iterdir())

    fresh_native.unlink()
    native.reset()
    require()  # a real build, then its file swapped for a link to a copy of it
    built = next(fresh_native.glob("kernels-*.so"))
    copy = real / "copy.so"
    copy.write_bytes(built.read_bytes())
    built.unlink()
    built.symlink_to(copy)
    native.reset()
    assert native.library() is None and "not a regular file" in native.problem()


def test_a_build_error_is_reported_and_leaves_no_file(fresh_native, tmp_path, monkeypatch):
    broken = tmp_path / "broken.c"
    broken.write_text(native.SOURCES[0].read_text().replace("static inline void bt6", "static inline void bt6 oops"))
    monkeypatch.setattr(native, "SOURCES", (broken, *native.SOURCES[1:]))
    if native.compiler() is None:
        pytest.skip("no C compiler here")
    assert native.library() is None
    assert "could not build broken.c" in native.problem()
    assert not list(fresh_native.iterdir())


def test_a_library_that_disagrees_with_conv2d_is_not_used(fresh_native, tmp_path, monkeypatch):
    """The load-time self-test: kernels with one wrong transform coefficient are refused."""
    wrong = tmp_path / "wrong.c"
    source = native.SOURCES[0].read_text()
    assert "y[1][k] = b + 2.0f * e;" in source
    wrong.write_text(source.replace("y[1][k] = b + 2.0f * e;", "y[1][k] = b + 3.0f * e;"))
    monkeypatch.setattr(native, "SOURCES", (wrong, *native.SOURCES[1:]))
    if native.compiler() is None:
        pytest.skip("no C compiler here")
    assert native.library() is None
    assert "disagree with F.conv2d" in native.problem()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_kernels_use_the_openmp_runtime_torch_loaded():
    """One OpenMP runtime in the process: the kernels' threads are torch's own, not a second pool
    spinning against it."""
    require()
    with open("/proc/self/maps", encoding="utf-8") as handle:
        runtimes = {line.split()[-1] for line in handle if "libgomp" in line or "libiomp" in line}
    assert len(runtimes) == 1, runtimes


def test_a_cached_file_that_is_not_a_library_is_refused_with_the_fix(fresh_native):
    """A damaged cache entry (not a shared library) is named, with how to rebuild it. Checked in a new
    process: this one already has the library loaded under that name."""
    import subprocess

    require()
    built = next(fresh_native.glob("kernels-*.so"))
    built.unlink()  # a new file, not the mapped one rewritten in place (that would crash this process)
    built.write_bytes(b"not an ELF file")
    os.chmod(built, 0o700)
    code = "from engine.ops import native; print(native.library() is None); print(native.problem())"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                         env={**os.environ, "VTOONIFY_NATIVE_DIR": str(fresh_native)})
    assert run.returncode == 0, run.stderr
    refused, problem = run.stdout.splitlines()[:2]
    assert refused == "True"
    assert str(built) in problem and "delete it to rebuild" in problem


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("tile", [4, 6])
def test_bf16_kernels_equal_the_float32_kernels_within_bf16_rounding(shape, tile):
    """bf16 maps, V and M (the bf16 static network's route): the same transforms in float32 between bf16
    roundings, so the result is the float32 kernels' on the same bf16 inputs, off by those roundings
    amplified by the transforms (about 1.6% (F(4x4,3x3)) and 3% (F(6x6,3x3)) of the mean output here);
    a wrong layout or a lost block would be off by 100%. Partial channel blocks, batches, sub-grids."""
    lib = require()
    n, cin, cout, h, w, d = shape
    gen = torch.Generator().manual_seed(sum(shape) + tile)
    x = torch.randn(n, cin, h, w, generator=gen).bfloat16().contiguous(memory_format=torch.channels_last)
    weight = (torch.randn(cout, cin, 3, 3, generator=gen) / (9 * cin) ** 0.5).bfloat16()
    bias = torch.randn(cout, generator=gen)
    u = winograd.winograd_weight(weight, tile)
    exact = winograd.winograd_native(lib, x.float(), u, d, bias, 0.2, tile)
    got = winograd.winograd_native(lib, x, u.bfloat16(), d, bias, 0.2, tile)
    assert got.dtype == torch.bfloat16 and got.shape == exact.shape
    assert got.is_contiguous(memory_format=torch.channels_last)
    error = ((got.float() - exact).abs().mean() / exact.abs().mean()).item()
    assert error < {4: 0.03, 6: 0.06}[tile], error
    routed = winograd.conv3x3(x, weight, bias, d, tile=tile, slope=0.2)  # the public entry, same kernels
    torch.testing.assert_close(routed, got, atol=0, rtol=0)


def test_bf16_conv_without_kernels_is_the_direct_conv(monkeypatch):
    monkeypatch.setattr(native, "library", lambda: None)
    x = torch.randn(1, 8, 9, 9).bfloat16()
    weight, bias = torch.randn(4, 8, 3, 3).bfloat16(), torch.randn(4).bfloat16()
    for tile in (4, 6):
        got = winograd.conv3x3(x, weight, bias, tile=tile)
        torch.testing.assert_close(got, F.conv2d(x, weight, bias, padding=1), atol=0, rtol=0)
    with pytest.raises(ValueError, match="both float32 or both bfloat16"):
        winograd.winograd_native(object(), x, winograd.winograd_weight(weight.float(), 4), 1, None, None, 4)


def test_bf16_blocks_convert_the_same_without_the_cpus_bf16_instructions(tmp_path):
    """A ``-march=native`` build widens and rounds whole bf16 blocks with AVX-512 instructions; the
    portable build (``FALLBACK_FLAGS``, what a compiler without ``-march=native`` makes) does it in
    plain C. Both must give the same bits, partial blocks included."""
    import ctypes
    import subprocess

    lib = require()
    cc = native.compiler()
    portable = tmp_path / "portable.so"
    subprocess.run([cc, *native.FALLBACK_FLAGS, "-o", str(portable), *map(str, native.SOURCES)], check=True,
                   capture_output=True, timeout=120)
    other = native._bind(ctypes.CDLL(str(portable)))
    gen = torch.Generator().manual_seed(11)
    for cin, cout, tile in ((32, 48, 4), (19, 21, 6)):
        x = (torch.randn(1, cin, 14, 13, generator=gen) * 3).bfloat16().contiguous(memory_format=torch.channels_last)
        u = winograd.winograd_weight(torch.randn(cout, cin, 3, 3, generator=gen) / 9, tile).bfloat16()
        bias = torch.randn(cout, generator=gen)
        a = winograd.winograd_native(lib, x, u, 1, bias, 0.2, tile)
        b = winograd.winograd_native(other, x, u, 1, bias, 0.2, tile)
        assert torch.equal(a, b)
