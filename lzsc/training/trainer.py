"""Two-stage training of FNet (paper Sec. IV-C): stage I with IFNet (eq. 25), stage II fusion (eq. 26).

Stage I trains FNet and IFNet jointly with one Adam over both: F = FNet(A, B), (A', B') = IFNet(F),
loss :func:`~lzsc.training.losses.reconstruction_loss`. Stage II starts from stage I's FNet (its EMA
weights, the ones the release saves) and trains it alone with
:func:`~lzsc.training.losses.fusion_loss`. An EMA of FNet's weights is kept throughout.

``out_dir`` of a stage holds::

    checkpoint.pt   the full state (weights, IFNet, EMA, Adam, step, config, every RNG): resumable
    stage{1,2}.pt   the result: {"model", "ema", "fnet_config", ...}; lzsc.checkpoints.load_fnet reads it
    log.csv         one row per step with the loss and its parts (plus tensorboard/ when installed)

A run stopped (Ctrl-C, or killed after a checkpoint) and resumed with ``resume=True`` ends with
bitwise the same weights on CPU as an uninterrupted run. ``resume=True`` without a checkpoint in
``out_dir`` starts from step 0 and says so on stderr (``lzsc train --stage both --resume`` relies on
it for a stage that had not started).

Checks before the first step: every training pair is read and must be at least ``patch`` on each
side (all bad files are listed at once), a checkpoint to resume must be a complete training
checkpoint with finite weights, and orphaned temporary files of killed writes are removed from
``out_dir`` (:func:`lzsc.atomic.remove_stale_temporaries`).

Divergence: a step whose loss is NaN or Inf, or more than :data:`EXPLOSION_FACTOR` (1e6) times the
stage's first loss, stops the run with :class:`DivergenceError` before its update is applied, and a
checkpoint is never written with non-finite weights, so the last checkpoint stays the last good one.
The learning rate may change on resume (``--resume --set lr=VALUE``), which is the way out.

Introduced in ``notebooks/06_train_stage1.ipynb`` (stage I) and ``notebooks/07_train_stage2.ipynb``
(stage II).
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..checkpoints import (
    find_nonfinite,
    load_state_dict_strict,
    save_atomic,
)
from ..models import FNet, FNetConfig, IFNet
from .ema import EMA
from .log import StepLog
from .losses import LossOutput, fusion_loss, reconstruction_loss
from .preflight import CHECKPOINT_NAME, FORMAT, check_batch, check_data, load_init, open_out_dir, read_resume
from .profiles import TrainConfig
from .state import (
    DivergenceError,
    InterruptGuard,
    capture_rng,
    restore_rng,
    seed_everything,
    stopping,
    torch_threads,
)

__all__ = [
    "CHECKPOINT_NAME",
    "EXPLOSION_FACTOR",
    "LOG_NAME",
    "DivergenceError",
    "PairDataset",
    "TrainResult",
    "build_dataset",
    "train",
    "train_both",
]

LOG_NAME = "log.csv"
EXPLOSION_FACTOR = 1e6
"""A loss above this multiple of the stage's first loss counts as divergence (:class:`DivergenceError`)."""

StepCallback = Callable[[int, dict[str, float]], None]


class PairDataset(Protocol):
    """What the trainer needs from a data set (``lzsc.data``)."""

    def sample_batch(self, batch_size: int, generator: torch.Generator) -> dict[str, Tensor]: ...


@dataclass
class TrainResult:
    """What :func:`train` returns. ``fnet`` is the EMA network (eval mode), the stage's result."""

    stage: int
    step: int
    out_dir: Path
    result_path: Path
    checkpoint_path: Path
    log_path: Path
    fnet: FNet
    last: dict[str, float]
    seconds: float
    steps_run: int


def build_dataset(config: TrainConfig) -> PairDataset:
    """The training pairs named by ``config.data``: "synthetic" (image-like :class:`lzsc.data.SyntheticMCSC`),
    a training set under ``$LZSC_DATA/train`` ("MSRS", "RoadScene", RoadScene's test pairs excluded) or a
    folder of pairs (:func:`lzsc.data.training_dataset`), served as ``config.patch`` crops."""
    from ..data import SyntheticMCSC, training_dataset

    if config.data == "synthetic":
        return SyntheticMCSC(size=config.patch, kind="image", seed=config.seed)
    return training_dataset(config.data, patch=config.patch, seed=config.seed)


def resolve_device(name: str) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; a CUDA request without CUDA is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device {name!r} requested but CUDA is not available; use device='cpu' "
            "(--device cpu), and the 'quick' profile for a CPU-sized run"
        )
    return device


def fnet_config_dict(config: FNetConfig) -> dict[str, Any]:
    """The ``fnet_config`` entry of an lzsc checkpoint (read back by ``load_fnet``)."""
    return {"block": dataclasses.asdict(config.block), "block_kind": config.block_kind}


class _Stage:
    """The models, optimiser and data stream of one training stage."""

    def __init__(
        self, config: TrainConfig, data: PairDataset, device: torch.device, init: FNet | None
    ) -> None:
        self.config, self.data, self.device = config, data, device
        seed_everything(config.seed)
        self.generator = torch.Generator().manual_seed(config.seed + 1_000_003 * config.stage)
        self.fnet = FNet(config.fnet_config())
        self.ifnet = IFNet(config.ifnet_config()) if config.stage == 1 else None
        if init is not None:
            self.fnet.load_state_dict(init.state_dict())
        fmt = torch.channels_last if config.channels_last else torch.contiguous_format
        channels_last = True if config.channels_last else None
        for net in self.nets:
            net.to(device=device, memory_format=fmt).train()
            net.set_backend(config.backend, channels_last=channels_last)
        self.ema = EMA(self.fnet, config.ema_decay)
        params = [p for net in self.nets for p in net.parameters()]
        self.optimizer = torch.optim.Adam(params, lr=config.lr)
        self.memory_format = fmt
        self.first_loss: float | None = None  # the divergence test's reference (EXPLOSION_FACTOR)
        self.steps_done = 0

    @property
    def nets(self) -> list[nn.Module]:
        return [self.fnet] if self.ifnet is None else [self.fnet, self.ifnet]

    def state(self, step: int, elapsed: float) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "stage": self.config.stage,
            "step": step,
            "config": self.config.to_dict(),
            "fnet_config": fnet_config_dict(self.fnet.config),
            "model": self.fnet.state_dict(),
            "ifnet": None if self.ifnet is None else self.ifnet.state_dict(),
            "ema": self.ema.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": capture_rng(self.generator),
            "elapsed_s": elapsed,
            "first_loss": self.first_loss,
        }

    def load(self, saved: dict[str, Any], path: Path) -> None:
        load_state_dict_strict(self.fnet, saved["model"], source=f"{path} (model)")
        if self.ifnet is not None:
            load_state_dict_strict(self.ifnet, saved["ifnet"], source=f"{path} (ifnet)")
        self.ema.load_state_dict(saved["ema"])
        self.optimizer.load_state_dict(saved["optimizer"])
        for group in self.optimizer.param_groups:  # the lr may change on resume (RESUMABLE_FIELDS)
            group["lr"] = self.config.lr
        restore_rng(saved["rng"], self.generator)
        self.first_loss = saved.get("first_loss")
        self.steps_done = int(saved["step"])

    def check_weights(self, step: int) -> None:
        """Raise :class:`DivergenceError` when a weight is NaN or Inf (never saved as a checkpoint)."""
        bad = find_nonfinite({type(net).__name__: net.state_dict() for net in self.nets})
        if bad:
            raise DivergenceError(
                f"stage {self.config.stage} diverged at step {step}: non-finite weights in {len(bad)} "
                f"tensor(s) ({'; '.join(bad[:5])})."
            )

    def result(self, step: int) -> dict[str, Any]:
        out = {
            "format": FORMAT,
            "stage": self.config.stage,
            "step": step,
            "config": self.config.to_dict(),
            "fnet_config": fnet_config_dict(self.fnet.config),
            "model": self.fnet.state_dict(),
            "ema": self.ema.state_dict(),
        }
        if self.ifnet is not None:
            out["ifnet"] = self.ifnet.state_dict()
        return out

    def _check_loss(self, value: float, step: int) -> None:
        """Raise :class:`DivergenceError` for a NaN / Inf loss or one above ``EXPLOSION_FACTOR`` times the
        first loss; the stage's first positive loss is the reference (kept in the checkpoint; a
        checkpoint written before it was kept takes the first loss after resuming)."""
        where = f"stage {self.config.stage} diverged at step {step}"
        if not math.isfinite(value):
            raise DivergenceError(f"{where}: the loss is {value}; that update was not applied.")
        if self.first_loss is not None and value > EXPLOSION_FACTOR * self.first_loss:
            raise DivergenceError(
                f"{where}: the loss is {value:.4g}, more than {EXPLOSION_FACTOR:g} times its first value "
                f"{self.first_loss:.4g}; that update was not applied."
            )
        if self.first_loss is None and value > 0:
            self.first_loss = value

    def step(self) -> dict[str, float]:
        """One optimiser step; returns the loss and its parts as floats."""
        cfg = self.config
        batch = self.data.sample_batch(cfg.batch_size, self.generator)
        check_batch(batch, cfg)
        a, b = (
            batch[k]
            .to(self.device, torch.float32, non_blocking=True)
            .contiguous(memory_format=self.memory_format)
            for k in ("a", "b")
        )
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
            fused = self.fnet(a, b)
            recs = self.ifnet(fused) if self.ifnet is not None else None
        loss: LossOutput
        if recs is not None:
            loss = reconstruction_loss(recs[0].float(), recs[1].float(), a, b, cfg.w_rec_int, cfg.w_rec_grad)
        else:
            loss = fusion_loss(fused.float(), a, b, cfg.w_int, cfg.w_grad, cfg.w_ssim)
        self.optimizer.zero_grad(set_to_none=True)
        loss.total.backward()
        values = loss.as_floats()
        self._check_loss(values["loss"], self.steps_done + 1)
        self.optimizer.step()
        self.ema.update(self.fnet)
        self.steps_done += 1
        return values


def train(
    config: TrainConfig,
    data: PairDataset | None = None,
    out_dir: str | Path = "runs/train",
    resume: bool = False,
    init: str | Path | None = None,
    progress: bool = True,
    callback: StepCallback | None = None,
) -> TrainResult:
    """Train one stage (``config.stage``) for ``config.steps`` steps in total; see the module docstring.

    ``data`` is any object with ``sample_batch(batch_size, generator)`` (built from ``config.data``
    when omitted). Stage 2 needs ``init``, the stage-I result (or ``"official"``), unless
    ``config.skip_stage1`` (AE11). ``resume=True`` continues ``out_dir/checkpoint.pt`` when it exists
    (``config.steps`` is then the total to reach; without one it starts from step 0 and says so).
    ``callback(step, losses)`` runs after every step. Ctrl-C saves a checkpoint at the end of the
    current step, then re-raises ``KeyboardInterrupt``. A diverging run raises :class:`DivergenceError`
    (a ``FloatingPointError``) and keeps its last checkpoint; see the module docstring.
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    if config.stage == 1 and init is not None:
        raise ValueError("init is for stage II (the stage-I result); stage I starts from random weights")
    with torch_threads(config.threads):
        return _train(config, data, Path(out_dir), resume, init, progress, callback)


def _train(
    config: TrainConfig,
    data: PairDataset | None,
    out_dir: Path,
    resume: bool,
    init: str | Path | None,
    progress: bool,
    callback: StepCallback | None,
) -> TrainResult:
    ckpt_path, log_path = out_dir / CHECKPOINT_NAME, out_dir / LOG_NAME
    result_path = out_dir / f"stage{config.stage}.pt"
    device = resolve_device(config.device)
    saved = read_resume(ckpt_path, config, resume)
    if data is None:
        data = build_dataset(config)
    if not callable(getattr(data, "sample_batch", None)):
        raise TypeError(f"data must have sample_batch(batch_size, generator), got {type(data).__name__}")
    init_net = load_init(init, config) if config.stage == 2 and saved is None else None
    check_data(data, config, progress)
    open_out_dir(out_dir)
    if resume and saved is None:
        print(
            f"resume: no checkpoint {ckpt_path} to continue; starting stage {config.stage} from step 0",
            file=sys.stderr,
        )
    run = _Stage(config, data, device, init_net)
    start, elapsed = 0, 0.0
    if saved is not None:
        run.load(saved, ckpt_path)
        start, elapsed = int(saved["step"]), float(saved["elapsed_s"])
    log = StepLog(log_path, resume_step=start if saved is not None else None, tag=f"stage{config.stage}")
    last_saved = start if saved is not None else None

    def save(at: int) -> None:
        nonlocal last_saved
        log.flush()
        run.check_weights(at)
        save_atomic(run.state(at, elapsed + time.perf_counter() - t0), ckpt_path)
        last_saved = at

    def advice() -> str:
        lower = f"{config.lr / 10:g}"
        if last_saved is None:
            return (
                f" No checkpoint was written yet (the first is due at step {config.checkpoint_every}): run "
                f"again with a lower learning rate, e.g. --set lr={lower} (lr={lower})."
            )
        return (
            f" The last good checkpoint {ckpt_path} (step {last_saved}) is kept: continue it with a lower "
            f"learning rate, e.g. --resume --set lr={lower} (resume=True, lr={lower})."
        )

    step, last, recent = start, {}, deque(maxlen=config.log_every)
    bar = tqdm(
        total=config.steps, initial=start, desc=f"stage {config.stage}", unit="step", disable=not progress
    )
    guard = InterruptGuard()
    t0 = time.perf_counter()

    def save_current() -> int:
        save(step)
        return step

    with stopping(bar, log, guard, save_current, ckpt_path, advice), guard:
        while step < config.steps:
            last = run.step()
            step += 1
            recent.append(last["loss"])
            show = step % config.log_every == 0 or step == config.steps
            log.add(step, last, scalars=show)
            bar.update(1)
            if show:
                mean = sum(recent) / len(recent)
                bar.set_postfix_str(f"loss (mean of last {len(recent)} steps) {mean:.4g}", refresh=False)
                log.flush()
            if step % config.checkpoint_every == 0 and step < config.steps:
                save(step)
            if callback is not None:
                callback(step, last)
            guard.check()
        save(step)
    seconds = time.perf_counter() - t0
    bar.close()
    log.close()
    save_atomic(run.result(step), result_path)
    run.ema.module.eval()
    return TrainResult(
        stage=config.stage,
        step=step,
        out_dir=out_dir,
        result_path=result_path,
        checkpoint_path=ckpt_path,
        log_path=log_path,
        fnet=run.ema.module,
        last=last,
        seconds=seconds,
        steps_run=step - start,
    )


def train_both(
    config: TrainConfig,
    data: PairDataset | None = None,
    out_dir: str | Path = "runs/train",
    resume: bool = False,
    progress: bool = True,
    callback: StepCallback | None = None,
) -> tuple[TrainResult | None, TrainResult]:
    """Stage I into ``out_dir/stage1``, then stage II from its result into ``out_dir/stage2``.

    With ``config.skip_stage1`` (AE11) only stage II runs, from scratch, and the first result is None.
    """
    out_dir = Path(out_dir)
    if data is None:
        data = build_dataset(config)
    first = None
    if not config.skip_stage1:
        first = train(replace(config, stage=1), data, out_dir / "stage1", resume, None, progress, callback)
    init = first.result_path if first is not None else None
    second = train(replace(config, stage=2), data, out_dir / "stage2", resume, init, progress, callback)
    return first, second
