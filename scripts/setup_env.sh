#!/usr/bin/env bash
# Creates the two virtual environments the project needs (idempotent):
#   .venv          engine + panel + tests (torch, OpenImageIO, PyAV, dlib, PySide6)
#   .venv-blender  bpy 5.0.1 (pins numpy 1.26, so it never shares a venv with torch/OIIO)
# Usage: bash scripts/setup_env.sh [--no-blender]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch first and pinned: the CPU build is what the suite runs on (no CUDA download).
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[test]"

# Node.js runs the Flamenco job type (farm/flamenco/vtoonify.js) in tests/farm; it comes from the system
# package manager. Without it that test fails in CI (CI=true) and is skipped elsewhere.
if ! command -v node >/dev/null 2>&1 && ! command -v nodejs >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs
  else
    echo "note: node is missing (install Node.js 18+, e.g. apt-get install nodejs) for tests/farm" >&2
  fi
fi

if [ "${1:-}" != "--no-blender" ]; then
  if [ ! -x .venv-blender/bin/python ]; then
    "$PY" -m venv .venv-blender
  fi
  .venv-blender/bin/python -m pip install -q --upgrade pip
  .venv-blender/bin/python -m pip install -q "bpy==5.0.1" pytest pytest-timeout
fi
