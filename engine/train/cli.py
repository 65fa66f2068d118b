"""``python -m engine train pretrain|full --backbone dualstylegan|toonify [options]`` and
``python -m engine train finetune --stylegan-path FFHQ.pt --images ARTWORK/`` (Toonify's fine-tuned
StyleGAN, VToonify-T's second teacher, from a studio's own style images).

Flags use the project's hyphen spelling; the official underscore spellings (``--stylegan_path``,
``--fix_style``, ``--grec_loss``...) are accepted as aliases so official command lines work as they are.
Several GPUs: ``torchrun --nproc_per_node N -m engine train full ...`` (one process per GPU).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading

from engine.progress import write_out
from engine.stop_signals import STOP_SIGNALS
from engine.train.options import DEFAULT_BLEND, TrainOptions


def _flag(parser: argparse.ArgumentParser, name: str, **kwargs) -> None:
    """``--a-b`` plus the official alias ``--a_b`` (same destination)."""
    names = [f"--{name}"]
    if "-" in name:
        names.append("--" + name.replace("-", "_"))
    parser.add_argument(*names, dest=name.replace("-", "_"), **kwargs)


def add_train_parser(sub) -> argparse.ArgumentParser:
    """Register ``train`` on the engine's subparsers."""
    t = sub.add_parser(
        "train",
        help="distil a VToonify-D/T style from its StyleGAN teacher (pretrain, then full); finetune: a "
             "StyleGAN on your own style images (VToonify-T's teacher)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train VToonify as the paper (Sec. 4): `pretrain` the encoder, then the `full` stage.\n"
        "Writes OUT/NAME/ in the official checkpoint layout, so OUT is a models folder for `render --models`.\n"
        "`finetune` first makes VToonify-T's teacher from style images alone (Toonify): an FFHQ StyleGAN2\n"
        "fine-tuned on them, OUT/vtoonify_t_NAME/finetune.pt, the --finetunegan-path of pretrain/full.",
        epilog="typical run (VToonify-D):\n"
        "  train pretrain --backbone dualstylegan --stylegan-path generator.pt \\\n"
        "      --exstyle-path exstyle_code.npy --faceparsing-path faceparsing.pth --out models --name mystyle\n"
        "  train full     ...the same flags... --style-encoder-path encoder.pt \\\n"
        f"      --perceptual-weights vgg16-397923af.pth{os.pathsep}vgg.pth\n"
        "  render clip.mp4 -o out --models models --style mystyle\n"
        "your own artwork (VToonify-T):\n"
        "  train finetune --stylegan-path stylegan2-ffhq-config-f.pt --images artwork/ --out models --name mystyle\n"
        "  train pretrain --backbone toonify --stylegan-path stylegan2-ffhq-config-f.pt \\\n"
        "      --finetunegan-path models/vtoonify_t_mystyle/finetune.pt ...   (then full)\n"
        "Ctrl-C / SIGTERM stop with a checkpoint to resume from (within a layer when the iteration before\n"
        "is saved, else after the current one); the message names the --resume that continues it.\n"
        "Files you need and the recipe: docs/TRAINING.md.",
    )
    t.add_argument("stage", choices=("pretrain", "full", "finetune"),
                   help="pretrain: encoder (Eq. 1/8); full: Eq. 5; finetune: a StyleGAN on your style images")
    t.add_argument("--backbone", choices=("dualstylegan", "toonify"),
                   help="dualstylegan: VToonify-D; toonify: VToonify-T (pretrain/full: required)")
    files = t.add_argument_group("teacher files")
    _flag(files, "stylegan-path", required=True,
          help="D: DualStyleGAN generator.pt; T: FFHQ StyleGAN2 (g_ema); finetune: FFHQ StyleGAN2 with g, d, g_ema")
    _flag(files, "faceparsing-path", help="BiSeNet faceparsing.pth (pretrain/full: required)")
    _flag(files, "exstyle-path", help="D: exstyle_code.npy or refined_exstyle_code.npy")
    _flag(files, "style-encoder-path", help="pSp encoder.pt (full stage)")
    _flag(files, "direction-path", help="directions.npy (editing directions; optional)")
    _flag(files, "finetunegan-path", help="T: the fine-tuned StyleGAN2 (e.g. finetune-000600.pt)")
    _flag(files, "weight", type=float, nargs=18, default=list(DEFAULT_BLEND), metavar="W",
          help="T: 18 per-layer blend weights of the fine-tuned model (default 1 x9, 0 x9)")
    _flag(files, "encoder-path", help="full: pretrained encoder (default OUT/NAME/pretrain.pt)")
    _flag(files, "perceptual-weights", metavar=f"VGG16{os.pathsep}LPIPS",
          help=f"full: local LPIPS-VGG weights, vgg16-397923af.pth and LPIPS v0.1 vgg.pth joined with '{os.pathsep}' "
               "(never downloaded; required unless --perc-loss 0)")

    run = t.add_argument_group("run")
    _flag(run, "out", default="checkpoint", help="models folder to write (default ./checkpoint)")
    _flag(run, "name", default="", help="family folder, e.g. vtoonify_d_mystyle (default vtoonify_[dt]_cartoon)")
    _flag(run, "iter", type=int, help="iterations (default 2000; finetune 600)")
    _flag(run, "batch", type=int, help="batch per process (default 8; finetune 4)")
    _flag(run, "lr", type=float, help="Adam learning rate (default 1e-4; finetune 0.002)")
    _flag(run, "seed", type=int, default=0, help="random seed (same seed, same run)")
    _flag(run, "device", default="auto", help="auto, cpu, cuda or cuda:N (torchrun: one GPU per process)")
    _flag(run, "precision", default="fp32", choices=("fp32", "bf16", "auto"),
          help="bf16: forward passes in bf16 autocast (float32 weights and optimiser); auto: bf16 where "
               "the device has fast bf16 (default fp32)")
    _flag(run, "resume", metavar="CHECKPOINT|auto",
          help="continue from a checkpoint this trainer wrote (pretrain*.pt / vtoonify*.pt), with the "
               "original command's options; auto: this run's most advanced checkpoint in OUT/NAME "
               "(none: start at 0; already complete: nothing to do), for farm retries")
    _flag(run, "save-every", type=int, default=0, help="also save numbered checkpoints every N iterations")
    _flag(run, "log-every", type=int, help="log losses every N iterations (default 200; finetune 50)")
    _flag(run, "sample-every", type=int,
          help="full stage: preview image OUT/NAME/samples/full_%%05d.png (targets over the EMA model's "
               "output) every N iterations, 0 for none (default 200); finetune: finetune_%%05d.png (style "
               "images over the EMA model on fixed codes, default 100)")
    _flag(run, "json-log", action="store_true", help="one JSON object per logged iteration on stdout")
    _flag(run, "no-progress", action="store_true", help="no progress bar")
    _flag(run, "overwrite", action="store_true",
          help="replace this run's existing checkpoints (only files `engine train` wrote)")
    _flag(run, "local-rank", type=int, default=0, help=argparse.SUPPRESS)  # official flag; torchrun sets env

    loss = t.add_argument_group("loss weights (Eq. 5, 9; 0 switches a term off)")
    _flag(loss, "adv-loss", type=float, default=0.01, help="adversarial (default 0.01)")
    _flag(loss, "grec-loss", type=float, default=0.1, help="reconstruction MSE (default 0.1)")
    _flag(loss, "perc-loss", type=float, default=0.01, help="LPIPS perceptual, full stage (default 0.01)")
    _flag(loss, "tmp-loss", type=float, default=1.0, help="flicker suppression, Eq. 4 (default 1)")
    _flag(loss, "msk-loss", type=float, default=0.0005, help="mask sparsity, Eq. 9, D only (default 0.0005)")
    _flag(loss, "r1", type=float, help="R1 penalty on D (official: 0; finetune 10)")
    _flag(loss, "d-reg-every", type=int, default=16, help="lazy R1 interval (default 16)")
    _flag(loss, "fusion-init-scale", type=float, default=0.0,
          help="random f_E part of the fusion kernels at init (0: exact teacher; official 0.01)")

    variant = t.add_argument_group("VToonify-D variants")
    _flag(variant, "fix-style", action="store_true", help="one exemplar (--style-id)")
    _flag(variant, "style-id", type=int, default=26, help="exemplar index with --fix-style (default 26)")
    _flag(variant, "fix-degree", action="store_true", help="one style degree (--style-degree)")
    _flag(variant, "style-degree", type=float, default=0.5,
          help="degree in [0, 1] with --fix-degree, one decimal: it names the model file (default 0.5)")
    _flag(variant, "fix-color", action="store_true", help="keep the face's colours (no colour transfer)")

    tune = t.add_argument_group("finetune (Toonify: the FFHQ StyleGAN2 fine-tuned on your style images)")
    _flag(tune, "images", metavar="FOLDER", help="folder of style images (jpg/png/webp/bmp/tif)")
    _flag(tune, "aligned", action="store_true",
          help="the images are already aligned FFHQ-style faces (else: dlib landmarks, FFHQ alignment)")
    _flag(tune, "drop-no-face", action="store_true", help="train without the images where no face is found")
    _flag(tune, "path-regularize", type=float, default=2.0, help="path length weight, 0 off (default 2)")
    _flag(tune, "g-reg-every", type=int, default=4, help="lazy path length interval (default 4)")
    _flag(tune, "path-batch-shrink", type=int, default=2, help="path length batch = batch / N (default 2)")
    _flag(tune, "mixing", type=float, default=0.9, help="style mixing probability (default 0.9)")
    _flag(tune, "no-flip", action="store_true", help="no random horizontal flips of the style images")
    _flag(tune, "no-augment", action="store_true", help="no adaptive augmentation of D's inputs")
    _flag(tune, "augment-p", type=float, default=0.0,
          help="fixed augmentation probability (default 0: adaptive, official --augment)")
    _flag(tune, "ada-target", type=float, default=0.6, help="adaptive augmentation target r_t (default 0.6)")
    _flag(tune, "ada-length", type=int, default=500_000, help="images for p to go 0 -> 1 (default 500000)")
    return t


TRAIN_DEFAULTS = {"iter": 2000, "batch": 8, "lr": 1e-4, "log_every": 200, "sample_every": 200, "r1": 0.0}
FINETUNE_DEFAULTS = {"iter": 600, "batch": 4, "lr": 0.002, "log_every": 50, "sample_every": 100, "r1": 10.0}
"""Flags whose default depends on the stage (official train_vtoonify_*.py / finetune_stylegan.py)."""


def _stage_defaults(args: argparse.Namespace) -> argparse.Namespace:
    defaults = FINETUNE_DEFAULTS if args.stage == "finetune" else TRAIN_DEFAULTS
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


BACKBONE_WANTED = "dualstylegan (VToonify-D, a DualStyleGAN teacher) or toonify (VToonify-T, a fine-tuned StyleGAN2)"


def missing_flags(args: argparse.Namespace) -> list[str]:
    """Every flag ``train pretrain|full`` needs for its backbone that the command line lacks, so a first run
    on a fresh machine learns them in one go (TrainOptions checks the same one by one for API callers)."""
    d, t = args.backbone == "dualstylegan", args.backbone == "toonify"
    needed = [("--backbone", not args.backbone), ("--faceparsing-path", not args.faceparsing_path),
              ("--exstyle-path", d and not args.exstyle_path), ("--finetunegan-path", t and not args.finetunegan_path)]
    if args.stage == "full":
        needs_encoder = not (d and args.fix_style and not args.fix_color)  # TrainOptions.needs_style_encoder
        needed += [("--style-encoder-path", needs_encoder and not args.style_encoder_path),
                   ("--perceptual-weights", args.perc_loss > 0 and not args.perceptual_weights)]
    return [flag for flag, lacking in needed if lacking]


def check_stage_flags(args: argparse.Namespace) -> None:
    """ConfigError for a flag the stage needs but lacks, or one it cannot use."""
    from engine.errors import ConfigError

    if args.stage == "finetune":
        if not args.images:
            raise ConfigError("train finetune needs the style images",
                              "pass --images FOLDER (your artwork: a few hundred character faces)")
        if args.backbone == "dualstylegan":
            raise ConfigError("train finetune makes VToonify-T's teacher; DualStyleGAN is not fine-tuned here",
                              "drop --backbone (or use --backbone toonify)")
        return
    missing = missing_flags(args)
    if missing:
        from engine.train.files import DOCS, expected

        wanted = [f"{flag}: {BACKBONE_WANTED if flag == '--backbone' else expected(flag[2:].replace('-', '_'))}"
                  for flag in missing]
        if "--perceptual-weights" in missing:
            wanted[-1] += f" (for the perceptual term, --perc-loss {args.perc_loss:g}; or --perc-loss 0 to drop it)"
        names = missing[0] if len(missing) == 1 else f"{', '.join(missing[:-1])} and {missing[-1]}"
        raise ConfigError(f"train {args.stage} needs {names}", "give " + "; ".join(wanted) + f" ({DOCS})")
    if args.images:
        raise ConfigError(f"--images is for `train finetune`, not `train {args.stage}`",
                          "drop it, or run `train finetune` first to make --finetunegan-path")


def finetune_options_from_args(args: argparse.Namespace):
    from engine.train.finetune_options import FinetuneOptions

    return FinetuneOptions(
        stylegan_path=args.stylegan_path, images=args.images, aligned=args.aligned, drop_no_face=args.drop_no_face,
        out=args.out, name=args.name, iter=args.iter, batch=args.batch, lr=args.lr, seed=args.seed,
        device=args.device, precision=args.precision, save_every=args.save_every, log_every=args.log_every,
        sample_every=args.sample_every, json_log=args.json_log, progress=not args.no_progress, resume=args.resume,
        overwrite=args.overwrite, r1=args.r1, d_reg_every=args.d_reg_every, path_regularize=args.path_regularize,
        g_reg_every=args.g_reg_every, path_batch_shrink=args.path_batch_shrink, mixing=args.mixing,
        flip=not args.no_flip, augment=not args.no_augment, augment_p=args.augment_p, ada_target=args.ada_target,
        ada_length=args.ada_length,
    )


def options_from_args(args: argparse.Namespace) -> TrainOptions:
    _stage_defaults(args)
    return TrainOptions(
        stage=args.stage, backbone=args.backbone, stylegan_path=args.stylegan_path,
        faceparsing_path=args.faceparsing_path, out=args.out, name=args.name, exstyle_path=args.exstyle_path,
        style_encoder_path=args.style_encoder_path, direction_path=args.direction_path,
        finetunegan_path=args.finetunegan_path, weight=tuple(args.weight), encoder_path=args.encoder_path,
        perceptual_weights=args.perceptual_weights, iter=args.iter, batch=args.batch, lr=args.lr,
        seed=args.seed, device=args.device, precision=args.precision, save_every=args.save_every,
        log_every=args.log_every, sample_every=args.sample_every, json_log=args.json_log,
        progress=not args.no_progress, resume=args.resume,
        overwrite=args.overwrite, adv_loss=args.adv_loss, grec_loss=args.grec_loss, perc_loss=args.perc_loss,
        tmp_loss=args.tmp_loss, msk_loss=args.msk_loss, r1=args.r1, d_reg_every=args.d_reg_every,
        fix_style=args.fix_style, style_id=args.style_id, fix_degree=args.fix_degree,
        style_degree=args.style_degree, fix_color=args.fix_color, fusion_init_scale=args.fusion_init_scale,
    )


@contextlib.contextmanager
def stop_on_signals(cancel: threading.Event):
    """First Ctrl-C / SIGTERM / SIGHUP: set ``cancel`` (the loop stops as Session.run_loop says);
    a second one: stop at once (KeyboardInterrupt). Signal handlers exist only on the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum, frame) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        # a closed terminal (SIGHUP) must not raise here
        write_out(sys.stderr, "\nstopping: within a layer when the iteration before is saved, else after this "
                  "one, saving it to resume from (press Ctrl-C again to stop at once)\n")

    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run(args: argparse.Namespace) -> int:
    """Check everything, then train; user mistakes raise typed errors before any step.

    ``engine.cli`` turns the errors into exit codes a farm reads (``engine.failures``): a full disk or an
    out-of-memory device 75 (retry, then ``--resume``), a stop by Ctrl-C / SIGTERM 130 (after saving),
    user mistakes 2.
    """
    from engine.errors import JobCancelled

    _stage_defaults(args)
    check_stage_flags(args)
    if args.stage == "finetune":
        from engine.train.finetune import run_finetune as train

        options = finetune_options_from_args(args)
    else:
        from engine.train.trainer import train

        options = options_from_args(args)
    cancel = threading.Event()
    try:
        with stop_on_signals(cancel):
            train(options, cancel=cancel)
    except KeyboardInterrupt:
        raise JobCancelled(
            "training interrupted at once, without saving",
            "continue from the last saved checkpoint: the same command plus --resume auto (see --save-every)"
        ) from None
    return 0
