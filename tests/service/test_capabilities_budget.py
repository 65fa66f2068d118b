"""The capabilities reply stays under the protocol's 1 MiB line limit whatever the models folder holds,
checked over a real ``python -m engine serve`` (torch-free style listing; no model is loaded)."""

from __future__ import annotations

import json

import numpy as np
from service_helpers import start_test_engine

from engine.models.checkpoints import MAX_STYLE_CODES, MAX_STYLE_NAMES_CHARS
from engine.service.protocol import MAX_LINE_BYTES

DIGITS = {ord("0") + d: 0x1F600 + d for d in range(10)}
"""0-9 as ten four-byte emoji: a name of 16 characters takes 64 bytes in UTF-8."""


def _name(index: int, chars: int) -> str:
    return f"{index:04d}".translate(DIGITS) + "\U0001f600" * (chars - 4)


def _hostile_family(models, style: str) -> int:
    """A usable VToonify-D family whose style names are each as long in UTF-8 bytes as the loader lets
    one file hold (4,096 names of 16 four-byte characters: 256 KiB of names); returns how many."""
    folder = models / f"vtoonify_d_{style}"
    folder.mkdir()
    (folder / "vtoonify_s_d.pt").write_bytes(b"x")
    per_name = MAX_STYLE_NAMES_CHARS // MAX_STYLE_CODES
    code = np.zeros((1, 1, 1), np.float32)
    names = {_name(i, per_name): code for i in range(MAX_STYLE_CODES)}
    array = np.empty((), dtype=object)
    array[()] = names
    np.save(folder / "exstyle_code.npy", array, allow_pickle=True)
    return len(names)


def test_eight_hostile_style_families_still_fit_one_capabilities_line(tmp_path):
    # Before: each family alone passed the loader's limits, but eight together made a 2 MiB reply the engine
    # could not send: the panel and the add-on got an error instead of any style at all.
    models = tmp_path / "models"
    models.mkdir()
    (models / "encoder.pt").write_bytes(b"x")
    (models / "faceparsing.pth").write_bytes(b"x")
    styles = [f"hostile{n}" for n in range(8)]
    totals = {style: _hostile_family(models, style) for style in styles}
    engine = start_test_engine(tmp_path / "engine", runner=None, extra_args=("--models", str(models)))
    try:
        with engine.connect() as client:
            reply = client.request("capabilities")
    finally:
        engine.stop()
    caps = reply["capabilities"]
    assert len(json.dumps(reply, separators=(",", ":"), ensure_ascii=False).encode()) < MAX_LINE_BYTES
    assert {s["style"] for s in caps["styles"]} == set(styles)  # every family is still offered
    cut = [s for s in caps["styles"] if len(s.get("style_ids", [])) < totals[s["style"]]]
    assert cut, "nothing was cut, so the test set-up no longer exceeds the limit"
    for entry in cut:  # a prefix: each name kept still has its index (= style_id); the total is said
        assert entry["style_ids_total"] == totals[entry["style"]]
        assert entry["style_ids"] == [_name(i, 16) for i in range(len(entry["style_ids"]))]
    assert "1 MiB" in caps["truncated"] and all(s["style"] in caps["truncated"] for s in cut)


def test_a_reply_that_fits_is_sent_as_it_is_and_countless_families_are_cut_last():
    from engine.service.reply_budget import encoded_bytes, fit_capabilities

    caps = {
        "styles": [{"style": "cartoon", "backbone": "dualstylegan", "style_ids": ["a.jpg"] * 10}],
        "models": {"families": [{"style": f"s{i}", "checkpoints": ["x" * 100]} for i in range(1000)]},
    }
    assert fit_capabilities(caps, encoded_bytes(caps)) is caps
    fitted = fit_capabilities(caps, 20_000)
    assert encoded_bytes(fitted) <= 20_000 and fitted["styles"][0]["style"] == "cartoon"
    assert fitted["styles"][0]["style_ids"] == [] and fitted["styles"][0]["style_ids_total"] == 10
    assert 0 < len(fitted["models"]["families"]) < 1000 and len(caps["models"]["families"]) == 1000
    assert f"{1000 - len(fitted['models']['families']):,} families left out" in fitted["truncated"]
