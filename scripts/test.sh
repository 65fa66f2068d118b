#!/usr/bin/env bash
# Sets up both environments and runs every test: the engine/panel suite, then the add-on inside
# real Blender (bpy 5.0.1, then bpy 4.2.23). Extra arguments go to the main pytest run. --durations
# prints the slowest tests, so a CI log shows where the time goes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
export QT_QPA_PLATFORM=offscreen
status=0
.venv/bin/python -m pytest -q --durations=25 "$@" || status=$?
.venv-blender/bin/python -m pytest -q -p no:cacheprovider --durations=10 tests/blender || status=$?
# the same add-on suite on Blender 4.2 LTS (the manifest's minimum line)
.venv-blender42/bin/python -m pytest -q -p no:cacheprovider --durations=10 tests/blender || status=$?
exit $status
