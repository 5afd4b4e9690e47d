"""One training stage's models, optimiser and batch stream, and its step (used by :mod:`.trainer`).

A step: draw the batch (:class:`HostBatches` or :class:`lzsc.data.DeviceBatches`), run FNet (and IFNet
in stage I) under the optional bfloat16 autocast, compute the stage's loss in float32, back-propagate
(through DDP in a data-parallel run, :mod:`.distributed`), update with Adam (fused on CUDA) and the EMA.
The loss values stay on the device until :meth:`StageRun.collect` reads a run of them at once: every
step under ``host_sync="step"`` (before the update is applied), every ``log_every`` steps under "log".
Introduced in ``notebooks/06_train_stage1.ipynb``.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import warnings
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from ..checkpoints import find_nonfinite, load_state_dict_strict
from ..data.device import DeviceBatches, DevicePairs
from ..data.pairs import PairedImageDataset
from ..models import FNet, FNetConfig, IFNet
from .distributed import Distributed
from .ema import EMA
from .losses import LossOutput, fusion_loss, reconstruction_loss
from .preflight import FORMAT, check_batch
from .profiles import TrainConfig
from .state import DivergenceError, capture_rng, restore_rng, seed_everything

__all__ = ["EXPLOSION_FACTOR", "HostBatches", "PairDataset", "StageRun", "fnet_config_dict"]

EXPLOSION_FACTOR = 1e6
"""A loss above this multiple of the stage's first loss counts as divergence (:class:`DivergenceError`)."""


class PairDataset(Protocol):
    """What the trainer needs from a data set (``lzsc.data``)."""

    def sample_batch(self, batch_size: int, generator: torch.Generator) -> dict[str, Tensor]: ...


def fnet_config_dict(config: FNetConfig) -> dict[str, Any]:
    """The ``fnet_config`` entry of an lzsc checkpoint (read back by ``load_fnet``)."""
    return {"block": dataclasses.asdict(config.block), "block_kind": config.block_kind}


class HostBatches:
    """Batches of ``data.sample_batch`` one step at a time (``shard``: this rank's slice of each)."""

    def __init__(
        self, data: PairDataset, batch_size: int, generator: torch.Generator, shard: slice | None
    ) -> None:
        self.data, self.batch_size, self.generator, self.shard = data, batch_size, generator, shard

    def next(self) -> dict[str, Any]:
        if self.shard is None:
            return self.data.sample_batch(self.batch_size, self.generator)
        if "shard" in inspect.signature(self.data.sample_batch).parameters:
            return self.data.sample_batch(self.batch_size, self.generator, shard=self.shard)  # type: ignore[call-arg]
        batch = self.data.sample_batch(self.batch_size, self.generator)  # draw all, keep this rank's part
        return {k: batch[k][self.shard] for k in ("a", "b")}

    def rewind(self) -> None:
        """Nothing is drawn ahead."""


class _Pipeline(nn.Module):
    """FNet, then IFNet on its output in stage I: the module DDP and ``torch.compile`` wrap."""

    def __init__(self, fnet: FNet, ifnet: IFNet | None) -> None:
        super().__init__()
        self.fnet, self.ifnet = fnet, ifnet

    def forward(self, a: Tensor, b: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor] | None]:
        fused = self.fnet(a, b)
        return fused, (self.ifnet(fused) if self.ifnet is not None else None)


class StageRun:
    """The models, optimiser and data stream of one training stage (``dist``: this rank's place)."""

    def __init__(
        self,
        config: TrainConfig,
        data: PairDataset,
        device: torch.device,
        init: FNet | None,
        dist: Distributed,
    ) -> None:
        self.config, self.device, self.dist = config, device, dist
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
        self.optimizer = torch.optim.Adam(params, lr=config.lr, fused=device.type == "cuda")
        self.memory_format = fmt
        self.local_batch = dist.local_batch(config.batch_size)
        shard = dist.shard(config.batch_size)
        if config.loader == "device" and isinstance(data, PairedImageDataset | DevicePairs):
            pairs = data if isinstance(data, DevicePairs) else DevicePairs(data, device)
            self.batches: HostBatches | DeviceBatches = DeviceBatches(
                pairs, config.batch_size, self.generator, shard
            )
        else:
            self.batches = HostBatches(data, config.batch_size, self.generator, shard)
        model: nn.Module = _Pipeline(self.fnet, self.ifnet)
        if dist.active:
            ids = [device.index] if device.type == "cuda" else None
            model = nn.parallel.DistributedDataParallel(model, device_ids=ids, gradient_as_bucket_view=True)
        self.model = torch.compile(model) if config.compile_model else model
        self.first_loss: float | None = None  # the divergence test's reference (EXPLOSION_FACTOR)
        self.steps_done = 0
        self.names: list[str] = []

    @property
    def nets(self) -> list[nn.Module]:
        return [self.fnet] if self.ifnet is None else [self.fnet, self.ifnet]

    def result(self, step: int) -> dict[str, Any]:
        """The stage's result (``stage{1,2}.pt``): FNet's weights and EMA, IFNet's in stage I."""
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

    def state(self, step: int, elapsed: float) -> dict[str, Any]:
        """The resumable checkpoint: the result, Adam, every RNG (the crop generator rewound to the
        batches used so far), the time spent and the divergence test's reference."""
        self.batches.rewind()
        return {
            "ifnet": None,
            **self.result(step),
            "optimizer": self.optimizer.state_dict(),
            "rng": capture_rng(self.generator),
            "elapsed_s": elapsed,
            "first_loss": self.first_loss,
        }

    def load(self, saved: dict[str, Any], path: Any) -> None:
        load_state_dict_strict(self.fnet, saved["model"], source=f"{path} (model)")
        if self.ifnet is not None:
            load_state_dict_strict(self.ifnet, saved["ifnet"], source=f"{path} (ifnet)")
        self.ema.load_state_dict(saved["ema"])
        self.optimizer.load_state_dict(saved["optimizer"])
        fused = self.device.type == "cuda"
        for group in self.optimizer.param_groups:  # the lr may change on resume (RESUMABLE_FIELDS)
            group["lr"] = self.config.lr
            group["fused"] = fused  # this device's Adam, not the checkpoint's (fused steps live on the GPU)
            for param in group["params"]:
                state = self.optimizer.state.get(param, {})
                if "step" in state:
                    where = param.device if fused else torch.device("cpu")
                    state["step"] = state["step"].to(where, torch.float32)
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

    def _check_loss(self, value: float, step: int, applied: bool) -> None:
        """Raise :class:`DivergenceError` for a NaN / Inf loss or one above ``EXPLOSION_FACTOR`` times the
        first loss; the stage's first positive loss is the reference (kept in the checkpoint)."""
        where = f"stage {self.config.stage} diverged at step {step}"
        fate = (
            f"found at the next host synchronisation (host_sync='log'), after {self.steps_done - step + 1} "
            "update(s) had been applied; no checkpoint was written since"
            if applied
            else "that update was not applied"
        )
        if not math.isfinite(value):
            raise DivergenceError(f"{where}: the loss is {value}; {fate}.")
        if self.first_loss is not None and value > EXPLOSION_FACTOR * self.first_loss:
            raise DivergenceError(
                f"{where}: the loss is {value:.4g}, more than {EXPLOSION_FACTOR:g} times its first value "
                f"{self.first_loss:.4g}; {fate}."
            )
        if self.first_loss is None and value > 0:
            self.first_loss = value

    def collect(
        self, pending: list[Tensor], stop: bool, applied: bool
    ) -> tuple[list[dict[str, float]], bool]:
        """The loss values of the ``pending`` steps (averaged over the ranks) as dicts, checked for
        divergence in order, and whether any rank asked to stop (Ctrl-C): one host synchronisation.
        ``applied``: whether the last pending step's update was already applied."""
        flat = torch.cat([torch.stack(pending).flatten(), torch.tensor([float(stop)], device=self.device)])
        values = self.dist.sum_(flat).tolist()
        width = len(self.names)
        first = self.steps_done - len(pending) + (1 if applied else 2)
        rows = []
        for i in range(len(pending)):
            row = dict(zip(self.names, values[i * width : (i + 1) * width], strict=True))
            row = {k: v / self.dist.world_size for k, v in row.items()}
            self._check_loss(row["loss"], first + i, applied)
            rows.append(row)
        return rows, values[-1] > 0

    def step(self, stop: bool = False) -> tuple[Tensor, list[dict[str, float]] | None, bool]:
        """One optimiser step. Returns the loss values as a device tensor and, under
        ``host_sync="step"``, the collected row (checked before the update) and the agreed stop flag."""
        cfg = self.config
        batch = self.batches.next()
        check_batch(batch, cfg, self.local_batch)
        a, b = (
            batch[k]
            .to(self.device, torch.float32, non_blocking=True)
            .contiguous(memory_format=self.memory_format)
            for k in ("a", "b")
        )
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
            fused, recs = self.model(a, b)
        loss: LossOutput
        if recs is not None:
            loss = reconstruction_loss(recs[0].float(), recs[1].float(), a, b, cfg.w_rec_int, cfg.w_rec_grad)
        else:
            mean = self.dist.batch_mean if self.dist.active else None
            loss = fusion_loss(fused.float(), a, b, cfg.w_int, cfg.w_grad, cfg.w_ssim, mean)
        self.optimizer.zero_grad(set_to_none=True)
        with warnings.catch_warnings():
            # A one-channel weight (K, 1, k, k) has two stride layouts for the same memory; DDP's
            # bucket check compares strides literally and warns about channels_last ones.
            warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
            loss.total.backward()
        self.names = loss.names
        values = loss.as_tensor()
        rows, agreed = None, False
        if cfg.host_sync == "step":
            rows, agreed = self.collect([values], stop, applied=False)
        self.optimizer.step()
        self.ema.update(self.fnet)
        self.steps_done += 1
        return values, rows, agreed
