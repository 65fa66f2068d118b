"""`engine train finetune`: Toonify's StyleGAN fine-tuned on a folder of style images, on CPU.

Tiny random StyleGAN2 G/D pairs in rosinality's layout (``g``, ``d``, ``g_ema``, ``latent_avg``): 32 px for
the loop's behaviour (learning, resume), the 128-px tiny teachers of conftest.py for the hand-over to
`train pretrain|full --backbone toonify`. Faces: photos of shared/media, aligned by dlib as FFHQ."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shlex
import shutil
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import engine.train.finetune as finetune_module
from engine.cli import main
from engine.errors import ConfigError, InputError, JobCancelled, ModelFileError
from engine.models.stylegan import Generator
from engine.train.artwork import load_style_images
from engine.train.discriminator import ConditionalDiscriminator
from engine.train.finetune import run_finetune
from engine.train.finetune_options import FinetuneOptions

SMALL = {4: 16, 8: 16, 16: 12, 32: 8}
RED = (200, 40, 40)
FACES = ("038648.jpg", "077436.jpg", "077559.jpg", "081680.jpg")


def write_ffhq(path: Path, size: int = 32, channels=None, style_dim: int = 16, g_ema: dict | None = None,
               with_d: bool = True, seed: int = 0) -> Path:
    """A StyleGAN2 checkpoint as rosinality's stylegan2-ffhq-config-f.pt (random weights)."""
    torch.manual_seed(seed)
    channels = channels or SMALL
    if g_ema is None:
        g_ema = Generator(size, style_dim, 2, channels=channels).state_dict()
    ckpt = {"g_ema": g_ema, "g": {k: v.clone() for k, v in g_ema.items()}, "latent_avg": torch.zeros(style_dim)}
    if with_d:
        ckpt["d"] = ConditionalDiscriminator(size, channels=channels).state_dict()
    torch.save(ckpt, path)
    return path


def red_images(folder: Path, count: int = 6) -> Path:
    """Flat red 'artwork' (not square: taken as aligned, centre square), a toy style with one statistic."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(np.full((40, 36, 3), RED, np.uint8)).save(folder / f"red{i}.png")
    return folder


def quiet(function, *args, **kwargs):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        result = function(*args, **kwargs)
    return result, err.getvalue()


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp("ft")
    return write_ffhq(root / "ffhq.pt"), red_images(root / "red")


def options(ffhq, images, out, **changes) -> FinetuneOptions:
    base = FinetuneOptions(stylegan_path=str(ffhq), images=str(images), aligned=True, out=str(out), name="red",
                           iter=4, batch=2, seed=3, device="cpu", progress=False, sample_every=0,
                           d_reg_every=2, g_reg_every=2, augment_p=0.3)
    return replace(base, **changes)


def mean_colour(g_state: dict, z: torch.Tensor) -> torch.Tensor:
    g = Generator(32, 16, 2, channels=SMALL)
    g.load_state_dict(g_state)
    with torch.no_grad():
        return g([z], randomize_noise=False)[0].mean(dim=(0, 2, 3))


def test_fine_tuning_moves_the_generator_to_the_style_and_d_learns_to_tell_them_apart(small, tmp_path):
    ffhq, images = small
    opts = options(ffhq, images, tmp_path, iter=12, lr=0.005, augment_p=0.0, json_log=True, log_every=1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        final, _ = quiet(run_finetune, opts)
    logs = [json.loads(line) for line in out.getvalue().splitlines() if '"iter"' in line]
    assert [r["iter"] for r in logs] == list(range(1, 13))
    # D learns to tell the style images from G's (measured 1.33 -> 1.03, gap 0.55 -> 1.20; noisy per step)
    d_loss = [r["d"] for r in logs]
    gap = [r["real_score"] - r["fake_score"] for r in logs]
    assert np.mean(d_loss[-6:]) < np.mean(d_loss[:2]) - 0.1, d_loss
    assert np.mean(gap[-6:]) > np.mean(gap[:2]) + 0.3, gap
    target = torch.tensor(RED) / 127.5 - 1
    z = torch.randn(8, 16, generator=torch.Generator().manual_seed(0))
    before = mean_colour(torch.load(ffhq, weights_only=True)["g"], z)
    after = mean_colour(torch.load(final, weights_only=True)["g"], z)
    # G's pictures moved towards the style's colour (measured 3.80 -> 1.65): only gradients through D
    # into G can do that; the EMA follows slowly (official decay 0.998 per step)
    assert (after - target).norm() < 0.6 * (before - target).norm(), (before, after, target)


def test_stop_then_resume_auto_is_bit_identical_and_the_file_is_official_and_safe(small, tmp_path, monkeypatch):
    ffhq, images = small
    whole, _ = quiet(run_finetune, options(ffhq, images, tmp_path / "a"))
    cancel = threading.Event()
    real_step = finetune_module.finetune_step

    def step(session, i):
        values = real_step(session, i)
        if i + 1 == 3:  # odd: the next step draws R1 and path length again, with the saved state
            cancel.set()
        return values

    monkeypatch.setattr(finetune_module, "finetune_step", step)
    with pytest.raises(JobCancelled) as stop:
        quiet(run_finetune, options(ffhq, images, tmp_path / "b"), cancel)
    monkeypatch.setattr(finetune_module, "finetune_step", real_step)
    saved = tmp_path / "b" / "vtoonify_t_red" / "finetune-00003.pt"
    assert f"saved {saved}" in stop.value.message and "--resume" in stop.value.fix
    assert "`engine train finetune` stopped before its last iteration" in _not_ready_fix(tmp_path / "b")
    resumed, err = quiet(run_finetune, options(ffhq, images, tmp_path / "b", resume="auto"))
    assert f"continuing from {saved} (iteration 3)" in err
    a = torch.load(whole, weights_only=True)  # no pickled code
    b = torch.load(resumed, weights_only=True)
    for key in ("g", "d", "g_ema"):
        assert all(torch.equal(a[key][k], b[key][k]) for k in a[key]), key
    assert a["iter"] == b["iter"] == 4 and a["ada"] == b["ada"]
    assert torch.equal(a["mean_path_length"], b["mean_path_length"]) and float(a["mean_path_length"]) > 0
    assert not torch.equal(a["g_ema"]["conv1.conv.weight"], torch.load(ffhq)["g_ema"]["conv1.conv.weight"])
    # rosinality's key names: the FFHQ file's own g, d and g_ema state dicts load into the output's
    official = torch.load(ffhq, weights_only=True)
    assert {k: set(official[k]) for k in ("g", "d", "g_ema")} == {k: set(a[k]) for k in ("g", "d", "g_ema")}
    assert a["stage"] == "finetune" and a["images"]["count"] == 6


def test_style_faces_are_aligned_as_ffhq_and_bad_files_are_all_named(media_dir, tmp_path):
    folder = tmp_path / "art"
    folder.mkdir()
    for name in FACES:
        img = Image.open(media_dir / name)
        img.thumbnail((520, 520))
        img.save(folder / name)
    Image.fromarray(np.full((200, 200, 3), 128, np.uint8)).save(folder / "grey.png")  # no face
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (folder / "notes.txt").write_text("reference sheet")
    store = tmp_path / "aligned"
    with pytest.raises(InputError) as info:
        quiet(load_style_images, folder, 128, aligned=False, store=tmp_path / "aligned0")
    assert "1 unreadable image(s)" in info.value.message and "broken.jpg" in info.value.message
    assert "no face found in 1 of 6 image(s): grey.png" in info.value.message
    assert "--aligned" in info.value.fix and "--drop-no-face" in info.value.fix
    (folder / "broken.jpg").unlink()
    images, err = quiet(load_style_images, folder, 128, aligned=False, drop_no_face=True, store=store)
    pixels = images.batch(range(len(images)))
    assert images.names == sorted(FACES) and pixels.shape == (4, 3, 128, 128)
    # the digest a resume compares is the one of the earlier in-memory stack (older checkpoints match)
    assert images.digest == hashlib.sha256(pixels.numpy().tobytes()).hexdigest()[:16]
    assert images.dropped == ["grey.png"] and "notes.txt" in err and "grey.png" in err
    # FFHQ layout: the eyes sit on one row in the upper half, the face is centred (not the photo's framing)
    from engine.face.landmarks import find_landmarks

    for k in range(4):
        lm = find_landmarks(np.ascontiguousarray(pixels[k].permute(1, 2, 0).numpy()))
        assert lm is not None, images.names[k]
        left, right = lm[36:42].mean(0), lm[42:48].mean(0)
        assert abs(left[1] - right[1]) < 6 and 40 < (left[1] + right[1]) / 2 < 64, (images.names[k], left, right)
        assert abs((left[0] + right[0]) / 2 - 64) < 8
    # a second read (a farm retry) takes the faces from the landmark cache (the aligned images gone): no
    # detector is even built
    from engine.train import artwork

    cache = tmp_path / "models" / "finetune_landmarks.json"
    cache.parent.mkdir()
    artwork.save_landmarks(cache, images.landmarks, warn=pytest.fail)
    assert images.landmarks["grey.png"]["landmarks"] is None  # "no face" is remembered too

    class NoDetector:
        def __init__(self, *args, **kwargs):
            raise AssertionError("faces were searched again")

    import engine.face.landmarks as landmarks_module

    real_detector = landmarks_module.FaceLandmarker
    landmarks_module.FaceLandmarker = NoDetector
    try:
        shutil.rmtree(store)
        again, err = quiet(load_style_images, folder, 128, aligned=False, drop_no_face=True, cache=cache, store=store)
        assert torch.equal(again.batch(range(4)), pixels) and again.digest == images.digest
        assert f"faces of 5 unchanged image(s) taken from {cache}" in err
        Image.open(folder / sorted(FACES)[1]).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(folder / sorted(FACES)[1])
        with pytest.raises(AssertionError, match="searched again"):  # a changed file is searched again
            quiet(load_style_images, folder, 128, aligned=False, drop_no_face=True, cache=cache, store=store)
    finally:
        landmarks_module.FaceLandmarker = real_detector
    (folder / "grey.png").unlink()
    (folder / sorted(FACES)[0]).unlink()
    with pytest.raises(ConfigError, match="only 3 usable style image"):
        quiet(load_style_images, folder, 128, aligned=False, store=store)


def test_cli_names_missing_and_wrong_inputs(small, tmp_path, capsys):
    ffhq, images = small
    base = ["train", "finetune", "--stylegan-path", str(ffhq), "--out", str(tmp_path), "--device", "cpu"]
    assert main(base) == 2
    assert "needs the style images" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([*base, "--images", str(empty)]) == 2
    assert "holds no images" in capsys.readouterr().err
    no_d = write_ffhq(tmp_path / "g_only.pt", with_d=False)
    assert main([*base[:3], str(no_d), *base[4:], "--images", str(images), "--aligned"]) == 2
    err = capsys.readouterr().err
    assert "has no discriminator 'd'" in err and "convert_weight.py --gen --disc" in err
    assert not (tmp_path / "vtoonify_t_cartoon").exists()  # nothing written before every check passed
    assert main(["train", "pretrain", "--stylegan-path", str(ffhq), "--out", str(tmp_path)]) == 2
    assert "needs --backbone and --faceparsing-path" in capsys.readouterr().err


@pytest.mark.slow
def test_the_output_is_the_finetunegan_path_of_train_full_toonify(tiny_teachers_128, tmp_path):
    t = tiny_teachers_128
    g_ema = torch.load(t.ffhq, weights_only=True)["g_ema"]
    ffhq = write_ffhq(tmp_path / "ffhq.pt", size=128, channels=t.channels, style_dim=48, g_ema=g_ema)
    models = tmp_path / "models"
    tune = ["train", "finetune", "--stylegan-path", ffhq, "--images", red_images(tmp_path / "art"), "--aligned",
            "--out", models, "--name", "mystyle", "--iter", 1, "--batch", 2, "--device", "cpu", "--no-progress",
            "--path-regularize", 0]
    common = ["--backbone", "toonify", "--stylegan-path", ffhq, "--style-encoder-path", t.encoder,
              "--faceparsing-path", t.faceparsing, "--out", models, "--name", "mystyle", "--iter", 1,
              "--batch", 1, "--device", "cpu", "--no-progress"]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main([str(a) for a in tune]) == 0
        tuned = models / "vtoonify_t_mystyle" / "finetune.pt"
        assert f"--finetunegan-path {tuned}" in err.getvalue()  # the next command, ready to paste
        common += ["--finetunegan-path", tuned]
        assert main([str(a) for a in ["train", "pretrain", *common]]) == 0
        assert main([str(a) for a in ["train", "full", *common, "--perc-loss", 0]]) == 0
    from engine.models.inventory import scan_models

    assert scan_models(models).family("mystyle", "toonify").usable
    assert (models / "vtoonify_t_mystyle" / "samples" / "finetune_00001.png").is_file()


def _not_ready_fix(models: Path) -> str:
    """What `models list`, the panel and the add-on say about the family (the engine's fix text)."""
    from engine.models.inventory import scan_models, unusable_reason

    family = scan_models(models).family("red", "toonify")
    assert not family.usable and family.training_files
    return unusable_reason(family, str(models))[1]


def test_a_finetuned_family_names_its_next_step_and_is_no_resume_of_another_stage(small, tmp_path):
    ffhq, images = small
    final, _ = quiet(run_finetune, options(ffhq, images, tmp_path, iter=1))
    fix = _not_ready_fix(tmp_path)
    assert f"made its fine-tuned StyleGAN {final}: pass it as --finetunegan-path" in fix and "--backbone toonify" in fix
    from engine.train.checkpoint import check_resume_file

    with pytest.raises(ModelFileError, match="is a 'finetune' checkpoint, not a 'full' one"):
        check_resume_file(final, "full", "toonify", 10)


def test_the_next_commands_it_prints_train_with_every_file_of_the_recipe(small, tmp_path):
    """Pasted, the two printed commands must run the paper's recipe: it edits the faces with
    directions.npy (left out, training goes on with one warning and no edits) and the full stage needs pSp
    and the LPIPS weights. A models folder's own encoder.pt / faceparsing.pth (`models fetch` puts them
    there) are named by their paths; a file the run cannot know is a bare name to replace."""
    from engine.cli import build_parser
    from engine.train.cli import _stage_defaults, check_stage_flags, options_from_args

    ffhq, images = small
    for name in ("encoder.pt", "faceparsing.pth"):
        (tmp_path / name).write_bytes(b"stand-in")
    final, err = quiet(run_finetune, options(ffhq, images, tmp_path, iter=1))
    lines = err.splitlines()
    commands = {stage: next(line for line in lines if line.startswith(prefix)).split(": ", 1)[1]
                for stage, prefix in (("pretrain", "next (VToonify-T): "), ("full", "then: "))}
    for stage, command in commands.items():
        words = shlex.split(command)
        args = _stage_defaults(build_parser().parse_args(words[words.index("train"):]))
        check_stage_flags(args)  # every flag the stage needs is there
        opts = options_from_args(args)
        assert (opts.stage, opts.backbone, opts.name) == (stage, "toonify", "vtoonify_t_red"), command
        assert opts.finetunegan_path == str(final) and opts.stylegan_path == str(ffhq), command
        assert opts.faceparsing_path == str(tmp_path / "faceparsing.pth"), command
        assert opts.style_encoder_path == str(tmp_path / "encoder.pt"), command
        assert opts.direction_path == "directions.npy", command
    assert opts.perceptual_weights == os.pathsep.join(("vgg16-397923af.pth", "vgg.pth"))


@pytest.mark.slow
def test_sigterm_to_the_cli_saves_and_the_same_command_with_resume_auto_finishes(small, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    ffhq, images = small
    repo = Path(__file__).resolve().parents[2]
    command = [sys.executable, "-m", "engine", "train", "finetune", "--stylegan-path", str(ffhq), "--images",
               str(images), "--aligned", "--out", str(tmp_path), "--name", "red", "--iter", "400", "--batch", "2",
               "--device", "cpu", "--no-progress", "--log-every", "1", "--sample-every", "0", "--resume", "auto"]
    env = {**os.environ, "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(command, cwd=repo, env=env, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in proc.stderr:  # stop once training runs (a logged iteration)
        lines.append(line)
        if line.startswith("finetune iteration 2/400"):
            proc.send_signal(signal.SIGTERM)
            break
    rest = proc.communicate(timeout=120)[1]
    err = "".join(lines) + (rest or "")
    assert proc.returncode == 130, err[-2000:]
    stop = next(line for line in err.splitlines() if "training stopped after iteration" in line)
    done = int(stop.split("after iteration ")[1].split()[0])
    saved = tmp_path / "vtoonify_t_red" / f"finetune-{done:05d}.pt"
    assert saved.is_file() and f"--resume {saved}" in stop, stop
    assert torch.load(saved, weights_only=True)["iter"] == done
    finish = subprocess.run([*command[:command.index("400")], str(done + 2), *command[command.index("400") + 1:]],
                            cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert finish.returncode == 0, finish.stderr[-2000:]
    assert f"continuing from {saved} (iteration {done})" in finish.stderr
    assert torch.load(tmp_path / "vtoonify_t_red" / "finetune.pt", weights_only=True)["iter"] == done + 2


def colour_images(folder: Path, count: int) -> Path:
    """``count`` flat images of distinct colours (aligned 'artwork': each aligned copy is told by its colour)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(np.full((36, 40, 3), (6 * i, 255 - 6 * i, 100), np.uint8)).save(folder / f"art{i:02d}.png")
    return folder


def test_aligned_images_live_in_the_run_cache_are_read_per_batch_and_reused(small, tmp_path, monkeypatch):
    from engine.train import aligned_cache, artwork

    ffhq, _ = small
    art = colour_images(tmp_path / "art", 40)
    store = tmp_path / "out" / "vtoonify_t_red" / aligned_cache.CACHE_DIR
    loads = []
    real_load = aligned_cache.AlignedCache.load
    monkeypatch.setattr(aligned_cache.AlignedCache, "load", lambda self, key: loads.append(key) or real_load(self, key))
    _, err = quiet(run_finetune, options(ffhq, art, tmp_path / "out", iter=3))
    assert "0 aligned image(s) read back" not in err  # nothing to read back on the first run: all aligned now
    entries = sorted(store.glob("*.npy"))
    assert len(entries) == 40 and (store / aligned_cache.MARK_FILE).is_file()
    colours = {tuple(np.load(p)[:, 0, 0]) for p in entries}  # [3, 32, 32] uint8 each, one per source
    assert colours == {(6 * i, 255 - 6 * i, 100) for i in range(40)}
    assert all(np.load(p).shape == (3, 32, 32) and np.load(p).dtype == np.uint8 for p in entries)
    # training read its batches from those files: 3 iterations x batch 2 (no previews)
    assert len(loads) == 6 and {store / f"{k}.npy" for k in loads} <= set(entries)

    def no_decoding(path):
        raise AssertionError(f"{path} was decoded again")

    real_read = artwork.read_rgb
    monkeypatch.setattr(artwork, "read_rgb", no_decoding)
    _, err = quiet(run_finetune, options(ffhq, art, tmp_path / "out", iter=1, overwrite=True))
    assert f"40 aligned image(s) read back from {store}, 0 aligned now" in err
    monkeypatch.setattr(artwork, "read_rgb", real_read)
    Image.fromarray(np.full((36, 40, 3), (1, 2, 3), np.uint8)).save(art / "art07.png")  # an edited source
    final, err = quiet(run_finetune, options(ffhq, art, tmp_path / "out", iter=1, overwrite=True))
    assert f"39 aligned image(s) read back from {store}, 1 aligned now" in err
    assert "removed 1 aligned image(s) of sources no longer in" in err  # the edited file's old copy
    entries = sorted(store.glob("*.npy"))
    colours = {tuple(np.load(p)[:, 0, 0]) for p in entries}
    assert len(entries) == 40 and (1, 2, 3) in colours and (42, 213, 100) not in colours
    assert torch.load(final, weights_only=True)["images"]["count"] == 40


def test_the_aligned_cache_refuses_links_and_foreign_folders_and_realigns_damaged_entries(tmp_path):
    from engine.errors import OutputError
    from engine.train.aligned_cache import CACHE_DIR, MARK_FILE, AlignedCache

    art = colour_images(tmp_path / "art", 4)
    store = tmp_path / "run" / CACHE_DIR
    store.parent.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    store.symlink_to(elsewhere)
    with pytest.raises(OutputError, match="is a link"):
        quiet(load_style_images, art, 32, aligned=True, store=store)
    store.unlink()
    store.mkdir()
    (store / "someone.txt").write_text("theirs")
    with pytest.raises(OutputError, match="not an aligned-image folder") as info:
        quiet(load_style_images, art, 32, aligned=True, store=store)
    assert "remove or rename" in info.value.fix and not list(elsewhere.iterdir())
    (store / "someone.txt").unlink()
    store.rmdir()
    images, _ = quiet(load_style_images, art, 32, aligned=True, store=store)
    assert json.loads((store / MARK_FILE).read_text())["format"].startswith("vtoonify-studio-aligned/")
    first = images.batch(range(4))
    damaged = store / f"{images.keys[2]}.npy"
    damaged.write_bytes(damaged.read_bytes()[:-5])  # truncated: the header promises more than is there
    assert AlignedCache(store, 32).read(images.keys[2]) is None  # checked before anything is allocated
    again, err = quiet(load_style_images, art, 32, aligned=True, store=store)
    assert "3 aligned image(s) read back" in err and "1 aligned now" in err
    assert torch.equal(again.batch(range(4)), first) and again.digest == images.digest
    victim = tmp_path / "victim.npy"
    victim.write_bytes(b"keep me")
    damaged.unlink()
    damaged.symlink_to(victim)  # a link planted in place of an entry: never read, never replaced
    with pytest.raises(OutputError, match="is a link"):
        quiet(load_style_images, art, 32, aligned=True, store=store)
    assert victim.read_bytes() == b"keep me"


def test_sixteen_bit_grey_artwork_keeps_its_tones_and_float_pixels_are_named(tmp_path):
    # Before: PIL's convert("RGB") clipped 16-bit grey at 255 (a 16-bit ink scan trained as a white image),
    # and float TIFFs in [0, 1] came out black.
    from engine.train.artwork import read_rgb

    ramp = (np.arange(64 * 64, dtype=np.float64).reshape(64, 64) / (64 * 64 - 1) * 65535).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "ink16.png")
    rgb = read_rgb(tmp_path / "ink16.png")
    assert rgb.shape == (64, 64, 3) and rgb.dtype == np.uint8
    assert np.abs(rgb[..., 0].astype(int) - np.rint(ramp / 257.0).astype(int)).max() == 0
    assert abs(float(rgb.mean()) - 127.5) < 1
    Image.fromarray(np.full((8, 8), 0.5, np.float32)).save(tmp_path / "float.tif")
    with pytest.raises(InputError, match=r"float\.tif has floating-point pixels"):
        read_rgb(tmp_path / "float.tif")


def test_aligned_entries_read_the_old_way_are_not_reused(tmp_path, monkeypatch):
    """Entries made by an engine that read pixels otherwise (16-bit grey clipped white) carry the old
    READER in their names: a folder of them is still ours, but each source is aligned again."""
    from engine.train import aligned_cache

    art = colour_images(tmp_path / "art", 4)
    store = tmp_path / "run" / aligned_cache.CACHE_DIR
    store.parent.mkdir()
    monkeypatch.setattr(aligned_cache, "READER", "pixels/1")
    quiet(load_style_images, art, 32, aligned=True, store=store)
    old = {p.name for p in store.glob("*.npy")}
    monkeypatch.undo()
    _, err = quiet(load_style_images, art, 32, aligned=True, store=store)
    now = {p.name for p in store.glob("*.npy")}
    assert len(old) == len(now) == 4 and not old & now, err  # all aligned again; the old entries pruned
    assert "read back" not in err, err
