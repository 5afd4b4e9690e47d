"""What one fusion costs: parameters, multiply-accumulates and the measured time of a forward pass.

:func:`count_macs` counts with ``torch.utils.flop_counter`` on a ``meta``-device copy (no arithmetic
is done); :func:`model_cost` adds the median wall time of one pair on a device and backend. The
paper's own cost row is :data:`lzsc.reference.PAPER_COST`.
"""

from __future__ import annotations

import copy
import math
import platform
import statistics
import time

import torch
from torch import nn

__all__ = ["count_macs", "device_name", "model_cost"]


def device_name(device: torch.device | str) -> str:
    """A readable name: the GPU's model, or the CPU with torch's thread count."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    return f"CPU ({cpu}, {torch.get_num_threads()} torch threads)"


def _on_backend(model: nn.Module, backend: str) -> nn.Module:
    """``model`` set to run on ``backend`` (it must be a copy: the setting sticks)."""
    if hasattr(model, "set_backend"):
        model.set_backend(backend)
    elif backend != "auto":
        raise ValueError(
            f"{type(model).__name__} has a single implementation (no set_backend); "
            f"use backend='auto', not {backend!r}"
        )
    return model


def count_macs(model: nn.Module, size: int = 320, inputs: int = 2) -> int:
    """Multiply-accumulates of one forward pass on ``inputs`` (1, 1, size, size) images (a pair for
    FNet, one fused image for IFNet): FlopCounterMode FLOPs / 2.

    Counted on a copy of the model on the ``meta`` device, on its reference backend (the arithmetic
    every backend computes), so no arithmetic is done; a model whose forward needs values (CSC-IVFN's
    histograms) is counted on the CPU instead, on random images in [0, 1]. Convolutions and matrix
    products are counted, elementwise work (thresholds, sums, filters by cumulative sums) is not.
    """
    from torch.utils.flop_counter import FlopCounterMode

    def count(device: str) -> int:
        net = copy.deepcopy(model).to(device)
        if hasattr(net, "set_backend"):
            net.set_backend("reference")
        gen = torch.Generator().manual_seed(0)
        images = [torch.rand(1, 1, size, size, generator=gen).to(device) for _ in range(inputs)]
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            net(*images)
        return counter.get_total_flops() // 2

    try:
        return count("meta")
    except (RuntimeError, NotImplementedError):  # an operation that needs values (Tensor.item())
        return count("cpu")


def model_cost(
    model: nn.Module,
    size: int = 320,
    repeats: int = 3,
    warmup: int = 1,
    device: str | torch.device = "cpu",
    backend: str = "auto",
    seed: int = 0,
) -> dict[str, object]:
    """Parameters, MACs and the median wall time of one forward pass on a random size x size pair.

    The pass runs on a copy of ``model`` moved to ``device`` and set to ``backend``
    (``model.set_backend``: "auto", the fastest exact one, "reference", "fused" or "engine"; a model
    without backends takes only "auto"), so ``model`` itself is left as it was. CUDA timings
    synchronise before reading the clock. ``repeats = 0`` skips the timing.
    """
    params = sum(p.numel() for p in model.parameters())
    out: dict[str, object] = {
        "params": params,
        "macs": count_macs(model, size),
        "size": size,
        "device": device_name(device),
        "backend": backend,
    }
    if repeats <= 0:
        return {**out, "seconds": math.nan, "times": []}
    device = torch.device(device)
    net = _on_backend(copy.deepcopy(model).to(device).eval(), backend)
    gen = torch.Generator().manual_seed(seed)
    a, b = (torch.rand(1, 1, size, size, generator=gen).to(device) for _ in range(2))
    times = []
    with torch.inference_mode():
        for i in range(warmup + repeats):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            t0 = time.perf_counter()
            net(a, b)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if i >= warmup:
                times.append(time.perf_counter() - t0)
    return {**out, "seconds": statistics.median(times), "times": times}
