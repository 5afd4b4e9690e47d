"""Seeded synthetic sparse-coding problems x = D z_true + noise, for tests and notebooks.

Introduced in ``notebooks/01_l0_vs_l1_sparse_coding.ipynb``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from lzsc.operators import ConvDictionary, DenseDictionary

__all__ = ["random_conv_problem", "random_sparse_problem", "two_atom_problem"]


def _sparse_codes(
    batch: int, shape: tuple[int, ...], k: int, gen: torch.Generator, dtype: torch.dtype
) -> Tensor:
    """``batch`` codes of the given per-sample shape with exactly k standard-Gaussian nonzeros each."""
    m = math.prod(shape)
    if not 1 <= k <= m:
        raise ValueError(f"k must lie in [1, {m}] (entries per code), got {k}")
    idx = torch.rand(batch, m, generator=gen).argsort(dim=-1)[:, :k]
    values = torch.randn(batch, k, generator=gen, dtype=dtype)
    return torch.zeros(batch, m, dtype=dtype).scatter_(-1, idx, values).reshape(batch, *shape)


def _add_noise(x: Tensor, noise: float, gen: torch.Generator) -> Tensor:
    if not (math.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise is a standard deviation and must be a finite number >= 0, got {noise}")
    return x + noise * torch.randn(x.shape, generator=gen, dtype=x.dtype) if noise > 0 else x


def random_sparse_problem(
    n: int,
    m: int,
    k: int,
    batch: int = 1,
    noise: float = 0.0,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> tuple[DenseDictionary, Tensor, Tensor]:
    """A Gaussian dictionary with unit-norm columns and k-sparse codes: returns (D, z_true, x).

    D is (n, m) with i.i.d. N(0, 1) entries, columns rescaled to unit l2 norm; each of the
    ``batch`` codes (shape (batch, m)) has k nonzeros at uniformly random positions with N(0, 1)
    values; x = D z_true + noise * N(0, I) has shape (batch, n). Everything comes from ``seed``.
    """
    if n < 1 or m < 1 or batch < 1:
        raise ValueError(f"n, m and batch must be >= 1, got n={n}, m={m}, batch={batch}")
    gen = torch.Generator().manual_seed(seed)
    D = torch.randn(n, m, generator=gen, dtype=dtype)
    D = D / D.norm(dim=0, keepdim=True)
    z = _sparse_codes(batch, (m,), k, gen, dtype)
    x = _add_noise(z @ D.T, noise, gen)
    return DenseDictionary(D), z, x


def random_conv_problem(
    n_channels: int = 1,
    n_atoms: int = 4,
    kernel_size: int = 9,
    size: int | tuple[int, int] = 128,
    k: int = 8,
    batch: int = 1,
    noise: float = 0.0,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> tuple[ConvDictionary, Tensor, Tensor]:
    """A random convolutional dictionary and spike-train codes: returns (D, z_true, x).

    ``size`` is an int for 1-D signals of length L or (H, W) for images. Filters have shape
    (C, K, k) (or (C, K, k, k)) with N(0, 1) entries, each atom d_k (all its C channels) rescaled
    to unit l2 norm. Each code (shape (batch, K, *size)) has ``k`` N(0, 1) spikes at random
    positions and atoms; x = D z_true + noise * N(0, I) has shape (batch, C, *size).
    """
    spatial = (size,) if isinstance(size, int) else tuple(size)
    if n_channels < 1 or n_atoms < 1 or batch < 1:
        raise ValueError(f"n_channels, n_atoms and batch must be >= 1, got {n_channels}, {n_atoms}, {batch}")
    gen = torch.Generator().manual_seed(seed)
    filters = torch.randn(n_channels, n_atoms, *(kernel_size,) * len(spatial), generator=gen, dtype=dtype)
    dims = [0, *range(2, filters.ndim)]
    filters = filters / filters.pow(2).sum(dim=dims, keepdim=True).sqrt()
    D = ConvDictionary(filters, size=spatial)
    z = _sparse_codes(batch, (n_atoms, *spatial), k, gen, dtype)
    x = _add_noise(D.forward(z), noise, gen)
    return D, z, x


def two_atom_problem(
    coherence: float = 0.9, z_true: tuple[float, float] = (0.8, 0.4), dtype: torch.dtype = torch.float64
) -> tuple[DenseDictionary, Tensor]:
    """Two unit-norm atoms in the plane with inner product ``coherence``, and x = D z_true: (D, x).

    The smallest problem on which a step size and a momentum weight can be watched: the level sets
    of 0.5 ||x - D z||^2 are ellipses whose elongation grows with the coherence (the condition
    number of D^T D is (1 + coherence) / (1 - coherence)). Introduced in
    ``notebooks/02_niht_and_momentum.ipynb`` (the step explorer).
    """
    if not (math.isfinite(coherence) and -1 < coherence < 1):
        raise ValueError(f"coherence must lie strictly between -1 and 1 (distinct atoms), got {coherence}")
    angle = math.acos(coherence)
    D = torch.tensor([[1.0, math.cos(angle)], [0.0, math.sin(angle)]], dtype=dtype)
    z = torch.tensor(z_true, dtype=dtype)
    if z.shape != (2,):
        raise ValueError(f"z_true must hold 2 coefficients, got {tuple(z_true)}")
    return DenseDictionary(D), D @ z
