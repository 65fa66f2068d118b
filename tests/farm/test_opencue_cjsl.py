"""The OpenCue job as the Cuebot receives it: the real PyOutline serializes farm/opencue/submit_vtoonify.py's
outline into a CJSL spec, which must be valid for the Cuebot's newest CJSL DTD (element order, required
attributes, NMTOKEN names) and its JobSpec naming rules, or the Cuebot refuses the whole job.

PyOutline cannot be installed here, so the spec test runs where ``OPENCUE_SOURCE`` names an OpenCue checkout
(its pyoutline/, pycue/ and cuebot/ folders); the validator itself is always tested."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from cjsl_dtd import parse_dtd, problems
from farm_helpers import REPO

CUEBOT_NAME = re.compile(r"[\w.-]{3,}", re.ASCII)
"""Cuebot's JobSpec rule for shot and layer names (after lowercasing and '-' -> '_')."""


@pytest.fixture(scope="module")
def opencue_source() -> Path:
    found = os.environ.get("OPENCUE_SOURCE")
    if not found or not (Path(found) / "pyoutline" / "outline").is_dir():
        pytest.skip(
            "set OPENCUE_SOURCE to an OpenCue checkout to check the spec against the real PyOutline "
            "and the Cuebot's DTD"
        )
    return Path(found)


def newest_dtd(source: Path) -> Path:
    dtds = [p for p in source.glob("cuebot/src/main/resources/**/cjsl-1.*.dtd")]
    return max(dtds, key=lambda p: tuple(int(n) for n in re.findall(r"\d+", p.name)))


def serialized_spec(source: Path, *args: str) -> str:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(source / "pyoutline"), str(source / "pycue")]))
    done = subprocess.run(
        [sys.executable, str(REPO / "tests" / "farm" / "opencue_serialize.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout[done.stdout.index("<?xml") :].strip()


@pytest.mark.parametrize(
    ("frames", "chunk", "settings"),
    [
        ("1001-1097", 10, ["--style", "arcane", "--mattes"]),
        ("1-120x2", 10, []),
        ("1-10,20-30", 4, ["--faces", "all", "--max-faces", "4"]),
        ("5", 50, ["--precision", "bf16"]),
    ],
)
def test_spec_is_valid_for_the_cuebots_dtd(opencue_source, frames, chunk, settings):
    spec = serialized_spec(
        opencue_source,
        "/plates/shot 010/a.mp4",
        "/renders/sh010/v001",
        "--frames",
        frames,
        "--chunk",
        str(chunk),
        "--python",
        "/opt/vt/bin/python",
        "--shot",
        "sq01-sh010",
        "--",
        *settings,
    )
    dtd_file = newest_dtd(opencue_source)
    assert f'/{dtd_file.name}"' in spec, "PyOutline names another DTD than the Cuebot's newest"
    assert problems(spec, parse_dtd(dtd_file.read_text(encoding="utf-8"))) == []
    root = ET.fromstring(re.sub(r"<!DOCTYPE[^>]*>", "", spec))
    assert CUEBOT_NAME.fullmatch(root.findtext("shot").lower().replace("-", "_"))
    prepare, render = root.findall("job/layers/layer")
    for layer in (prepare, render):
        assert CUEBOT_NAME.fullmatch(layer.get("name")) and layer.get("type") == "Render"
    assert (prepare.findtext("range"), prepare.findtext("chunk")) == ("1", "1")
    assert (render.findtext("range"), render.findtext("chunk")) == (frames, str(chunk))
    assert "--frames #FRAMESPEC# --resume" in render.findtext("cmd")
    (depend,) = root.findall("depends/depend")
    assert depend.get("type") == "LAYER_ON_LAYER"
    assert (depend.findtext("deplayer"), depend.findtext("onlayer")) == ("render", "prepare")


TOY_DTD = """<!-- a DTD written for this test -->
<!ELEMENT plan   (title,step+,note?)>
<!ATTLIST plan   name NMTOKEN #REQUIRED  kind (quick | slow) #REQUIRED  owner CDATA #IMPLIED>
<!ELEMENT title  (#PCDATA)*>
<!ELEMENT step   (#PCDATA)*>
<!ELEMENT note   (#PCDATA)*>
"""


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ('<plan name="a.b-1" kind="quick"><title>t</title><step>1</step><step>2</step></plan>', None),
        ('<plan name="a" kind="quick"><step>1</step><title>t</title></plan>', "not in the DTD's order"),
        ('<plan name="a" kind="quick"><title>t</title></plan>', "not in the DTD's order"),
        ('<plan kind="quick"><title>t</title><step>1</step></plan>', "lacks the required attribute name"),
        ('<plan name="a b" kind="quick"><title>t</title><step>1</step></plan>', "is not an NMTOKEN"),
        ('<plan name="a" kind="fast"><title>t</title><step>1</step></plan>', "is none of"),
        ('<plan name="a" kind="slow"><title>t</title><step><b/></step></plan>', "holds text only"),
        ('<plan name="a" kind="slow"><title>t</title><step/><extra/></plan>', "is not in the DTD"),
    ],
)
def test_the_dtd_validator_finds_each_kind_of_problem(spec, complaint):
    found = problems(spec, parse_dtd(TOY_DTD))
    assert (found == []) if complaint is None else any(complaint in p for p in found), found
