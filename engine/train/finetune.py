"""``engine train finetune``: a StyleGAN2 fine-tuned on a studio's style images (Toonify), the second
teacher of VToonify-T (``--finetunegan-path``).

Recipe (DualStyleGAN ``finetune_stylegan.py``, i.e. rosinality's StyleGAN2 ``train.py`` started from the
FFHQ checkpoint; facts only, own code): G and D start from the FFHQ file's ``g`` and ``d``, the EMA from
its ``g_ema``. Per iteration:

1. D step: ``softplus(D(fake)) + softplus(-D(real))`` on a batch of style images (random horizontal
   flips) and G's images from fresh z (two codes mixed at a random layer with probability 0.9); both
   augmented for D with probability p (``engine.train.augment``, adaptive as the official ``--augment``);
2. every ``--d-reg-every`` (16) steps, lazy R1: ``r1 / 2 * |dD(real)/d real|^2 * 16``;
3. G step: non-saturating ``softplus(-D(fake))``;
4. every ``--g-reg-every`` (4) steps, lazy path length regularisation on half the batch, weight 2 * 4;
5. ``g_ema = d * g_ema + (1 - d) * g`` with ``d = 0.5 ** (32 / 10000)``.

Adam with the lazy-regularisation corrections of StyleGAN2: ``lr * c``, betas ``(0, 0.99 ** c)``,
``c = k / (k + 1)`` for a term applied every k steps (the official code applies them even with the term
off; we only when it is on: same numbers with the defaults). Every random draw of step i comes from
``--seed`` and i, so ``--resume`` repeats an uninterrupted run exactly (on CPU bit for bit).

Under ``torchrun`` G and D are DDP replicas, each process on its own slice of the step's images (rank 0
aligns them and writes); ADA's statistics are summed and the path length mean averaged over processes, so
every replica holds the same state.

Output ``OUT/vtoonify_t_NAME/finetune.pt``: ``g``, ``d``, ``g_ema`` with rosinality's key names, plus the
optimiser states, the augmentation state and the iteration (no pickled code: loads with
``torch.load(weights_only=True)``); what ``train pretrain|full --backbone toonify --finetunegan-path``
reads (its ``g_ema``) and what ``--resume`` continues.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import autograd, nn

from engine import errors
from engine.errors import ConfigError, EngineError, ModelFileError
from engine.models.checkpoints import describe_checkpoint, load_state_dict_strict, load_torch_file
from engine.models.precision import resolve_precision
from engine.models.stylegan import Generator
from engine.train.aligned_cache import CACHE_DIR as ALIGNED_DIR
from engine.train.artwork import (
    LANDMARKS_FILE,
    StyleImages,
    check_images_folder,
    load_style_images,
    read_landmarks,
    save_landmarks,
)
from engine.train.augment import AdaptiveAugment, augment, hflip
from engine.train.budget import check_batch_fits
from engine.train.checkpoint import (
    check_auto_resume_done,
    check_resume_file,
    latest_checkpoint,
    load_training_checkpoint,
    output_layout,
    restore_gan_state,
)
from engine.train.discriminator import ConditionalDiscriminator
from engine.train.files import named_by_flag
from engine.train.finetune_options import FINETUNE_FILE, FinetuneOptions
from engine.train.losses import d_logistic_loss, g_nonsaturating_loss, r1_penalty
from engine.train.next_steps import toonify_commands
from engine.train.samples import MAX_FACES, SampleWriter, _shrink
from engine.train.session import (
    Processes,
    Session,
    TrainLog,
    broadcast_text,
    check_outputs_free,
    close_processes,
    init_processes,
    raised_everywhere,
    warn_earlier_run,
    wrap_ddp,
)
from engine.train.student import EMA_DECAY
from engine.train.teachers import infer_stylegan_config

PATH_DECAY = 0.01
"""Official moving-average rate of the mean path length."""
FFHQ_FIX = ("pass rosinality's stylegan2-ffhq-config-f.pt (it holds g, d and g_ema; the file DualStyleGAN's "
            "finetune_stylegan.py starts from), or convert the official pkl with its convert_weight.py --gen --disc")


# --- the FFHQ checkpoint ----------------------------------------------------------------------------


@dataclass
class StartingPoint:
    g: Mapping[str, torch.Tensor]
    d: Mapping[str, torch.Tensor]
    g_ema: Mapping[str, torch.Tensor]
    latent_avg: torch.Tensor | None
    config: dict
    d_channels: dict[int, int]
    notes: list[str]


def discriminator_config(state: Mapping[str, torch.Tensor]) -> tuple[int, dict[int, int]]:
    """(size, width table) of a rosinality StyleGAN2 ``Discriminator`` state dict, read off its tensors:
    ``convs.0`` is the 1x1 from RGB at full size, ``convs.k`` (k >= 1) a ResBlock halving the size."""
    blocks = sorted({int(k.split(".")[1]) for k in state if k.startswith("convs.") and ".conv2.1.weight" in k})
    if not blocks or "convs.0.0.weight" not in state or "final_conv.0.weight" not in state:
        raise KeyError("convs.1.conv2.1.weight / final_conv.0.weight")
    size = 2 ** (len(blocks) + 2)
    channels = {size: int(state["convs.0.0.weight"].shape[0])}
    for k in blocks:
        channels[size >> k] = int(state[f"convs.{k}.conv2.1.weight"].shape[0])
    channels[4] = int(state["final_conv.0.weight"].shape[0])
    return size, channels


def load_starting_point(path: str | Path) -> StartingPoint:
    """The FFHQ file's g, d and g_ema, every check done (one ModelFileError naming the fix)."""
    path = Path(path)
    obj = load_torch_file(path)
    if not isinstance(obj, Mapping) or not isinstance(obj.get("g_ema"), Mapping):
        raise ModelFileError(f"--stylegan-path {path} is not a StyleGAN2 checkpoint: it looks like "
                             f"{describe_checkpoint(obj)}", FFHQ_FIX)
    notes = []
    g_ema = obj["g_ema"]
    g = obj.get("g")
    if not isinstance(g, Mapping):
        g = g_ema
        notes.append(f"{path} has no training generator 'g'; fine-tuning starts from its g_ema")
    d = obj.get("d")
    if not isinstance(d, Mapping):
        raise ModelFileError(
            f"--stylegan-path {path} has no discriminator 'd' (it holds {', '.join(map(str, obj))}); Toonify "
            "fine-tunes the FFHQ discriminator with the generator", FFHQ_FIX)
    try:
        config = infer_stylegan_config(g_ema)
        if infer_stylegan_config(g) != config:
            raise ModelFileError(f"{path}: its g and g_ema have different sizes", FFHQ_FIX)
        d_size, d_channels = discriminator_config(d)
    except (KeyError, IndexError, ValueError) as exc:
        raise ModelFileError(f"{path} has an incomplete StyleGAN2 layout (no tensor {exc})", FFHQ_FIX) from None
    if d_size != config["size"]:
        raise ModelFileError(f"{path}: its discriminator judges {d_size}-px images, its generator makes "
                             f"{config['size']}-px ones", FFHQ_FIX)
    latent_avg = obj.get("latent_avg")
    return StartingPoint(g, d, g_ema, latent_avg if isinstance(latent_avg, torch.Tensor) else None, config,
                         d_channels, notes)


def build_models(start: StartingPoint, path: Path, device: torch.device) -> tuple[Generator, Generator, nn.Module]:
    c = start.config
    models = []
    for state in (start.g, start.g_ema):
        g = Generator(c["size"], c["style_dim"], c["n_mlp"], channels=c["channels"])
        models.append(load_state_dict_strict(g, state, path, f"StyleGAN2 (size {c['size']})").to(device))
    d = ConditionalDiscriminator(c["size"], channels=start.d_channels)
    d = load_state_dict_strict(d, start.d, path, f"StyleGAN2 discriminator (size {c['size']})").to(device)
    return models[0], models[1], d


def lazy_adam(params, lr: float, every: int, on: bool) -> torch.optim.Adam:
    """StyleGAN2's Adam for a network regularised every ``every`` steps (ratio c = every / (every + 1))."""
    c = every / (every + 1) if on else 1.0
    return torch.optim.Adam(params, lr=lr * c, betas=(0.0, 0.99 ** c))


# --- one step ---------------------------------------------------------------------------------------


class FinetuneSession(Session):
    """The shared session (loop, logging, checkpoints, stop) with G, D and the style images."""

    def begin(self) -> None:
        if self.processes.main:
            self.layout.create()


def _device_generator(gen: torch.Generator, device: torch.device) -> torch.Generator:
    """A generator on ``device`` seeded from the step's CPU generator (noise maps drawn where they are used)."""
    seed = int(torch.randint(0, 2**62, (1,), generator=gen))
    return torch.Generator(device=device).manual_seed(seed)


def draw_latents(g: Generator, batch: int, mixing: float, gen: torch.Generator, dev_gen: torch.Generator,
                 device: torch.device) -> dict[str, Any]:
    """Arguments of one generator call: z (two codes mixed at a random layer with prob. ``mixing``) and
    every noise map, all drawn from this step's generators (nothing from the global RNG)."""
    two = mixing > 0 and float(torch.rand((), generator=gen)) < mixing
    inject = int(torch.randint(1, g.n_latent, (), generator=gen)) if two else None
    styles = [torch.randn(batch, g.style_dim, generator=dev_gen, device=device) for _ in range(2 if two else 1)]
    noise = [torch.randn(batch, 1, n.shape[-2], n.shape[-1], generator=dev_gen, device=device)
             for n in g.fixed_noises()]
    return {"styles": styles, "inject_index": inject, "noise": noise}


def real_batch(images: StyleImages, iteration: int, batch: int, seed: int, device: torch.device,
               rank: int = 0, world: int = 1) -> torch.Tensor:
    """Style images of step ``iteration`` in [-1, 1]: epochs of one seeded shuffle each, so every image is
    seen once per epoch (as the official shuffled loader) and a resume repeats it. With several processes
    a step takes ``world * batch`` images of that order and process ``rank`` its own slice of them (the
    official DistributedSampler's shards)."""
    n = len(images)
    picks = []
    first = (iteration * world + rank) * batch
    for position in range(first, first + batch):
        epoch, k = divmod(position, n)
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 7_919 + epoch))
        picks.append(int(order[k]))
    return images.batch(picks).to(device).float() / 127.5 - 1.0


def path_regularize(fake: torch.Tensor, latents: torch.Tensor, mean_length: torch.Tensor,
                    dev_gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """StyleGAN2 path length penalty: ``(|J^T y| - a)^2`` for image-space noise y, ``a`` the moving mean;
    returns (penalty, new mean, lengths)."""
    h, w = fake.shape[2], fake.shape[3]
    y = torch.randn(fake.shape, generator=dev_gen, device=fake.device, dtype=fake.dtype) / (h * w) ** 0.5
    (grad,) = autograd.grad(outputs=(fake * y).sum(), inputs=latents, create_graph=True)
    lengths = torch.sqrt(grad.pow(2).sum(2).mean(1))
    mean = mean_length + PATH_DECAY * (lengths.mean() - mean_length)  # the penalty sees it undetached, as official
    return (lengths - mean).pow(2).mean(), mean.detach(), lengths


def _summed(session: FinetuneSession):
    """With several processes: a function summing numbers over all of them (None with one)."""
    if not session.processes.distributed:
        return None
    import torch.distributed as dist

    def total(*numbers: float) -> list[float]:
        t = torch.tensor(numbers, dtype=torch.float64, device=session.device)
        dist.all_reduce(t)
        return t.tolist()

    return total


def _averaged(session: FinetuneSession, value: torch.Tensor) -> torch.Tensor:
    """``value`` averaged over the processes, so every replica keeps the same path length mean (official:
    one per process) and a checkpoint holds the state of all of them."""
    if not session.processes.distributed:
        return value
    import torch.distributed as dist

    value = value.clone()
    dist.all_reduce(value)
    return value / session.processes.world_size


def finetune_step(session: FinetuneSession, iteration: int) -> dict[str, torch.Tensor]:
    """One iteration (see the module docstring); returns the logged values."""
    o, ex, procs = session.options, session.extra, session.processes
    g, d, g_ema, d_optim, ada = session.student, ex["d"], session.ema, ex["d_optim"], ex["ada"]
    g_model, d_model = session.model, ex.get("d_model", d)  # DDP wrappers with several processes
    device = session.device
    gen = session.step_generator(iteration)
    dev_gen = _device_generator(gen, device)
    real = real_batch(ex["images"], iteration, o.batch, o.seed, device, procs.rank, procs.world_size)
    if o.flip:
        real = hflip(real, gen)
    values: dict[str, torch.Tensor] = {}

    # discriminator
    g.requires_grad_(False)
    d.requires_grad_(True)
    with session.autocast():
        with torch.no_grad():
            fake = g(**draw_latents(g, o.batch, o.mixing, gen, dev_gen, device))[0]
        real_pred = d_model(augment(real, ada.p, gen)).float()
        fake_pred = d_model(augment(fake, ada.p, gen)).float()
    d_loss = d_logistic_loss(real_pred, fake_pred)
    d_optim.zero_grad(set_to_none=True)
    d_loss.backward()
    d_optim.step()
    values.update(d=d_loss.detach(), real_score=real_pred.mean().detach(), fake_score=fake_pred.mean().detach())
    p = ada.tune(real_pred, _summed(session))
    if o.r1 > 0 and iteration % o.d_reg_every == 0:  # float32: a gradient penalty needs the precision
        real_img = real.detach().requires_grad_(True)
        pred = d_model(augment(real_img, p, gen))
        r1 = r1_penalty(pred, real_img)
        d_optim.zero_grad(set_to_none=True)
        (o.r1 / 2 * r1 * o.d_reg_every + 0 * pred[0]).sum().backward()
        d_optim.step()
        ex["r1"] = r1.detach()
    values["r1"] = ex.get("r1", torch.zeros(()))

    # generator
    g.requires_grad_(True)
    d.requires_grad_(False)
    with session.autocast():
        fake = g_model(**draw_latents(g, o.batch, o.mixing, gen, dev_gen, device))[0]
        fake_pred = d(augment(fake, p, gen)).float()  # D frozen: no DDP sync
    g_loss = g_nonsaturating_loss(fake_pred)
    session.g_optim.zero_grad(set_to_none=True)
    g_loss.backward()
    session.g_optim.step()
    values["g"] = g_loss.detach()
    if o.path_regularize > 0 and iteration % o.g_reg_every == 0:
        path_batch = max(1, o.batch // o.path_batch_shrink)
        fake, latents = g_model(**draw_latents(g, path_batch, o.mixing, gen, dev_gen, device), return_latents=True)
        penalty, mean, _ = path_regularize(fake, latents, ex["mean_path_length"], dev_gen)
        ex["mean_path_length"] = _averaged(session, mean)
        session.g_optim.zero_grad(set_to_none=True)
        (o.path_regularize * o.g_reg_every * penalty + 0 * fake[0, 0, 0, 0]).backward()
        session.g_optim.step()
        ex["path"] = penalty.detach()
    values["path"] = ex.get("path", torch.zeros(()))
    values["mean_path_length"] = ex["mean_path_length"].detach().clone()
    values["augment_p"] = torch.tensor(ada.p)

    with torch.no_grad():
        ema_params = dict(g_ema.named_parameters())
        for name, param in g.named_parameters():
            ema_params[name].mul_(EMA_DECAY).add_(param.detach(), alpha=1 - EMA_DECAY)
    samples = ex.get("samples")
    if samples is not None:
        samples.write(g_ema, iteration + 1, session.autocast)
    return values


class FinetuneSamples(SampleWriter):
    """``samples/finetune_%05d.png``: style images on top, the EMA model on fixed codes below (stored noise
    maps, no random draws: previews change nothing in the run)."""

    PREFIX = "finetune"

    def keep_style(self, images: StyleImages, style_dim: int, seed: int, device: torch.device) -> None:
        if not self.enabled:
            return
        n = min(MAX_FACES, len(images))
        z = torch.randn(n, style_dim, generator=torch.Generator().manual_seed(seed)).to(device)
        targets = _shrink(images.batch(range(n)).float() / 127.5 - 1.0)
        self.inputs = (z, targets)

    def render(self, ema: nn.Module) -> torch.Tensor:
        return ema([self.inputs[0]], randomize_noise=False)[0]


# --- setup, resume, payload -------------------------------------------------------------------------


def finetune_payload(session: FinetuneSession, done: int) -> dict:
    ex = session.extra
    payload = {
        "g": session.student.state_dict(),
        "d": ex["d"].state_dict(),
        "g_ema": session.ema.state_dict(),
        "g_optim": session.g_optim.state_dict(),
        "d_optim": ex["d_optim"].state_dict(),
        "iter": done,
        "ada": ex["ada"].state_dict(),
        "mean_path_length": ex["mean_path_length"].detach().cpu().clone(),
        "r1_last": ex.get("r1", torch.zeros(())).cpu().clone(),
        "path_last": ex.get("path", torch.zeros(())).cpu().clone(),
        "images": {"count": len(ex["images"]), "digest": ex["images"].digest, "names": list(ex["images"].names)},
    }
    if ex.get("latent_avg") is not None:
        payload["latent_avg"] = ex["latent_avg"]
    return payload


def _resume(session: FinetuneSession, path: str | Path) -> None:
    with named_by_flag("resume"):
        ckpt = load_training_checkpoint(path, "finetune", "toonify")
    ex = session.extra
    restore_gan_state(session, ckpt, path, "this --stylegan-path",
                      "resume with the FFHQ checkpoint it was fine-tuned from")
    ex["ada"].load_state_dict(ckpt["ada"])
    ex["mean_path_length"] = ckpt["mean_path_length"].to(session.device)
    ex["r1"], ex["path"] = ckpt.get("r1_last", torch.zeros(())), ckpt.get("path_last", torch.zeros(()))
    saved = ckpt.get("images") or {}
    if saved.get("digest") not in (None, ex["images"].digest):
        session.log.warn(f"resuming {path} on other style images than it was trained on "
                         f"({saved.get('count')} then, {len(ex['images'])} now in --images)")
    session.continue_from(ckpt, path)


def final_path(options: FinetuneOptions) -> Path:
    return output_layout(options.out, options.folder_name, "toonify").family_dir / FINETUNE_FILE


def _say(*args, **kwargs) -> None:
    """``print`` on rank 0 of a torchrun job only (one line, not one per process)."""
    if int(os.environ.get("RANK", "0")) == 0:
        print(*args, **kwargs)


def resolve_auto_resume(options: FinetuneOptions) -> FinetuneOptions | Path:
    """``--resume auto``: this run's most advanced checkpoint in OUT/NAME (see the stages' rule)."""
    final = final_path(options)
    found = latest_checkpoint(final, "finetune", "toonify")
    if found is None:
        _say(f"--resume auto: no checkpoint of this run in {final.parent}; starting at iteration 0",
              file=sys.stderr, flush=True)
        return replace(options, resume=None)
    path, done = found
    if done >= options.iter:
        check_auto_resume_done(path, done, final, options.iter)
        _say(f"--resume auto: {path} already holds {done} iterations (--iter {options.iter}); nothing to do",
              file=sys.stderr, flush=True)
        return path
    _say(f"--resume auto: continuing from {path} (iteration {done})", file=sys.stderr, flush=True)
    return replace(options, resume=str(path))


def scan_images(options: FinetuneOptions, layout, size: int, processes: Processes, device: torch.device,
                log: TrainLog) -> StyleImages:
    """The style images, aligned into ``OUT/NAME/finetune_aligned`` (the one thing written before ``begin``:
    a retry after a bad image reuses the rest) with their landmarks kept. Several processes: rank 0 reads
    and aligns, then tells the others, which read the same folder back (nothing left to align), or stop
    with rank 0's error."""
    landmarks = layout.family_dir / LANDMARKS_FILE

    def scan(warn, note) -> StyleImages:
        return load_style_images(options.images, size, aligned=options.aligned, store=layout.family_dir / ALIGNED_DIR,
                                 drop_no_face=options.drop_no_face, warn=warn, note=note, cache=landmarks)

    if processes.main:
        try:
            layout.create()
            images = scan(log.warn, log.note)
            if images.landmarks and images.landmarks != read_landmarks(landmarks):
                save_landmarks(landmarks, images.landmarks, log.warn)
        except EngineError as exc:
            if processes.distributed:
                broadcast_text(f"{type(exc).__name__}\n{exc.fix}\n{exc.message}", device)
                raised_everywhere(exc)
            raise
        if processes.distributed:
            broadcast_text("", device)
        return images
    failed = broadcast_text("", device)
    if failed:
        kind, fix, message = failed.split("\n", 2)
        error = getattr(errors, kind, ConfigError)
        error_type = error if isinstance(error, type) and issubclass(error, EngineError) else ConfigError
        raise raised_everywhere(error_type(f"rank 0 stopped reading the style images: {message}", fix))
    return scan(lambda message: None, lambda message: None)


def prepare_finetune(options: FinetuneOptions, cancel: threading.Event | None = None) -> FinetuneSession:
    """Every check and load before the first step; before ``begin`` only the aligned images are written
    (``OUT/NAME/finetune_aligned``, after the option, output and StyleGAN checks passed)."""
    with named_by_flag("stylegan_path"):
        stylegan = Path(options.stylegan_path).expanduser()
        if not stylegan.is_file():
            raise ModelFileError(f"--stylegan-path: file not found: {stylegan}", FFHQ_FIX)
    check_images_folder(options.images)
    processes, device = init_processes(options.device)
    layout = output_layout(options.out, options.folder_name, "toonify")
    final = layout.family_dir / FINETUNE_FILE
    check_outputs_free(options, layout, final)
    if options.resume:
        with named_by_flag("resume"):
            check_resume_file(options.resume, "finetune", "toonify", options.iter)
    log = TrainLog(options, 0, enabled=processes.main)
    if not options.resume:
        warn_earlier_run(log, final)
    log.note(f"loading {stylegan} ...")
    with named_by_flag("stylegan_path"):
        start = load_starting_point(stylegan)
        g, g_ema, d = build_models(start, stylegan, device)
    for note in start.notes:
        log.warn(note)
    size = start.config["size"]
    how = "taking them as aligned (--aligned)" if options.aligned else "aligning the faces (dlib, FFHQ layout)"
    log.note(f"reading the style images in {options.images} at {size} px, {how} ...")
    images = scan_images(options, layout, size, processes, device, log)
    precision = resolve_precision(options.precision, device)
    check_batch_fits(options.batch, start.config["channels"], precision, device)
    g_ema.eval()
    ada = AdaptiveAugment(options.ada_target, options.ada_length, options.augment_p,
                          adaptive=options.augment and options.augment_p == 0)
    if not options.augment:
        ada.p = 0.0
    session = FinetuneSession(
        options=options, processes=processes, device=device, layout=layout, teachers=None, pairs=None,
        student=g, model=g, ema=g_ema, log=log, cancel=cancel, precision=precision,
        g_optim=lazy_adam(g.parameters(), options.lr, options.g_reg_every, options.path_regularize > 0),
    )
    ex = session.extra
    ex.update(d=d, d_optim=lazy_adam(d.parameters(), options.lr, options.d_reg_every, options.r1 > 0), ada=ada,
              images=images, latent_avg=start.latent_avg,
              mean_path_length=torch.zeros((), device=device))
    if options.resume:
        _resume(session, options.resume)
    log.note(f"{len(images)} style images, {size} px; G and D from {stylegan.name}")
    session.log.restart(session.start_iter)
    session.begin()
    if processes.main:
        ex["samples"] = FinetuneSamples(layout.family_dir, options.sample_every, session.start_iter, options.iter,
                                        log.warn)
        ex["samples"].keep_style(images, start.config["style_dim"], options.seed, device)
    session.model = wrap_ddp(g, processes, device)
    ex["d_model"] = wrap_ddp(d, processes, device)
    g.train()
    d.train()
    return session


def run_finetune(options: FinetuneOptions, cancel: threading.Event | None = None) -> Path:
    """``engine train finetune``; returns the final file (or the complete one ``--resume auto`` found)."""
    if options.resume == "auto":
        resolved = resolve_auto_resume(options)
        if isinstance(resolved, Path):
            return resolved
        options = resolved
    together = False
    try:
        session = prepare_finetune(options, cancel)
        final = session.layout.family_dir / FINETUNE_FILE
        session.run_loop("finetune", finetune_step, finetune_payload, final)
        together = True
    except BaseException as exc:
        together = getattr(exc, "every_process", False)
        raise
    finally:
        close_processes(together)
    pretrain, full = toonify_commands(options.stylegan_path, final, options.out, session.layout.folder)
    session.log.note(f"fine-tuned StyleGAN -> {final}\nnext (VToonify-T): {pretrain}\nthen: {full}\n(a bare file "
                     "name stands for your copy of that file: docs/TRAINING.md, 'Files you need')")
    return final
