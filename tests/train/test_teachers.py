"""Teacher loading: widths from the tensors, the Toonify layer blend, and one clear error per bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine.errors import ConfigError, ModelFileError
from engine.models import build_model, load_exstyles
from engine.models.checkpoints import state_dict_problems
from engine.models.stylegan import Generator, default_channels, map_each_latent
from engine.train.teachers import DEFAULT_T_WEIGHT, infer_stylegan_config, load_teachers

TINY_CHANNELS = {4: 48, 8: 32, 16: 32, 32: 32, 64: 28, 128: 24, 256: 20}  # conftest's table


@pytest.fixture(scope="module")
def d_teachers(tiny_teachers_128):
    return load_teachers("dualstylegan", **tiny_teachers_128.d_kwargs())


def test_dualstylegan_teachers_take_their_widths_from_the_tensors(tiny_teachers_128, d_teachers):
    files, t = tiny_teachers_128, d_teachers
    assert (t.backbone, t.size, t.n_latent, t.style_dim) == ("dualstylegan", 128, 12, 48)
    assert t.channels == {r: c for r, c in TINY_CHANNELS.items() if r <= 128}
    assert t.base_generator is t.generator.generator
    # exemplar codes: the file's z+ in file order, mapped to W+ by the teacher's own mapping network
    codes = load_exstyles(files.exstyle)
    assert t.exstyle_names == tuple(codes) == files.exstyle_names
    zplus = torch.cat(list(codes.values()))
    expected = map_each_latent(t.generator.generator.style, zplus)
    assert t.exstyles.shape == (6, 12, 48) and torch.allclose(t.exstyles, expected)
    assert torch.equal(t.directions, torch.from_numpy(np.load(files.directions)))
    # frozen, and the pSp file is only opened when asked for
    assert not any(p.requires_grad for m in (t.generator, t.face_parser) for p in m.parameters())
    assert not t.generator.training and not t.face_parser.training
    assert t._style_encoder is None and t.warnings == []
    # the student built from student_config decodes with exactly this generator
    student = build_model(t.student_config())
    student.generator.load_state_dict(t.generator.state_dict(), strict=True)
    assert student.in_size == 32


def test_style_encoder_is_loaded_lazily_and_fits_the_generator(d_teachers):
    encoder = d_teachers.style_encoder()
    assert encoder is d_teachers.style_encoder()  # cached
    zplus = encoder(torch.zeros(1, 3, 256, 256))
    assert zplus.shape == (1, 12, 48)
    assert not any(p.requires_grad for p in encoder.parameters())


def test_toonify_teacher_blends_finetuned_layers_by_weight(tiny_teachers_128):
    files = tiny_teachers_128
    weight = [1.0, 0.0, 0.25] + [0.5] * 8 + [0.0] * 7
    t = load_teachers("toonify", **files.t_kwargs(weight=weight))
    assert (t.backbone, t.exstyles, t.size, t.n_latent) == ("toonify", None, 128, 12)
    base = torch.load(files.ffhq)["g_ema"]
    tuned = torch.load(files.finetune)["g_ema"]
    blended = t.generator.state_dict()
    cases = {  # key -> layer whose weight applies (official gather_params numbering)
        "conv1.conv.weight": 0,
        "to_rgb1.conv.weight": 1,
        "convs.1.conv.weight": 2,
        "convs.4.activate.bias": 5,
        "to_rgbs.4.bias": 11,
    }
    for key, layer in cases.items():
        w = weight[layer]
        assert torch.allclose(blended[key], base[key] * (1 - w) + tuned[key] * w), key
    for key in ("style.1.weight", "input.input", "noises.noise_3"):  # mapping, constant, noise: FFHQ
        assert torch.equal(blended[key], base[key]), key
    assert not torch.equal(base["conv1.conv.weight"], tuned["conv1.conv.weight"])
    assert torch.equal(t.base_generator.state_dict()["conv1.conv.weight"], base["conv1.conv.weight"])
    # no weight given: the official default [1]*9 + [0]*9
    default = load_teachers("toonify", **files.t_kwargs(weight=None, direction_path=None))
    assert DEFAULT_T_WEIGHT == (1.0,) * 9 + (0.0,) * 9
    assert torch.equal(default.generator.state_dict()["convs.7.conv.weight"], tuned["convs.7.conv.weight"])
    assert torch.equal(default.generator.state_dict()["convs.8.conv.weight"], base["convs.8.conv.weight"])
    assert default.directions is None and len(default.warnings) == 1 and "direction" in default.warnings[0]


MISSING = [
    ("dualstylegan", "stylegan_path"),
    ("dualstylegan", "exstyle_path"),
    ("dualstylegan", "faceparsing_path"),
    ("dualstylegan", "style_encoder_path"),
    ("dualstylegan", "direction_path"),
    ("toonify", "stylegan_path"),
    ("toonify", "finetunegan_path"),
]


@pytest.mark.parametrize("backbone,option", MISSING)
def test_a_missing_file_is_one_model_file_error_naming_it(tiny_teachers_128, tmp_path, backbone, option):
    files = tiny_teachers_128
    kwargs = files.d_kwargs() if backbone == "dualstylegan" else files.t_kwargs()
    kwargs[option] = tmp_path / "absent.pt"
    with pytest.raises(ModelFileError, match="not found") as err:
        load_teachers(backbone, **kwargs)
    assert "absent.pt" in err.value.user_message


def test_a_file_of_the_wrong_kind_says_what_it_is(tiny_teachers_128, tmp_path):
    files = tiny_teachers_128
    with pytest.raises(ModelFileError, match=r"not a DualStyleGAN generator.*--backbone toonify"):
        load_teachers("dualstylegan", **files.d_kwargs(stylegan_path=files.ffhq))
    with pytest.raises(ModelFileError, match=r"not a StyleGAN2 generator.*DualStyleGAN"):
        load_teachers("toonify", **files.t_kwargs(stylegan_path=files.dualstylegan))
    with pytest.raises(ModelFileError, match="BiSeNet face parser"):
        load_teachers("toonify", **files.t_kwargs(stylegan_path=files.faceparsing))
    with pytest.raises(ModelFileError, match="not the BiSeNet face parser"):
        load_teachers("toonify", **files.t_kwargs(faceparsing_path=files.finetune))
    with pytest.raises(ModelFileError, match="numpy"):
        load_teachers("toonify", **files.t_kwargs(finetunegan_path=files.directions))
    with pytest.raises(ModelFileError, match=r"valid \.npy"):
        load_teachers("dualstylegan", **files.d_kwargs(exstyle_path=files.encoder))
    pickled = tmp_path / "directions.npy"
    np.save(pickled, np.array({"a": np.zeros(3)}, dtype=object), allow_pickle=True)
    with pytest.raises(ModelFileError, match="not a plain numeric"):
        load_teachers("dualstylegan", **files.d_kwargs(direction_path=pickled))


def test_widths_that_do_not_fit_are_refused_before_training(tiny_teachers_128, tiny_teachers):
    small, large = tiny_teachers_128, tiny_teachers  # 128 px / 12 latents and 256 px / 14 latents
    with pytest.raises(ModelFileError, match="does not match the FFHQ generator"):
        load_teachers("toonify", **small.t_kwargs(finetunegan_path=large.finetune))
    # named by its flag like every other training file (a TD reading the line learns which flag to change)
    with pytest.raises(ModelFileError, match=r"^--exstyle-path: .*do not fit the DualStyleGAN.*12 codes of width 48"):
        load_teachers("dualstylegan", **small.d_kwargs(exstyle_path=large.exstyle))
    with pytest.raises(ModelFileError, match=r"expected float \[K, n_latent >= 7, 48\]"):
        bad = small.root.parent / "dirs_wide.npy"
        np.save(bad, np.zeros((2, 12, 64), dtype=np.float32))
        load_teachers("toonify", **small.t_kwargs(direction_path=bad))
    mixed = load_teachers("toonify", **small.t_kwargs(style_encoder_path=large.encoder))
    with pytest.raises(ModelFileError, match=r"makes 14 codes of width 48.*needs 12 codes"):
        mixed.style_encoder()
    with pytest.raises(ConfigError, match="--weight has 5 values"):
        load_teachers("toonify", **small.t_kwargs(weight=[1.0] * 5))


def test_a_dualstylegan_whose_modres_widths_differ_is_refused(tmp_path, tiny_teachers_128):
    path = tmp_path / "generator.pt"
    torch.manual_seed(0)
    odd = build_model({"class_name": "DualStyleGAN", "size": 128, "style_dim": 48, "n_mlp": 8,
                       "channels": {4: 48, 8: 32, 16: 24, 32: 32, 64: 28, 128: 24}})
    torch.save({"g_ema": odd.state_dict()}, path)
    with pytest.raises(ConfigError, match="8/16/32 are 32/24/32"):
        load_teachers("dualstylegan", **tiny_teachers_128.d_kwargs(stylegan_path=path))


def test_options_of_the_other_backbone_and_unknown_backbones_are_config_errors(tiny_teachers_128):
    files = tiny_teachers_128
    with pytest.raises(ConfigError, match="needs the exemplar style codes"):
        load_teachers("dualstylegan", **files.d_kwargs(exstyle_path=None))
    with pytest.raises(ConfigError, match="needs the finetuned StyleGAN"):
        load_teachers("toonify", **files.t_kwargs(finetunegan_path=None))
    with pytest.raises(ConfigError, match="VToonify-D option"):
        load_teachers("toonify", **files.t_kwargs(exstyle_path=files.exstyle))
    with pytest.raises(ConfigError, match="unknown backbone"):
        load_teachers("stylegan3", **files.t_kwargs())
    no_encoder = load_teachers("dualstylegan", **files.d_kwargs(style_encoder_path=None, direction_path=None))
    with pytest.raises(ConfigError, match="need the pSp style encoder") as err:
        no_encoder.style_encoder()
    assert "--style-encoder-path" in err.value.fix


@pytest.mark.parametrize("manifest,prefix,model", [
    ("vtoonify_d_keys.json", "generator.", "DualStyleGAN"),
    ("vtoonify_t_keys.json", "generator.", "StyleGAN2"),
])
def test_official_full_size_teachers_fit_the_inferred_architecture(reference_dir, manifest, prefix, model):
    """The official VToonify checkpoints embed their teacher under ``generator.``: widths read off those
    (meta) tensors give the official 1024 / 512 / 8-layer generator, and a strict key/shape check of our
    module against them finds nothing, i.e. an official generator.pt / stylegan2-ffhq g_ema would load."""
    keys = json.loads((reference_dir / manifest).read_text())["keys"]
    state = {k[len(prefix):]: torch.empty(v["shape"], device="meta") for k, v in keys.items() if k.startswith(prefix)}
    inner = "generator." if model == "DualStyleGAN" else ""
    config = infer_stylegan_config(state, inner)
    assert config == {"size": 1024, "style_dim": 512, "n_mlp": 8, "channels": default_channels(2)}
    with torch.device("meta"):
        module = (build_model({"class_name": "DualStyleGAN", **config}) if model == "DualStyleGAN"
                  else Generator(**config))
    assert state_dict_problems(module, state) == []
