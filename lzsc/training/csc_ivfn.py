"""Training of CSC-IVFN (:class:`lzsc.methods.csc_ivfn.CSCIVFN`) as released (``CSC-IVF/Train.py``).

CSC-IVFN is trained as an autoencoder on single images: the infrared and the visible images of the
FLIR training set (180 pairs, ``$LZSC_DATA/train/FLIR/{ir,vi}``) are 360 images of one set. With N
images, batch B, E epochs and S = ceil(N / B) steps per epoch, step k = 0, 1, ... of the
K = min(``steps``, E S) steps is (data: :mod:`lzsc.training.csc_ivfn_data`)::

    e, I   = batch_plan(k)                  epoch e = k // S, images I: batch k % S of epoch e's permutation
    x      = crops of the images I          random-resized crops, c x c, in [0, 1]; generator seeded (seed, k)
    lr_e   = lr * gamma^[e >= lr_decay_epoch]      the release's MultiStepLR, stepped once per epoch
    x_hat  = sigmoid(R(E_b(x; box(x))) + R(E_d(x; x - box(x))))    the network in train mode
    L      = MSE(x_hat, x) + 5 mean(clamp((1 - SSIM_3(x_hat, x)) / 2, 0, 1))
    theta <- Adam(theta, grad L, lr_e)

Conventions taken from the release (``Train.py``, ``Arguments.py``): infrared and visible images mixed,
read as grey, /255 with no other normalisation and no flips; ``RandomResizedCrop(128)`` with
torchvision's default scale (0.08, 1) and ratio (3/4, 4/3); batch 16; every epoch one shuffled pass
over the images with a smaller last batch (360 images: 23 steps, the last of 8; no ``drop_last``);
60 epochs; Adam with PyTorch's defaults (betas 0.9, 0.999, eps 1e-8, no weight decay) at lr 1e-2 --
the release keeps one Adam per part (two encoders, the decoder) with equal settings, which is the
same update as one Adam over all parameters, Adam being per-parameter; the lr times 0.1 after epoch
30; batch-norms in train mode (batch statistics, running statistics updated with momentum 0.1) and
the result saved in eval mode; PyTorch's default initialisation; no EMA, no gradient clipping.

Deviations, with their reasons:

- the release's ``MultiStepLR(milestones=[30.1, 60.1])`` looks the integer epoch count up among its
  milestones, so with those float milestones the lr never decays in current PyTorch (checked with
  2.13: 1e-2 for all 60 epochs). ``paper`` follows the stated schedule (1e-2, then 1e-3 from epoch 31);
  ``--set lr_decay_epoch=none`` is the release as it runs today;
- the run is seeded (``seed``; the release is not) and its data are a pure function of (seed, step),
  so that a run is reproducible and resumable;
- crops: grey before cropping and OpenCV's luma weights (within one grey level of the release's PIL
  path), and images smaller than the crop are refused (:mod:`lzsc.training.csc_ivfn_data`);
- CPU by default (``device="cpu"``; the development machines have no GPU): ``--device cuda`` (or
  ``auto``) runs the same schedule on a GPU (bitwise resume is guaranteed on CPU only).

Guarantees, as FNet's trainer (:mod:`lzsc.training.trainer`), whose small pieces it reuses
(:class:`~lzsc.training.log.StepLog`, :func:`~lzsc.checkpoints.save_atomic`, the RNG capture and the
Ctrl-C guard of :mod:`lzsc.training.state`, the output-folder check of :mod:`lzsc.training.preflight`):
a tqdm progress bar; ``out_dir`` holds::

    checkpoint.pt   the full state: weights (BN statistics included), Adam, the schedule, step, epoch,
                    configuration, every RNG; written atomically, never with non-finite weights
    csc_ivfn.pt     the result: {"format", "model_config", "model", ...}; load_csc_ivfn(path) reads it
    log.csv         one row per step: loss, mse, ssim (the (1 - SSIM) / 2 term), lr, epoch

A run stopped after a checkpoint (Ctrl-C saves one at the end of the current step) and resumed with
``resume=True`` ends with bitwise the same weights on CPU as an uninterrupted one. Bad data (a missing
folder, an unreadable image, one smaller than the crop) fail before the first step with every bad
file listed. A NaN or Inf loss stops the run with :class:`~lzsc.training.state.DivergenceError`
before its update, keeping the last good checkpoint (continue it with ``--resume --set lr=VALUE``).

Settings and profiles live in :mod:`lzsc.training.csc_ivfn_config` (re-exported here):
``csc_profile("paper")`` is the release's schedule (its measured wall-time estimate is in
:data:`~lzsc.training.csc_ivfn_config.PAPER`), ``csc_profile("quick")`` a CPU run of about a minute
that visibly learns (:data:`~lzsc.training.csc_ivfn_config.QUICK`). From the command line::

    lzsc train --method csc-ivfn --profile quick        # runs/csc-ivfn-quick/csc_ivfn.pt
    lzsc train --method csc-ivfn --profile paper        # runs/csc-ivfn-paper/csc_ivfn.pt
    lzsc fuse --method csc-ivfn --checkpoint runs/csc-ivfn-quick/csc_ivfn.pt IR.png VIS.png -o F.png

Introduced in ``notebooks/11_csc_networks.ipynb``.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ..checkpoints import (
    find_nonfinite,
    load_state_dict_strict,
    save_atomic,
)
from ..data.transforms import derive_seed
from ..methods.csc_ivfn import CSCIVFN, TRAINED_FORMAT
from .csc_ivfn_config import (
    CSC_PROFILES,
    CSC_RESUMABLE,
    CSC_SETTINGS,
    CSCTrainConfig,
    apply_csc_overrides,
    csc_profile,
)
from .csc_ivfn_data import ImageCrops, batch_plan, csc_ivfn_loss, image_folders, steps_per_epoch
from .log import StepLog
from .preflight import CHECKPOINT_NAME, open_out_dir, read_resumable
from .state import (
    DivergenceError,
    InterruptGuard,
    capture_rng,
    lower_lr_advice,
    restore_rng,
    seed_everything,
    stopping,
    torch_threads,
)
from .trainer import resolve_device

__all__ = [
    "CSC_PROFILES",
    "CSC_RESUMABLE",
    "CSC_SETTINGS",
    "LOG_NAME",
    "RESULT_NAME",
    "CSCTrainConfig",
    "CSCTrainResult",
    "apply_csc_overrides",
    "csc_profile",
    "train_csc_ivfn",
]

RESULT_NAME = "csc_ivfn.pt"
LOG_NAME = "log.csv"
_CROPS = 12  # seed-domain tag of the per-step crop generators
_KEYS = ("step", "epoch", "config", "model_config", "model", "optimizer", "scheduler", "rng", "elapsed_s")
StepCallback = Callable[[int, dict[str, float]], None]


@dataclass
class CSCTrainResult:
    """What :func:`train_csc_ivfn` returns; ``model`` is the trained network in eval mode."""

    step: int
    total_steps: int
    out_dir: Path
    result_path: Path
    checkpoint_path: Path
    log_path: Path
    model: CSCIVFN
    first: dict[str, float]
    last: dict[str, float]
    seconds: float
    steps_run: int


def train_csc_ivfn(
    config: CSCTrainConfig,
    out_dir: str | Path = "runs/csc-ivfn-quick",
    resume: bool = False,
    progress: bool = True,
    callback: StepCallback | None = None,
) -> CSCTrainResult:
    """Train CSC-IVFN with ``config`` into ``out_dir``; see the module docstring.

    ``resume=True`` continues ``out_dir/checkpoint.pt`` (without one: from step 0, said on stderr).
    ``callback(step, values)`` runs after every step. Ctrl-C saves a checkpoint at the end of the
    current step and re-raises ``KeyboardInterrupt``; a NaN / Inf loss raises ``DivergenceError``.
    """
    if not isinstance(config, CSCTrainConfig):
        raise TypeError(f"config must be a CSCTrainConfig, got {type(config).__name__}")
    with torch_threads(config.threads):
        return _train(config, Path(out_dir), resume, progress, callback)


def _train(
    config: CSCTrainConfig, out_dir: Path, resume: bool, progress: bool, callback: StepCallback | None
) -> CSCTrainResult:
    ckpt_path, log_path, result_path = out_dir / CHECKPOINT_NAME, out_dir / LOG_NAME, out_dir / RESULT_NAME
    device = resolve_device(config.device)
    data = ImageCrops(image_folders(config.data), config.crop, config.scale, config.ratio)
    saved = read_resumable(
        ckpt_path,
        config,
        resume,
        fmt=TRAINED_FORMAT,
        keys=_KEYS,
        resumable=CSC_RESUMABLE,
        what="CSC-IVFN training",
    )
    total = config.total_steps(len(data))
    if saved is not None and saved["step"] > total:
        raise ValueError(
            f"{ckpt_path} is at step {saved['step']}, beyond this run's {total} steps (--steps / --epochs)"
        )
    data.check(progress)
    open_out_dir(out_dir)
    if resume and saved is None:
        print(f"resume: no checkpoint {ckpt_path} to continue; starting from step 0", file=sys.stderr)

    seed_everything(config.seed)
    model = CSCIVFN(config.model_config()).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    generator = torch.Generator()
    start, elapsed = 0, 0.0
    if saved is not None:
        load_state_dict_strict(model, saved["model"], source=f"{ckpt_path} (model)")
        optimizer.load_state_dict(saved["optimizer"])
        restore_rng(saved["rng"], generator)
        start, elapsed = int(saved["step"]), float(saved["elapsed_s"])
    per_epoch = steps_per_epoch(len(data), config.batch_size)
    log = StepLog(log_path, resume_step=start if saved is not None else None, tag="csc-ivfn")
    last_saved = start if saved is not None else None

    def state(step: int, kind: str) -> dict[str, Any]:
        epoch = step // per_epoch  # the epoch the next step belongs to
        out = {
            "format": TRAINED_FORMAT,
            "kind": kind,
            "step": step,
            "epoch": epoch,
            "config": config.to_dict(),
            "model_config": dataclasses.asdict(model.config),
            "model": model.state_dict(),
        }
        if kind == "checkpoint":
            out.update(
                optimizer=optimizer.state_dict(),
                scheduler={
                    "epoch": epoch,
                    "lr": config.lr_at(epoch),
                    "milestone": config.lr_decay_epoch,
                    "gamma": config.lr_gamma,
                },
                rng=capture_rng(generator),
                elapsed_s=elapsed + time.perf_counter() - t0,
            )
        return out

    def save(step: int) -> None:
        nonlocal last_saved
        log.flush()
        bad = find_nonfinite(model.state_dict())
        if bad:
            raise DivergenceError(
                f"training diverged at step {step}: non-finite weights ({'; '.join(bad[:5])})."
            )
        save_atomic(state(step, "checkpoint"), ckpt_path)
        last_saved = step

    def advice() -> str:
        return lower_lr_advice(config.lr, last_saved, ckpt_path)

    step, first, last, recent = start, {}, {}, deque(maxlen=config.log_every)
    bar = tqdm(total=total, initial=start, desc="csc-ivfn", unit="step", disable=not progress)
    guard = InterruptGuard()
    t0 = time.perf_counter()

    def save_current() -> int:
        save(step)
        return step

    with stopping(bar, log, guard, save_current, ckpt_path, advice), guard:
        while step < total:
            epoch, indices = batch_plan(step, len(data), config.batch_size, config.seed)
            lr = config.lr_at(epoch)
            for group in optimizer.param_groups:
                group["lr"] = lr
            generator.manual_seed(derive_seed(config.seed, _CROPS, step))
            x = data.batch(indices, generator).to(device)
            loss = csc_ivfn_loss(model(x), x, config.w_ssim, config.ssim_window)
            values = loss.as_floats()
            if not math.isfinite(values["loss"]):
                raise DivergenceError(
                    f"training diverged at step {step + 1}: the loss is {values['loss']}; "
                    "that update was not applied."
                )
            optimizer.zero_grad(set_to_none=True)
            loss.total.backward()
            optimizer.step()
            step += 1
            last = {**values, "lr": lr, "epoch": float(epoch + 1)}
            first = first or last
            recent.append(last["loss"])
            show = step % config.log_every == 0 or step == total
            log.add(step, last, scalars=show)
            bar.update(1)
            if show:
                bar.set_postfix_str(
                    f"epoch {epoch + 1}, loss (mean of last {len(recent)}) {sum(recent) / len(recent):.4g}",
                    refresh=False,
                )
                log.flush()
            if step % config.checkpoint_every == 0 and step < total:
                save(step)
            if callback is not None:
                callback(step, last)
            guard.check()
        save(step)
    seconds = time.perf_counter() - t0
    bar.close()
    log.close()
    model.eval()
    save_atomic(state(step, "result"), result_path)
    return CSCTrainResult(
        step=step,
        total_steps=total,
        out_dir=out_dir,
        result_path=result_path,
        checkpoint_path=ckpt_path,
        log_path=log_path,
        model=model,
        first=first,
        last=last,
        seconds=seconds,
        steps_run=step - start,
    )
