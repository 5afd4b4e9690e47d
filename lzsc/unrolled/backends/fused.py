"""Differentiable fused path: the LZSC iteration (eq. 20) with two grouped convolutions per step.

For G blocks of one configuration (FNet's u1 and u2; IFNet's x1 and x2) every convolution is one
grouped ``F.conv2d`` (groups = G), and each iteration needs two of them instead of five::

    [W_d^k u^{k-1}, W_d'^{k+1} u^{k-1}] = conv(u^{k-1}, [W_d^k; W_d'^{k+1}])          (K -> 2C)
    lin^k = conv([W_d^k u^{k-1}, W_d'^k u^{k-2}, x], [a W_u^k, b W_u'^k, e W_e^k])            (3C -> K)
    pre^k = c u^{k-1} + c' u^{k-2} + s lin^k + c_m m^{k-1}

with the coefficients of :func:`lzsc.unrolled.momentum.step_coefficients` (Nesterov: a = -(1 + rho),
b = rho, e = 1, c = 1 + rho, c' = -rho; QHM keeps its buffer m). The
weights are built from the parameters inside the graph, so gradients reach every W, theta and rho.
This is the path for training and for GPUs (few, fatter kernels; optionally channels_last); on a
CPU, inference uses :mod:`lzsc.unrolled.backends.engine`. Under ``torch.autocast`` the convolutions run in the
low precision while their outputs are cast back to the input's dtype, so the momentum updates and
the thresholds (gamma = 100 is precision-sensitive) stay in float32.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from ...thresholds import threshold_kernel
from ..lzsc_block import stack_weights
from ..momentum import next_buffer, pre_activation, step_coefficients

if TYPE_CHECKING:
    from ..lzsc_block import LZSCBlock

__all__ = ["fused_stack", "grouped_conv", "thin_out_conv"]


def grouped_conv(x: Tensor, weights: Tensor, memory_format: torch.memory_format | None = None) -> Tensor:
    """'same' convolution of G groups: x (B, G Cin, H, W), weights (G, Cout, Cin, k, k) -> (B, G Cout, H, W).

    One ``F.conv2d`` with ``groups = G`` (cuDNN / oneDNN), optionally in ``memory_format``.
    """
    g, c_out = weights.shape[:2]
    w = weights.reshape(g * c_out, *weights.shape[2:])
    if memory_format is not None:
        x, w = x.contiguous(memory_format=memory_format), w.contiguous(memory_format=memory_format)
    return F.conv2d(x, w, padding=weights.shape[-1] // 2, groups=g)


def thin_out_conv(u: Tensor, weights: Tensor) -> Tensor:
    """'same' K -> O convolution of G groups as a transposed GEMM and col2im (CPU; O is 1 to 4).

    u (B, G K, H, W), weights (G, O, K, k, k) -> (B, G O, H, W). ``Z = A @ u`` with
    A[(o, dy, dx), c] = W[o, c, k-1-dy, k-1-dx] lists each pixel's k x k contributions and ``F.fold``
    adds them up; both have native gradients (matmuls and unfold), about 2-5x faster than a thin
    convolution's forward and backward on a CPU.
    """
    g, o, kf, k = weights.shape[:3] + weights.shape[-1:]
    bsz, _, h, w = u.shape
    a_mat = weights.flip(-1, -2).permute(0, 1, 3, 4, 2).reshape(g, o * k * k, kf)
    z = torch.matmul(a_mat, u.reshape(bsz, g, kf, h * w))
    p = k // 2
    return F.fold(z.view(bsz, g * o * k * k, h * w), (h + 2 * p, w + 2 * p), k)[..., p : p + h, p : p + w]


def fused_stack(
    blocks: Sequence[LZSCBlock],
    x: Tensor,
    heads: Tensor | None = None,
    memory_format: torch.memory_format | None = None,
) -> tuple[Tensor, Tensor | None]:
    """G blocks of one configuration on x (B, G, C, H, W): returns u^N (B, G, K, H, W) and heads(u^N).

    ``heads`` (G, O, K, k, k) are decoders applied to u^N as one grouped convolution (B, G, O, H, W).
    """
    cfg = blocks[0].config
    if any(b.config != cfg for b in blocks):
        raise ValueError("a stack needs blocks of one configuration")
    bsz, g, c, h, w = x.shape
    n_iter = cfg.n_iter
    thresh = threshold_kernel(cfg.threshold)
    thetas = torch.stack([b.thetas() for b in blocks]).view(1, g, 1, 1, 1, -1)
    rhos = torch.stack([b.rhos() for b in blocks]).view(1, g, 1, 1, 1, -1)

    def conv(inp: Tensor, weights: Tensor) -> Tensor:
        inp = inp.reshape(bsz, -1, h, w)
        if x.device.type == "cpu" and weights.shape[1] < weights.shape[2]:
            out = thin_out_conv(inp, weights)
        else:
            out = grouped_conv(inp, weights, memory_format)
        return out.to(x.dtype).view(bsz, g, -1, h, w)

    u_prev, m, v_prev = None, None, None
    u = thresh(conv(x, stack_weights(blocks, "W_e", 0)), thetas[..., 0], cfg.alpha, cfg.gamma)
    for k in range(1, n_iter + 1):
        rho = rhos[..., k - 1]
        co = step_coefficients(cfg.momentum, k, rho, cfg.qhm_nu)
        w_co = step_coefficients(cfg.momentum, k, rhos[0, :, :, :, :, k - 1].unsqueeze(-1), cfg.qhm_nu)
        outs = [stack_weights(blocks, "W_d", k - 1)]
        if k + 1 <= n_iter and step_coefficients(cfg.momentum, k + 1, 0.0).prev_operator:
            outs.append(stack_weights(blocks, "W_d_prev", k - 1))
        v = conv(u, torch.cat(outs, dim=1))
        srcs, parts = [v[:, :, :c]], [w_co.a * stack_weights(blocks, "W_u", k - 1)]
        if co.prev_operator:
            srcs.append(v_prev)
            parts.append(w_co.b * stack_weights(blocks, "W_u_prev", k - 2))
        srcs.append(x)
        parts.append(w_co.e * stack_weights(blocks, "W_e", k))
        lin = conv(torch.cat(srcs, dim=2), torch.cat(parts, dim=2))
        pre = pre_activation(co, u, u_prev, lin, m)
        m = next_buffer(co, m, lin)
        v_prev = v[:, :, c:] if v.shape[2] > c else None
        u_prev, u = u, thresh(pre, thetas[..., k], cfg.alpha, cfg.gamma)
    return u, (conv(u, heads) if heads is not None else None)
