"""FastFNet and FastIFNet: FNet / IFNet subclasses that share the original's parameters.

``FastFNet.from_fnet(model)`` (or :func:`fast_fnet`) returns a module whose parameters *are* the
original's (no copy: an optimiser step or ``load_state_dict`` on either is seen by both), whose
state_dict has the same keys, and whose ``forward(a, b, return_parts=False)`` returns the same
values (up to float32 rounding; see ``benchmarks/README.md``). The forward picks a path:

- no gradient needed, CPU: :func:`lzsc.fast.engine.run_stack` (band-wise GEMM engine);
- gradient needed, or another device: :func:`lzsc.fast.fused.fused_stack` (grouped convolutions);
- blocks other than :class:`~lzsc.unrolled.LZSCBlock` (the LCSC ablation AE1): the original forward.

Both unique blocks (u1 from A, u2 from B) run as one stack, their decoders D_u and G_u as one
transposed pass; the common block's decoder G_c is folded into its last iteration (eqs. 22-23)::

    (u1, u2), (D_u1 u1, G_u1 u1, D_u2 u2, G_u2 u2) = stack(x_A, x_B)
    c, G_c c = stack([x_A - D_u1 u1, x_B - D_u2 u2]),    F = G_u1 u1 + G_c c + G_u2 u2
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from ..models import FNet, FNetOutput, IFNet, check_pair
from ..unrolled import LZSCBlock
from .engine import run_stack
from .fused import fused_stack

__all__ = ["FastFNet", "FastIFNet", "fast_fnet", "fast_ifnet", "fuse"]

Runner = Callable[[list[LZSCBlock], Tensor, Tensor], tuple[Tensor, Tensor]]


def _share(fast: nn.Module, model: nn.Module) -> None:
    """Make ``fast`` hold ``model``'s submodules, parameters and buffers (the same objects)."""
    nn.Module.__init__(fast)
    fast.config = model.config
    for name, child in model.named_children():
        fast.add_module(name, child)
    for name, param in model.named_parameters(recurse=False):
        fast.register_parameter(name, param)
    for name, buf in model.named_buffers(recurse=False):
        fast.register_buffer(name, buf)
    fast.train(model.training)


class _FastPaths:
    """Path selection shared by FastFNet and FastIFNet; ``rows`` / ``workers`` tune the CPU engine."""

    rows: int | None = None
    workers: int | None = None
    memory_format: torch.memory_format | None = None

    def _blocks_fast(self) -> bool:
        return all(type(m) is LZSCBlock for m in self.children())

    def _runner(self, *inputs: Tensor) -> Runner:
        """Engine (B-major tensors in, G-major engine out) or fused convolutions, as tensors (B, G, ...)."""
        needs_grad = torch.is_grad_enabled() and (
            any(p.requires_grad for p in self.parameters()) or any(t.requires_grad for t in inputs)
        )
        if needs_grad or inputs[0].device.type != "cpu":
            return lambda blocks, x, heads: fused_stack(blocks, x, heads, self.memory_format)

        def engine(blocks: list[LZSCBlock], x: Tensor, heads: Tensor) -> tuple[Tensor, Tensor]:
            with torch.no_grad():
                u, out = run_stack(blocks, x.transpose(0, 1), heads.detach(), self.rows, self.workers)
            return u.transpose(0, 1), out.transpose(0, 1)

        return engine


class FastFNet(_FastPaths, FNet):
    """FNet (eqs. 22-23) with the fused forward paths; build it with :meth:`from_fnet`."""

    @classmethod
    def from_fnet(
        cls,
        model: FNet,
        rows: int | None = None,
        workers: int | None = None,
        memory_format: torch.memory_format | None = None,
    ) -> FastFNet:
        """A FastFNet sharing ``model``'s parameters (``memory_format``: e.g. channels_last on GPUs)."""
        fast = cls.__new__(cls)
        _share(fast, model)
        fast.rows, fast.workers, fast.memory_format = rows, workers, memory_format
        return fast

    def forward(self, a: Tensor, b: Tensor, return_parts: bool = False) -> Tensor | FNetOutput:
        check_pair(a, b)
        if not self._blocks_fast():
            return super().forward(a, b, return_parts)
        run = self._runner(a, b)
        heads = torch.stack([torch.cat((self.D_u1, self.G_u1)), torch.cat((self.D_u2, self.G_u2))])
        u, rec = run([self.lzsc_u1, self.lzsc_u2], torch.stack((a, b), dim=1), heads)
        residual_a, residual_b = a - rec[:, 0, 0:1], b - rec[:, 1, 0:1]
        x_c = torch.cat((residual_a, residual_b), dim=1).unsqueeze(1)
        c, rec_c = run([self.lzsc_c], x_c, self.G_c.unsqueeze(0))
        rec_u1, rec_c, rec_u2 = rec[:, 0, 1:2], rec_c[:, 0], rec[:, 1, 1:2]
        fused = rec_u1 + rec_c + rec_u2
        if not return_parts:
            return fused
        u1, u2, c = u[:, 0].contiguous(), u[:, 1].contiguous(), c[:, 0].contiguous()
        parts = (residual_a, residual_b, rec_u1.contiguous(), rec_u2.contiguous(), rec_c.contiguous())
        return FNetOutput(fused, u1, u2, c, *parts)


class FastIFNet(_FastPaths, IFNet):
    """IFNet (eq. 24) with both blocks as one stack; build it with :meth:`from_ifnet`."""

    @classmethod
    def from_ifnet(
        cls,
        model: IFNet,
        rows: int | None = None,
        workers: int | None = None,
        memory_format: torch.memory_format | None = None,
    ) -> FastIFNet:
        """A FastIFNet sharing ``model``'s parameters."""
        fast = cls.__new__(cls)
        _share(fast, model)
        fast.rows, fast.workers, fast.memory_format = rows, workers, memory_format
        return fast

    def forward(self, f: Tensor) -> tuple[Tensor, Tensor]:
        if f.ndim != 4 or f.shape[1] != 1:
            raise ValueError(f"IFNet expects a (N, 1, H, W) fused image, got shape {tuple(f.shape)}")
        if not self._blocks_fast():
            return super().forward(f)
        decoder_2 = self.D_x1 if self.config.shared_decoder else self.D_x2
        x = f.unsqueeze(1).expand(-1, 2, -1, -1, -1)
        _, rec = self._runner(f)([self.lzsc_x1, self.lzsc_x2], x, torch.stack((self.D_x1, decoder_2)))
        return rec[:, 0], rec[:, 1]


def fast_fnet(model: FNet, **options) -> FastFNet:
    """:meth:`FastFNet.from_fnet` (shares the parameters; same forward signature and outputs)."""
    return model if isinstance(model, FastFNet) else FastFNet.from_fnet(model, **options)


def fast_ifnet(model: IFNet, **options) -> FastIFNet:
    """:meth:`FastIFNet.from_ifnet` (shares the parameters; same forward signature and outputs)."""
    return model if isinstance(model, FastIFNet) else FastIFNet.from_ifnet(model, **options)


def fuse(model: FNet, a: Tensor, b: Tensor, fast: bool = True) -> Tensor:
    """Fused image F = FNet(A, B) for (N, 1, H, W) sources in [0, 1], without autograd.

    ``fast=False`` runs the straightforward forward (the reference the fast path is checked against).
    """
    net = fast_fnet(model) if fast else model
    with torch.inference_mode():
        return net(a, b)
