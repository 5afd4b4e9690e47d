"""FNet (paper eqs. 22-23): separate unique and common sparse features, then fuse them.

The multi-modal CSC model (eq. 7) writes each source as its unique part plus a common part::

    x_A = D_u1 u1 + D_c1 c,     x_B = D_u2 u2 + D_c2 c.

FNet estimates the codes with three LZSC blocks and decodes the fused image (eqs. 22-23)::

    u1 = LZSC_u1(x_A),  u2 = LZSC_u2(x_B)
    c  = LZSC_c([x_A - D_u1 u1, x_B - D_u2 u2])            (the two residuals, A first)
    F  = G_u1 u1 + G_c c + G_u2 u2

A is the infrared (or MRI) image, B the visible (or CT / PET / SPECT) one, as in the release, so
u1 is A's unique code. Introduced in ``notebooks/05_fnet_ifnet.ipynb``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import torch
from torch import Tensor, nn

from ..unrolled import BlockOutput, LZSCBlock, LZSCConfig
from ..unrolled.backends import Executable, run_blocks

__all__ = ["BLOCK_KINDS", "BlockKind", "FNet", "FNetConfig", "FNetOutput", "check_pair"]

BlockKind = Literal["lzsc", "lcsc"]
BLOCK_KINDS: tuple[BlockKind, ...] = ("lzsc", "lcsc")


@dataclass(frozen=True)
class FNetConfig:
    """FNet hyper-parameters; ``block`` configures all three LZSC blocks (in_channels set per block)."""

    block: LZSCConfig = field(default_factory=LZSCConfig)
    block_kind: BlockKind = "lzsc"

    @property
    def n_filters(self) -> int:
        return self.block.n_filters

    @property
    def kernel_size(self) -> int:
        return self.block.kernel_size


@dataclass
class FNetOutput:
    """Fused image and every intermediate of eqs. 22-23; ``blocks`` (u1, u2, c): every iterate, when asked."""

    fused: Tensor
    u1: Tensor
    u2: Tensor
    c: Tensor
    residual_a: Tensor
    residual_b: Tensor
    rec_u1: Tensor
    rec_u2: Tensor
    rec_c: Tensor
    blocks: dict[str, BlockOutput] | None = None


def check_pair(a: Tensor, b: Tensor) -> None:
    """Sources must be (N, 1, H, W) tensors of equal shape and floating dtype."""
    for name, t in (("A", a), ("B", b)):
        if not isinstance(t, Tensor) or t.ndim != 4 or t.shape[1] != 1:
            shape = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(f"source {name} must be a (N, 1, H, W) grey tensor, got {shape}")
        if not torch.is_floating_point(t):
            raise TypeError(f"source {name} must be floating point in [0, 1], got {t.dtype}")
    if a.shape != b.shape:
        raise ValueError(f"sources differ in shape: A {tuple(a.shape)} vs B {tuple(b.shape)}")


def make_block(config: FNetConfig, in_channels: int) -> nn.Module:
    """The sparse-coding block named by ``config.block_kind`` ("lzsc", or "lcsc" for AE1)."""
    block_cfg = replace(config.block, in_channels=in_channels)
    if config.block_kind == "lzsc":
        return LZSCBlock(block_cfg)
    if config.block_kind == "lcsc":
        from ..unrolled.lcsc_block import LCSCBlock

        return LCSCBlock(block_cfg)
    raise ValueError(f"unknown block kind {config.block_kind!r}; choose 'lzsc' or 'lcsc'")


def _dictionary(out_ch: int, in_ch: int, k: int) -> nn.Parameter:
    w = torch.empty(out_ch, in_ch, k, k)
    nn.init.xavier_uniform_(w)
    return nn.Parameter(w)


class FNet(Executable, nn.Module):
    """The fusion network. ``forward(a, b)`` returns F; ``forward(a, b, return_parts=True)`` an FNetOutput.

    Runs on the backend chosen by :meth:`set_backend` (default "auto", :mod:`lzsc.unrolled.backends`);
    both unique blocks (u1 from A, u2 from B) run as one stack, and each block's decoders
    (D_u1 and G_u1; D_u2 and G_u2; G_c) are applied to its code as one convolution.
    """

    def __init__(self, config: FNetConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or FNetConfig()
        k, ks = cfg.n_filters, cfg.kernel_size
        self.lzsc_u1 = make_block(cfg, 1)
        self.lzsc_u2 = make_block(cfg, 1)
        self.lzsc_c = make_block(cfg, 2)
        self.D_u1 = _dictionary(1, k, ks)
        self.D_u2 = _dictionary(1, k, ks)
        self.G_u1 = _dictionary(1, k, ks)
        self.G_c = _dictionary(1, k, ks)
        self.G_u2 = _dictionary(1, k, ks)

    def forward(
        self, a: Tensor, b: Tensor, return_parts: bool = False, return_all: bool = False
    ) -> Tensor | FNetOutput:
        """F = G_u1 u1 + G_c c + G_u2 u2 (eqs. 22-23) for (N, 1, H, W) sources.

        ``return_parts``: an :class:`FNetOutput` with every intermediate; ``return_all`` adds every
        block's iterates and pre-threshold activations (``FNetOutput.blocks``; reference backend).
        """
        check_pair(a, b)
        ex = self.execution
        heads = torch.stack((torch.cat((self.D_u1, self.G_u1)), torch.cat((self.D_u2, self.G_u2))))
        unique = run_blocks([self.lzsc_u1, self.lzsc_u2], torch.stack((a, b), dim=1), heads, ex, return_all)
        residual_a, residual_b = a - unique.out[:, 0, 0:1], b - unique.out[:, 1, 0:1]
        x_c = torch.cat((residual_a, residual_b), dim=1).unsqueeze(1)
        common = run_blocks([self.lzsc_c], x_c, self.G_c.unsqueeze(0), ex, return_all)
        self.last_backend = unique.backend
        rec_u1, rec_c, rec_u2 = unique.out[:, 0, 1:2], common.out[:, 0], unique.out[:, 1, 1:2]
        fused = rec_u1 + rec_c + rec_u2
        if not return_parts and not return_all:
            return fused
        u1, u2, c = (t.contiguous() for t in (unique.u[:, 0], unique.u[:, 1], common.u[:, 0]))
        parts = (rec_u1.contiguous(), rec_u2.contiguous(), rec_c.contiguous())
        blocks = None
        if return_all:
            blocks = dict(zip(("u1", "u2", "c"), [*unique.traces, *common.traces], strict=True))
        return FNetOutput(fused, u1, u2, c, residual_a, residual_b, *parts, blocks=blocks)
