#!/usr/bin/env bash
# Sets up the engine and renders the bundled sample clip with the default backend
# (VToonify when the official files are in the models folder, else the classic backend).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh --no-blender
SAMPLE=${1:-../shared/media/529_2.mp4}
OUT=${2:-out/demo}
.venv/bin/python -m engine render "$SAMPLE" -o "$OUT" --mattes --matte-files
echo "EXR frames are in $OUT"
