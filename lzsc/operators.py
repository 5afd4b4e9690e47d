"""Linear dictionaries D for sparse coding: a dense matrix and a "same" zero-padded convolution.

Both classes expose the same small interface, which is all the solvers in :mod:`lzsc.solvers` use:

- ``forward(z)``   = D z      (code -> signal),
- ``adjoint(r)``   = D^T r    (signal -> code), the exact adjoint of ``forward``,
- ``norm_sq(iters)`` ~ ||D||_2^2, the Lipschitz constant L of the gradient of 0.5 ||x - D z||^2,
  estimated by power iteration on D^T D (the estimate approaches L from below),
- ``to_dense()``   the explicit matrix (for tests and for the dense "twin" of a convolution),
- ``code_shape(x)`` the shape of the code z that explains a signal x,
- ``event_dims``   how many trailing dimensions form one sample (for per-sample reductions).

Introduced in ``notebooks/01_l0_vs_l1_sparse_coding.ipynb``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["ConvDictionary", "DenseDictionary", "Dictionary", "as_dictionary"]

_CONV = {1: (F.conv1d, F.conv_transpose1d), 2: (F.conv2d, F.conv_transpose2d)}


def _check_tensor(name: str, t: Tensor, dtype: torch.dtype) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dtype != dtype:
        raise TypeError(
            f"{name} has dtype {t.dtype} but the dictionary has dtype {dtype}; convert one of them"
        )


class _LinearDictionary(ABC):
    """Shared code: dtype, device and the power iteration."""

    weight: Tensor
    event_dims: int

    @abstractmethod
    def forward(self, z: Tensor) -> Tensor:
        """D z."""

    @abstractmethod
    def adjoint(self, r: Tensor) -> Tensor:
        """D^T r."""

    @abstractmethod
    def _sample_code_shape(self, like: Tensor | None) -> tuple[int, ...]:
        """Shape of the code of one sample (with its batch dimension for convolutions)."""

    @property
    def dtype(self) -> torch.dtype:
        return self.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.weight.device

    def __call__(self, z: Tensor) -> Tensor:
        return self.forward(z)

    def norm_sq(self, iters: int = 100, like: Tensor | None = None) -> float:
        """Power-iteration estimate of ||D||_2^2 = lambda_max(D^T D) (a lower bound that converges to it).

        The start vector is drawn from a fixed seed, so the estimate is deterministic; a
        convolution and its dense twin (``to_dense``) start from the same vector. ``like`` is an
        example signal that fixes the code domain; a :class:`ConvDictionary` needs it (or its
        ``size``) because the norm of a zero-padded convolution depends on the signal size.
        The error decays like (lambda_2 / lambda_1)^(2 iters): spectra with a close second
        eigenvalue (long convolutions) need more iterations.
        """
        if iters < 1:
            raise ValueError(f"iters must be >= 1, got {iters}")
        shape = self._sample_code_shape(like)
        gen = torch.Generator().manual_seed(0)
        v = torch.randn(math.prod(shape), generator=gen, dtype=self.dtype).reshape(shape).to(self.device)
        v = v / v.norm()
        estimate = torch.zeros((), dtype=self.dtype, device=self.device)
        with torch.no_grad():
            for _ in range(iters):
                w = self.adjoint(self.forward(v))
                estimate = (v * w).sum()
                w_norm = w.norm()
                if w_norm == 0:
                    break
                v = w / w_norm
        return float(estimate)


class DenseDictionary(_LinearDictionary):
    """D given as an explicit (n, m) matrix with atoms as columns, acting on codes z of shape (..., m).

    ``forward(z)`` returns D z of shape (..., n); ``adjoint(r)`` returns D^T r of shape (..., m).
    All leading dimensions are batch dimensions.
    """

    event_dims = 1

    def __init__(self, D: Tensor) -> None:
        if not isinstance(D, Tensor):
            raise TypeError(f"D must be a torch.Tensor, got {type(D).__name__}")
        if D.ndim != 2:
            raise ValueError(f"D must be a matrix of shape (n, m), got shape {tuple(D.shape)}")
        if not torch.is_floating_point(D):
            raise TypeError(f"D must be floating point, got dtype {D.dtype}")
        self.weight = D
        self.n, self.m = D.shape

    def __repr__(self) -> str:
        return f"DenseDictionary(n={self.n}, m={self.m}, dtype={self.dtype})"

    def forward(self, z: Tensor) -> Tensor:
        _check_tensor("z", z, self.dtype)
        if z.ndim < 1 or z.shape[-1] != self.m:
            raise ValueError(f"code z must have shape (..., m={self.m}), got {tuple(z.shape)}")
        return z @ self.weight.T

    def adjoint(self, r: Tensor) -> Tensor:
        _check_tensor("r", r, self.dtype)
        if r.ndim < 1 or r.shape[-1] != self.n:
            raise ValueError(f"signal must have shape (..., n={self.n}), got {tuple(r.shape)}")
        return r @ self.weight

    def code_shape(self, x: Tensor) -> tuple[int, ...]:
        """Shape (..., m) of the code for a signal x of shape (..., n)."""
        if x.ndim < 1 or x.shape[-1] != self.n:
            raise ValueError(f"signal x must have shape (..., n={self.n}), got {tuple(x.shape)}")
        return (*x.shape[:-1], self.m)

    def _sample_code_shape(self, like: Tensor | None) -> tuple[int, ...]:
        if like is not None:
            self.code_shape(like)
        return (self.m,)

    def to_dense(self) -> Tensor:
        """The matrix D itself (a copy), shape (n, m)."""
        return self.weight.clone()


class ConvDictionary(_LinearDictionary):
    """Convolutional dictionary: D z = sum_k d_k * z_k with "same" zero padding.

    ``filters`` has shape (C, K, k) for 1-D signals or (C, K, kh, kw) for images: K atoms, each
    a C-channel filter with odd spatial size. Codes have shape (B, K, *S), signals (B, C, *S),
    with S = (L,) or (H, W); the signal and code share the spatial size S.

    Padding convention (1-D written out; 2-D is the same per axis), with p = (k - 1) / 2::

        (D z)_c[i]   = sum_k sum_j d_{c,k}[j] z_k[i + p - j]     (true convolution, z = 0 outside)
        (D^T r)_k[i] = sum_c sum_j d_{c,k}[j] r_c[i - p + j]     (correlation, r = 0 outside)

    i.e. ``conv_transpose`` with padding p for D and ``conv`` with the same weight and padding
    for D^T, which makes the two exact adjoints. A spike z_k = delta_{i0} synthesises d_k centred
    at i0 (the filter's middle tap lands on i0). ``size`` optionally fixes S for ``to_dense`` and
    ``norm_sq``; otherwise pass it (or an example signal) there.
    """

    def __init__(self, filters: Tensor, size: int | tuple[int, ...] | None = None) -> None:
        if not isinstance(filters, Tensor):
            raise TypeError(f"filters must be a torch.Tensor, got {type(filters).__name__}")
        if filters.ndim not in (3, 4):
            raise ValueError(
                "filters must have shape (C, K, k) for 1-D or (C, K, kh, kw) for 2-D signals, "
                f"got shape {tuple(filters.shape)}"
            )
        if not torch.is_floating_point(filters):
            raise TypeError(f"filters must be floating point, got dtype {filters.dtype}")
        if any(s % 2 == 0 for s in filters.shape[2:]):
            raise ValueError(f"filter sizes must be odd for 'same' padding, got {tuple(filters.shape[2:])}")
        self.weight = filters
        self.n_channels, self.n_atoms = filters.shape[:2]
        self.kernel_size = tuple(filters.shape[2:])
        self.spatial_dims = filters.ndim - 2
        self.event_dims = filters.ndim - 1
        self.padding = tuple((s - 1) // 2 for s in self.kernel_size)
        self._conv, self._conv_t = _CONV[self.spatial_dims]
        self._w = filters.transpose(0, 1).contiguous()
        self.size = None if size is None else self._as_size(size)

    def __repr__(self) -> str:
        return (
            f"ConvDictionary(channels={self.n_channels}, atoms={self.n_atoms}, "
            f"kernel_size={self.kernel_size}, size={self.size}, dtype={self.dtype})"
        )

    def _as_size(self, size: int | tuple[int, ...]) -> tuple[int, ...]:
        out = (size,) * self.spatial_dims if isinstance(size, int) else tuple(size)
        if len(out) != self.spatial_dims or any(s < 1 for s in out):
            raise ValueError(f"size must be {self.spatial_dims} positive integer(s), got {size}")
        return out

    def _check_rank(self, name: str, t: Tensor, channels: int, what: str) -> None:
        _check_tensor(name, t, self.dtype)
        rank = self.spatial_dims + 2
        layout = "(B, {}, L)" if self.spatial_dims == 1 else "(B, {}, H, W)"
        if t.ndim != rank:
            raise ValueError(
                f"{name} must have shape {layout.format(what)}, got rank {t.ndim}: {tuple(t.shape)}"
            )
        if t.shape[1] != channels:
            raise ValueError(
                f"{name} has {t.shape[1]} channels but the dictionary expects {what}={channels}: "
                f"shape {tuple(t.shape)}"
            )

    def forward(self, z: Tensor) -> Tensor:
        """D z: codes (B, K, *S) -> signals (B, C, *S)."""
        self._check_rank("code z", z, self.n_atoms, "K")
        return self._conv_t(z, self._w, padding=self.padding)

    def adjoint(self, r: Tensor) -> Tensor:
        """D^T r: signals (B, C, *S) -> codes (B, K, *S)."""
        self._check_rank("signal", r, self.n_channels, "C")
        return self._conv(r, self._w, padding=self.padding)

    def code_shape(self, x: Tensor) -> tuple[int, ...]:
        """Shape (B, K, *S) of the code for a signal x of shape (B, C, *S)."""
        self._check_rank("signal x", x, self.n_channels, "C")
        return (x.shape[0], self.n_atoms, *x.shape[2:])

    def _resolve_size(self, size: int | tuple[int, ...] | None) -> tuple[int, ...]:
        if size is not None:
            return self._as_size(size)
        if self.size is None:
            raise ValueError("this ConvDictionary has no size: pass size=... (or like=x to norm_sq)")
        return self.size

    def _sample_code_shape(self, like: Tensor | None) -> tuple[int, ...]:
        size = self._resolve_size(None if like is None else tuple(self.code_shape(like)[2:]))
        return (1, self.n_atoms, *size)

    def to_dense(self, size: int | tuple[int, ...] | None = None) -> Tensor:
        """Explicit matrix of shape (C * prod(S), K * prod(S)) for spatial size S.

        Rows follow ``x.reshape(B, -1)`` of a (B, C, *S) signal and columns ``z.reshape(B, -1)``
        of a (B, K, *S) code, so ``DenseDictionary(conv.to_dense(S))`` is the convolution's twin.
        """
        code_shape = (self.n_atoms, *self._resolve_size(size))
        m = math.prod(code_shape)
        basis = torch.eye(m, dtype=self.dtype, device=self.device).reshape(m, *code_shape)
        return self.forward(basis).reshape(m, -1).T.contiguous()


Dictionary = DenseDictionary | ConvDictionary


def as_dictionary(D: Dictionary | Tensor) -> Dictionary:
    """Return ``D`` unchanged if it is a dictionary; wrap a raw (n, m) tensor in :class:`DenseDictionary`."""
    if isinstance(D, (DenseDictionary, ConvDictionary)):
        return D
    if isinstance(D, Tensor):
        return DenseDictionary(D)
    raise TypeError(
        f"D must be a DenseDictionary, ConvDictionary or an (n, m) tensor, got {type(D).__name__}"
    )
