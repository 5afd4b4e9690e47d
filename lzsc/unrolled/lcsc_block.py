"""The LCSC block (Sreter & Giryes, "Learned convolutional sparse coding", ICASSP 2018): unrolled ISTA.

The l1 counterpart of the LZSC block and the paper's ablation AE1. Convolutional ISTA for
min_u 0.5 ||x - D u||^2 + lambda ||u||_1 iterates u <- S_{lambda mu}(u + mu D^T (x - D u)); LCSC
learns the operators, tied across iterations as in Sreter & Giryes::

    u^0 = S_theta( W_e x )
    u^k = S_theta( u^{k-1} + W_e (x - W_d u^{k-1}) ),     k = 1..N

with W_e: C -> K (mu D^T), W_d: K -> C (D) and one learned threshold per feature map, theta in R^K
(kept positive through softplus). No momentum; ``n_iter``, channel counts and kernel size come from
the same :class:`LZSCConfig` as the LZSC block, so FNet / IFNet swap blocks by configuration
(``FNetConfig(block_kind="lcsc")``). Introduced in ``notebooks/10_ablations.ipynb``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..thresholds import soft_threshold
from .lzsc_block import BlockOutput, LZSCConfig, _weights, conv

__all__ = ["LCSCBlock"]


class LCSCBlock(nn.Module):
    """Unrolled convolutional ISTA with tied weights ``W_e``, ``W_d`` and per-channel ``theta``."""

    def __init__(self, config: LZSCConfig | None = None, init_cutoff: float = 0.01, **overrides) -> None:
        super().__init__()
        cfg = config or LZSCConfig()
        if overrides:
            cfg = LZSCConfig(**{**cfg.__dict__, **overrides})
        self.config = cfg
        (self.W_e,) = _weights(1, cfg.n_filters, cfg.in_channels, cfg.kernel_size)
        (self.W_d,) = _weights(1, cfg.in_channels, cfg.n_filters, cfg.kernel_size)
        self.theta_raw = nn.Parameter(torch.full((cfg.n_filters,), math.log(math.expm1(init_cutoff))))

    def theta(self) -> Tensor:
        """The per-channel cut-offs softplus(theta_raw), shape (K,)."""
        return F.softplus(self.theta_raw)

    def forward(self, x: Tensor, return_all: bool = False) -> Tensor | BlockOutput:
        """u^N (or every iterate with ``return_all``); the LCSC block has one, reference, implementation."""
        return self.forward_reference(x, return_all)

    def forward_reference(self, x: Tensor, return_all: bool = False) -> Tensor | BlockOutput:
        """The iteration above, one convolution at a time (run by the ``reference`` backend)."""
        cfg = self.config
        if x.ndim != 4 or x.shape[1] != cfg.in_channels:
            raise ValueError(
                f"LCSC block expects (B, {cfg.in_channels}, H, W) input, got shape {tuple(x.shape)}"
            )
        theta = self.theta().view(1, -1, 1, 1)
        pre = conv(x, self.W_e)
        u = soft_threshold(pre, theta)
        iterates, pres = ([u], [pre]) if return_all else ([], [])
        for _ in range(cfg.n_iter):
            pre = u + conv(x - conv(u, self.W_d), self.W_e)
            u = soft_threshold(pre, theta)
            if return_all:
                iterates.append(u)
                pres.append(pre)
        return BlockOutput(u, iterates, pres) if return_all else u
