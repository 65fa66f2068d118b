#!/usr/bin/env bash
# Creates the two virtual environments the project needs (idempotent):
#   .venv          engine + panel + tests (torch, OpenImageIO, PyAV, dlib, PySide6)
#   .venv-blender  bpy 5.0.1 (pins numpy 1.26, so it never shares a venv with torch/OIIO)
#   .venv-blender42  bpy 4.2.23 (the 4.2 LTS line the add-on supports; bpy 4.2 needs Python 3.11;
#                    the 4.2.0 wheel aborts on any movie strip, so the suite uses the LTS update)
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

if [ "${1:-}" != "--no-blender" ]; then
  if [ ! -x .venv-blender/bin/python ]; then
    "$PY" -m venv .venv-blender
  fi
  .venv-blender/bin/python -m pip install -q --upgrade pip
  .venv-blender/bin/python -m pip install -q "bpy==5.0.1" pytest pytest-timeout
  PY311=${PYTHON311:-python3.11}
  if [ ! -x .venv-blender42/bin/python ]; then
    "$PY311" -m venv .venv-blender42
  fi
  .venv-blender42/bin/python -m pip install -q --upgrade pip
  .venv-blender42/bin/python -m pip install -q "bpy==4.2.23" pytest pytest-timeout
fi
