"""Synthetic pairs with ground truth for the multi-modal CSC model (paper eq. 7).

Used when no data root is set (training falls back to it) and by ``notebooks/05_fnet_ifnet.ipynb``
to score how well FNet separates common from unique content. Two kinds:

- ``kind="codes"``: the model itself. Four random convolutional dictionaries D_u1, D_u2, D_c1,
  D_c2 (K unit-norm k x k filters each, :class:`lzsc.operators.ConvDictionary` convention) and
  Bernoulli-Gaussian codes u1, u2, c (each entry non-zero with probability ``density``, then
  standard normal) give the raw sources ``D_u1 u1 + D_c1 c`` and ``D_u2 u2 + D_c2 c``. Each source
  is then mapped affinely onto exactly [0, 1]: ``a = scale_a * (D_u1 u1 + D_c1 c) + offset_a``, and
  the ground-truth parts carry the same map: ``unique_a = scale_a * D_u1 u1``,
  ``common_a = scale_a * D_c1 c``, so ``a = unique_a + common_a + offset_a``.
- ``kind="image"``: an image-like variant on a black background. Common content: 3-6 random
  rectangles / ellipses of grey level 0.15-0.5 (later shapes cover earlier ones), present in both
  sources. Unique to A (infrared): 2-4 smooth hot blobs ``amp (1 - r^2 / R^2)^2`` (amp 0.3-0.5,
  union by max). Unique to B (visible): 1-2 regions of sinusoidal grating texture (amplitude
  0.2-0.45, period 3-8 px). ``a = common + unique_a`` and ``b = common + unique_b`` exactly, in
  [0, 1] without rescaling (scale 1, offset 0).

Everything is computed in float64 from ``torch.Generator`` streams and returned as float32 images;
the codes, dictionaries and scale/offset stay float64. A data set is fully determined by its
``seed``: dictionaries use stream (seed, 0), test pair i stream (seed, 1, i).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..operators import ConvDictionary
from .transforms import seeded_generator

__all__ = ["SYNTHETIC_KINDS", "SyntheticMCSC", "SyntheticPair", "synthetic_pair"]

SYNTHETIC_KINDS = ("codes", "image")
_DICTIONARIES, _PAIRS, _ITEMS = 0, 1, 2  # seed-domain tags
DICTIONARY_NAMES = ("D_u1", "D_u2", "D_c1", "D_c2")


@dataclass
class SyntheticPair:
    """A batch of N synthetic pairs with ground truth; every image tensor is (N, 1, H, W) float32.

    ``a == unique_a + common_a + offset_a`` and ``b == unique_b + common_b + offset_b`` up to
    float32 rounding. For ``kind="codes"``, ``codes`` holds float64 u1, u2, c of shape (N, K, H, W)
    and ``a == scale_a * (D_u1 u1 + D_c1 c) + offset_a`` (scale/offset float64 (N, 1, 1, 1));
    ``supports`` are the codes' non-zero masks ("unique_a": u1, "unique_b": u2, "common": c). For
    ``kind="image"``, ``common_a`` and ``common_b`` are the same image and ``supports`` are pixel
    masks (N, 1, H, W): "common" (inside a shape), "edges" (a shape boundary), "unique_a" (inside
    a blob), "unique_b" (inside a texture region).
    """

    kind: str
    a: Tensor
    b: Tensor
    common_a: Tensor
    common_b: Tensor
    unique_a: Tensor
    unique_b: Tensor
    scale_a: Tensor
    offset_a: Tensor
    scale_b: Tensor
    offset_b: Tensor
    supports: dict[str, Tensor]
    codes: dict[str, Tensor] | None = field(default=None)

    @property
    def common(self) -> Tensor:
        """The common content of A (``common_a``; for ``kind="image"`` identical to ``common_b``)."""
        return self.common_a

    def as_batch(self) -> dict[str, Tensor]:
        """``{"a", "b", "common_a", "common_b", "unique_a", "unique_b"}``: the training-batch form."""
        keys = ("a", "b", "common_a", "common_b", "unique_a", "unique_b")
        return {key: getattr(self, key) for key in keys}


def _unit_filters(n_filters: int, kernel_size: int, generator: torch.Generator) -> Tensor:
    filters = torch.randn(1, n_filters, kernel_size, kernel_size, generator=generator, dtype=torch.float64)
    return filters / filters.flatten(2).norm(dim=2)[..., None, None]


def _bernoulli_gaussian(shape: tuple[int, ...], density: float, generator: torch.Generator) -> Tensor:
    """Entries non-zero with probability ``density`` (support drawn first), then standard normal."""
    mask = torch.rand(shape, generator=generator, dtype=torch.float64) < density
    code = torch.zeros(shape, dtype=torch.float64)
    code[mask] = torch.randn(int(mask.sum()), generator=generator, dtype=torch.float64)
    return code


def _synthesize(filters: Tensor, codes: Tensor) -> Tensor:
    """D z for filters (1, K, kh, kw) and sparse codes (N, K, H, W): :class:`ConvDictionary`'s "same"
    convolution, computed by scattering one filter copy per non-zero (cost ~ nnz x kh x kw, in
    chunks of ~1M taps), which is far cheaper than a float64 convolution for sparse codes."""
    n_batch, _, height, width = codes.shape
    k_h, k_w = filters.shape[-2:]
    padded = (height + k_h - 1, width + k_w - 1)  # the full convolution; "same" is its centre
    out = torch.zeros(n_batch * padded[0] * padded[1], dtype=codes.dtype)
    taps_y = torch.arange(k_h)[:, None]
    taps_x = torch.arange(k_w)[None, :]
    nonzero = codes.nonzero()
    chunk = max(1, (1 << 20) // (k_h * k_w))
    for start in range(0, nonzero.shape[0], chunk):
        n, k, i, j = nonzero[start : start + chunk].unbind(1)
        values = codes[n, k, i, j][:, None, None] * filters[0, k]
        rows = i[:, None, None] + taps_y
        cols = j[:, None, None] + taps_x
        flat = (n[:, None, None] * padded[0] + rows) * padded[1] + cols
        out.index_add_(0, flat.reshape(-1), values.reshape(-1))
    full = out.view(n_batch, 1, *padded)
    top, left = (k_h - 1) // 2, (k_w - 1) // 2
    return full[..., top : top + height, left : left + width]


def _unit_range(raw: Tensor) -> tuple[Tensor, Tensor]:
    """Per-sample (scale, offset) mapping ``raw`` (N, 1, H, W) onto [0, 1]; a constant maps to 0."""
    lo = raw.amin(dim=(1, 2, 3), keepdim=True)
    span = raw.amax(dim=(1, 2, 3), keepdim=True) - lo
    scale = torch.where(span > 0, 1.0 / span.clamp_min(1e-300), torch.ones_like(span))
    return scale, -lo * scale


def _uniform(generator: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=generator, dtype=torch.float64))


def _randint(generator: torch.Generator, lo: int, hi: int) -> int:
    """Integer in [lo, hi] inclusive."""
    return int(torch.randint(lo, hi + 1, (1,), generator=generator))


def _shape_mask(
    yy: np.ndarray, xx: np.ndarray, generator: torch.Generator, min_half: float, max_half: float
) -> np.ndarray:
    """A random rotated rectangle or ellipse (half sizes as fractions of the image side)."""
    height, width = yy.shape
    side = min(height, width)
    ellipse = _randint(generator, 0, 1) == 1
    cy, cx = _uniform(generator, 0, height), _uniform(generator, 0, width)
    hy, hx = (max(1.5, side * _uniform(generator, min_half, max_half)) for _ in range(2))
    angle = _uniform(generator, 0, math.pi)
    u = (xx - cx) * math.cos(angle) + (yy - cy) * math.sin(angle)
    v = -(xx - cx) * math.sin(angle) + (yy - cy) * math.cos(angle)
    if ellipse:
        return (u / hx) ** 2 + (v / hy) ** 2 <= 1.0
    return (np.abs(u) <= hx) & (np.abs(v) <= hy)


def _image_sample(height: int, width: int, generator: torch.Generator) -> dict[str, np.ndarray]:
    """One image-like sample: common, unique_a, unique_b and their supports as (H, W) float64 / bool arrays.

    Parameters come from ``generator``; the maps are computed with numpy (single-threaded, cheap).
    """
    yy, xx = np.meshgrid(
        np.arange(height, dtype=np.float64), np.arange(width, dtype=np.float64), indexing="ij"
    )
    side = min(height, width)

    common = np.zeros((height, width))
    for _ in range(_randint(generator, 3, 6)):
        mask = _shape_mask(yy, xx, generator, 0.08, 0.3)
        common[mask] = _uniform(generator, 0.15, 0.5)
    edges = np.zeros((height, width), dtype=bool)
    vertical, horizontal = common[1:, :] != common[:-1, :], common[:, 1:] != common[:, :-1]
    edges[1:, :] |= vertical
    edges[:-1, :] |= vertical
    edges[:, 1:] |= horizontal
    edges[:, :-1] |= horizontal

    unique_a = np.zeros((height, width))
    blobs = np.zeros((height, width), dtype=bool)
    for _ in range(_randint(generator, 2, 4)):
        cy, cx = _uniform(generator, 0, height), _uniform(generator, 0, width)
        radius = max(2.0, side * _uniform(generator, 0.06, 0.15))
        amp = _uniform(generator, 0.3, 0.5)
        r2 = ((yy - cy) ** 2 + (xx - cx) ** 2) / radius**2
        inside = r2 < 1.0
        unique_a = np.maximum(unique_a, np.where(inside, amp * (1.0 - r2) ** 2, 0.0))
        blobs |= inside

    unique_b = np.zeros((height, width))
    regions = np.zeros((height, width), dtype=bool)
    for _ in range(_randint(generator, 1, 2)):
        mask = _shape_mask(yy, xx, generator, 0.1, 0.3)
        period, angle = _uniform(generator, 3.0, 8.0), _uniform(generator, 0, math.pi)
        phase, amp = _uniform(generator, 0, 2 * math.pi), _uniform(generator, 0.2, 0.45)
        wave = np.sin(2 * math.pi * (xx * math.cos(angle) + yy * math.sin(angle)) / period + phase)
        unique_b = np.maximum(unique_b, np.where(mask, amp * (0.5 + 0.5 * wave), 0.0))
        regions |= mask
    return {
        "common": common,
        "unique_a": unique_a,
        "unique_b": unique_b,
        "support_common": common > 0,
        "support_edges": edges,
        "support_unique_a": blobs,
        "support_unique_b": regions,
    }


class SyntheticMCSC(Dataset):
    """Synthetic multi-modal CSC pairs (eq. 7) with exact ground truth; see the module docstring.

    Args:
        size: side of the full-size test pairs of :meth:`pairs` / :meth:`pair`.
        n_filters, kernel_size: K and k of each of the four dictionaries (``kind="codes"``).
        density: probability that a code entry is non-zero (``kind="codes"``).
        seed: determines the dictionaries and every test pair.
        kind: "codes" (the eq. 7 model) or "image" (shapes / hot blobs / texture).
        patch: side of the training items of :meth:`sample_batch` and ``__getitem__`` (default ``size``).
        n_pairs: length of the data set (number of distinct ``__getitem__`` items per epoch).

    Offers the interface of :class:`lzsc.data.PairedImageDataset` used by training:
    ``sample_batch(batch_size, generator)`` and ``__getitem__`` items ``{"a", "b", "name"}``.
    """

    def __init__(
        self,
        size: int = 64,
        n_filters: int = 8,
        kernel_size: int = 7,
        density: float = 0.01,
        seed: int = 0,
        kind: str = "codes",
        patch: int | None = None,
        n_pairs: int = 16,
    ) -> None:
        if kind not in SYNTHETIC_KINDS:
            raise ValueError(f"unknown kind {kind!r}; choose one of {SYNTHETIC_KINDS}")
        if size < 1 or (patch is not None and patch < 1) or n_pairs < 1:
            raise ValueError(f"size, patch and n_pairs must be positive, got {size}, {patch}, {n_pairs}")
        if not 0.0 <= density <= 1.0:
            raise ValueError(f"density is a probability in [0, 1], got {density}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(
                f"kernel_size must be a positive odd integer ('same' padding), got {kernel_size}"
            )
        self.size, self.n_filters, self.kernel_size, self.density = size, n_filters, kernel_size, density
        self.seed, self.kind, self.n_pairs = seed, kind, n_pairs
        self.patch = size if patch is None else patch
        self.epoch = 0
        self.dictionaries: dict[str, ConvDictionary] = {}
        if kind == "codes":
            gen = seeded_generator(seed, _DICTIONARIES)
            self.dictionaries = {
                name: ConvDictionary(_unit_filters(n_filters, kernel_size, gen)) for name in DICTIONARY_NAMES
            }

    def __repr__(self) -> str:
        return (
            f"SyntheticMCSC(kind={self.kind!r}, size={self.size}, patch={self.patch}, "
            f"n_filters={self.n_filters}, kernel_size={self.kernel_size}, density={self.density}, "
            f"seed={self.seed})"
        )

    def __len__(self) -> int:
        return self.n_pairs

    def generate(self, batch: int, height: int, width: int, generator: torch.Generator) -> SyntheticPair:
        """``batch`` fresh pairs of size (height, width) drawn from ``generator``; dictionaries stay fixed."""
        if self.kind == "codes":
            return self._generate_codes(batch, height, width, generator)
        return self._generate_image(batch, height, width, generator)

    def _generate_codes(
        self, batch: int, height: int, width: int, generator: torch.Generator
    ) -> SyntheticPair:
        shape = (batch, self.n_filters, height, width)
        codes = {name: _bernoulli_gaussian(shape, self.density, generator) for name in ("u1", "u2", "c")}
        d = {name: dictionary.weight for name, dictionary in self.dictionaries.items()}
        parts = {
            "unique_a": _synthesize(d["D_u1"], codes["u1"]),
            "common_a": _synthesize(d["D_c1"], codes["c"]),
            "unique_b": _synthesize(d["D_u2"], codes["u2"]),
            "common_b": _synthesize(d["D_c2"], codes["c"]),
        }
        scale_a, offset_a = _unit_range(parts["unique_a"] + parts["common_a"])
        scale_b, offset_b = _unit_range(parts["unique_b"] + parts["common_b"])
        for key, scale in (
            ("unique_a", scale_a),
            ("common_a", scale_a),
            ("unique_b", scale_b),
            ("common_b", scale_b),
        ):
            parts[key] = parts[key] * scale
        a = parts["unique_a"] + parts["common_a"] + offset_a
        b = parts["unique_b"] + parts["common_b"] + offset_b
        supports = {"unique_a": codes["u1"] != 0, "unique_b": codes["u2"] != 0, "common": codes["c"] != 0}
        return SyntheticPair(
            "codes",
            a.float(),
            b.float(),
            *(parts[key].float() for key in ("common_a", "common_b", "unique_a", "unique_b")),
            scale_a,
            offset_a,
            scale_b,
            offset_b,
            supports,
            codes,
        )

    def _generate_image(
        self, batch: int, height: int, width: int, generator: torch.Generator
    ) -> SyntheticPair:
        samples = [_image_sample(height, width, generator) for _ in range(batch)]
        stacked = {key: torch.from_numpy(np.stack([s[key] for s in samples])[:, None]) for key in samples[0]}
        common, unique_a, unique_b = (stacked[key].float() for key in ("common", "unique_a", "unique_b"))
        ones, zeros = (
            torch.ones(batch, 1, 1, 1, dtype=torch.float64),
            torch.zeros(batch, 1, 1, 1, dtype=torch.float64),
        )
        supports = {
            key[len("support_") :]: value for key, value in stacked.items() if key.startswith("support_")
        }
        return SyntheticPair(
            "image",
            common + unique_a,
            common + unique_b,
            common,
            common.clone(),
            unique_a,
            unique_b,
            ones,
            zeros,
            ones.clone(),
            zeros.clone(),
            supports,
        )

    def pair(self, index: int) -> SyntheticPair:
        """Full-size test pair ``index`` (N = 1), drawn from stream (seed, 1, index)."""
        return self.generate(1, self.size, self.size, seeded_generator(self.seed, _PAIRS, index))

    def pairs(self, n: int) -> list[SyntheticPair]:
        """The first ``n`` full-size test pairs (``pair(0) ... pair(n - 1)``)."""
        return [self.pair(i) for i in range(n)]

    def sample_batch(self, batch_size: int, generator: torch.Generator) -> dict[str, Any]:
        """Fresh patch-sized pairs drawn only from ``generator``: ``{"a", "b"}`` (B, 1, p, p) float32 and the
        ground-truth parts ``common_a``, ``common_b``, ``unique_a``, ``unique_b`` of the same shape."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        return self.generate(batch_size, self.patch, self.patch, generator).as_batch()

    def set_epoch(self, epoch: int) -> None:
        """Epoch used by :meth:`__getitem__` to seed its per-item generator."""
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> dict[str, Any]:
        """Patch-sized item ``{"a": (1, p, p), "b": (1, p, p), "name"}`` seeded by (seed, epoch, index)."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        index %= len(self)
        sample = self.generate(
            1, self.patch, self.patch, seeded_generator(self.seed, _ITEMS, self.epoch, index)
        )
        return {"a": sample.a[0], "b": sample.b[0], "name": f"synthetic_{index:04d}"}


def synthetic_pair(
    size: int = 128, seed: int = 0, kind: str = "image", **kwargs: Any
) -> tuple[Tensor, Tensor]:
    """A synthetic (a, b) pair of (1, 1, size, size) float32 tensors in [0, 1], for demos and notebooks.

    Keyword arguments go to :class:`SyntheticMCSC` (e.g. ``density``, ``n_filters`` for ``kind="codes"``).
    """
    sample = SyntheticMCSC(size=size, seed=seed, kind=kind, **kwargs).pair(0)
    return sample.a, sample.b
