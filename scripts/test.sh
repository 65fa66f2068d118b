#!/usr/bin/env bash
# Sets up both environments and runs every test: the engine/panel suite, then the add-on inside
# real Blender (bpy 5.0.1, 4.5.15 and 4.2.23, side by side). Extra arguments go to the main pytest run.
# --durations prints the slowest tests, so a CI log shows where the time goes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
export QT_QPA_PLATFORM=offscreen
status=0
.venv/bin/python -m pytest -q --durations=25 "$@" || status=$?

# The three Blender runs mostly wait on engine renders, so they run at the same time. Each gets its own
# runtime/cache/state folders (an auto-started engine's default connection file and journal live
# there), on top of the temp folders every run already has; each log is printed once both are done.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
blender_suite() {  # VENV NAME
  local home="$scratch/$2"
  mkdir -p "$home/run" "$home/cache" "$home/state"
  chmod 700 "$home/run"
  XDG_RUNTIME_DIR="$home/run" XDG_CACHE_HOME="$home/cache" XDG_STATE_HOME="$home/state" \
    "$1/bin/python" -m pytest -q -p no:cacheprovider --durations=10 tests/blender >"$scratch/$2.log" 2>&1
}
blender_suite .venv-blender bpy50 & bpy50=$!
# the same add-on suite on Blender 4.2 LTS (the manifest's minimum line)
blender_suite .venv-blender42 bpy42 & bpy42=$!
# and on Blender 4.5 LTS, the line in between (4.4's API renames, display rotation, multilayer EXRs)
blender_suite .venv-blender45 bpy45 & bpy45=$!
wait "$bpy50" || status=$?
echo "== tests/blender on bpy 5.0.1"; cat "$scratch/bpy50.log"
wait "$bpy42" || status=$?
echo "== tests/blender on bpy 4.2.23"; cat "$scratch/bpy42.log"
wait "$bpy45" || status=$?
echo "== tests/blender on bpy 4.5.15"; cat "$scratch/bpy45.log"
exit $status
