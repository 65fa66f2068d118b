"""Why a VToonify operator is greyed out, in words an artist can act on (no bpy).

Blender shows an operator's ``poll_message_set`` text in the tooltip of a greyed-out button or menu
entry; a bare grey button tells nothing. The operators read the context into these arguments.
"""

from __future__ import annotations

RENDERABLE = frozenset({"MOVIE", "IMAGE"})


def stylize_blocker(*, has_editor: bool, strip_type: str | None, source_type: str | None,
                    is_result: bool = False, running: bool = False, engine_missing: bool = False,
                    style: str = "", style_problem: str = "", is_preview: bool = False,
                    source_problem: tuple[str, str] | None = None) -> str:
    """Empty when Stylize (or Preview) can run, else the reason and what to do.

    ``strip_type``: the active strip's type (None: no active strip); ``source_type``: the type of the
    strip that would be rendered (the strip itself, the one a meta shows, or a result's source);
    ``engine_missing``: Auto-start is off and no engine connection file exists; ``style_problem``: why the
    chosen ``style`` cannot render, in an artist's words (a half-trained family);
    ``is_preview``: the active strip is a Preview overlay (a still the add-on laid, not footage);
    ``source_problem``: (problem, fix) why the strip to render cannot be read as it is (a retimed movie)."""
    if not has_editor:
        return "This scene has no Sequencer strips: add a movie or image strip first"
    if strip_type is None:
        return "No active strip: click the movie, image or meta strip to render"
    if is_preview:
        return ("The active strip is a VToonify Preview overlay: click its source strip below it (delete the "
                "overlay when done with it)")
    if source_type is None:
        if is_result:
            return "The source strip of this VToonify result is gone: select a movie or image strip"
        if strip_type == "META":
            return "The meta strip shows no movie or image strip over its cut"
        return f"The active strip is a {strip_type.lower()} strip: select a movie, image or meta strip"
    if source_type not in RENDERABLE:
        return f"The active strip is a {source_type.lower()} strip: select a movie, image or meta strip"
    if source_problem is not None:
        problem, fix = source_problem
        return f"The {problem}. Fix: {fix}"
    if running:
        return "A VToonify render is running: wait for it, or press Esc (or Cancel) to stop it"
    if style_problem:
        return (f"Style '{style}' is not ready: {style_problem}. Pick another style, or Backend Classic (the "
                "VToonify panel says what is left to run, for whoever trains your styles)")
    if engine_missing:
        return ("The VToonify engine is not running and Auto-start is off: press Start in the VToonify "
                "panel, or turn on Auto-start in the add-on preferences")
    return ""


def playhead_blocker(frame: int, start: int, end: int, strip_name: str) -> str:
    """Why Preview cannot run: the playhead is off the visible frames [start, end) of the strip it
    would preview (empty when it is on them)."""
    if start <= frame < end:
        return ""
    shown = f"frame {start}" if end - start == 1 else f"frames {start}-{end - 1}"
    return (f"The playhead (frame {frame}) is not on strip {strip_name!r} ({shown}): "
            "move the playhead onto the strip to preview that frame")


def selection_note(rendered: str, others: list[str]) -> str:
    """What Stylize tells when more strips are selected than the active one it renders (empty if none)."""
    if not others:
        return ""
    shown = ", ".join(repr(name) for name in others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
    return (f"only the active strip {rendered!r} is stylized; the other selected strip(s) {shown} are not: "
            "make each active in turn (click it) and Stylize it")


def unsaved_output_note(output_root: str, blend_saved: bool) -> str:
    """The panel's hint, before any click, that Stylize needs the .blend saved: renders go to a ``//``
    folder beside it (Preview does not: it writes nothing there). Empty when nothing is missing."""
    if blend_saved or not output_root.startswith("//"):
        return ""
    return (f"Renders go to {output_root} beside the .blend file: save it first (File > Save), or set an "
            "absolute Output Folder in the add-on preferences")
