"""Backend selection: :class:`Execution` settings, :func:`resolve_backend` and :func:`run_blocks`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeVar

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from ..lzsc_block import BlockOutput

__all__ = [
    "BACKENDS",
    "Backend",
    "Executable",
    "Execution",
    "StackOutput",
    "needs_grad",
    "resolve_backend",
    "run_blocks",
]

Backend = Literal["auto", "reference", "fused", "engine"]
BACKENDS: tuple[Backend, ...] = ("auto", "reference", "fused", "engine")

_FAST_DTYPES = (torch.float32, torch.float64)


@dataclass(frozen=True)
class Execution:
    """How a module runs (not what it computes): never saved with the weights.

    ``backend``: one of :data:`BACKENDS`. ``channels_last``: NHWC convolutions in the fused backend
    (None: on CUDA only). ``compile``: the fused backend through ``torch.compile``. ``rows`` /
    ``workers``: band height and threads of the CPU engine (None: its defaults).
    """

    backend: Backend = "auto"
    channels_last: bool | None = None
    compile: bool = False
    rows: int | None = None
    workers: int | None = None

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {self.backend!r}")
        for name in ("rows", "workers"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be None or >= 1, got {value}")


M = TypeVar("M", bound="Executable")


class Executable:
    """Mix-in of the modules that run on a backend (LZSC blocks, FNet, IFNet)."""

    execution: Execution = Execution()
    last_backend: str | None = None

    @property
    def backend(self) -> Backend:
        return self.execution.backend

    def set_backend(
        self: M,
        backend: Backend = "auto",
        *,
        channels_last: bool | None = None,
        compile: bool = False,
        rows: int | None = None,
        workers: int | None = None,
    ) -> M:
        """Run this module and every sub-module on ``backend`` (see :mod:`lzsc.unrolled.backends`)."""
        execution = Execution(backend, channels_last, compile, rows, workers)
        modules = self.modules() if isinstance(self, nn.Module) else [self]
        for module in modules:
            if isinstance(module, Executable):
                module.execution = execution
        return self


@dataclass
class StackOutput:
    """What :func:`run_blocks` returns: codes u^N (B, G, K, H, W), heads(u^N) (B, G, O, H, W) or None,
    every block's :class:`~lzsc.unrolled.BlockOutput` when ``return_all``, and the backend used."""

    u: Tensor
    out: Tensor | None
    traces: list[BlockOutput] | None
    backend: str


def needs_grad(modules: Sequence[nn.Module], *tensors: Tensor | None) -> bool:
    """Whether a forward would record autograd: grad mode on and a parameter or input requires grad."""
    if not torch.is_grad_enabled():
        return False
    if any(t is not None and t.requires_grad for t in tensors):
        return True
    return any(p.requires_grad for m in modules for p in m.parameters())


def resolve_backend(
    requested: Backend, blocks: Sequence[nn.Module], x: Tensor, grad: bool, return_all: bool = False
) -> str:
    """The backend that runs ``blocks`` on ``x``: ``requested`` checked, or the ``"auto"`` rule.

    ``return_all`` always runs the reference backend (the only one that keeps every iterate).
    Raises ValueError for an explicit request the backend cannot honour.
    """
    if requested not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {requested!r}")
    stackable = all(getattr(b, "stackable", False) for b in blocks) and len({b.config for b in blocks}) == 1
    if return_all or requested == "reference":
        return "reference"
    if requested == "auto":
        if not stackable:
            return "reference"
        if grad or x.device.type != "cpu" or x.dtype not in _FAST_DTYPES:
            return "fused"
        return "engine"
    if not stackable:
        kinds = sorted({type(b).__name__ for b in blocks})
        raise ValueError(
            f"backend {requested!r} runs stacks of LZSC blocks of one configuration; {kinds} run on "
            "'reference' (or 'auto')"
        )
    if requested == "engine":
        if grad:
            raise ValueError(
                "backend 'engine' has no autograd; use 'fused' or 'auto' for training, or run under "
                "torch.no_grad() / torch.inference_mode()"
            )
        if x.device.type != "cpu" or x.dtype not in _FAST_DTYPES:
            raise ValueError(
                f"backend 'engine' runs float32 / float64 tensors on the CPU, got {x.dtype} on "
                f"{x.device}; use 'fused' or 'auto'"
            )
    return requested


def _reference(blocks: Sequence[nn.Module], x: Tensor, heads: Tensor | None, return_all: bool):
    from ..lzsc_block import conv

    traces = [blk.forward_reference(x[:, g], return_all=return_all) for g, blk in enumerate(blocks)]
    codes = [t.u if return_all else t for t in traces]
    u = torch.stack(codes, dim=1)
    out = None if heads is None else torch.stack([conv(c, heads[g]) for g, c in enumerate(codes)], dim=1)
    return u, out, (traces if return_all else None)


def _engine(blocks: Sequence[nn.Module], x: Tensor, heads: Tensor | None, execution: Execution):
    from .engine import run_stack

    g, k = len(blocks), blocks[0].config
    fold = heads if heads is not None else x.new_zeros(g, 1, k.n_filters, k.kernel_size, k.kernel_size)
    with torch.no_grad():
        u, out = run_stack(blocks, x.transpose(0, 1), fold.detach(), execution.rows, execution.workers)
    return u.transpose(0, 1), (out.transpose(0, 1) if heads is not None else None)


_compiled: dict[str, Callable] = {}


def _fused(blocks: Sequence[nn.Module], x: Tensor, heads: Tensor | None, execution: Execution):
    from .fused import fused_stack

    channels_last = execution.channels_last
    if channels_last is None:
        channels_last = x.device.type == "cuda"
    memory_format = torch.channels_last if channels_last else None
    run = fused_stack
    if execution.compile:
        run = _compiled.setdefault("fused", torch.compile(fused_stack, dynamic=False))
    return run(blocks, x, heads, memory_format)


def run_blocks(
    blocks: Sequence[nn.Module],
    x: Tensor,
    heads: Tensor | None = None,
    execution: Execution | None = None,
    return_all: bool = False,
) -> StackOutput:
    """Run G blocks on x (B, G, C, H, W) (block g reads x[:, g]) and apply ``heads`` to their codes.

    ``heads`` (G, O, K, k, k): 'same' K -> O convolutions of each block's u^N (the decoders).
    """
    execution = execution or Execution()
    grad = needs_grad(blocks, x, heads)
    name = resolve_backend(execution.backend, blocks, x, grad, return_all)
    if name == "reference":
        u, out, traces = _reference(blocks, x, heads, return_all)
        return StackOutput(u, out, traces, name)
    if name == "engine":
        u, out = _engine(blocks, x, heads, execution)
    else:
        u, out = _fused(blocks, x, heads, execution)
    return StackOutput(u, out, None, name)
