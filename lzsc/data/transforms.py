"""Augmentations of training pairs: one random window shared by A and B, the 8 dihedral transforms, luma.

The release trains on one random 128 x 128 crop per pair (the same window in A and B) followed by
one of the 8 flips/rotations applied to both; B is the Y channel of the visible image. All
randomness comes from an explicit ``torch.Generator``, so a run is reproducible and resumable.
Introduced in ``notebooks/06_train_stage1.ipynb``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import kornia
import numpy as np
import torch
from torch import Tensor

__all__ = [
    "DIHEDRAL_NAMES",
    "derive_seed",
    "dihedral",
    "dihedral_compose",
    "dihedral_grids",
    "dihedral_inverse",
    "draw_batch",
    "draw_crop",
    "draw_crops",
    "random_crop_pair",
    "random_window",
    "seeded_generator",
    "to_luma",
]

ArrayT = TypeVar("ArrayT", Tensor, np.ndarray)

#: What ``dihedral(x, k)`` does, for k = 0..7 (rotations are counter-clockwise, as ``torch.rot90``).
DIHEDRAL_NAMES = (
    "identity",
    "rot90",
    "rot180",
    "rot270",
    "flip",
    "flip+rot90",
    "flip+rot180",
    "flip+rot270",
)


def _check_k(k: int) -> int:
    if not 0 <= int(k) < 8 or int(k) != k:
        raise ValueError(f"dihedral index k must be an integer in 0..7, got {k!r}")
    return int(k)


def dihedral(x: ArrayT, k: int) -> ArrayT:
    """The k-th element of the dihedral group D4 on the last two axes of ``x`` (tensor or array).

    ``k = 4 f + r``: first mirror left-right if ``f == 1``, then rotate by ``r`` x 90 degrees
    counter-clockwise. k = 0 is the identity; ``dihedral(dihedral(x, j), k) ==
    dihedral(x, dihedral_compose(j, k))`` and ``dihedral_inverse`` undoes a transform. Works on any
    (..., H, W) shape; rotations by 90 / 270 degrees swap H and W. Returns a view where possible.
    """
    k = _check_k(k)
    flip, rot = divmod(k, 4)
    if isinstance(x, Tensor):
        y = x.flip(-1) if flip else x
        return torch.rot90(y, rot, dims=(-2, -1)) if rot else y
    if isinstance(x, np.ndarray):
        y = x[..., ::-1] if flip else x
        return np.rot90(y, rot, axes=(-2, -1)) if rot else y
    raise TypeError(f"dihedral needs a torch.Tensor or numpy array, got {type(x).__name__}")


def dihedral_inverse(k: int) -> int:
    """Index of the inverse transform: a rotation's opposite rotation; reflections are their own inverse."""
    k = _check_k(k)
    return k if k >= 4 else (4 - k) % 4


def dihedral_compose(j: int, k: int) -> int:
    """Index m with ``dihedral(dihedral(x, j), k) == dihedral(x, m)`` (apply j first, then k)."""
    fj, rj = divmod(_check_k(j), 4)
    fk, rk = divmod(_check_k(k), 4)
    # R^rk F^fk R^rj F^fj = R^(rk + (-1)^fk rj) F^(fk + fj), since F R F = R^-1.
    rot = (rk + (-rj if fk else rj)) % 4
    return 4 * ((fj + fk) % 2) + rot


def random_window(
    height: int, width: int, patch: int, generator: torch.Generator | None = None
) -> tuple[int, int]:
    """Top-left corner (top, left) of a uniformly random ``patch`` x ``patch`` window in an H x W image.

    Draws exactly two integers from ``generator`` (top first). Raises ``ValueError`` if the image
    is smaller than the patch: such images are rejected, not padded.
    """
    if patch < 1:
        raise ValueError(f"patch must be a positive integer, got {patch}")
    if height < patch or width < patch:
        raise ValueError(
            f"image of {width}x{height} (W x H) is smaller than the {patch}x{patch} patch; "
            "use a smaller patch or drop the image"
        )
    top = int(torch.randint(height - patch + 1, (1,), generator=generator))
    left = int(torch.randint(width - patch + 1, (1,), generator=generator))
    return top, left


def draw_crop(height: int, width: int, patch: int, generator: torch.Generator) -> tuple[int, int, int]:
    """(top, left, k) of one training crop: :func:`random_window`'s two draws, then the dihedral index
    ``k`` (a third draw, made whether or not the crop is transformed)."""
    top, left = random_window(height, width, patch, generator)
    return top, left, int(torch.randint(8, (1,), generator=generator))


def draw_batch(
    sizes: Sequence[tuple[int, int]], batch_size: int, patch: int, generator: torch.Generator
) -> Tensor:
    """The random part of a training batch, as a (batch_size, 4) int64 tensor of rows
    (pair index, top, left, k), drawn only from ``generator``.

    ``sizes[i]`` is pair i's (H, W). The pair indices are drawn first, uniformly *with replacement*
    (one ``torch.randint``), then each sample's :func:`draw_crop` in order. Both training loaders
    (:class:`~lzsc.data.PairedImageDataset` on the host, :class:`~lzsc.data.DevicePairs` on the
    accelerator) crop from these rows, so a seed gives the same crops on either.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    indices = torch.randint(len(sizes), (batch_size,), generator=generator).tolist()
    return draw_crops(sizes, indices, patch, generator)


def draw_crops(
    sizes: Sequence[tuple[int, int]], indices: Sequence[int], patch: int, generator: torch.Generator
) -> Tensor:
    """(index, top, left, k) rows for the given pair ``indices``: each one's :func:`draw_crop`, in order."""
    return torch.tensor([(i, *draw_crop(*sizes[i], patch, generator)) for i in indices], dtype=torch.long)


def dihedral_grids(patch: int) -> tuple[Tensor, Tensor]:
    """Source coordinates of the 8 dihedral transforms of a ``patch`` x ``patch`` window: int64 tensors
    ``rows, cols`` of shape (8, patch, patch) with ``dihedral(x, k)[..., i, j] == x[..., rows[k, i, j],
    cols[k, i, j]]``, so a crop and its transform are one gather."""
    if patch < 1:
        raise ValueError(f"patch must be a positive integer, got {patch}")
    grid = torch.arange(patch)
    row_grid, col_grid = grid[:, None].expand(patch, patch), grid[None, :].expand(patch, patch)
    rows = torch.stack([dihedral(row_grid, k) for k in range(8)])
    cols = torch.stack([dihedral(col_grid, k) for k in range(8)])
    return rows.contiguous(), cols.contiguous()


def random_crop_pair(
    a: ArrayT, b: ArrayT, patch: int, generator: torch.Generator | None = None
) -> tuple[ArrayT, ArrayT]:
    """Crop the same random ``patch`` x ``patch`` window from A and B (tensors or arrays, (..., H, W)).

    The two images must have equal H and W. Returns views into the inputs.
    """
    if a.shape[-2:] != b.shape[-2:]:
        raise ValueError(
            f"A and B differ in size: {tuple(a.shape[-2:])} vs {tuple(b.shape[-2:])} (H, W); "
            "a pair must be registered to a common size"
        )
    top, left = random_window(a.shape[-2], a.shape[-1], patch, generator)
    window = (..., slice(top, top + patch), slice(left, left + patch))
    return a[window], b[window]


def to_luma(rgb: ArrayT) -> ArrayT:
    """Y channel of kornia's full-range YCbCr (Y = 0.299 R + 0.587 G + 0.114 B).

    - float tensor (..., 3, H, W) in [0, 1] -> tensor (..., 1, H, W);
    - uint8 array (H, W, 3) -> uint8 array (H, W), rounded; a grey (H, W) array is returned unchanged.
    """
    if isinstance(rgb, Tensor):
        if rgb.ndim < 3 or rgb.shape[-3] != 3:
            raise ValueError(f"to_luma needs an RGB tensor (..., 3, H, W), got shape {tuple(rgb.shape)}")
        if not torch.is_floating_point(rgb):
            raise TypeError(f"to_luma needs a float tensor in [0, 1], got {rgb.dtype}; divide by 255 first")
        return kornia.color.rgb_to_ycbcr(rgb)[..., :1, :, :]
    if isinstance(rgb, np.ndarray):
        if rgb.dtype != np.uint8:
            raise TypeError(f"to_luma needs a uint8 array, got {rgb.dtype}")
        if rgb.ndim == 2:
            return rgb
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"to_luma needs an (H, W, 3) RGB array, got shape {rgb.shape}")
        t = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float() / 255.0
        y = to_luma(t)[0]
        return (y.clamp(0, 1) * 255.0).round().to(torch.uint8).numpy()
    raise TypeError(f"to_luma needs a torch.Tensor or numpy array, got {type(rgb).__name__}")


def derive_seed(*keys: int) -> int:
    """A 63-bit seed that depends only on the integers ``keys`` (e.g. (seed, epoch, index)).

    Uses numpy's ``SeedSequence`` hashing, so nearby keys give unrelated streams; pass the result
    to ``torch.Generator().manual_seed``.
    """
    if any(int(key) != key or key < 0 for key in keys):
        raise ValueError(f"seed keys must be non-negative integers, got {keys}")
    lo, hi = np.random.SeedSequence([int(key) for key in keys]).generate_state(2, np.uint32)
    return ((int(hi) << 32) | int(lo)) & ((1 << 63) - 1)


def seeded_generator(*keys: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with :func:`derive_seed` of ``keys``."""
    return torch.Generator().manual_seed(derive_seed(*keys))
