"""Style choices read from the capabilities reply in the shapes the protocol may send."""

from ui.capabilities import DEFAULT_FAMILY, parse_capabilities


def test_dict_of_families_with_ids_and_backbones():
    caps = parse_capabilities({
        "backends": ["vtoonify", "classic"], "devices": [{"name": "cpu"}, {"name": "cuda", "available": False}],
        "models": {"cartoon": {"backbones": ["dualstylegan", "toonify"], "style_ids": [0, 26, 3]},
                   "arcane": {"backbones": ["toonify"], "style_ids": []}},
        "engine_version": "0.1.0"})
    assert caps.backends == ("auto", "vtoonify", "classic")
    assert caps.devices == ("auto", "cpu")
    assert caps.family_names == ("cartoon", "arcane")
    assert caps.family("cartoon").style_ids == (0, 3, 26)
    assert caps.family("arcane").backbones == ("toonify",)
    assert caps.engine_version == "0.1.0"


def test_list_of_family_objects_and_counts():
    caps = parse_capabilities({"backends": [{"name": "classic"}],
                               "models": {"families": [{"style": "pixar", "style_ids": 3}]}})
    assert caps.family("pixar").style_ids == (0, 1, 2)
    assert caps.backends == ("auto", "classic")


def test_empty_reply_still_offers_a_default_family():
    caps = parse_capabilities({"backends": [], "devices": [], "models": {}, "pipeline_error": "x"})
    assert caps.backends == ("auto",) and caps.family_names == (DEFAULT_FAMILY,)
    assert parse_capabilities(None).family_names == (DEFAULT_FAMILY,)


def test_inventory_form_merges_backbones_and_skips_unusable_families():
    caps = parse_capabilities({"backends": ["classic", "vtoonify"], "models": {
        "models_dir": "/m", "families": [
            {"style": "cartoon", "backbone": "dualstylegan", "usable": True, "exstyle_codes": "c/exstyle_code.npy",
             "checkpoints": [{"relpath": "c/vtoonify_s_d.pt", "style_id": None, "degree": None}]},
            {"style": "cartoon", "backbone": "toonify", "usable": True, "exstyle_codes": None,
             "checkpoints": [{"relpath": "t/vtoonify.pt", "style_id": None}]},
            {"style": "arcane", "backbone": "dualstylegan", "usable": True, "exstyle_codes": None,
             "checkpoints": [{"relpath": "a/vtoonify_s077_d0.5.pt", "style_id": 77, "degree": 0.5}]},
            {"style": "pixar", "backbone": "dualstylegan", "usable": False, "missing": ["p/x.pt"]}]}})
    assert caps.family_names == ("cartoon", "arcane")
    cartoon = caps.family("cartoon")
    assert cartoon.backbones == ("dualstylegan", "toonify") and cartoon.any_style_id
    arcane = caps.family("arcane")
    assert arcane.style_ids == (77,) and not arcane.any_style_id


def test_styles_form_names_exemplars_and_limits_fixed_checkpoints():
    caps = parse_capabilities({"backends": ["auto", "classic", "vtoonify"], "devices": ["cpu"], "styles": [
        {"style": "cartoon", "backbone": "dualstylegan", "checkpoints": ["vtoonify_s_d.pt"],
         "style_ids": ["a.jpg", "b.jpg", "c.jpg"]},
        {"style": "cartoon", "backbone": "toonify", "checkpoints": ["vtoonify_t.pt"]},
        {"style": "caricature", "backbone": "dualstylegan", "checkpoints": ["vtoonify_s039_d0.5.pt"],
         "style_ids": [f"{i}.jpg" for i in range(50)]}],
        "models": {"families": [{"style": "ignored-when-styles-present"}]}})
    assert caps.family_names == ("cartoon", "caricature")
    cartoon = caps.family("cartoon")
    assert cartoon.style_ids == (0, 1, 2) and cartoon.style_names[1] == "b.jpg"
    assert cartoon.backbones == ("dualstylegan", "toonify")
    assert caps.family("caricature").style_ids == (39,)
