"""Model construction and safe loading of the official VToonify files.

Public contract (used by the pipeline, the service and checked from outside):

* ``build_model(config)``: a module from a golden-file ``config`` dict or a minimal one.
* ``parsing_maps(parser, frames)``: the 19 face-parsing logits VToonify takes (caller divides by 16).
* ``load_vtoonify(path, device)``, ``load_style_encoder(path)``, ``load_face_parser(path)``,
  ``load_exstyles(path)``: read official files with ``weights_only`` loading and strict checks; the
  architecture (backbone, channel widths) is inferred from the tensors, not from the file name.
* ``static_vtoonify(model, style, d_s, precision)``: the per-shot static network.

Importing this package loads no torch: every name above is looked up on first use (PEP 562), so the
torch-free submodules (``inventory``, ``fetch``) serve ``vtoonify models list|fetch``, ``--help``
and the engine service's start in a fraction of a second instead of paying torch's seconds of import.
The code lives in ``loading.py`` (and the model modules); names keep resolving from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.lazy_names import lazy_names

_LAZY: dict[str, str] = {
    **dict.fromkeys(
        ("build_loaded", "build_model", "infer_psp_config", "infer_vtoonify_config", "load_exstyles",
         "load_face_parser", "load_style_encoder", "load_vtoonify", "static_vtoonify"),
        "engine.models.loading"),
    **dict.fromkeys(("BiSeNet", "parsing_maps"), "engine.models.bisenet"),
    **dict.fromkeys(("DEFAULT_WIDTHS", "UNITS_PER_STAGE", "GradualStyleEncoder", "StyleEncoder", "n_styles_for"),
                    "engine.models.psp"),
    **dict.fromkeys(("describe_checkpoint", "load_exstyle_codes", "load_state_dict_strict", "load_torch_file",
                     "refetch_fix", "state_dict_problems"), "engine.models.checkpoints"),
}
"""Name -> the module that defines it (each imports torch, so none is imported before it is asked for)."""

__all__ = [
    "build_loaded",
    "build_model",
    "infer_psp_config",
    "infer_vtoonify_config",
    "load_exstyles",
    "load_face_parser",
    "load_style_encoder",
    "load_vtoonify",
    "parsing_maps",
    "static_vtoonify",
]


__getattr__, __dir__ = lazy_names(__name__, _LAZY)


if TYPE_CHECKING:  # what type checkers and IDEs see for the public names; never executed
    from engine.models.bisenet import parsing_maps
    from engine.models.loading import (
        build_loaded,
        build_model,
        infer_psp_config,
        infer_vtoonify_config,
        load_exstyles,
        load_face_parser,
        load_style_encoder,
        load_vtoonify,
        static_vtoonify,
    )
