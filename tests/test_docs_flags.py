"""Every ``--flag`` the docs name exists, so README and docs/ cannot drift from the CLIs.

Flags inside a ``python -m engine <command> ...`` snippet must belong to that command's parser; any
other flag must belong to some parser of the repository (engine, panel, farm and benchmark scripts)
or be listed below as another tool's.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from engine.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
DOCS = ["README.md", *sorted(str(p.relative_to(REPO)) for p in (REPO / "docs").glob("*.md"))]
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")
# other programs' flags the docs quote on purpose
FOREIGN = {
    "--subimage", "--resize", "--ch",  # oiiotool
    "--max-retries-per-task",  # Flamenco's job submission
    "--nproc_per_node",  # torchrun
    "--start_iter", "--augment",  # the official training scripts
    "--gen", "--disc",  # rosinality's convert_weight.py
    "--frame", "--overw",  # FARM.md: prefixes argparse would expand, which the submit scripts refuse
}
SNIPPET = re.compile(r"(?:-m engine|vtoonify) (render|prepare|serve|models|train)\b([^`\n]*)")


def _options(parser: argparse.ArgumentParser, path: tuple[str, ...], out: dict) -> dict:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                _options(sub, (*path, name), out)
        else:
            out.setdefault(path, set()).update(s for s in action.option_strings if s.startswith("--"))
    return out


ENGINE = _options(build_parser(), (), {})


def _other_parsers() -> set[str]:
    """Flags the repository's other argparse scripts declare (read from source: no torch import)."""
    files = [*REPO.glob("ui/*.py"), *REPO.glob("benchmarks/*.py"), *REPO.rglob("farm/**/*.py"),
             *REPO.glob("scripts/*"), REPO / "engine/service/server.py"]
    found: set[str] = set()
    for f in files:
        if f.is_file():
            found |= set(re.findall(r"""add_argument\(\s*["'](--[a-z][a-z0-9-]*)""", f.read_text(errors="ignore")))
            if f.suffix == ".sh":  # a shell script's options: the patterns of its `case "$1" in` (--budget) ...)
                found |= set(re.findall(r"^\s*(--[a-z][a-z0-9-]*)\)", f.read_text(errors="ignore"), re.MULTILINE))
    return found


@pytest.mark.parametrize("doc", DOCS)
def test_every_flag_in_the_doc_exists(doc):
    known = set().union(*ENGINE.values()) | _other_parsers() | FOREIGN
    unknown = sorted(set(FLAG.findall((REPO / doc).read_text())) - known)
    assert not unknown, f"{doc} names flags no parser has: {unknown}"


@pytest.mark.parametrize("doc", DOCS)
def test_engine_command_snippets_use_that_commands_flags(doc):
    wrong = []
    snippets = SNIPPET.findall((REPO / doc).read_text().replace("\\\n", " "))  # shell line continuations
    for command, rest in snippets:
        allowed = ENGINE[(command,)] | {"--help"}
        wrong += [f"{command} {flag}" for flag in FLAG.findall(rest) if flag not in allowed]
    assert not wrong, f"{doc}: flags given to an engine command that does not take them: {wrong}"


def test_the_check_sees_snippets():
    """Guards the regexes: the README's render example is found and its flags checked."""
    text = (REPO / "README.md").read_text().replace("\\\n", " ")
    snippets = SNIPPET.findall(text)
    assert {"render", "serve", "train", "models"} <= {command for command, _ in snippets}
    render = next(rest for command, rest in snippets if command == "render")
    assert {"--frames", "--style-id", "--mattes"} <= set(FLAG.findall(render))
