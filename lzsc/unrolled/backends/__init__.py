"""Execution backends of the unrolled blocks: one model, several ways to run it, chosen in one place.

An LZSC block (eq. 20) is one idea; how its convolutions are scheduled is an execution detail.
Every :class:`~lzsc.unrolled.LZSCBlock`, :class:`~lzsc.models.FNet` and :class:`~lzsc.models.IFNet`
runs through :func:`run_blocks`, which picks a backend with :func:`resolve_backend`:

==========  =================================================================================
reference   eq. 20 as written (``LZSCBlock.forward_reference``), one convolution at a time; the
            only backend that returns every iterate (``return_all``) and the oracle of the others
fused       G blocks of one configuration at once, two grouped convolutions per iteration;
            differentiable (training), any device; channels_last on CUDA (:mod:`.fused`)
engine      band-wise GEMM engine for CPU inference, no autograd (:mod:`.engine`)
auto        the fastest exact backend: reference when every iterate is asked for or a block is
            not an LZSC block (the LCSC ablation AE1); engine for CPU inference in float32 /
            float64; fused otherwise (training, CUDA, other dtypes)
==========  =================================================================================

All backends read the iteration's coefficients from :func:`lzsc.unrolled.momentum.step_coefficients`
and follow one bf16 policy: under ``torch.autocast`` the convolutions run in the low precision and
their outputs are cast back to the iterates' dtype, so momentum updates and thresholds stay float32
(the engine, CPU inference only, always computes in the input's dtype).
``model.set_backend("fused", channels_last=True, compile=True)`` sets the backend of a module and of
all its sub-modules; ``model.last_backend`` says which backend the last forward used.
Introduced in ``notebooks/05_fnet_ifnet.ipynb``.
"""

from __future__ import annotations

from .select import (
    BACKENDS,
    Backend,
    Executable,
    Execution,
    StackOutput,
    needs_grad,
    resolve_backend,
    run_blocks,
)

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
