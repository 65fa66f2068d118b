"""engine.models.autotune: conv routes chosen by timing, cached per shape, off by a switch; whatever
is chosen, the static network's numbers stay those of the reference path."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from engine.models import autotune
from engine.models.static import StaticConv, static_vtoonify
from engine.ops import winograd
from tests.models.test_vtoonify_golden import assert_close, cases_by_name, load_golden

pytestmark = pytest.mark.cpu_only("routes are timed on CPU only; CUDA runs cuDNN's convs untimed")


class RiggedTuner(autotune.Tuner):
    """Times each route as ``seconds[name]`` (a list: one value per run, the last repeated), so a
    choice does not depend on the machine; ``runs`` counts the calls of each route."""

    def __init__(self, seconds: dict[str, list[float] | float], **kwargs) -> None:
        super().__init__(**kwargs)
        self.seconds = {k: v if isinstance(v, list) else [v] for k, v in seconds.items()}
        self.runs: dict[str, int] = {}

    def _time(self, name, run):
        k = self.runs.get(name, 0)
        self.runs[name] = k + 1
        times = self.seconds.get(name, [1.0])
        return run(), times[min(k, len(times) - 1)]


@pytest.fixture(autouse=True)
def fresh_choices():
    autotune.forget()
    yield
    autotune.forget()


X = torch.zeros(1, 4, 8, 8)


def routes_returning(*names):
    return {name: (lambda x, name=name: torch.tensor(float(len(name)))) for name in names}


def test_fastest_route_wins_and_its_output_is_returned():
    tuner = RiggedTuner({"direct": 1.0, "winograd2": 0.5, "winograd4": 0.7})
    name, out = tuner.choose(("k",), X, routes_returning("direct", "winograd2", "winograd4"), "direct")
    assert name == "winograd2" and out.item() == len("winograd2")
    assert tuner.runs == {"direct": 1 + autotune.ROUNDS, "winograd2": 1 + autotune.ROUNDS,
                          "winograd4": 1 + autotune.ROUNDS}
    assert tuner.timed == 1 and "winograd2 1" in tuner.summary()


def test_the_fixed_rules_route_keeps_its_place_unless_beaten_by_the_margin():
    close = autotune.MARGIN * 1.01  # only 4% faster than the fixed rule's route: noise, the rule stays
    tuner = RiggedTuner({"direct": close, "winograd2": 1.0})
    assert tuner.choose(("k",), X, routes_returning("direct", "winograd2"), "winograd2")[0] == "winograd2"
    tuner = RiggedTuner({"direct": 1.0, "winograd2": close})
    assert tuner.choose(("k2",), X, routes_returning("direct", "winograd2"), "direct")[0] == "direct"
    tuner = RiggedTuner({"direct": 0.5, "winograd2": 1.0})  # a busy machine: direct clearly faster
    assert tuner.choose(("k3",), X, routes_returning("direct", "winograd2"), "winograd2")[0] == "direct"


def test_set_up_runs_before_any_timing():
    events = []
    tuner = RiggedTuner({"direct": 1.0, "winograd2": 0.5})
    routes = {name: (lambda x, name=name: events.append(name) or x) for name in ("direct", "winograd2")}
    tuner.choose(("k",), X, routes, "direct", prepare=lambda: events.append("prepare"))
    assert events[0] == "prepare" and events.count("prepare") == 1


def test_a_slow_warm_up_drops_the_route_before_the_timed_rounds():
    tuner = RiggedTuner({"direct": 1.0, "winograd4": 10.0})
    name, _ = tuner.choose(("k",), X, routes_returning("direct", "winograd4"), "direct")
    assert name == "direct" and tuner.runs == {"direct": 1, "winograd4": 1}  # one live route: nothing to time


def test_the_fixed_rules_route_is_not_dropped_on_its_warm_up_alone():
    """One slow warm-up (a burst of load, its one-off set-up) does not drop the rules' route: it is timed
    again, and keeps its place when it is fast then; a route that stays slow still loses."""
    tuner = RiggedTuner({"direct": 1.0, "winograd6": [3.0, 0.5, 0.5]})
    name, _ = tuner.choose(("k",), X, routes_returning("direct", "winograd6"), "winograd6")
    assert name == "winograd6" and tuner.runs == {"direct": 1 + autotune.ROUNDS, "winograd6": 1 + autotune.ROUNDS}
    tuner = RiggedTuner({"direct": 1.0, "winograd6": 10.0})
    assert tuner.choose(("k2",), X, routes_returning("direct", "winograd6"), "winograd6")[0] == "direct"


def test_the_best_time_counts_not_a_loaded_first_run():
    """A burst of load during one run does not decide: each route's lowest time is compared."""
    tuner = RiggedTuner({"direct": [1.0, 1.0, 1.0], "winograd2": [1.9, 0.6, 0.6]})
    assert tuner.choose(("k",), X, routes_returning("direct", "winograd2"), "direct")[0] == "winograd2"


def test_a_choice_is_cached_per_key_and_reused_untimed():
    first = RiggedTuner({"direct": 1.0, "winograd2": 0.5})
    first.choose(("shape", 1), X, routes_returning("direct", "winograd2"), "direct")
    later = RiggedTuner({"direct": 0.1, "winograd2": 0.5})  # another shot: the cached choice stands
    assert later.choose(("shape", 1), X, routes_returning("direct", "winograd2"), "direct") == ("winograd2", None)
    assert later.runs == {} and later.timed == 0
    assert later.choose(("shape", 2), X, routes_returning("direct", "winograd2"), "direct")[0] == "direct"


def test_an_old_choice_is_timed_again_and_the_budget_renews():
    now, age = [0.0], autotune.MAX_AGE_S
    tuner = RiggedTuner({"direct": 1.0, "winograd2": 0.5}, budget_s=0.5, clock=lambda: now[0])
    routes = routes_returning("direct", "winograd2")
    assert tuner.choose(("k",), X, routes, "direct")[0] == "winograd2"
    tuner.seconds = {"direct": [0.1], "winograd2": [0.5]}  # the machine got busy
    now[0] = age / 2
    assert tuner.choose(("k",), X, routes, "direct") == ("winograd2", None)  # still fresh
    now[0] = 1.2 * age  # a new budget window; another shape spends it
    tuner.choose(("k2",), X, routes, "direct")
    tuner.spent = 1.0
    now[0] = 1.3 * age  # old, but the budget is spent: the old choice stays (not the fixed rule)
    assert tuner.choose(("k",), X, routes, "direct") == ("winograd2", None)
    now[0] = 2.5 * age  # the next window: timed again
    assert tuner.choose(("k",), X, routes, "winograd2")[0] == "direct"
    assert tuner.timed == 3


def test_a_spent_budget_takes_the_fixed_rule_untimed():
    tuner = RiggedTuner({"direct": 1.0, "winograd2": 0.1}, budget_s=0.0)
    assert tuner.choose(("k",), X, routes_returning("direct", "winograd2"), "direct") == ("direct", None)
    assert tuner.runs == {}


@pytest.mark.parametrize(("value", "on"), [(None, True), ("1", True), ("0", False), ("off", False), ("no", False)])
def test_switch(monkeypatch, value, on):
    if value is None:
        monkeypatch.delenv(autotune.ENV, raising=False)
    else:
        monkeypatch.setenv(autotune.ENV, value)
    assert autotune.enabled() is on
    assert autotune.enabled(True) and not autotune.enabled(False)


def test_candidates_stay_where_they_can_pay():
    from engine.ops import native

    six = (6,) if native.library() is not None else ()  # F(6x6,3x3) exists only as C kernels
    assert winograd.candidate_tiles(torch.zeros(1, 512, 32, 32), 512, 512, 4) == (2, 4)  # 8x8 sub-grids
    assert winograd.candidate_tiles(torch.zeros(1, 512, 32, 32), 512, 512) == (2, 4)  # F(6x6,3x3) lost here
    assert winograd.candidate_tiles(torch.zeros(1, 512, 28, 32), 512, 512, 4) == (2,)  # a 7-row sub-grid
    assert winograd.candidate_tiles(torch.zeros(1, 512, 64, 64), 1024, 512) == (2, 4, *six)
    assert winograd.candidate_tiles(torch.zeros(1, 256, 128, 128), 256, 256) == (4, *six)
    assert winograd.candidate_tiles(torch.zeros(1, 256, 256, 256), 256, 128) == (4, *six)  # 0.7x direct's time
    assert winograd.candidate_tiles(torch.zeros(1, 512, 64, 64), 1024, 1) == ()  # the fusion mask conv
    low = torch.zeros(1, 512, 32, 32, dtype=torch.bfloat16)  # bf16: C kernels' F(4x4,3x3), F(6x6,3x3) only
    assert winograd.candidate_tiles(low, 512, 512) == ((4,) if six else ())
    assert winograd.candidate_tiles(torch.zeros(1, 512, 64, 64, dtype=torch.bfloat16), 1024, 512) == (
        (4, 6) if six else ())
    assert winograd.candidate_tiles(low.half(), 512, 512) == ()


def test_large_inputs_are_timed_on_their_first_frames_top_rows():
    small = torch.zeros(2, 8, 16, 32)
    assert autotune.sample(small) is small
    big = torch.zeros(2, 8, 256, 128)
    part = autotune.sample(big)
    assert part.shape == (1, 8, autotune.SAMPLE_PIXELS // 128, 128) and part.data_ptr() == big.data_ptr()
    assert autotune.sample(torch.zeros(1, 8, 64, 1024)).shape[2] == 8  # never under 8 rows


@pytest.mark.parametrize("sample_pixels", [1 << 20, 16])  # timed on the whole input / on a part of it
@pytest.mark.parametrize("winner", ["direct", "winograd2", "winograd4"])
def test_static_conv_runs_the_chosen_route_and_frees_the_losers_weights(monkeypatch, winner, sample_pixels):
    monkeypatch.setattr(autotune, "SAMPLE_PIXELS", sample_pixels)
    monkeypatch.setattr(winograd, "MIN_CHANNELS", 4)
    monkeypatch.setattr(winograd, "MAX_PIXELS", 4 * 4)
    torch.manual_seed(0)
    weight, bias = torch.randn(6, 5, 3, 3) / 7, torch.randn(6)
    conv = StaticConv(weight, bias, torch.float32, padding=1, activate=True)
    conv.tuner = RiggedTuner({name: 0.1 if name == winner else 1.0 for name in ("direct", "winograd2", "winograd4")})
    x = torch.randn(2, 5, 8, 8).contiguous(memory_format=torch.channels_last)
    expected = F.leaky_relu(F.conv2d(x, weight, bias, padding=1), 0.2)
    with torch.no_grad():
        first, second = conv(x), conv(x)
    assert conv.tuner.chosen == {next(iter(conv.tuner.chosen)): winner}
    assert conv.tuner.timed == 1  # the second frame reuses the choice
    kept = set() if winner == "direct" else {int(winner[-1])}
    assert set(conv._transformed) == kept
    torch.testing.assert_close(first, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(second, first, atol=0, rtol=0)


@pytest.mark.parametrize("winner", ["deconv", "row_phases"])
def test_each_upsampling_stage_runs_the_chosen_route_with_the_reference_numbers(reference_dir, winner):
    """The decoder's stride-2 transposed convs are timed like the 3x3 convs (on up to
    whole maps up to ``UPSAMPLE_TIMED_MACS``); whichever wins, the frame is the general model's, and
    the row-phase weights are kept only where that route runs."""
    from engine.models import static

    golden, model = load_golden(reference_dir, "vtoonify_d_golden.pt")
    case = cases_by_name(golden)["pipeline_exstyle_mix"]
    style, x = case["inputs"]["style"][:1], case["inputs"]["x"]
    net = static_vtoonify(model, style, d_s=0.6, autotune=False)
    tuner = RiggedTuner({name: 0.1 if name == winner else 1.0 for name in (static.DECONV, static.ROW_PHASES)})
    for stage in net.stages:
        stage.tuner = tuner
    with torch.no_grad():
        expected = model(x, style.repeat(x.shape[0], 1, 1), d_s=0.6)
        assert_close(net(x), expected, winner)
        assert_close(net(x), expected, f"{winner}, second frame")
    upsampling = {key: route for key, route in tuner.chosen.items() if key[0] == "upconv3x3s2"}
    assert len(upsampling) == len(net.stages) and set(upsampling.values()) == {winner}
    assert tuner.timed == len(net.stages)  # the second frame reuses the choices
    assert all((stage._phases is not None) == (winner == static.ROW_PHASES) for stage in net.stages)


def test_autotuned_static_network_matches_the_reference_path(reference_dir, monkeypatch):
    """Every 3x3 conv of the narrow model a candidate, timed for real: the routes chosen (whatever
    the machine's load picks) still give the general model's numbers; off, nothing is timed."""
    golden, model = load_golden(reference_dir, "vtoonify_d_golden.pt")
    case = cases_by_name(golden)["pipeline_exstyle_mix"]
    style, x = case["inputs"]["style"][:1], case["inputs"]["x"]
    monkeypatch.setattr(winograd, "MIN_CHANNELS", 1)
    monkeypatch.setattr(winograd, "MIN_CHANNELS_4", 1)
    with torch.no_grad():
        expected = model(x, style.repeat(x.shape[0], 1, 1), d_s=0.6)
        tuned = static_vtoonify(model, style, d_s=0.6, autotune=True)
        assert_close(tuned(x), expected, "autotuned")
        assert_close(tuned(x), expected, "autotuned, second frame")
        monkeypatch.setenv(autotune.ENV, "0")
        fixed = static_vtoonify(model, style, d_s=0.6)
        assert_close(fixed(x), expected, "fixed rules")
    assert tuned.tuner.timed >= 5 and len(tuned.tuner.chosen) >= tuned.tuner.timed
    assert tuned.routes_summary().startswith(f"autotune: {len(tuned.tuner.chosen)} conv shapes")
    assert fixed.tuner is None and "off" in fixed.routes_summary()
    from engine.ops import native

    kernels = "C kernels: on" if native.library() is not None else f"C kernels: off, {native.problem()}"
    assert tuned.routes_summary().endswith(kernels)


def test_strips_a_few_rows_apart_share_one_timing():
    """A frame decoded in strips meets heights like 196, 212 and 220 rows: one key (the height rounded
    up to a power of two) so the shot is timed once per width, not once per strip."""
    keys = {autotune.shape_key(torch.zeros(1, 8, rows, 640)) for rows in (196, 212, 220, 256)}
    assert keys == {(1, 8, 256, 640)}
    assert autotune.shape_key(torch.zeros(1, 8, 257, 640)) == (1, 8, 512, 640)
    assert autotune.shape_key(torch.zeros(1, 8, 212, 1280)) != autotune.shape_key(torch.zeros(1, 8, 212, 640))
    assert autotune.shape_key(torch.zeros(2, 8, 1, 4)) == (2, 8, 1, 4)
