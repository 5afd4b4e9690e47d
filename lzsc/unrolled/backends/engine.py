"""CPU inference engine: a stack of LZSC blocks (eq. 20) run band by band, every convolution a GEMM.

Iteration k of a block needs three thin convolutions of the previous iterates and one of the input.
Grouped by the tensor they read (exact rewrites):

- u^{k-1} is read by W_d^k (iteration k) and by W_d'^{k+1} (iteration k + 1): one K -> 2C
  convolution, a transposed GEMM plus col2im run right after u^{k-1} is thresholded, while its
  band is in cache. Its output is kept zero-padded, ready to be read (see :mod:`.kernels`).
- everything else is one 3C -> K convolution of [W_d^k u^{k-1}, W_d'^k u^{k-2}, x]::

      pre^k = (1 + rho) u^{k-1} - rho u^{k-2}
              + conv([W_d^k u^{k-1}, W_d'^k u^{k-2}, x], [-(1 + rho) W_u^k, rho W_u'^k, W_e^k])

  for Nesterov momentum; the other kinds change only the coefficients, all read from
  :func:`lzsc.unrolled.momentum.step_coefficients` (a, b, e folded into the GEMM weights), and QHM
  keeps its buffer m. The elementwise part is ``lerp(u^{k-1}, u^{k-2}, c')`` (or c u^{k-1}),
  the GEMM accumulates onto it (``baddbmm_``) and the threshold runs in place on the band.
- the G blocks of a stack (FNet's u1 and u2, IFNet's x1 and x2) are one batched GEMM per band.
- after u^N the same transposed GEMM applies the decoders (``heads``; FNet: D_u and G_u at once).

Only the K-channel iterates u^{k-1}, u^{k-2} (and QHM's m) are full-size. ``workers`` threads share
the bands of each iteration (each with one intra-op thread, so no thread barrier per operation), and
their partial col2im maps are summed. No autograd: for inference under ``torch.no_grad``.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from ..lzsc_block import LZSCBlock

from ..lzsc_block import stack_weights
from ..momentum import step_coefficients
from .kernels import Col2Im, band_patches, band_weights, fold_weights, threshold_into, zero_border

__all__ = ["default_rows", "run_stack"]


def default_rows(width: int) -> int:
    """Band height: about 3000 output pixels per band (im2col and GEMM outputs of about 1-3 MiB)."""
    return max(1, min(64, 3072 // width))


def _coef(values: Tensor, ndim: int) -> Tensor:
    """(G,) per-block scalars -> (G, 1, ..., 1) with ``ndim`` dimensions."""
    return values.reshape(-1, *([1] * (ndim - 1)))


def _scaled(value: Tensor | float, weights: Tensor) -> Tensor:
    """(G, O, C, k, k) weights times a per-block coefficient (float or (G, 1, 1, 1) tensor)."""
    return value * weights if isinstance(value, float) else value.unsqueeze(-1) * weights


class _Stack:
    """Buffers and per-iteration operators of one run; :meth:`band` computes rows [r0, r0 + nr)."""

    def __init__(
        self, blocks: Sequence[LZSCBlock], x: Tensor, heads: Tensor, rows: int, workers: int
    ) -> None:
        self.cfg = cfg = blocks[0].config
        self.blocks = blocks
        g, b, c, h, w = x.shape
        ks = cfg.kernel_size
        self.shape, self.ks, self.pad, self.pitch = (g, b, c, h, w), ks, ks // 2, w + ks - 1
        self.rows, self.heads = rows, heads
        self.len = (h + ks) * self.pitch  # padded height + one slack row
        self.thetas = torch.stack([blk.thetas() for blk in blocks])
        self.a_thetas = cfg.alpha * self.thetas
        self.rhos = torch.stack([blk.rhos() for blk in blocks])
        self.like = x
        self.x_pad = self.new_map(c)
        self.grid(self.x_pad)[..., self.pad : self.pad + h, self.pad : self.pad + w] = x
        hw = h * self.pitch
        self.u_cur, self.u_old = x.new_empty(g, b, cfg.n_filters, hw), x.new_empty(g, b, cfg.n_filters, hw)
        buffer = step_coefficients(cfg.momentum, 1, 0.0).buffer
        self.m = x.new_zeros(g, b, cfg.n_filters, hw) if buffer else None
        n_max = min(rows, h) * self.pitch
        n_out = max(2 * c, heads.shape[1])
        self.scratch = [self._scratch(x, n_max, n_out) for _ in range(workers)]
        self.d_maps: dict[int, Tensor] = {}
        self.p_maps: dict[int, Tensor] = {}

    def new_map(self, channels: int) -> Tensor:
        g, b = self.shape[:2]
        return self.like.new_zeros(g, b, channels, self.len)

    def grid(self, t: Tensor) -> Tensor:
        return t.view(*t.shape[:-1], self.len // self.pitch, self.pitch)

    def _scratch(self, x: Tensor, n_max: int, n_out: int) -> dict:
        g, b, c = self.shape[:3]
        gb, kf, kk = g * b, self.cfg.n_filters, self.ks * self.ks
        return {
            "cols": x.new_empty(gb * 3 * c * kk * n_max),
            "pre": x.new_empty(gb * kf * n_max),
            "t1": x.new_empty(gb * kf * n_max),
            "t2": x.new_empty(gb * kf * n_max),
            "grad": x.new_empty(gb * kf * n_max) if self.m is not None else None,
            "col2im": Col2Im(x, gb * n_out * kk, self.ks, self.pitch, n_max),
        }

    def prepare(self, k: int) -> None:
        """Sources and GEMM matrices of iteration k (the coefficients a, b, e folded into the weights)."""
        cfg, blocks, b = self.cfg, self.blocks, self.shape[1]
        if k == 0:
            self.srcs, weights = [self.x_pad], stack_weights(blocks, "W_e", 0)
        else:
            # rho as (G, 1, 1, 1): the coefficients broadcast over the bands (G, B, K, n)
            self.co = co = step_coefficients(cfg.momentum, k, _coef(self.rhos[:, k - 1], 4), cfg.qhm_nu)
            parts = [_scaled(co.a, stack_weights(blocks, "W_u", k - 1))]
            self.srcs = [self.d_maps.pop(k)]
            if co.prev_operator:
                parts.append(_scaled(co.b, stack_weights(blocks, "W_u_prev", k - 2)))
                self.srcs.append(self.p_maps.pop(k))
            parts.append(_scaled(co.e, stack_weights(blocks, "W_e", k)))
            self.srcs.append(self.x_pad)
            weights = torch.cat(parts, dim=2)
        self.w_mat = band_weights(weights, b)
        if k < cfg.n_iter:
            outs = [stack_weights(blocks, "W_d", k)]
            if k + 2 <= cfg.n_iter and step_coefficients(cfg.momentum, k + 2, 0.0).prev_operator:
                outs.append(stack_weights(blocks, "W_d_prev", k))
            fold_w = torch.cat(outs, dim=1)
        else:
            fold_w = self.heads
        self.n_out = fold_w.shape[1]
        self.a_mat = fold_weights(fold_w, b)
        self.theta, self.a_theta = _coef(self.thetas[:, k], 4), _coef(self.a_thetas[:, k], 4)

    def band(self, k: int, r0: int, nr: int, s: dict, acc: Tensor) -> None:
        """Iteration k on output rows [r0, r0 + nr): pre-activation, threshold, transposed GEMM."""
        cfg, (g, b, c, _, w), ks, pitch = self.cfg, self.shape, self.ks, self.pitch
        gb, kf, n = g * b, cfg.n_filters, nr * pitch
        n_src = len(self.srcs)
        cols = s["cols"][: gb * n_src * c * ks * ks * n].view(g, b, n_src, c, ks, ks, n)
        for i, src in enumerate(self.srcs):
            cols[:, :, i].copy_(band_patches(src, ks, pitch, r0 * pitch, n))
        cols = cols.view(gb, -1, n)
        pre = s["pre"][: gb * kf * n].view(g, b, kf, n)
        span = slice(r0 * pitch, r0 * pitch + n)
        u1, u2 = self.u_cur[..., span], self.u_old[..., span]
        if k == 0:
            torch.bmm(self.w_mat, cols, out=pre.view(gb, kf, n))
        elif self.co.buffer:
            co, grad, m_band = self.co, s["grad"][: gb * kf * n].view(g, b, kf, n), self.m[..., span]
            torch.bmm(self.w_mat, cols, out=grad.view(gb, kf, n))
            torch.addcmul(u1, grad, co.s, out=pre)
            pre.addcmul_(m_band, co.c_m)
            m_band.mul_(co.m_keep).addcmul_(grad, co.m_add)
        else:
            co = self.co
            if co.prev_iterate:
                torch.lerp(u1, u2, co.c_prev, out=pre)
            elif isinstance(co.c, float) and co.c == 1.0:
                pre.copy_(u1)
            else:
                torch.mul(u1, co.c, out=pre)
            torch.baddbmm(pre.view(gb, kf, n), self.w_mat, cols, out=pre.view(gb, kf, n))
        t1, t2 = (s[name][: gb * kf * n].view(g, b, kf, n) for name in ("t1", "t2"))
        u_new = u1 if k == 0 else u2
        threshold_into(cfg.threshold, pre, u_new, self.theta, self.a_theta, cfg.gamma, t1, t2)
        u_new.view(g, b, kf, nr, pitch)[..., w:].zero_()
        s["col2im"].gemm(self.a_mat, u_new.view(gb, kf, n))
        s["col2im"].add_to(acc.view(gb, self.n_out, self.len), r0 * pitch, gb, self.n_out, n)

    def finish(self, k: int, acc: Tensor) -> None:
        """After iteration k: rotate the iterates, keep the zero-padded W_d / W_d' maps."""
        if k > 0:
            self.u_cur, self.u_old = self.u_old, self.u_cur
        if k < self.cfg.n_iter:
            _, _, c, h, w = self.shape
            zero_border(self.grid(acc), self.pad, h, w)
            self.d_maps[k + 1] = acc[:, :, :c]
            if self.n_out > c:
                self.p_maps[k + 2] = acc[:, :, c:]


def run_stack(
    blocks: Sequence[LZSCBlock], x: Tensor, heads: Tensor, rows: int | None = None, workers: int | None = None
) -> tuple[Tensor, Tensor]:
    """Run G blocks of one configuration on x (G, B, C, H, W) and apply ``heads`` to their codes.

    ``heads`` (G, O, K, k, k) are K -> O "same" convolutions of u^N (the decoders). Returns
    (u^N as (G, B, K, H, W), heads(u^N) as (G, B, O, H, W)); block g reads x[g]. ``rows``: band
    height (default :func:`default_rows`); ``workers``: band threads (default torch's thread count).
    """
    if any(blk.config != blocks[0].config for blk in blocks):
        raise ValueError("a stack needs blocks of one configuration")
    g, b, _, h, w = x.shape
    rows = rows or default_rows(w)
    workers = max(1, min(workers or torch.get_num_threads(), -(-h // rows)))
    st = _Stack(blocks, x, heads, rows, workers)
    chunks = [list(range(i * rows, h, workers * rows)) for i in range(workers)]
    threads, inference = torch.get_num_threads(), torch.is_inference_mode_enabled()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(workers) as pool:
            for k in range(st.cfg.n_iter + 1):
                st.prepare(k)
                accs = [st.new_map(st.n_out) for _ in range(workers)]

                def work(i: int, k: int = k, accs: list[Tensor] = accs) -> None:
                    with (
                        torch.no_grad(),
                        torch.inference_mode(inference),
                        torch.autocast("cpu", enabled=False),
                    ):
                        for r0 in chunks[i]:
                            st.band(k, r0, min(rows, h - r0), st.scratch[i], accs[i])

                if workers == 1:
                    work(0)
                else:
                    list(pool.map(work, range(workers)))
                acc = accs[0]
                for other in accs[1:]:
                    acc.add_(other)
                st.finish(k, acc)
    finally:
        torch.set_num_threads(threads)
    p = st.pad
    out = st.grid(acc)[..., p : p + h, p : p + w]
    u = st.u_cur.view(g, b, -1, h, st.pitch)[..., :w]
    return u, out
