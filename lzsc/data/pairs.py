"""Paired training images: matching by name, exclusion, in-memory caching and random patches.

Training data is introduced in ``notebooks/06_train_stage1.ipynb``. Following the release, source A
(infrared / MRI) is read as 8-bit grey with OpenCV's weights (:mod:`lzsc.io`) and source B
(visible / CT / PET / SPECT) as the Y channel of kornia's YCbCr when it is RGB (``luma="opencv"``
reads it like A). Both are cached as uint8, and each training item is one random ``patch`` x
``patch`` window (the same in A and B) followed by one of the 8 dihedral transforms.

Which folders hold A and B, and which test pairs to exclude, is configuration handled in
:mod:`lzsc.data.sets` (:func:`~lzsc.data.sets.training_dataset`); any two folders work here directly.

Randomness and resuming. :meth:`PairedImageDataset.sample_batch` draws the pair indices *with
replacement* (uniformly, independently) and then, for each sample in order, the window's top and
left and the dihedral index k, all from the one generator passed in. Saving
``generator.get_state()`` with a checkpoint therefore makes a run exactly resumable.
:meth:`PairedImageDataset.step_batch` is the stateless alternative: epoch-wise permutations
(every pair once per epoch, like a shuffled DataLoader) with batch ``step`` a pure function of
``(seed, step)``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from ..io import ImageError, pair_files, read_image, rgb_to_gray_u8, to_tensor
from .transforms import dihedral, draw_batch, draw_crop, draw_crops, seeded_generator, to_luma

__all__ = ["LUMA_MODES", "PairedImageDataset", "load_pair_u8", "match_pairs", "split_excluded"]

LUMA_MODES = ("kornia", "opencv")
_PERMUTATION, _STEP_CROPS, _ITEM = 1, 2, 3  # seed-domain tags, so derived streams never coincide


def _exclusion_keys(exclude: Iterable[str | Path]) -> set[str]:
    if isinstance(exclude, (str, Path)):
        raise TypeError(
            f"exclude must be an iterable of names, not the single name {exclude!r}; wrap it in a list"
        )
    keys: set[str] = set()
    for item in exclude:
        path = Path(item)
        keys.update((path.name, path.stem))
    return keys


def match_pairs(
    a_dir: str | Path, b_dir: str | Path, exclude: Iterable[str | Path] = (), strict: bool = True
) -> tuple[list[tuple[str, Path, Path]], list[str]]:
    """Pairs (name, path_a, path_b) of two folders matched by file name, minus ``exclude``.

    ``exclude`` holds file names or stems; a pair is dropped when its name or stem is listed (so
    ``"FLIR_00211.jpg"`` also drops a ``FLIR_00211.png``). Files without a partner raise a
    ``ValueError`` listing them all, or, with ``strict=False``, are skipped with a warning.
    Returns (pairs, names of the excluded pairs).
    """
    pairs, problems = pair_files(a_dir, b_dir)
    if problems:
        listing = "\n  ".join(problems)
        if strict:
            raise ValueError(
                f"{len(problems)} unmatched file(s) between {a_dir} and {b_dir}:\n  {listing}\n"
                "Rename or remove them, or pass strict=False to skip them."
            )
        warnings.warn(f"skipping {len(problems)} unmatched file(s):\n  {listing}", stacklevel=2)
    return split_excluded(pairs, exclude)


def split_excluded(
    pairs: list[tuple[str, Path, Path]], exclude: Iterable[str | Path]
) -> tuple[list[tuple[str, Path, Path]], list[str]]:
    """(pairs whose name and stem are not in ``exclude``, names of the others)."""
    keys = _exclusion_keys(exclude)
    dropped = {name for name, _, _ in pairs if name in keys or Path(name).stem in keys}
    return [p for p in pairs if p[0] not in dropped], sorted(dropped)


def load_pair_u8(
    path_a: str | Path, path_b: str | Path, luma: str = "kornia"
) -> tuple[np.ndarray, np.ndarray]:
    """Read a pair as uint8 (H, W) arrays: A as OpenCV grey, B as kornia Y (``luma="kornia"``) or OpenCV grey.

    Raises :class:`lzsc.io.ImageError` naming the file for unreadable / 16-bit / alpha images and
    naming both files when the sizes differ.
    """
    if luma not in LUMA_MODES:
        raise ValueError(f"unknown luma {luma!r}; choose one of {LUMA_MODES}")
    a = rgb_to_gray_u8(read_image(path_a))
    raw_b = read_image(path_b)
    b = to_luma(raw_b) if luma == "kornia" else rgb_to_gray_u8(raw_b)
    if a.shape != b.shape:
        raise ImageError(
            f"size mismatch: {path_a} is {a.shape[1]}x{a.shape[0]} but {path_b} is {b.shape[1]}x{b.shape[0]} "
            "(W x H); register or crop the pair to a common size, or exclude it"
        )
    return a, b


class _Sizes:
    """The (H, W) of a data set's pairs as a sequence, read on demand (for ``draw_batch``)."""

    def __init__(self, data: PairedImageDataset) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[int, int]:
        return self.data.size(index)


class PairedImageDataset(Dataset):
    """Registered image pairs from two folders, served as random patches for training.

    Args:
        a_dir, b_dir: folders of source A (infrared / MRI) and B (visible / CT / PET / SPECT);
            files are paired by name (:func:`lzsc.io.pair_files`).
        exclude: file names or stems of pairs to drop (e.g. :func:`lzsc.data.test_names`).
        patch: side of the square training patch; images smaller than it raise (no padding).
        luma: how an RGB B becomes grey: "kornia" (Y of YCbCr, the release) or "opencv" (like A).
        cache: keep every decoded pair in memory as uint8 after its first read.
        strict: raise on unmatched files (``False``: warn and skip them).
        augment: apply the random dihedral transform (its index is drawn either way).
        seed: base seed of :meth:`__getitem__` and :meth:`step_batch`.

    Each item is ``{"a": (1, p, p), "b": (1, p, p), "name": str}``, float32 in [0, 1].
    """

    def __init__(
        self,
        a_dir: str | Path,
        b_dir: str | Path,
        exclude: Iterable[str | Path] = (),
        patch: int = 128,
        luma: str = "kornia",
        cache: bool = True,
        strict: bool = True,
        augment: bool = True,
        seed: int = 0,
    ) -> None:
        if luma not in LUMA_MODES:
            raise ValueError(f"unknown luma {luma!r}; choose one of {LUMA_MODES}")
        if int(patch) != patch or patch < 1:
            raise ValueError(f"patch must be a positive integer, got {patch!r}")
        self.a_dir, self.b_dir = Path(a_dir), Path(b_dir)
        self.pairs, self.excluded = match_pairs(self.a_dir, self.b_dir, exclude, strict=strict)
        if not self.pairs:
            raise ValueError(
                f"no image pairs left in {self.a_dir} and {self.b_dir} "
                f"({len(self.excluded)} excluded); check the folders and the exclusion list"
            )
        self.patch, self.luma, self.cache, self.augment, self.seed = int(patch), luma, cache, augment, seed
        self.epoch = 0
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._permutations: dict[tuple[int, int], list[int]] = {}

    def __repr__(self) -> str:
        return (
            f"PairedImageDataset({self.a_dir} + {self.b_dir}: {len(self)} pairs, "
            f"{len(self.excluded)} excluded, patch={self.patch}, luma={self.luma!r}, "
            f"cached={len(self._cache)})"
        )

    def __len__(self) -> int:
        return len(self.pairs)

    @property
    def names(self) -> list[str]:
        """Pair names (A's file names), sorted; index i of the data set is ``names[i]``."""
        return [name for name, _, _ in self.pairs]

    @property
    def cache_bytes(self) -> int:
        """Memory held by the uint8 cache."""
        return sum(a.nbytes + b.nbytes for a, b in self._cache.values())

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Full uint8 (H, W) images of pair ``index`` (cached when enabled), checked against the patch."""
        cached = self._cache.get(index)
        if cached is not None:
            return cached
        _, path_a, path_b = self.pairs[index]
        a, b = load_pair_u8(path_a, path_b, self.luma)
        if min(a.shape) < self.patch:
            raise ImageError(
                f"{path_a} and {path_b} are {a.shape[1]}x{a.shape[0]}, smaller than the "
                f"{self.patch}x{self.patch} patch; use a smaller patch or exclude the pair"
            )
        if self.cache:
            a.setflags(write=False)
            b.setflags(write=False)
            self._cache[index] = (a, b)
        return a, b

    def full_pair(self, index: int) -> tuple[Tensor, Tensor]:
        """Pair ``index`` at full size as (1, 1, H, W) float32 tensors in [0, 1]."""
        a, b = self.load(index)
        return to_tensor(a), to_tensor(b)

    def preload(self, progress: bool = True) -> PairedImageDataset:
        """Read (and cache) every pair now, so that bad files fail before training starts."""
        for index in tqdm(range(len(self)), desc="reading pairs", disable=not progress, leave=False):
            self.load(index)
        return self

    def set_epoch(self, epoch: int) -> None:
        """Epoch used by :meth:`__getitem__` to seed its per-item generator."""
        self.epoch = int(epoch)

    def _crop(self, index: int, top: int, left: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.load(index)
        window = (slice(top, top + self.patch), slice(left, left + self.patch))
        a, b = a[window], b[window]
        if self.augment:
            a, b = dihedral(a, k), dihedral(b, k)
        return a, b

    def size(self, index: int) -> tuple[int, int]:
        """(H, W) of pair ``index`` (read, and cached when enabled)."""
        height, width = self.load(index)[0].shape
        return height, width

    def item(self, index: int, generator: torch.Generator) -> dict[str, Any]:
        """One training item of pair ``index``, its window and dihedral index drawn from ``generator``."""
        a, b = self._crop(index, *draw_crop(*self.size(index), self.patch, generator))
        return {"a": to_tensor(a)[0], "b": to_tensor(b)[0], "name": self.pairs[index][0]}

    def __getitem__(self, index: int) -> dict[str, Any]:
        """Item ``index``, its randomness seeded by (seed, epoch, index): reproducible under a DataLoader."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} pairs")
        index %= len(self)
        return self.item(index, seeded_generator(self.seed, _ITEM, self.epoch, index))

    def _batch(self, crops: Tensor) -> dict[str, Any]:
        """The batch of :func:`~lzsc.data.transforms.draw_batch` rows (index, top, left, k)."""
        pieces = [self._crop(*row) for row in crops.tolist()]
        a = np.stack([p[0] for p in pieces])[:, None].astype(np.float32) / np.float32(255.0)
        b = np.stack([p[1] for p in pieces])[:, None].astype(np.float32) / np.float32(255.0)
        indices = crops[:, 0].tolist()
        return {
            "a": torch.from_numpy(a),
            "b": torch.from_numpy(b),
            "index": torch.tensor(indices, dtype=torch.long),
            "names": [self.pairs[i][0] for i in indices],
        }

    def sample_batch(
        self, batch_size: int, generator: torch.Generator, shard: slice | None = None
    ) -> dict[str, Any]:
        """A training batch drawn only from ``generator``: ``{"a", "b"}`` of shape (B, 1, p, p), plus
        ``"index"`` (B,) and ``"names"``.

        The crops are :func:`~lzsc.data.transforms.draw_batch`'s (pair indices uniformly *with
        replacement*, then each sample's window and dihedral index, in order), so the batch is a pure
        function of the generator's state and saving ``generator.get_state()`` makes training
        resumable. ``shard`` keeps a slice of the batch (one rank's part in data-parallel training):
        the draws are the whole batch's either way, so the shards of all ranks make up the batch.
        """
        crops = draw_batch(_Sizes(self), batch_size, self.patch, generator)
        return self._batch(crops if shard is None else crops[shard])

    def _permutation(self, seed: int, epoch: int) -> list[int]:
        key = (seed, epoch)
        if key not in self._permutations:
            if len(self._permutations) >= 4:
                self._permutations.clear()
            gen = seeded_generator(seed, _PERMUTATION, epoch)
            self._permutations[key] = torch.randperm(len(self), generator=gen).tolist()
        return self._permutations[key]

    def step_batch(self, step: int, batch_size: int, seed: int | None = None) -> dict[str, Any]:
        """Batch number ``step`` of an epoch schedule, a pure function of (seed, step, batch_size).

        Samples ``step * batch_size ...`` of the concatenated per-epoch permutations (each pair once
        per epoch, *without replacement*; a batch may straddle two epochs); windows and dihedral
        indices come from a generator seeded by (seed, step). Resuming needs only ``step``.
        """
        if step < 0 or batch_size < 1:
            raise ValueError(f"need step >= 0 and batch_size >= 1, got step={step}, batch_size={batch_size}")
        seed = self.seed if seed is None else seed
        n = len(self)
        positions = range(step * batch_size, (step + 1) * batch_size)
        indices = [self._permutation(seed, pos // n)[pos % n] for pos in positions]
        generator = seeded_generator(seed, _STEP_CROPS, step)
        return self._batch(draw_crops(_Sizes(self), indices, self.patch, generator))
