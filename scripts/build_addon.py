"""Build the Blender extension zip: dist/vtoonify-<version>.zip.

Run with the bpy venv's Python (Blender's own extension tool ships in the bpy wheel):

    .venv-blender/bin/python scripts/build_addon.py

Steps: stage the manifest + package contents in a temp folder, copy the stdlib engine client
(``engine/service/{protocol,connection,client,launcher,catalog}.py``, ``engine/errors.py`` and
``engine/user_dirs.py``) into the staged ``engine_client/`` with ``engine.*`` imports rewritten to
package-relative ones, then ``blender_ext.py build`` and ``validate``. Nothing is written into the
source tree, so tests and a checkout always import the real client, never a stale copy.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "vtoonify_addon"
CLIENT_DIR = PACKAGE / "engine_client"
CLIENT_SOURCES = {
    "errors.py": REPO / "engine" / "errors.py",
    "protocol.py": REPO / "engine" / "service" / "protocol.py",
    "connection.py": REPO / "engine" / "service" / "connection.py",
    "client.py": REPO / "engine" / "service" / "client.py",
    "launcher.py": REPO / "engine" / "service" / "launcher.py",
    "catalog.py": REPO / "engine" / "service" / "catalog.py",
    "user_dirs.py": REPO / "engine" / "user_dirs.py",
}
REQUIRED_CLIENT = ("errors.py", "client.py")
_ENGINE_IMPORT = re.compile(r"^(\s*)from engine(?:\.service)?(\.[\w.]*)? import ", re.MULTILINE)
_ENGINE_IMPORT_MODULE = re.compile(r"^(\s*)import engine\.", re.MULTILINE)


class BuildError(RuntimeError):
    """The build cannot go on (missing client module, tool failure)."""


def relative_imports(text: str) -> str:
    """``from engine.errors import X`` / ``from engine.service.protocol import Y`` -> ``from .errors``..."""
    def fix(match: re.Match) -> str:
        tail = match.group(2) or ""
        module = tail.rsplit(".", 1)[-1] if tail else ""
        return f"{match.group(1)}from .{module} import "

    out = _ENGINE_IMPORT.sub(fix, text)
    if _ENGINE_IMPORT_MODULE.search(out):
        raise BuildError("client code uses `import engine.x`; write `from engine.x import y` so it can be copied")
    return out


def copy_client(client_dir: Path) -> list[Path]:
    """Copy the client modules into a staged ``engine_client/`` (never the source tree's)."""
    missing = [name for name in REQUIRED_CLIENT if not CLIENT_SOURCES[name].is_file()]
    if missing:
        raise BuildError(f"engine client module(s) missing: {', '.join(str(CLIENT_SOURCES[m]) for m in missing)}")
    written = []
    for name, source in CLIENT_SOURCES.items():
        target = client_dir / name
        if not source.is_file():
            target.unlink(missing_ok=True)
            continue
        header = f"# COPY of {source.relative_to(REPO)} made by scripts/build_addon.py -- do not edit.\n"
        # newline="\n": a build on Windows writes the same bytes as one on Linux (no CRLF in the zip)
        target.write_text(header + relative_imports(source.read_text(encoding="utf-8")), encoding="utf-8",
                          newline="\n")
        written.append(target)
    return written


def blender_ext_tool() -> Path:
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        raise BuildError("bpy is not importable: run this script with the bpy venv (.venv-blender/bin/python)")
    bpy_dir = Path(next(iter(spec.submodule_search_locations)))
    tools = sorted(bpy_dir.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not tools:
        raise BuildError(f"blender_ext.py not found under {bpy_dir}")
    return tools[-1]


def stage(staging: Path) -> None:
    """Manifest + package contents + client copies at the root of ``staging`` (what the zip root holds)."""
    shutil.copy2(REPO / "blender_manifest.toml", staging / "blender_manifest.toml")
    shutil.copytree(PACKAGE, staging, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".gitignore"))
    copy_client(staging / CLIENT_DIR.name)


BINARY_SUFFIXES = (".so", ".pyd", ".dll", ".dylib", ".exe", ".pyc", ".pyo")
"""Compiled files: each is built for one platform (and the add-on must stay pure stdlib Python)."""
MAX_PATH_CHARS = 120
"""Longest path inside the zip: Blender installs extensions deep in the user's profile on Windows, whose
classic limit is 260 characters for the whole path."""


def portability_problems(root: Path) -> list[str]:
    """What in the staged tree would not install or run alike on Windows, macOS and Linux: compiled files,
    names Windows refuses (``:<>|?*"\\``, ``CON``, a trailing dot or space), two names that are one on a
    case-insensitive disk, paths too long for Windows, text files with CRLF or not UTF-8."""
    catalog = _load_catalog()
    problems, seen = [], {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if catalog.windows_reserved(path.name):
            problems.append(f"{rel}: a name Windows cannot hold")
        other = seen.setdefault(rel.casefold(), rel)
        if other != rel:
            problems.append(f"{rel} and {other} are one name on a case-insensitive disk (Windows, macOS)")
        if len(rel) > MAX_PATH_CHARS:
            problems.append(f"{rel}: path longer than {MAX_PATH_CHARS} characters")
        if path.is_symlink():
            problems.append(f"{rel}: a link (Windows needs a privilege to make one)")
        elif path.is_file():
            if path.name.endswith(BINARY_SUFFIXES):
                problems.append(f"{rel}: a compiled file, built for one platform")
                continue
            data = path.read_bytes()
            if b"\r\n" in data:
                problems.append(f"{rel}: CRLF line ends")
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                problems.append(f"{rel}: not UTF-8 text")
    return problems


def _load_catalog():
    """``engine.service.catalog`` (stdlib only) from its file: the Windows name rules, kept in one place."""
    spec = importlib.util.spec_from_file_location("vtoonify_catalog", REPO / "engine" / "service" / "catalog.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_tool(tool: Path, *args: str) -> None:
    proc = subprocess.run([sys.executable, str(tool), *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BuildError(f"blender_ext.py {args[0]} failed:\n{proc.stdout}{proc.stderr}")


def build(output_dir: Path) -> Path:
    version = tomllib.loads((REPO / "blender_manifest.toml").read_text(encoding="utf-8"))["version"]
    tool = blender_ext_tool()
    output_dir.mkdir(parents=True, exist_ok=True)
    zip_path = output_dir / f"vtoonify-{version}.zip"
    zip_path.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="vtoonify-stage-") as tmp:
        stage(Path(tmp))
        problems = portability_problems(Path(tmp))
        if problems:
            raise BuildError("the add-on holds platform-specific content:\n  " + "\n  ".join(problems))
        run_tool(tool, "build", "--source-dir", tmp, "--output-filepath", str(zip_path))
    run_tool(tool, "validate", str(zip_path))
    return zip_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=REPO / "dist", help="where the zip goes (default dist/)")
    args = parser.parse_args(argv)
    try:
        print(build(args.output_dir))
    except BuildError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
