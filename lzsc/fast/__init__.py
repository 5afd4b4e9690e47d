"""Fast FNet / IFNet: the same parameters and outputs as ``lzsc.models``, with fewer, fatter operations.

- :func:`fast_fnet` / :meth:`FastFNet.from_fnet`, :func:`fast_ifnet`: modules sharing the original's
  parameters, with the same forward signatures and outputs;
- :func:`fuse`: F = FNet(A, B) without autograd, fast or straightforward;
- :mod:`lzsc.fast.engine`: band-wise GEMM engine for CPU inference;
- :mod:`lzsc.fast.fused`: differentiable grouped-convolution path (training, GPUs).

``benchmarks/bench_fnet.py`` measures both against the straightforward path.
"""

from .engine import run_stack
from .fused import fused_stack
from .models import FastFNet, FastIFNet, fast_fnet, fast_ifnet, fuse

__all__ = ["FastFNet", "FastIFNet", "fast_fnet", "fast_ifnet", "fuse", "fused_stack", "run_stack"]
