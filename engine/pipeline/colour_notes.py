"""Job warnings for plate colour the engine cannot read as the host shows it (HDR transfer, wide gamut,
alpha). Why warnings and not conversions: the face pipeline works on 8-bit display sRGB, and an HDR or
keyed plate has no single right SDR picture; the artist's conform decides it, so the job names the
transfer (or the alpha) and the command that makes an SDR, flat plate to use in both the engine and the host.
"""

from __future__ import annotations

import os
import shlex

_HDR_TRANSFERS = {16: "PQ (smpte2084)", 18: "HLG (arib-std-b67)"}
_WIDE_PRIMARIES = {9: "BT.2020"}
_SDR_CONFORM = (
    "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,tonemap=hable:desat=0,"
    "zscale=t=bt709:m=bt709:r=tv,format=yuv422p10le"
)
"""FFmpeg (built with zimg) HDR -> SDR Rec.709 conform, the widely used zscale + tonemap chain."""


def _stem_name(path: str, suffix: str, ext: str) -> tuple[str, str]:
    from engine.service.catalog import file_stem

    name = os.path.basename(path)
    return name, f"{file_stem(os.path.splitext(name)[0])}{suffix}{ext}"


def hdr_note(source) -> str | None:
    """An HLG/PQ or BT.2020 video is read as SDR Rec.709 (swscale converts the matrix only), so its plate
    is flat and off in hue while Blender 5.0 shows the strip as Rec.2100: said with the SDR conform."""
    if getattr(source, "kind", "") != "video":
        return None
    transfer = _HDR_TRANSFERS.get(int(getattr(source, "transfer", 2) or 2))
    primaries = _WIDE_PRIMARIES.get(int(getattr(source, "primaries", 2) or 2))
    if transfer is None and primaries is None:
        return None
    name, target = _stem_name(source.path_pattern, "_sdr", ".mov")
    what = (
        f"HDR video: {transfer} transfer" + (f", {primaries} primaries" if primaries else "")
        if transfer
        else f"wide-gamut video: {primaries} primaries"
    )
    return (
        f"{name} is {what}; the engine reads it as SDR Rec.709, so its plate looks flat and off in hue and "
        "the result will not match the plate Blender 5.0 shows (a Rec.2100 strip). Conform it to SDR first "
        f"and use that file in both: ffmpeg -i {shlex.quote(name)} -vf {_SDR_CONFORM} -c:v prores_ks "
        f"{shlex.quote(target)} (or an OCIO display transform to Rec.709)"
    )


def later_alpha_note(source) -> str | None:
    """``alpha_note`` for a plate whose first frame is opaque but a later frame read is not (a key or a fade
    after an opaque head): said once, when the decoder has read that frame (``alpha_from``), before its file is
    written, naming it."""
    frame = getattr(source, "alpha_from", None)
    if frame is None or not getattr(source, "plate_alpha_opaque", True):
        return None  # none found, or the job said it at the start
    return alpha_note(source, from_frame=frame)


def alpha_note(source, from_frame: int | None = None) -> str | None:
    """A plate with alpha is read as its colour alone: straight (unassociated) colour under transparent
    pixels is stylized as stored though Blender's sequencer shows black there, and the result's alpha is
    the face matte, not the plate's. Said with the command that flattens the plate over black. Not said
    for an alpha that is 1 everywhere in the plate's first frame (every CG/comp EXR has one): nothing is
    dropped there, and a warning on nearly every EXR plate would be noise."""
    alpha = getattr(source, "plate_alpha", None)
    if not alpha or (from_frame is None and getattr(source, "plate_alpha_opaque", False)):
        return None
    name = os.path.basename(source.path_pattern)
    if from_frame is not None:  # the first frame's alpha was full: this one is the first that is not
        alpha = f"{alpha}, transparent from frame {from_frame} on, though the first frame is opaque"
    if os.path.splitext(name)[1].lower() == ".exr":  # premultiplied by the format: colour is 0 where alpha is
        return (
            f"{name} has an alpha channel ({alpha}): its premultiplied colour is read (over black, as Blender "
            "shows it) and the alpha is dropped; the result's alpha is the face matte, not the plate's"
        )
    if getattr(source, "kind", "") == "video":
        quoted, target = shlex.quote(name), shlex.quote(_stem_name(name, "_flat", ".mov")[1])
        flatten = f"ffmpeg -i {quoted} -vf premultiply=inplace=1,format=yuv422p10le -c:v prores_ks {target}"
    else:
        _, target = _stem_name(name, "_flat", os.path.splitext(name)[1])
        flatten = f"oiiotool {shlex.quote(name)} --ch R,G,B -o {shlex.quote(target)}"
    return (
        f"{name} has an alpha channel ({alpha}): the engine stylizes its colour as stored and drops the alpha "
        "(colour kept under transparent pixels is read, where Blender's sequencer shows black), and the "
        "result's alpha is the face matte, not the plate's. If the transparent parts hold stray colour, "
        f"flatten the plate over black first: {flatten}"
    )
