"""Item 13: the Debian/Ubuntu packages Qt needs are listed in README.md and installed by
scripts/setup_env.sh, and they are what PySide6's platform plugins really link against."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _script_packages() -> set[str]:
    text = (REPO / "scripts" / "setup_env.sh").read_text()
    block = re.search(r'QT_DEBIAN_PACKAGES="([^"]+)"', text).group(1)
    return set(block.split())


def _readme_packages() -> set[str]:
    text = (REPO / "README.md").read_text()
    block = re.search(r"sudo apt-get install ([^`]+)```", text, re.S).group(1)
    return {w for w in block.replace("\\", " ").split() if w.startswith("lib")}


def test_readme_and_setup_script_list_the_same_packages():
    assert _readme_packages() == _script_packages()
    assert {"libxcb-cursor0", "libxkbcommon-x11-0", "libegl1"} <= _script_packages()


@pytest.mark.skipif(not (shutil.which("ldd") and shutil.which("dpkg")), reason="needs ldd and dpkg (Debian)")
def test_every_system_library_of_the_platform_plugins_comes_from_a_listed_package():
    import PySide6

    plugins = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms"
    qt_root = str(Path(PySide6.__file__).parent)
    needed: dict[str, str] = {}
    for plugin in ("libqxcb.so", "libqwayland.so"):
        if not (plugins / plugin).exists():
            continue
        out = subprocess.run(["ldd", str(plugins / plugin)], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            match = re.match(r"\s*(\S+) => (\S+)", line)
            if match and not match.group(2).startswith(qt_root):
                needed[match.group(1)] = match.group(2)
    wanted = {name: path for name, path in needed.items()
              if re.match(r"lib(xcb|xkbcommon|X11-xcb|EGL|GL\.|fontconfig|freetype|dbus|wayland)", name)}
    assert "libxcb-cursor.so.0" in wanted and "libxkbcommon-x11.so.0" in wanted
    packages = _script_packages()
    installed = {}
    for name, path in wanted.items():
        if path == "not":  # not installed here: Debian names the package after the soname
            stem, version = re.match(r"(lib[\w+-]+?)\.so\.(\d+)", name).groups()
            expected = f"{stem}{'-' if stem[-1].isdigit() else ''}{version}".lower()
            assert expected in packages, f"{name} is needed; {expected} is not listed"
        else:
            installed[name] = Path(path).resolve()
    both = [v for p in installed.values() for v in (str(p), str(p).replace("/usr/lib/", "/lib/", 1))]
    owners = subprocess.run(["dpkg", "-S", *both], capture_output=True, text=True).stdout  # usrmerge: either
    owner_of = {line.split(": ", 1)[1]: line.split(":")[0].split(",")[0] for line in owners.splitlines()
                if ": " in line}
    for name, path in installed.items():
        package = owner_of.get(str(path)) or owner_of.get(str(path).replace("/usr/lib/", "/lib/", 1))
        assert package in packages, f"{name} ({path}) comes from {package!r}, which is not listed"
