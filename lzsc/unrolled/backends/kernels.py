"""Band kernels of the CPU inference engine: im2col, GEMM-ready weights, col2im, thresholds.

Maps are stored flat with a row pitch P = W + k - 1 (the zero-padded width). A band of output rows
[r0, r0 + rows) is computed on the padded-width grid, flat index m = (y - r0) P + x (the k - 1
columns x >= W are scratch and zeroed), so every shift of the k x k stencil is a flat offset
dy P + dx. A "same" convolution of a padded map is then one GEMM

    y[o, m] = sum_{c, dy, dx} W[o, c, dy, dx] x_pad[c, r0 P + m + dy P + dx] = (W_mat @ cols)[o, m],

after im2col copies the zero-copy view :func:`band_patches` into ``cols``. A thin K -> O convolution
(64 -> 1 or 2) is evaluated as its transpose: ``Z = A @ u`` with ``A[(o, dy, dx), c] =
W[o, c, k-1-dy, k-1-dx]`` lists every pixel's k x k contributions, and col2im adds them into the
zero-bordered output map, ``y_pad[o, r0 P + m + dy P + dx] += Z[(o, dy, dx), m]``: its interior is
conv(u, W) and its border, once zeroed, is exactly the zero padding of the next convolution.
:class:`Col2Im` does that sum as two strided reductions (over dx, then dy) over buffers whose rows
have zero margins, in place of F.fold's scalar loop.

The thresholds run in place on a band with two scratch buffers and evaluate the same float32
expressions as :mod:`lzsc.thresholds`, in the same order (equal inputs give equal bits):
T = (sign(x) (|x| - alpha theta)) sigmoid(gamma (|x| - theta)), S = sign(x) max(|x| - theta, 0),
H = x 1[|x| > theta].
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["Col2Im", "band_patches", "band_weights", "fold_weights", "threshold_into", "zero_border"]


def band_patches(src: Tensor, k: int, pitch: int, start: int, n: int) -> Tensor:
    """Zero-copy view (G, B, C, k, k, n) of a flat padded map (G, B, C, L) with row pitch P.

    ``view[..., dy, dx, m] = src[..., start + m + dy P + dx]``: copied into a buffer, im2col of a band.
    """
    s = src.stride()
    return src.as_strided((*src.shape[:3], k, k, n), (*s[:3], pitch, 1, 1), src.storage_offset() + start)


def band_weights(weights: Tensor, batch: int) -> Tensor:
    """(G, O, C, k, k) convolution weights -> (G * batch, O, C k k) matrices for ``baddbmm``."""
    g, o = weights.shape[:2]
    mat = weights.reshape(g, 1, o, -1)
    return mat.expand(g, batch, o, mat.shape[-1]).reshape(g * batch, o, mat.shape[-1])


def fold_weights(weights: Tensor, batch: int) -> Tensor:
    """(G, O, K, k, k) weights of K -> O convolutions -> (G * batch, O k k, K) transposed-GEMM matrices.

    Row (o, dy, dx) holds W[o, :, k-1-dy, k-1-dx] (the flipped kernel, see the module docstring).
    """
    g, _, kk = weights.shape[:3]
    mat = weights.flip(-1, -2).permute(0, 1, 3, 4, 2).reshape(g, 1, -1, kk)
    return mat.expand(g, batch, mat.shape[2], kk).reshape(g * batch, mat.shape[2], kk)


class Col2Im:
    """Scratch for the transposed GEMM of a band and its col2im, sized for ``rows`` (N, O k k, n) at most.

    ``Z`` rows live at stride L1 = n_max + k - 1 behind k - 1 zeros; the dx-sum
    T[o, dy, q] = sum_dx Z[(o, dy, dx), q - dx] is one reduction over a strided view, written into rows
    of stride L2 = n_max + k - 1 + (k - 1) P behind (k - 1) P zeros; the dy-sum
    y[o, q] = sum_dy T[o, dy, q - dy P] is a second one. Rows shorter than n_max get their tails zeroed.
    """

    def __init__(self, like: Tensor, n_rows: int, k: int, pitch: int, n_max: int) -> None:
        self.k, self.pitch, self.n_max = k, pitch, n_max
        self.l1 = n_max + k - 1
        self.m2 = (k - 1) * pitch
        self.l2 = n_max + k - 1 + self.m2
        self.z = like.new_zeros(n_rows * self.l1 + k)
        self.t = like.new_zeros(n_rows // k * self.l2 + self.m2 + k)

    def gemm(self, a_mat: Tensor, u: Tensor) -> None:
        """Z = A @ u for A (N, O k k, K) and a band u (N, K, n)."""
        n_mat, rows, _ = a_mat.shape
        n = u.shape[-1]
        if n < self.n_max:
            k, l1, l2 = self.k, self.l1, self.l2
            self.z[: n_mat * rows * l1].view(-1, l1)[:, k - 1 + n :].zero_()
            self.t[: n_mat * rows // k * l2].view(-1, l2)[:, self.m2 + n + k - 1 :].zero_()
        out = self.z.as_strided((n_mat, rows, n), (rows * self.l1, self.l1, 1), self.k - 1)
        torch.bmm(a_mat, u, out=out)

    def add_to(self, acc: Tensor, start: int, n_mat: int, n_out: int, n: int) -> None:
        """acc[:, :, start + q] += y[:, :, q] for the last :meth:`gemm` (acc is (N, O, L) flat)."""
        k, l1, l2, pitch = self.k, self.l1, self.l2, self.pitch
        v1 = self.z.as_strided(
            (n_mat, n_out, k, k, n + k - 1), (n_out * k * k * l1, k * k * l1, k * l1, l1 - 1, 1), k - 1
        )
        t = self.t.as_strided((n_mat, n_out, k, n + k - 1), (n_out * k * l2, k * l2, l2, 1), self.m2)
        torch.sum(v1, dim=3, out=t)
        span = n + k - 1 + self.m2
        v2 = self.t.as_strided((n_mat, n_out, k, span), (n_out * k * l2, k * l2, l2 - pitch, 1), self.m2)
        acc[:, :, start : start + span].add_(v2.sum(dim=2))


def zero_border(t: Tensor, p: int, h: int, w: int) -> None:
    """Zero everything but the (h, w) interior at offset (p, p) of (..., rows, pitch) maps."""
    t[..., :p, :] = 0
    t[..., p + h :, :] = 0
    t[..., :, :p] = 0
    t[..., :, p + w :] = 0


def threshold_into(
    kind: str, x: Tensor, out: Tensor, theta: Tensor, a_theta: Tensor, gamma: float, t1: Tensor, t2: Tensor
) -> None:
    """out = threshold(x) (``kind`` as in :mod:`lzsc.thresholds`); x is clobbered, t1, t2 are scratch.

    ``theta`` and ``a_theta`` (= alpha * theta) broadcast against ``x`` (one value per block).
    Rewrites with fewer passes: sign(x) (|x| - a) = x - a sign(x) and sign(x) max(|x| - theta, 0) =
    x - clamp(x, -theta, theta) are exact (multiplying by sign(x) and negating are exact);
    gamma (|x| - theta) is evaluated as gamma x sign(x) - gamma theta (one rounding apart).
    """
    if kind == "sigmoidal":
        torch.sign(x, out=t1)
        torch.addcmul(-gamma * theta, x, t1, value=gamma, out=t2)
        t2.sigmoid_()
        torch.addcmul(x, t1, a_theta, value=-1, out=out)
        out.mul_(t2)
    elif kind == "soft":
        torch.clamp(x, -theta, theta, out=t1)
        torch.sub(x, t1, out=out)
    elif kind == "hard":
        torch.abs(x, out=t1)
        torch.gt(t1, theta, out=t1)
        torch.mul(x, t1, out=out)
    else:
        raise ValueError(f"unknown threshold kind {kind!r}")
