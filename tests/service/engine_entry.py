"""Test entry point: the engine service with a stand-in job runner (the product has no such option).

    python tests/service/engine_entry.py --job-runner jobrunners:write_frames [--preview-runner M:F]
        [--no-model-cache] [any option of python -m engine.service.server]

The runner modules must be importable (PYTHONPATH). Knobs in job settings reach the runners as
``config.knobs`` (knobs.py).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # knobs.py, jobrunners.py

import knobs

from engine.service import server


def load_callable(dotted: str):
    module_name, _, attr = dotted.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--job-runner", default=None, help="module:function replacing the render pipeline")
    parser.add_argument("--preview-runner", default=None, help="module:function replacing render_preview")
    parser.add_argument("--no-model-cache", action="store_true", help="give runners no ModelCache (torch-free)")
    hooks, rest = parser.parse_known_args(argv)
    knobs.install()
    return server.main(rest, runner=load_callable(hooks.job_runner) if hooks.job_runner else None,
                       preview_runner=load_callable(hooks.preview_runner) if hooks.preview_runner else None,
                       model_cache=not hooks.no_model_cache)


if __name__ == "__main__":
    sys.exit(main())
