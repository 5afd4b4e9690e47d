"""Separable 2-D correlation by direct summation, shared by SSIM, VIF and Qcb.

``correlate(maps, kernels, mode)`` gives, for every separable kernel K[u, v] = kv[u] kh[v] of odd
size nv x nh and every map X of a stack (..., H, W)::

    out[i, j] = sum_{u, v} K[u, v] X[i + u, j + v]

over the 'valid' positions (output (H - nv + 1, W - nh + 1), like MATLAB ``filter2(K, X, 'valid')``)
or over the 'same' positions with zero padding (output (H, W), like ``filter2(K, X, 'same')``). For the
symmetric kernels used here this equals 2-D convolution.

Each 1-D pass is a matrix product of blocks of the input with a small banded Toeplitz matrix, so the
sums are direct sums of products (the band's zeros add exact zeros). Unlike FFT convolution, whose
rounding error scales with the largest value in the whole image, the error here scales with the values
under the window. That matters for Qcb, whose contrast divides two filtered values that are themselves
rounding noise on black backgrounds: their statistics must be those of MATLAB's direct ``filter2``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["correlate"]

BLOCK = 32  # outputs per block in a 1-D pass; each output costs BLOCK + n - 1 multiply-adds


def correlate(
    maps: np.ndarray,
    kernels: Sequence[tuple[np.ndarray, np.ndarray]],
    mode: Literal["valid", "same"],
) -> list[np.ndarray]:
    """Correlate a stack of maps (..., H, W), real or complex, with each separable kernel (kv, kh).

    All kernels must have the same odd size. Returns one array (float64 or complex128) per kernel.
    """
    if np.iscomplexobj(maps):
        parts = correlate(np.stack([maps.real, maps.imag]), kernels, mode)
        return [p[0] + 1j * p[1] for p in parts]
    x = np.asarray(maps, dtype=np.float64)
    nv, nh = kernels[0][0].size, kernels[0][1].size
    if any((kv.size, kh.size) != (nv, nh) for kv, kh in kernels) or nv % 2 == 0 or nh % 2 == 0:
        raise ValueError(f"kernels must share one odd size, got {[(kv.size, kh.size) for kv, kh in kernels]}")
    if mode == "same":
        x = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(nv // 2, nv // 2), (nh // 2, nh // 2)])
    elif mode != "valid":
        raise ValueError(f"mode must be 'valid' or 'same', got {mode!r}")
    if x.shape[-2] < nv or x.shape[-1] < nh:
        raise ValueError(
            f"maps of size {x.shape[-2]} x {x.shape[-1]} are smaller than the {nv} x {nh} kernel"
        )
    rows = _correlate_rows(x, [kh for _, kh in kernels])
    return [_correlate_columns(r, kv) for r, (kv, _) in zip(rows, kernels, strict=True)]


def _band(kernels: Sequence[np.ndarray], outputs: int) -> np.ndarray:
    """Banded Toeplitz matrices B of shape (outputs + n - 1, K, outputs): B[j + t, k, j] = kernels[k][t]."""
    n = kernels[0].size
    band = np.zeros((outputs + n - 1, len(kernels), outputs))
    j = np.arange(outputs)
    for k, g in enumerate(kernels):
        for t in range(n):
            band[j + t, k, j] = g[t]
    return band


def _correlate_rows(x: np.ndarray, kernels: Sequence[np.ndarray]) -> np.ndarray:
    """'valid' correlation along the last axis with each kernel (all of one length n): (K, ..., out_len).

    Every block of BLOCK outputs of every row is one row of a (rows * blocks, BLOCK + n - 1) matrix of
    input windows; one matrix product with the bands of all kernels filters everything at once.
    """
    n, length = kernels[0].size, x.shape[-1]
    span, out_len, lead = BLOCK + n - 1, length - n + 1, x.shape[:-1]
    full = out_len // BLOCK
    out = np.empty((len(kernels), *lead, out_len))
    if full:
        windows = sliding_window_view(x, span, axis=-1)[..., : full * BLOCK : BLOCK, :]
        y = np.ascontiguousarray(windows).reshape(-1, span) @ _band(kernels, BLOCK).reshape(span, -1)
        y = np.moveaxis(y.reshape(*lead, full, len(kernels), BLOCK), -2, 0)
        out[..., : full * BLOCK] = y.reshape(len(kernels), *lead, full * BLOCK)
    rest = out_len - full * BLOCK
    if rest:
        y = x[..., full * BLOCK :] @ _band(kernels, rest).reshape(rest + n - 1, -1)
        out[..., full * BLOCK :] = np.moveaxis(y.reshape(*lead, len(kernels), rest), -2, 0)
    return out


def _correlate_columns(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """'valid' correlation along the second-to-last axis, as one product band^T @ (row windows)."""
    n, (height, width), lead = kernel.size, x.shape[-2:], x.shape[:-2]
    span, out_len = BLOCK + n - 1, height - n + 1
    full = out_len // BLOCK
    out = np.empty((*lead, out_len, width))
    if full:
        windows = sliding_window_view(x, span, axis=-2)[..., : full * BLOCK : BLOCK, :, :]
        stacked = np.ascontiguousarray(np.moveaxis(windows, -1, 0)).reshape(span, -1)
        y = (_band([kernel], BLOCK)[:, 0, :].T @ stacked).reshape(BLOCK, *lead, full, width)
        out[..., : full * BLOCK, :] = np.moveaxis(y, 0, -2).reshape(*lead, full * BLOCK, width)
    rest = out_len - full * BLOCK
    if rest:
        out[..., full * BLOCK :, :] = _band([kernel], rest)[:, 0, :].T @ x[..., full * BLOCK :, :]
    return out
