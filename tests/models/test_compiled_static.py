"""``--compile``: the compiled static network gives the eager pixels, and a failed compile warns and
runs eager (never fails the job). Speed is measured in benchmarks/bench_inference.py, not here."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from engine.errors import ConfigError
from engine.models import static_vtoonify
from engine.models.compiled import CompiledForward, compile_problem, should_compile
from engine.models.static import tiled
from engine.pipeline.config import RenderConfig
from tests.models.test_static_backend import narrow_backend
from tests.models.test_vtoonify_golden import assert_close, cases_by_name, load_golden


@pytest.fixture(scope="module")
def narrow_d(reference_dir):
    golden, model = load_golden(reference_dir, "vtoonify_d_golden.pt")
    case = cases_by_name(golden)["pipeline_exstyle_mix"]
    return model, case["inputs"]["x"][:1], case["inputs"]["style"][:1]


def failing_backend(gm, example_inputs):
    raise RuntimeError("compiler exploded")


def test_a_failed_compile_warns_once_and_runs_eager_with_the_same_pixels(narrow_d):
    model, x, style = narrow_d
    net = static_vtoonify(model, style, d_s=0.5)
    warnings = []
    run = CompiledForward(net, warnings.append, backend=failing_backend)
    with torch.inference_mode():
        expected = net(x)
        first, second = run(x), run(x)
    assert len(warnings) == 1 and "compiler exploded" in warnings[0] and "uncompiled" in warnings[0]
    assert run.failure is not None and run.compile_seconds == 0.0
    assert torch.equal(first, expected) and torch.equal(second, expected)


def test_no_cpp_compiler_means_eager_with_a_warning_naming_the_fix(narrow_d):
    import torch._inductor.config as inductor_config

    model, x, style = narrow_d
    net = static_vtoonify(model, style, d_s=0.5)
    warnings = []
    with inductor_config.patch({"cpp.cxx": ("/nonexistent/bin/g++-404",)}):
        assert "no C++ compiler" in compile_problem("cpu")
        assert not should_compile("auto", "cpu", 1000)
        run = CompiledForward(net, warnings.append)
    assert len(warnings) == 1 and "CXX" in warnings[0]
    with torch.inference_mode():
        assert torch.equal(run(x), net(x))


def test_compile_modes():
    assert should_compile("on", "cpu", None) and should_compile("on", "cpu", 1)
    assert not should_compile("off", "cpu", 10_000)
    assert not should_compile("auto", "cpu", None)  # a preview: one frame never pays for a compile
    assert not should_compile("auto", "cpu", 1)
    assert should_compile("auto", "cpu", 1000) == (compile_problem("cpu") is None)
    assert not should_compile("auto", "cuda", 1000)  # auto is CPU-only: GPU compile is untested here
    assert compile_problem("meta") is not None
    with pytest.raises(ConfigError, match="compile mode"):
        should_compile("fast", "cpu", 100)


def test_auto_compiles_only_when_the_frames_left_repay_the_compile(narrow_d):
    """The first call runs eager and is timed: ten frames of a narrow network (milliseconds a frame, well
    under a second even on a loaded machine) never repay a compile; a job long enough does compile (here:
    the failing backend runs)."""
    model, x, style = narrow_d
    net = static_vtoonify(model, style, d_s=0.5)
    warnings = []
    with torch.inference_mode():
        expected = net(x)
        short = CompiledForward(net, warnings.append, backend=failing_backend, frames=10)
        assert torch.equal(short(x), expected) and torch.equal(short(x), expected)
        assert warnings == [] and "would save less" in short.skipped
        long = CompiledForward(net, warnings.append, backend=failing_backend, frames=10**12)
        assert torch.equal(long(x), expected) and warnings == []  # first call: eager, timed
        assert torch.equal(long(x), expected)  # second call: compiles (and here falls back)
    assert long.skipped is None and len(warnings) == 1 and "compiler exploded" in warnings[0]


def test_compile_setting_is_checked_and_stays_out_of_the_job_key():
    from engine.cli import _config_from_args, build_parser
    from engine.pipeline.shot import job_key

    base = RenderConfig(source="a.mp4", output="out")
    assert base.compile == "off"
    with pytest.raises(ConfigError, match="compile"):
        RenderConfig(source="a.mp4", output="out", compile="yes")
    keys = {job_key(dataclasses.replace(base, compile=m), "vtoonify", {}) for m in ("auto", "on", "off")}
    assert len(keys) == 1  # same pixels (float rounding aside): chunks may mix compiled and eager
    args = build_parser().parse_args(["render", "a.mp4", "-o", "out", "--compile", "off"])
    assert _config_from_args(args).compile == "off"


def test_tiled_uses_the_whole_frame_runner_only_for_frames_without_strips(narrow_d):
    model, x, style = narrow_d  # [1,22,48,40]
    net = static_vtoonify(model, style, d_s=0.5)
    calls = []

    def whole(inputs):
        calls.append(tuple(inputs.shape))
        return net(inputs)

    with torch.inference_mode():
        expected = net(x)
        assert torch.equal(tiled(net, x, strip_pixels=1 << 18, whole=whole), expected)
        assert calls == [tuple(x.shape)]
        striped = tiled(net, x, strip_pixels=64, whole=whole)
    assert calls == [tuple(x.shape)]  # strips never go through ``whole``
    assert_close(striped, expected, "strips")


@pytest.mark.slow
def test_inductor_compiled_network_gives_the_eager_pixels(narrow_d, tmp_path, monkeypatch):
    """A real inductor compile (C++ kernels, frozen weights) of the narrow VToonify-D."""
    if compile_problem("cpu") is not None:
        pytest.skip(compile_problem("cpu"))
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    model, x, style = narrow_d
    net = static_vtoonify(model, style, d_s=0.5)
    warnings = []
    run = CompiledForward(net, warnings.append)
    with torch.inference_mode():
        expected = net(x)
        compiled = run(x)
        seconds = run.compile_seconds
        again = run(x)
        other = x[:, :, :32]  # another shape (a shorter last batch, say): eager, no second compile
        assert torch.equal(run(other), net(other)) and run.compile_seconds == seconds
    assert warnings == [] and run.failure is None and seconds > 0
    assert_close(compiled, expected, "compiled vs eager")
    assert torch.equal(again, compiled)
    # Another shot in the same process (a service runs many jobs): its own weights, not the frozen
    # constants of the first compile, and the first runner still gives its own pixels.
    net_b = static_vtoonify(model, style.flip(1), d_s=0.8)
    run_b = CompiledForward(net_b, warnings.append)
    with torch.inference_mode():
        expected_b = net_b(x)
        assert (expected_b - expected).abs().max() > 1e-3  # the two shots really differ
        assert_close(run_b(x), expected_b, "second shot compiled vs eager")
        assert torch.equal(run(x), compiled)
    assert warnings == [] and run_b.failure is None


def test_backend_compiles_only_when_the_setting_says_so(narrow_models_dir):
    """``prepare`` builds the compiled runner for long jobs under ``on``/``auto``, never for ``off``
    or a preview; with a failing compiler the job's warning sink gets the message and pixels match."""
    wplus = torch.randn(1, 18, 512, generator=torch.Generator().manual_seed(3))
    backend, _ = narrow_backend(narrow_models_dir, precision="fp32", compile="off")
    backend.prepare(None, wplus, frames=1000)
    assert backend.wholes == [None]
    backend, _ = narrow_backend(narrow_models_dir, precision="fp32", compile="auto")
    backend.prepare(None, wplus, frames=None)
    assert backend.wholes == [None]
    crops = [np.random.default_rng(2).integers(0, 256, (40, 32, 3), dtype=np.uint8)]
    expected = backend.stylize(crops)[0].rgb
    backend, _ = narrow_backend(narrow_models_dir, precision="fp32", compile="on")
    warnings = []
    backend.prepare(None, wplus, frames=2, warn=warnings.append)
    assert isinstance(backend.wholes[0], CompiledForward) and backend.wholes[0].frames_left is None  # on
    backend.wholes = [CompiledForward(backend.net, warnings.append, backend=failing_backend)]
    np.testing.assert_array_equal(backend.stylize(crops)[0].rgb, expected)
    assert len(warnings) == 1 and "compiler exploded" in warnings[0]
