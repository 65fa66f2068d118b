"""Property tests for sequence naming and the missing-frame text (pure functions, no files)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.io.base import describe_numbers
from engine.io.sequence import parse_pattern


def _expand(text: str) -> set[int]:
    numbers: set[int] = set()
    for part in text.split(", "):
        low, _, high = part.partition("-")
        numbers.update(range(int(low), int(high or low) + 1))
    return numbers


@settings(max_examples=200, deadline=None)
@given(st.sets(st.integers(min_value=0, max_value=5000), min_size=1, max_size=60))
def test_describe_numbers_round_trips(numbers):
    text = describe_numbers(numbers, limit=1000)
    assert _expand(text) == numbers
    assert text.count(", ") < len(numbers)  # runs are joined, never one entry per number when consecutive


def test_describe_numbers_cuts_long_lists():
    text = describe_numbers(range(0, 200, 2), limit=5)
    assert text.startswith("0, 2, 4, 6, 8, ...") and "95 more" in text


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=10**7), st.integers(min_value=1, max_value=8),
       st.sampled_from(["#", "@", "%0{}d"]))
def test_pattern_names_round_trip(number, padding, style):
    placeholder = style.format(padding) if "%" in style else style * padding
    pattern = parse_pattern(f"/shots/sq010_v3.{placeholder}.exr")
    assert (pattern.prefix, pattern.suffix, pattern.padding) == ("sq010_v3.", ".exr", padding)
    name = pattern.name_for(number)
    assert pattern.number_of(name) == number
    assert len(name) == len("sq010_v3..exr") + max(padding, len(str(number)))
