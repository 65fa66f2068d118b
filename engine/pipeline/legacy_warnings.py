"""Warnings in sidecars written before warnings named settings with ``engine.errors.setting``.

Such an engine stored a warning in CLI words (``--start-number 13``), and every job that reuses its
sidecar (a farm chunk, ``--resume``) replays it: over the socket the Blender add-on and the panel
would show a CLI flag where they name their own controls. The phrases those engines stored are few
and fixed (the cut advice, the faces left out), so they are marked again when the sidecar is read.
"""

from __future__ import annotations

import re

from engine.errors import named_settings, setting

_PHRASES = (
    (
        re.compile(r"rendered with --start-number (-?\d+) so its frames keep their numbers"),
        lambda m: f"rendered with {setting('start_number', int(m.group(1)))} so its frames keep their numbers",
    ),
    (re.compile(r"; --frames alone is not enough"), lambda _m: f"; {setting('frames')} alone is not enough"),
    (
        re.compile(r"\(raise --max-faces to include more\)"),
        lambda _m: f"(raise {setting('max_faces')} to include more)",
    ),
)


def marked_warning(text: str) -> str:
    """``text`` with the settings an earlier engine wrote as CLI flags marked; a marked one as it is."""
    if named_settings(text):
        return text
    for pattern, marked in _PHRASES:
        text = pattern.sub(marked, text)
    return text
