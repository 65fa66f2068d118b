#!/usr/bin/env bash
# Creates the three virtual environments the project needs (idempotent):
#   .venv          engine + panel + tests (torch, OpenImageIO, PyAV, dlib, PySide6)
#   .venv-blender  bpy 5.0.1 (pins numpy 1.26, so it never shares a venv with torch/OIIO)
#   .venv-blender42  bpy 4.2.23 (the 4.2 LTS line the add-on supports; bpy 4.2 needs Python 3.11;
#                    the 4.2.0 wheel aborts on any movie strip, so the suite uses the LTS update)
#   .venv-blender45  bpy 4.5.15 (the 4.5 LTS line, between the two: Python 3.11, pins numpy 1.26)
# Usage: bash scripts/setup_env.sh [--no-blender]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

# The system libraries Qt's platform plugins load (the panel; found with `ldd` on PySide6's
# plugins/platforms/libqxcb.so and libqwayland.so). Installed with apt-get when this runs as root on
# Debian/Ubuntu; otherwise (not root, no apt, offline) the script says so and goes on.
QT_DEBIAN_PACKAGES="libegl1 libgl1 libfontconfig1 libfreetype6 libdbus-1-3 libxkbcommon0 libxkbcommon-x11-0
  libx11-xcb1 libxcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
  libxcb-render0 libxcb-render-util0 libxcb-shape0 libxcb-shm0 libxcb-sync1 libxcb-util1 libxcb-xfixes0
  libxcb-xkb1 libwayland-client0 libwayland-cursor0"
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
  # only the names this release knows (one unknown name would make apt-get install nothing)
  known=""
  for pkg in $QT_DEBIAN_PACKAGES; do
    apt-cache show "$pkg" >/dev/null 2>&1 && known="$known $pkg"
  done
  # shellcheck disable=SC2086
  if [ -z "$known" ] || ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $known \
      >/dev/null 2>&1; then
    echo "setup_env: could not install Qt's system libraries (offline?); the panel may not start." \
         "Install them later: apt-get install $(echo $QT_DEBIAN_PACKAGES)" >&2
  fi
else
  echo "setup_env: not root or no apt-get: skipping Qt's system libraries for the panel" \
       "(see README.md, 'Panel on a fresh machine')." >&2
fi

# The real-X panel tests (tests/ui/test_real_x_*.py) need an X server, key and mouse presses and a
# window manager; installed the same way when missing. Without them those tests are skipped, saying so.
X_TEST_PACKAGES="xvfb xdotool x11-utils openbox"
if ! command -v Xvfb >/dev/null 2>&1 || ! command -v xdotool >/dev/null 2>&1 || ! command -v openbox >/dev/null 2>&1; then
  # shellcheck disable=SC2086
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $X_TEST_PACKAGES >/dev/null 2>&1 \
      || echo "setup_env: could not install the X test tools (offline?); the real-X panel tests will be" \
              "skipped. Install them later: apt-get install $X_TEST_PACKAGES" >&2
  else
    echo "setup_env: not root or no apt-get: the real-X panel tests need $X_TEST_PACKAGES" >&2
  fi
fi

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
  PY311=${PYTHON311:-python3.11}
  if [ ! -x .venv-blender42/bin/python ]; then
    "$PY311" -m venv .venv-blender42
  fi
  .venv-blender42/bin/python -m pip install -q --upgrade pip
  .venv-blender42/bin/python -m pip install -q "bpy==4.2.23" pytest pytest-timeout
  if [ ! -x .venv-blender45/bin/python ]; then
    "$PY311" -m venv .venv-blender45
  fi
  .venv-blender45/bin/python -m pip install -q --upgrade pip
  .venv-blender45/bin/python -m pip install -q "bpy==4.5.15" pytest pytest-timeout
fi
