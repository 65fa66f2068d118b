"""The degree each process drew, averaged over a multi-process run, is logged rounded to 6 significant digits:
the float64 mean of 0.2 and 0.4 is 0.30000000000000004, noise that a JSON log would otherwise print."""

from __future__ import annotations

import json

import pytest
import torch

from engine.train import session as session_module
from engine.train.session import Processes, logged_mean, mean_over_processes


@pytest.mark.parametrize(
    ("drawn", "logged"),
    [
        ((0.2, 0.4), 0.3),  # float64: (0.2 + 0.4) / 2 = 0.30000000000000004
        ((0.2, 0.0, 0.4, 0.6), 0.3),
        ((0.1, 0.2, 0.4), 0.233333),  # a repeating mean keeps 6 significant digits
        ((0.6,), 0.6),
        ((0.0, 0.0), 0.0),
        ((1e-7, 2e-7), 1.5e-7),  # small values keep their digits, not 6 decimals
    ],
)
def test_the_mean_of_the_drawn_degrees_is_logged_to_6_significant_digits(drawn, logged):
    value = logged_mean(sum(drawn), len(drawn))
    assert value == logged
    assert json.dumps({"d_s": value}) == json.dumps({"d_s": logged})


def test_two_processes_log_the_rounded_mean_of_d_s_and_the_losses_as_reduced(monkeypatch):
    """``mean_over_processes`` as rank 0 runs it, the other rank's numbers added by the all-reduce (here
    the sum gloo would compute, without starting a second process)."""
    other = {"rec": 0.25, "d_s": 0.4}
    calls = []

    def all_reduce(tensor):
        calls.append(tensor.clone())
        tensor += torch.tensor([other["rec"], other["d_s"]], dtype=tensor.dtype)

    monkeypatch.setattr(torch.distributed, "all_reduce", all_reduce)
    mine = {"rec": torch.tensor(0.5), "d_s": 0.2}
    values = mean_over_processes(mine, Processes(rank=0, world_size=2), torch.device("cpu"))
    assert len(calls) == 1
    assert values == {"rec": 0.375, "d_s": 0.3}
    assert json.dumps(values) == '{"rec": 0.375, "d_s": 0.3}'


def test_one_process_logs_the_degree_drawn_as_is():
    values = mean_over_processes({"d_s": 0.2}, Processes(), torch.device("cpu"))
    assert values == {"d_s": 0.2}
    assert session_module.logged_mean(0.2, 1) == 0.2
