"""Two-stage training of FNet (paper Sec. IV-C): stage I with IFNet (eq. 25), stage II fusion (eq. 26).

Stage I trains FNet and IFNet jointly with one Adam over both: F = FNet(A, B), (A', B') = IFNet(F),
loss :func:`~lzsc.training.losses.reconstruction_loss`. Stage II starts from stage I's FNet (its EMA
weights, the ones the release saves) and trains it alone with
:func:`~lzsc.training.losses.fusion_loss`. An EMA of FNet's weights is kept throughout.

``out_dir`` of a stage holds::

    checkpoint.pt   the full state (weights, IFNet, EMA, Adam, step, config, every RNG): resumable
    stage{1,2}.pt   the result: {"model", "ema", "fnet_config", ...}; lzsc.checkpoints.load_fnet reads it
    log.csv         one row per step with the loss and its parts (plus tensorboard/ when installed)
    speed.csv       one row per log step: steps/s, images/s, peak memory

A run stopped (Ctrl-C, or killed after a checkpoint) and resumed with ``resume=True`` ends with
bitwise the same weights on CPU as an uninterrupted run. ``resume=True`` without a checkpoint in
``out_dir`` starts from step 0 and says so on stderr (``lzsc train --stage both --resume`` relies on
it for a stage that had not started).

Checks before the first step: every training pair is read and must be at least ``patch`` on each
side (all bad files are listed at once), a checkpoint to resume must be a complete training
checkpoint with finite weights, and orphaned temporary files of killed writes are removed from
``out_dir`` (:func:`lzsc.atomic.remove_stale_temporaries`).

Divergence: a step whose loss is NaN or Inf, or more than :data:`EXPLOSION_FACTOR` (1e6) times the
stage's first loss, stops the run with :class:`DivergenceError` before its update is applied (under
``host_sync="log"``, the GPU setting, at the next log step, and no checkpoint is written after it),
and a checkpoint is never written with non-finite weights, so the last checkpoint stays the last good one.
The learning rate may change on resume (``--resume --set lr=VALUE``), which is the way out.

Speed: every ``log_every`` steps ``speed.csv`` gets a row of ``steps_per_s``, ``images_per_s`` (all
ranks; since the previous row) and ``peak_mem_mb`` (the CUDA allocator's peak on a GPU, the process's
peak resident memory on CPU); :class:`TrainResult` carries the run's averages.

Several processes: under ``torchrun`` (:mod:`.distributed`) each rank computes its slice of every
batch, DDP averages the gradients, and rank 0 writes the checkpoint, the log and the result.

Introduced in ``notebooks/06_train_stage1.ipynb`` (stage I) and ``notebooks/07_train_stage2.ipynb``
(stage II).
"""

from __future__ import annotations

import math
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from ..checkpoints import save_atomic
from ..models import FNet
from .distributed import Distributed, context
from .log import StepLog
from .preflight import CHECKPOINT_NAME, check_data, load_init, open_out_dir, read_resume
from .profiles import TrainConfig
from .stage import EXPLOSION_FACTOR, PairDataset, StageRun, fnet_config_dict
from .state import DivergenceError, InterruptGuard, lower_lr_advice, stopping, torch_threads

__all__ = [
    "CHECKPOINT_NAME",
    "EXPLOSION_FACTOR",
    "LOG_NAME",
    "SPEED_COLUMNS",
    "SPEED_NAME",
    "DivergenceError",
    "PairDataset",
    "TrainResult",
    "build_dataset",
    "fnet_config_dict",
    "train",
    "train_both",
]

LOG_NAME = "log.csv"
SPEED_NAME = "speed.csv"
SPEED_COLUMNS = ("steps_per_s", "images_per_s", "peak_mem_mb")
"""The columns of ``speed.csv`` after ``step`` (one row every ``log_every`` steps)."""

StepCallback = Callable[[int, dict[str, float]], None]


@dataclass
class TrainResult:
    """What :func:`train` returns. ``fnet`` is the EMA network (eval mode), the stage's result.
    ``steps_per_s`` and ``images_per_s`` average this call's steps; ``peak_mem_mb`` as in the log."""

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
    steps_per_s: float = math.nan
    images_per_s: float = math.nan
    peak_mem_mb: float = math.nan


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


def peak_memory_mb(device: torch.device) -> float:
    """The CUDA allocator's peak on ``device`` since the last reset, or this process's peak resident
    memory on CPU, in MiB."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10  # KiB on Linux


class _NoLog:
    """The log of a rank other than 0: nothing is written."""

    def add(self, *args: object, **kwargs: object) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


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
    ``callback(step, losses)`` runs after every host synchronisation, for each step it read (every
    step under ``host_sync="step"``). Ctrl-C saves a checkpoint at the end of the current step (the
    next log step under ``host_sync="log"``), then re-raises ``KeyboardInterrupt``. A diverging run
    raises :class:`DivergenceError` (a ``FloatingPointError``) and keeps its last checkpoint. Under
    torchrun the ranks train one run together (:mod:`.distributed`).
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
    dist = context(device.type)
    device = dist.device(device)
    saved = read_resume(ckpt_path, config, resume)
    if data is None:
        data = build_dataset(config)
    if not callable(getattr(data, "sample_batch", None)):
        raise TypeError(f"data must have sample_batch(batch_size, generator), got {type(data).__name__}")
    init_net = load_init(init, config) if config.stage == 2 and saved is None else None
    check_data(data, config, progress and dist.main)
    if dist.main:
        open_out_dir(out_dir)
    if resume and saved is None and dist.main:
        print(
            f"resume: no checkpoint {ckpt_path} to continue; starting stage {config.stage} from step 0",
            file=sys.stderr,
        )
    run = StageRun(config, data, device, init_net, dist)
    start, elapsed = 0, 0.0
    if saved is not None:
        run.load(saved, ckpt_path)
        start, elapsed = int(saved["step"]), float(saved["elapsed_s"])
    logs: tuple[StepLog | _NoLog, StepLog | _NoLog] = (_NoLog(), _NoLog())
    if dist.main:
        resume_step, tag = start if saved is not None else None, f"stage{config.stage}"
        speed_path = out_dir / SPEED_NAME
        logs = (
            StepLog(log_path, resume_step=resume_step, tag=tag),
            StepLog(speed_path, resume_step=resume_step, tensorboard=False, tag=tag),
        )
    paths = (ckpt_path, log_path, result_path)
    return _loop(config, run, dist, logs, start, elapsed, paths, progress, callback)


def _loop(
    config: TrainConfig,
    run: StageRun,
    dist: Distributed,
    logs: tuple[StepLog | _NoLog, StepLog | _NoLog],
    start: int,
    elapsed: float,
    paths: tuple[Path, Path, Path],
    progress: bool,
    callback: StepCallback | None,
) -> TrainResult:
    ckpt_path, log_path, result_path = paths
    log, speed_log = logs
    last_saved = start if start > 0 else None
    if run.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(run.device)
    step, last, recent, pending = start, {}, [], []
    bar = _progress_bar(config, start, progress and dist.main)
    guard = InterruptGuard()
    t0 = time.perf_counter()
    mark = (t0, start)  # time and step of the last speed measurement

    def save(at: int) -> None:
        nonlocal last_saved
        log.flush()
        run.check_weights(at)
        state = run.state(at, elapsed + time.perf_counter() - t0)
        if dist.main:
            save_atomic(state, ckpt_path)
        dist.barrier()
        last_saved = at

    def save_current() -> int:
        save(step)
        return step

    def speed() -> dict[str, float]:
        nonlocal mark
        now = time.perf_counter()
        rate = (step - mark[1]) / max(now - mark[0], 1e-9)
        mark = (now, step)
        return {
            "steps_per_s": rate,
            "images_per_s": rate * config.batch_size,
            "peak_mem_mb": peak_memory_mb(run.device),
        }

    def record(rows: list[dict[str, float]], first: int, timed: dict[str, float] | None) -> None:
        nonlocal last
        for i, row in enumerate(rows):
            at = first + i
            show = at % config.log_every == 0 or at == config.steps
            log.add(at, row, scalars=show)
            if show and timed is not None:
                speed_log.add(at, timed)
                speed_log.flush()
            recent.append(row["loss"])
            last = row
        del recent[: -config.log_every]

    def advice() -> str:
        return lower_lr_advice(config.lr, last_saved, ckpt_path)

    with stopping(bar, log, guard, save_current, ckpt_path, advice), guard:
        while step < config.steps:
            values, rows, stop = run.step(stop=guard.pending)
            step += 1
            bar.update(1)
            show = step % config.log_every == 0 or step == config.steps
            checkpoint = step % config.checkpoint_every == 0 and step < config.steps
            if rows is None:
                pending.append(values)
                if not (show or checkpoint):
                    continue
                rows, stop = run.collect(pending, guard.pending, applied=True)
                pending.clear()
            timed = speed() if show else None
            record(rows, step - len(rows) + 1, timed)
            if show:
                mean = sum(recent) / len(recent)
                bar.set_postfix_str(
                    f"loss (mean of last {len(recent)} steps) {mean:.4g}, {timed['images_per_s']:.3g} img/s",
                    refresh=False,
                )
                log.flush()
            if checkpoint:
                save(step)
            if callback is not None:  # after the step's checkpoint, as every step's callback always ran
                for i, row in enumerate(rows):
                    callback(step - len(rows) + 1 + i, row)
            if stop or (not dist.active and guard.pending):  # the ranks stop together, at a sync point
                guard.pending = False
                raise KeyboardInterrupt
        save(step)
    seconds = time.perf_counter() - t0
    bar.close()
    log.close()
    speed_log.close()
    if dist.main:
        save_atomic(run.result(step), result_path)
    dist.barrier()
    run.ema.module.eval()
    rate = (step - start) / max(seconds, 1e-9)
    return TrainResult(
        stage=config.stage,
        step=step,
        out_dir=ckpt_path.parent,
        result_path=result_path,
        checkpoint_path=ckpt_path,
        log_path=log_path,
        fnet=run.ema.module,
        last=last,
        seconds=seconds,
        steps_run=step - start,
        steps_per_s=rate,
        images_per_s=rate * config.batch_size,
        peak_mem_mb=peak_memory_mb(run.device),
    )


def _progress_bar(config: TrainConfig, start: int, enabled: bool):
    from tqdm.auto import tqdm

    desc = f"stage {config.stage}"
    return tqdm(total=config.steps, initial=start, desc=desc, unit="step", disable=not enabled)


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
