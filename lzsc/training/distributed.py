"""Data-parallel training (PyTorch DistributedDataParallel) under ``torchrun``.

``torchrun --nproc_per_node N -m lzsc train ...`` starts N processes with ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK`` (and a rendezvous) in their environment; :func:`context` reads them, joins the
process group (NCCL on CUDA, gloo on CPU) and says which part of each batch is this rank's.

How a data-parallel step equals a single-process one: every rank holds the same crop generator
(same seed, same checkpoint), draws the rows of the *whole* global batch and keeps its own
``batch_size / N`` slice (:meth:`Distributed.shard`), so the ranks' slices are disjoint and make up
the single-process batch. Each rank's loss is a mean over its slice; DDP averages the gradients, and
the mean of equal-sized slices' means is the batch mean, so the update is the single-process one up
to float32 rounding of the all-reduce. Weights, EMA and generator stay equal on every rank; rank 0
alone writes the checkpoint (atomically) and the log, and because the checkpoint holds no per-rank
state it resumes onto any world size. Loss values and the Ctrl-C flag are all-reduced at the host
synchronisation points, so every rank takes the same decision to stop. Each rank reads the
checkpoint and the training pairs itself: on several machines the output folder must be on a file
system they share (on one machine it always is).
Documented in the README ("Training on several GPUs").
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = ["Distributed", "context", "shutdown"]


@dataclass(frozen=True)
class Distributed:
    """This process's place in a data-parallel run (``world_size == 1``: a single process)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        """Rank 0: the process that writes checkpoints, logs and progress."""
        return self.rank == 0

    def shard(self, batch_size: int) -> slice | None:
        """This rank's slice of a global batch (None for a single process)."""
        if not self.active:
            return None
        if batch_size % self.world_size:
            raise ValueError(
                f"batch_size {batch_size} cannot be split evenly over {self.world_size} processes; "
                f"choose a multiple of {self.world_size} (--set batch_size=N) or another --nproc_per_node"
            )
        part = batch_size // self.world_size
        return slice(self.rank * part, (self.rank + 1) * part)

    def local_batch(self, batch_size: int) -> int:
        """The number of samples this rank computes per step."""
        shard = self.shard(batch_size)
        return batch_size if shard is None else shard.stop - shard.start

    def device(self, device: torch.device) -> torch.device:
        """The device of this rank: ``cuda:LOCAL_RANK`` on CUDA, ``device`` otherwise."""
        if self.active and device.type == "cuda":
            return torch.device("cuda", self.local_rank)
        return device

    def sum_(self, values: Tensor) -> Tensor:
        """All-reduce ``values`` in place by summation (nothing for a single process)."""
        if self.active:
            dist.all_reduce(values, op=dist.ReduceOp.SUM)
        return values

    def batch_mean(self, values: Tensor) -> Tensor:
        """The mean over the ranks of per-rank means of equal-sized slices: the global batch's mean."""
        values = values.detach().clone()
        return self.sum_(values) / self.world_size

    def barrier(self) -> None:
        if self.active:
            dist.barrier()


def context(device_type: str = "cpu") -> Distributed:
    """This process's :class:`Distributed`: from an initialised process group, else from torchrun's
    environment (joining the group: NCCL for ``device_type == "cuda"``, gloo otherwise), else a single
    process."""
    if dist.is_available() and dist.is_initialized():
        return Distributed(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed()
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device_type == "cuda":
        torch.cuda.set_device(local)
    dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    return Distributed(dist.get_rank(), dist.get_world_size(), local)


def shutdown() -> None:
    """Leave the process group (if any); the end of ``lzsc train`` under torchrun."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
