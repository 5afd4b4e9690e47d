"""Training of DAE-Fuse (:class:`lzsc.methods.dae_fuse.DAEFuse`): Phase I (autoencoder), then Phase II
(fusion), each against the two discriminators, in one run.

Step k = 0, 1, ... of the K = ``phase1_steps`` + ``phase2_steps`` steps, on a batch (A, B) of FNet's
training pipeline (``batch_size`` pairs, ``patch`` x ``patch`` windows, one dihedral transform each;
:meth:`lzsc.data.PairedImageDataset.sample_batch` from a generator whose state is checkpointed)::

    fakes   = (A~, B~) = autoencoder(A), autoencoder(B)      k < phase1_steps  (Phase I)
            = (F, F),  F = G(A, B)                           otherwise         (Phase II)
    D step: L_D = BCE(DM1(A), 1) + BCE(DM1(fake_A), 0) + BCE(DM2(B), 1) + BCE(DM2(fake_B), 0)
    G step: L_I or L_II of :mod:`lzsc.training.dae_fuse_losses` with L_adv = -log D1(fake_A) - log D2(fake_B)

(the D step uses the fakes detached; the G step judges the same fakes with the updated
discriminators, held fixed: no gradient into them, their batch-norm statistics untouched). A
discriminator always sees the real and the fake images in one batch: it ends in a
batch-norm, and a batch judged alone would be normalised to nearly the same mean logit whatever it
holds (found in the first quick runs: D(real) = D(fake) = 0.5 throughout, the adversarial terms inert).
Adam for the generator (``lr``) and for the discriminators (``disc_lr``), both scaled by StepLR's factor;
the generator's gradient norm clipped to ``clip_grad``. No EMA (CDDFuse keeps none).

``out_dir`` holds ``checkpoint.pt`` (generator, discriminators, both Adams, step, configuration, every
RNG; atomic, never with non-finite weights), ``dae_fuse.pt`` (the result: ``{"format", "model_config",
"model", ...}``, :func:`lzsc.methods.dae_fuse.load_dae_fuse` reads it) and ``log.csv`` (one row per
step: phase, the generator's loss and every term, the discriminators' loss and mean probabilities,
the learning rate; terms of the other phase empty as NaN). A run stopped (Ctrl-C, or killed after a
checkpoint) and resumed with ``resume=True`` ends with bitwise the same weights on CPU as an
uninterrupted one; a NaN / Inf loss (the discriminators' or the generator's) stops it with
:class:`~lzsc.training.state.DivergenceError` before that network's update, keeping the last good
checkpoint.

Profiles (:mod:`lzsc.training.dae_fuse_config`)::

    lzsc train --method dae-fuse --profile quick     # CPU, both phases in under 3 minutes
    lzsc train --method dae-fuse --profile paper     # CUDA; CDDFuse's recipe sized for < 10 min
    lzsc fuse --method dae-fuse --checkpoint runs/dae-fuse-quick/dae_fuse.pt IR.png VIS.png -o F.png

Introduced in ``notebooks/12_methods_side_by_side.ipynb``.
"""

from __future__ import annotations

import math
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..checkpoints import find_nonfinite, load_state_dict_strict, save_atomic
from ..methods.dae_fuse import TRAINED_FORMAT, DAEFuse, DAEFuseDiscriminators
from .dae_fuse_config import (
    DAE_PROFILES,
    DAE_RESUMABLE,
    DAE_SETTINGS,
    DAETrainConfig,
    apply_dae_overrides,
    dae_profile,
)
from .dae_fuse_losses import discriminator_loss, generator_adversarial_loss, phase1_loss, phase2_loss
from .log import StepLog
from .preflight import CHECKPOINT_NAME, check_batch, check_data, open_out_dir, read_resumable
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
from .trainer import build_dataset, resolve_device

__all__ = [
    "DAE_PROFILES",
    "DAE_SETTINGS",
    "LOG_COLUMNS",
    "RESULT_NAME",
    "DAETrainConfig",
    "DAETrainResult",
    "apply_dae_overrides",
    "dae_profile",
    "train_dae_fuse",
]

RESULT_NAME = "dae_fuse.pt"
LOG_NAME = "log.csv"
_KEYS = ("step", "config", "model", "discriminators", "optimizer", "disc_optimizer", "rng", "elapsed_s")
_PHASE1 = ("adv", "corr", "content", "cc_high", "cc_low", "psnr_a", "psnr_b")
_PHASE2 = ("text", "int")
#: The columns of ``log.csv`` after ``step`` (a term of the other phase is NaN).
LOG_COLUMNS = ("phase", "loss", *_PHASE1, *_PHASE2, "d_loss", "d_real", "d_fake", "lr")
StepCallback = Callable[[int, dict[str, float]], None]


@dataclass
class DAETrainResult:
    """What :func:`train_dae_fuse` returns; ``model`` is the trained generator in eval mode."""

    step: int
    total_steps: int
    out_dir: Path
    result_path: Path
    checkpoint_path: Path
    log_path: Path
    model: DAEFuse
    first: dict[str, float]
    last: dict[str, float]
    seconds: float
    steps_run: int


@contextmanager
def _frozen(net: nn.Module) -> Iterator[nn.Module]:
    """``net`` as a fixed judge for the generator's step: no gradients into its weights, its batch-norms'
    running statistics untouched (they normalise with the batch's statistics, as in the D step)."""
    params = [p for p in net.parameters() if p.requires_grad]
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m.momentum, m.num_batches_tracked.clone()) for m in norms]
    try:
        for p in params:
            p.requires_grad_(False)
        for m in norms:
            m.momentum = 0.0
        yield net
    finally:
        for p in params:
            p.requires_grad_(True)
        for m, (momentum, tracked) in zip(norms, saved, strict=True):
            m.momentum = momentum
            m.num_batches_tracked.copy_(tracked)


class _Run:
    """The two networks, their optimisers and one training step."""

    def __init__(self, config: DAETrainConfig, device: torch.device) -> None:
        self.config, self.device = config, device
        seed_everything(config.seed)
        self.generator = torch.Generator().manual_seed(config.seed + 7_000_003)
        self.model = DAEFuse(config.model).to(device).train()
        self.disc = DAEFuseDiscriminators(config.model).to(device).train()
        self.opt_g = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=config.disc_lr)

    def load(self, saved: dict[str, Any], path: Path) -> None:
        load_state_dict_strict(self.model, saved["model"], source=f"{path} (model)")
        load_state_dict_strict(self.disc, saved["discriminators"], source=f"{path} (discriminators)")
        self.opt_g.load_state_dict(saved["optimizer"])
        self.opt_d.load_state_dict(saved["disc_optimizer"])
        restore_rng(saved["rng"], self.generator)

    def _fakes(self, a: Tensor, b: Tensor, phase: int) -> tuple[Tensor, Tensor, Any]:
        if phase == 1:
            rec, feats = self.model.reconstruct_pair(a, b)
            return rec[: a.shape[0]], rec[a.shape[0] :], feats
        fused, feats = self.model.fuse(a, b)
        return fused, fused, feats

    @staticmethod
    def _judge(disc: nn.Module, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
        """(logits of real, logits of fake), judged in one batch (see the module docstring)."""
        logits = disc(torch.cat((real, fake)))
        return logits[: real.shape[0]], logits[real.shape[0] :]

    def _d_step(self, a: Tensor, b: Tensor, fake_a: Tensor, fake_b: Tensor) -> dict[str, float]:
        real_1, fake_1 = self._judge(self.disc.infrared, a, fake_a.detach())
        real_2, fake_2 = self._judge(self.disc.visible, b, fake_b.detach())
        loss = discriminator_loss(real_1, fake_1) + discriminator_loss(real_2, fake_2)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise DivergenceError(f"the discriminators' loss is {value}; no update of this step was applied.")
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        with torch.no_grad():
            real = torch.cat((real_1, real_2)).sigmoid().mean()
            fake = torch.cat((fake_1, fake_2)).sigmoid().mean()
            values = torch.stack((loss.detach(), real, fake)).tolist()
        return dict(zip(("d_loss", "d_real", "d_fake"), values, strict=True))

    def step(self, step: int, data: Any) -> dict[str, float]:
        """Step ``step`` (0-based): one discriminator update, then one generator update."""
        cfg = self.config
        phase = cfg.phase_of(step)
        factor = cfg.lr_factor(step)
        for opt, lr in ((self.opt_g, cfg.lr), (self.opt_d, cfg.disc_lr)):
            for group in opt.param_groups:
                group["lr"] = lr * factor
        batch = data.sample_batch(cfg.batch_size, self.generator)
        check_batch(batch, cfg)
        a, b = (batch[k].to(self.device, torch.float32) for k in ("a", "b"))
        fake_a, fake_b, feats = self._fakes(a, b, phase)
        try:
            d_values = self._d_step(a, b, fake_a, fake_b)
        except DivergenceError as err:
            raise DivergenceError(f"training diverged at step {step + 1} (phase {phase}): {err}") from None
        with _frozen(self.disc):
            adv = generator_adversarial_loss(self._judge(self.disc.infrared, a, fake_a)[1])
            adv = adv + generator_adversarial_loss(self._judge(self.disc.visible, b, fake_b)[1])
        if phase == 1:
            loss = phase1_loss(a, b, fake_a, fake_b, feats, adv, cfg.w_adv1, cfg.sigma)
        else:
            loss = phase2_loss(fake_a, a, b, adv, cfg.w_text, cfg.w_int, cfg.w_adv2)
        values = loss.as_floats()
        if not math.isfinite(values["loss"]):
            raise DivergenceError(
                f"training diverged at step {step + 1} (phase {phase}): the loss is {values['loss']}; "
                "that update was not applied."
            )
        self.opt_g.zero_grad(set_to_none=True)
        loss.total.backward()
        if cfg.clip_grad is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip_grad)
        self.opt_g.step()
        row = dict.fromkeys(LOG_COLUMNS, math.nan)
        row.update(values, **d_values, phase=float(phase), lr=cfg.lr * factor)
        return row


def train_dae_fuse(
    config: DAETrainConfig,
    out_dir: str | Path = "runs/dae-fuse-quick",
    resume: bool = False,
    progress: bool = True,
    callback: StepCallback | None = None,
) -> DAETrainResult:
    """Train DAE-Fuse with ``config`` into ``out_dir``; see the module docstring.

    ``resume=True`` continues ``out_dir/checkpoint.pt`` (without one: from step 0, said on stderr).
    ``callback(step, values)`` runs after every step. Ctrl-C saves a checkpoint at the end of the
    current step and re-raises ``KeyboardInterrupt``; a NaN / Inf loss raises ``DivergenceError``.
    """
    if not isinstance(config, DAETrainConfig):
        raise TypeError(f"config must be a DAETrainConfig, got {type(config).__name__}")
    with torch_threads(config.threads):
        return _train(config, Path(out_dir), resume, progress, callback)


def _read_saved(path: Path, config: DAETrainConfig, resume: bool) -> dict[str, Any] | None:
    saved = read_resumable(
        path,
        config,
        resume,
        fmt=TRAINED_FORMAT,
        keys=_KEYS,
        resumable=DAE_RESUMABLE,
        what="DAE-Fuse training",
    )
    if saved is None:
        return None
    step, old_phase1 = int(saved["step"]), int(saved["config"]["phase1_steps"])
    if step > config.total_steps:
        raise ValueError(f"{path} is at step {step}, beyond this run's {config.total_steps} steps")
    if old_phase1 != config.phase1_steps and step > min(old_phase1, config.phase1_steps):
        raise ValueError(
            f"{path} is at step {step}, past the end of Phase I at {old_phase1} steps: phase1_steps can "
            f"change on resume only while the run is still in Phase I (asked for {config.phase1_steps})"
        )
    return saved


def _train(
    config: DAETrainConfig, out_dir: Path, resume: bool, progress: bool, callback: StepCallback | None
) -> DAETrainResult:
    ckpt_path, log_path, result_path = out_dir / CHECKPOINT_NAME, out_dir / LOG_NAME, out_dir / RESULT_NAME
    device = resolve_device(config.device)
    saved = _read_saved(ckpt_path, config, resume)
    data = build_dataset(config)
    check_data(data, config, progress)
    open_out_dir(out_dir)
    if resume and saved is None:
        print(f"resume: no checkpoint {ckpt_path} to continue; starting from step 0", file=sys.stderr)
    run = _Run(config, device)
    start, elapsed = 0, 0.0
    if saved is not None:
        run.load(saved, ckpt_path)
        start, elapsed = int(saved["step"]), float(saved["elapsed_s"])
    total = config.total_steps
    log = StepLog(log_path, resume_step=start if saved is not None else None, tag="dae-fuse")
    last_saved = start if saved is not None else None
    t0 = time.perf_counter()

    def state(step: int, kind: str) -> dict[str, Any]:
        out = {
            "format": TRAINED_FORMAT,
            "kind": kind,
            "step": step,
            "config": config.to_dict(),
            "model_config": config.model.to_dict(),
            "model": run.model.state_dict(),
        }
        if kind == "checkpoint":
            out.update(
                discriminators=run.disc.state_dict(),
                optimizer=run.opt_g.state_dict(),
                disc_optimizer=run.opt_d.state_dict(),
                rng=capture_rng(run.generator),
                elapsed_s=elapsed + time.perf_counter() - t0,
            )
        return out

    def save(step: int) -> None:
        nonlocal last_saved
        log.flush()
        bad = find_nonfinite({"model": run.model.state_dict(), "discriminators": run.disc.state_dict()})
        if bad:
            raise DivergenceError(
                f"training diverged at step {step}: non-finite weights ({'; '.join(bad[:5])})."
            )
        save_atomic(state(step, "checkpoint"), ckpt_path)
        last_saved = step

    def advice() -> str:
        return lower_lr_advice(config.lr, last_saved, ckpt_path)

    step, first, last = start, {}, {}
    recent: deque[float] = deque(maxlen=config.log_every)
    bar = tqdm(total=total, initial=start, desc="dae-fuse", unit="step", disable=not progress)
    guard = InterruptGuard()

    def save_current() -> int:
        save(step)
        return step

    with stopping(bar, log, guard, save_current, ckpt_path, advice), guard:
        while step < total:
            if step == config.phase1_steps and step > start:
                recent.clear()
            last = run.step(step, data)
            step += 1
            first = first or last
            recent.append(last["loss"])
            show = step % config.log_every == 0 or step == total
            log.add(step, last, scalars=show)
            bar.update(1)
            if show:
                bar.set_postfix_str(
                    f"phase {int(last['phase'])}, loss (mean of last {len(recent)}) "
                    f"{sum(recent) / len(recent):.4g}, D(real) {last['d_real']:.2f}, "
                    f"D(fake) {last['d_fake']:.2f}",
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
    run.model.eval()
    save_atomic(state(step, "result"), result_path)
    return DAETrainResult(
        step=step,
        total_steps=total,
        out_dir=out_dir,
        result_path=result_path,
        checkpoint_path=ckpt_path,
        log_path=log_path,
        model=run.model,
        first=first,
        last=last,
        seconds=seconds,
        steps_run=step - start,
    )
