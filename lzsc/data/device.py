"""Training pairs resident on the accelerator: decoded once, cropped and transformed there.

:class:`PairedImageDataset` crops on the host from numpy arrays and hands every batch to the
device; at the paper's scale on a GPU that copy, and the Python loop over the batch, cost more than
the step. :class:`DevicePairs` decodes every pair once into one uint8 tensor on the device
(N, 2, H_max, W_max; a smaller image sits in the top-left corner, and no crop reaches past it) and
cuts a whole batch with one gather: crop window and dihedral transform together, through the index
grids of :func:`~lzsc.data.transforms.dihedral_grids`.

The random part of a batch (pair index, top, left, dihedral index per sample) is drawn on the CPU
generator by :func:`~lzsc.data.transforms.draw_batch`, exactly as the host loader draws it, so a
seed gives the same crops on either loader (tested) and a run may switch loader on resume.
:class:`DeviceBatches` draws those rows ``chunk`` steps ahead and copies them to the device once per
chunk, so a step makes no host-device copy; :meth:`DeviceBatches.rewind` returns the generator to the
state after the batches actually used, which is what a checkpoint stores.
Introduced in ``notebooks/06_train_stage1.ipynb``; used by the ``paper`` profile (``loader="device"``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from .pairs import PairedImageDataset
from .transforms import dihedral_grids, draw_batch

__all__ = ["DeviceBatches", "DevicePairs"]


class DevicePairs:
    """Every pair of ``dataset`` as one uint8 tensor on ``device``, served as ``dataset``'s crops.

    ``sample_batch(batch_size, generator, shard)`` returns what
    :meth:`PairedImageDataset.sample_batch` returns for the same generator state (``"a"``, ``"b"``
    float32 (B, 1, p, p) in [0, 1], ``"index"``), bitwise, but on ``device``.
    """

    def __init__(self, dataset: PairedImageDataset, device: torch.device | str = "cpu") -> None:
        if not isinstance(dataset, PairedImageDataset):
            raise TypeError(
                f"DevicePairs needs a PairedImageDataset (image pairs), got {type(dataset).__name__}; "
                "other data sets train with the host loader (loader='host')"
            )
        self.device, self.patch, self.augment = torch.device(device), dataset.patch, dataset.augment
        self.sizes = [dataset.size(i) for i in range(len(dataset))]
        height = max(h for h, _ in self.sizes)
        width = max(w for _, w in self.sizes)
        images = torch.zeros(len(self.sizes), 2, height, width, dtype=torch.uint8)
        for i, (h, w) in enumerate(self.sizes):
            a, b = dataset.load(i)
            images[i, 0, :h, :w] = torch.tensor(a)
            images[i, 1, :h, :w] = torch.tensor(b)
        self.images = images.to(self.device)
        rows, cols = dihedral_grids(self.patch)
        if not self.augment:
            rows, cols = rows[:1].expand(8, -1, -1), cols[:1].expand(8, -1, -1)
        self.rows, self.cols = rows.to(self.device), cols.to(self.device)
        # grey level -> [0, 1] as the host loader computes it (numpy's correctly rounded x / 255); CUDA's
        # division by a scalar multiplies by 1/255, which differs in the last bit for 126 of 256 levels
        self.levels = torch.from_numpy(np.arange(256, dtype=np.float32) / np.float32(255.0)).to(self.device)

    def __len__(self) -> int:
        return len(self.sizes)

    def __repr__(self) -> str:
        n, _, h, w = self.images.shape
        return f"DevicePairs({n} pairs in a {h}x{w} uint8 tensor on {self.device}, patch={self.patch})"

    def draw(self, batch_size: int, generator: torch.Generator) -> Tensor:
        """The batch's (index, top, left, k) rows, on the CPU (:func:`~lzsc.data.transforms.draw_batch`)."""
        return draw_batch(self.sizes, batch_size, self.patch, generator)

    def crop(self, rows: Tensor) -> dict[str, Tensor]:
        """The batch of (index, top, left, k) ``rows`` (on any device), cut on :attr:`device`."""
        rows = rows.to(self.device)
        index, top, left, k = rows.unbind(1)
        r = top[:, None, None] + self.rows[k]
        c = left[:, None, None] + self.cols[k]
        i = index[:, None, None]
        a = self.levels[self.images[i, 0, r, c][:, None].long()]
        b = self.levels[self.images[i, 1, r, c][:, None].long()]
        return {"a": a, "b": b, "index": index}

    def sample_batch(
        self, batch_size: int, generator: torch.Generator, shard: slice | None = None
    ) -> dict[str, Tensor]:
        """A batch as :meth:`PairedImageDataset.sample_batch` draws it (``shard``: one rank's slice)."""
        rows = self.draw(batch_size, generator)
        return self.crop(rows if shard is None else rows[shard])


class DeviceBatches:
    """Consecutive batches of :class:`DevicePairs`, the random rows drawn ``chunk`` steps ahead.

    ``next()`` returns the next batch; every ``chunk`` steps it draws the rows of the next ``chunk``
    batches from ``generator`` (the same draws, in the same order, as ``chunk`` calls of
    ``sample_batch``) and copies them to the device at once. :meth:`rewind` sets ``generator`` back to
    its state after the batches returned so far and forgets the rows drawn ahead.
    """

    def __init__(
        self,
        pairs: DevicePairs,
        batch_size: int,
        generator: torch.Generator,
        shard: slice | None = None,
        chunk: int = 256,
    ) -> None:
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1 step, got {chunk}")
        self.pairs, self.batch_size, self.generator = pairs, batch_size, generator
        self.shard, self.chunk = shard, chunk
        self._rows: Tensor | None = None
        self._states: list[Tensor] = []
        self._used = 0

    def _draw_ahead(self) -> None:
        states, rows = [], []
        for _ in range(self.chunk):
            states.append(self.generator.get_state())
            drawn = self.pairs.draw(self.batch_size, self.generator)
            rows.append(drawn if self.shard is None else drawn[self.shard])
        states.append(self.generator.get_state())
        stacked = torch.stack(rows)
        if self.pairs.device.type == "cuda":
            stacked = stacked.pin_memory()
        self._rows = stacked.to(self.pairs.device, non_blocking=True)
        self._states, self._used = states, 0

    def next(self) -> dict[str, Any]:
        """The next batch (on the device)."""
        if self._rows is None or self._used == self.chunk:
            self._draw_ahead()
        assert self._rows is not None
        batch = self.pairs.crop(self._rows[self._used])
        self._used += 1
        return batch

    def rewind(self) -> None:
        """Set the generator to its state after the batches returned so far; drop the rows drawn ahead."""
        if self._rows is not None:
            self.generator.set_state(self._states[self._used])
        self._rows, self._states, self._used = None, [], 0
