"""Test-only job settings: the stand-in runners take knobs (``delay_s``, ``pad_bytes``, ...) that
are no render option. The product ignores unknown keys, so the tests swap the service's RenderConfig
for KnobConfig, which keeps them: in-process through the ``knob_settings`` fixture (conftest.py),
in engine processes through ``engine_entry.py``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from engine.pipeline.config import RenderConfig


@dataclass(frozen=True)
class KnobConfig(RenderConfig):
    knobs: dict = field(default_factory=dict, compare=False)
    """The settings' keys that are no RenderConfig field."""

    def to_dict(self) -> dict:
        data = super().to_dict()
        data.pop("knobs")
        return {**self.knobs, **data}

    @classmethod
    def from_dict(cls, data: dict) -> KnobConfig:
        base = RenderConfig.from_dict(data)
        knobs = {key: data[key] for key in RenderConfig.unknown_keys(data)}
        return cls(**{f.name: getattr(base, f.name) for f in dataclasses.fields(RenderConfig)}, knobs=knobs)


def install() -> None:
    """Make the service build KnobConfig from job settings (engine processes started for tests)."""
    from engine.service import jobs

    jobs.RenderConfig = KnobConfig
