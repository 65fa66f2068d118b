"""The artist's last choices, kept in QSettings between sessions.

The app uses the native store (organisation ``VToonifyStudio``); tests pass an INI-file QSettings.
Values are written with explicit types because INI stores everything as text.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QSettings

ORGANISATION = "VToonifyStudio"
APPLICATION = "Panel"


def default_settings() -> QSettings:
    return QSettings(ORGANISATION, APPLICATION)


class PanelSettings:
    """Typed get/set over one QSettings object (no global store: the window is given one)."""

    _STRINGS = ("shot/source", "shot/output", "shot/format", "shot/output_space", "shot/exr_compression",
                "shot/name", "shot/policy", "shot/matte_classes", "shot/faces", "style/backend", "style/device",
                "style/style", "style/backbone", "style/exstyle_image")
    _BOOLS = ("shot/mattes", "shot/matte_files", "shot/cryptomatte", "shot/whole_source", "shot/follow_faces",
              "style/color_transfer")
    _INTS = ("shot/first_frame", "shot/last_frame", "shot/png_bits", "shot/start_number", "shot/max_faces",
             "style/style_id",
             "preview/frame")
    _FLOATS = ("shot/scale", "style/degree", "preview/split")

    def __init__(self, store: QSettings) -> None:
        self.store = store

    def load(self) -> dict:
        """Every saved value, keyed ``section/name``; keys never saved are absent."""
        out: dict = {}
        for key in self._STRINGS + self._BOOLS + self._INTS + self._FLOATS:
            if not self.store.contains(key):
                continue
            raw = self.store.value(key)
            try:
                if key in self._BOOLS:
                    out[key] = raw if isinstance(raw, bool) else str(raw).lower() in ("true", "1")
                elif key in self._INTS:
                    out[key] = int(raw)
                elif key in self._FLOATS:
                    out[key] = float(raw)
                else:
                    out[key] = "" if raw is None else str(raw)
            except (TypeError, ValueError):
                continue  # a hand-edited bad value falls back to the widget default
        return out

    def save(self, values: dict) -> None:
        for key, value in values.items():
            if value is None:
                self.store.remove(key)
            else:
                self.store.setValue(key, value)
        self.store.sync()

    def geometry(self, name: str = "geometry") -> QByteArray | None:
        """A saved window state: ``geometry`` (size and place) or a splitter's (its name)."""
        value = self.store.value(f"window/{name}")
        return value if isinstance(value, QByteArray) else None

    def save_geometry(self, geometry: QByteArray, name: str = "geometry") -> None:
        self.store.setValue(f"window/{name}", geometry)
        self.store.sync()
