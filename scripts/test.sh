#!/usr/bin/env bash
# Sets up both environments and runs every test: the engine/panel suite, then the add-on inside
# real Blender (bpy 5.0.1, then bpy 4.2.23). Extra arguments go to the main pytest run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
export QT_QPA_PLATFORM=offscreen
status=0
.venv/bin/python -m pytest -q "$@" || status=$?
.venv-blender/bin/python -m pytest -q -p no:cacheprovider tests/blender || status=$?
# the same add-on suite on Blender 4.2 LTS (the manifest's minimum line)
.venv-blender42/bin/python -m pytest -q -p no:cacheprovider tests/blender || status=$?
exit $status
