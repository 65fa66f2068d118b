"""File names of numbered image sequences (``DIR/stem.####.png``) in both directions.

The grammar is the engine's own (``engine/service/catalog.py``, copied into the built add-on), so a
name the add-on builds is one the engine reads, and the other way round.
"""

from __future__ import annotations

from ..engine_client import shared_catalog


def frame_path(pattern: str, number: int) -> str:
    """Expand ``####`` (or ``%04d``) in ``pattern`` to ``number``, zero padded to the hash count."""
    return shared_catalog().frame_path(pattern, number)


def frame_paths(pattern: str, numbers: list[int]) -> list[str]:
    """One path per frame number, in the given order (repeats kept: held frames)."""
    grammar = shared_catalog()
    return [grammar.frame_path(pattern, n) for n in numbers]


def pattern_from_file(filename: str) -> tuple[str, int]:
    """``shot.0101.png`` -> (``shot.####.png``, 101): the sequence a single member belongs to."""
    found = shared_catalog().pattern_of_member(filename)
    if found is None:
        raise ValueError(f"{filename!r} has no frame number (name frames like shot.1001.png)")
    return found


def sequence_numbers(filenames: list[str]) -> tuple[str, list[int]]:
    """(pattern, frame number of each file) of an image strip's files. ValueError when a file has no
    number, or is not the file the engine reads for its number (``take2_0001.png`` in a strip that
    starts with ``take1_0001.png``): the engine reads one pattern, so it would render another picture."""
    pattern = pattern_from_file(filenames[0])[0]
    numbers = [pattern_from_file(name)[1] for name in filenames]
    for name, number in zip(filenames, numbers, strict=True):
        if frame_path(pattern, number) != name:
            raise ValueError(f"the strip's files are not one numbered sequence: {name!r} is not in "
                             f"{pattern!r} (make one strip per sequence, or rename the files into one)")
    return pattern, numbers
