"""Keep the capabilities reply inside the protocol's 1 MiB line limit.

Why: each style file's names are bounded by the loader (engine.models.checkpoints.check_style_names), but
eight such families together made a 2 MiB reply the engine could not send, so the panel and the add-on got
an error instead of any style. Here the longest name lists are cut to a prefix (a name's index stays its
style_id), and the reply says what was cut in ``truncated`` for the client to show.
"""

from __future__ import annotations

import json


def encoded_bytes(value: object) -> int:
    """Bytes ``value`` takes on the wire (compact UTF-8 JSON, as ``protocol.encode`` writes it)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return len(text.encode("utf-8", "surrogatepass"))  # a lone surrogate goes out as U+FFFD: 3 bytes either way


def fit_capabilities(caps: dict, limit: int) -> dict:
    """``caps`` whose encoding takes at most ``limit`` bytes: the longest ``style_ids`` list is halved until it
    fits (each cut entry keeps ``style_ids_total``), then, if need be, the inventory's family details and
    styles are dropped from the end. ``caps`` itself is left as it was."""
    original = encoded_bytes(caps)
    if original <= limit:
        return caps
    styles = [dict(entry) for entry in caps.get("styles", [])]
    models = dict(caps.get("models") or {})
    fitted = dict(caps, styles=styles, models=models)
    left_out = {"families": 0, "styles": 0}

    def size() -> int:  # the note's own bytes count too
        fitted["truncated"] = _note(original, styles, left_out)
        return encoded_bytes(fitted)

    while size() > limit and any(entry.get("style_ids") for entry in styles):
        longest = max((e for e in styles if e.get("style_ids")), key=lambda e: encoded_bytes(e["style_ids"]))
        longest.setdefault("style_ids_total", len(longest["style_ids"]))
        longest["style_ids"] = longest["style_ids"][: len(longest["style_ids"]) // 2]
    while size() > limit and models.get("families"):  # a folder of countless checkpoints: the list, not the styles
        keep = len(models["families"]) // 2
        left_out["families"] += len(models["families"]) - keep
        models["families"] = models["families"][:keep]
    while size() > limit and styles:
        styles.pop()
        left_out["styles"] += 1
    return fitted


def _note(size: int, styles: list[dict], left_out: dict[str, int]) -> str:
    """What was left out, in words a panel or add-on can show as they are."""
    cut = [
        f"{e['style']} ({e['backbone']}): the first {len(e.get('style_ids', [])):,} of {e['style_ids_total']:,}"
        for e in styles
        if "style_ids_total" in e
    ]
    later = "a job naming a later style id by number still renders it"
    parts = [f"style names listed only for {'; '.join(cut)} ({later})"] if cut else []
    if left_out["families"]:
        parts.append(f"{left_out['families']:,} families left out of the models inventory")
    if left_out["styles"]:
        parts.append(f"{left_out['styles']:,} styles left out")
    what = ", ".join(parts) or "style names cut"
    return (
        f"the models folder holds more style names than one capabilities reply can carry ({size:,} bytes, "
        f"over the protocol's 1 MiB line limit): {what}"
    )
