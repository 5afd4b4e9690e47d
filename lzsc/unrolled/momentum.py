"""The coefficients of one LZSC iteration for each momentum kind: the single table every backend reads.

Iteration k of the LZSC block (paper eq. 20, k = 1..N) is a linear map of the previous iterates
followed by a threshold. Every momentum kind of the ablations (Table III: Nesterov as in the paper,
none: AE4, Polyak heavy ball: AE5, quasi-hyperbolic momentum: AE6) has the same form::

    lin^k = a W_u^k W_d^k u^{k-1} + b W_u'^k W_d'^k u^{k-2} + e W_e^k x
    pre^k = c u^{k-1} + c' u^{k-2} + s lin^k + c_m m^{k-1}
    m^k   = rho^k m^{k-1} + (1 - rho^k) lin^k                      (QHM only; m^0 = 0)
    u^k   = T_{theta^k}(pre^k)

with (rho = rho^k of eq. 21, nu = QHM's weight; ``u^{k-2}`` terms absent at k = 1):

==========  ===========  ====  =====  ===========  ======  =============  ========
momentum    a            b     e      c            c'      s              c_m
==========  ===========  ====  =====  ===========  ======  =============  ========
nesterov    -(1 + rho)   rho   1      1 + rho      -rho    1              0
polyak      -1           0     1      1 + rho      -rho    1              0
none        -1           0     1      1            0       1              0
qhm         1            0     -1     1            0       -(1 - nu rho)  -nu rho
==========  ===========  ====  =====  ===========  ======  =============  ========

Nesterov is eq. 20 expanded: (1 + rho)(u^{k-1} - W_u W_d u^{k-1}) - rho (u^{k-2} - W_u' W_d' u^{k-2})
+ W_e x. Polyak adds rho (u^{k-1} - u^{k-2}) to a plain gradient step. QHM (Ma & Yarats 2019) keeps
a buffer of the gradient g = W_u W_d u^{k-1} - W_e x (= lin^k): m^k = rho m^{k-1} + (1 - rho) g,
pre = u^{k-1} - (1 - nu) g - nu m^k, which is the row above once m^k is substituted.
Introduced in ``notebooks/04_unrolling.ipynb``; used by :class:`lzsc.unrolled.LZSCBlock` and by every
backend of :mod:`lzsc.unrolled.backends`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

__all__ = [
    "MOMENTUM_KINDS",
    "Momentum",
    "StepCoefficients",
    "next_buffer",
    "pre_activation",
    "step_coefficients",
]

Momentum = Literal["nesterov", "none", "polyak", "qhm"]
MOMENTUM_KINDS: tuple[Momentum, ...] = ("nesterov", "none", "polyak", "qhm")

Coefficient = Tensor | float


@dataclass(frozen=True)
class StepCoefficients:
    """The coefficients of iteration k (see the module docstring); tensors where they depend on rho.

    QHM's buffer is updated as m^k = m_keep m^{k-1} + m_add lin^k (m_keep = rho, m_add = 1 - rho).
    ``prev_operator`` / ``prev_iterate`` / ``buffer`` say whether the W_u' W_d' u^{k-2} branch, the
    u^{k-2} term and QHM's buffer take part, so that backends skip what is absent (b = 0, c' = 0).
    """

    a: Coefficient = -1.0
    b: Coefficient = 0.0
    e: Coefficient = 1.0
    c: Coefficient = 1.0
    c_prev: Coefficient = 0.0
    s: Coefficient = 1.0
    c_m: Coefficient = 0.0
    m_keep: Coefficient = 0.0
    m_add: Coefficient = 0.0
    prev_operator: bool = False
    prev_iterate: bool = False
    buffer: bool = False


def step_coefficients(momentum: Momentum, k: int, rho: Tensor | float, nu: float = 0.7) -> StepCoefficients:
    """The row of ``momentum`` for iteration ``k`` >= 1 with momentum weight ``rho`` (any shape).

    ``rho`` may be a float (e.g. 0.0 to read only the flags). Raises ValueError for an unknown kind
    or k < 1 (u^0 = T(W_e^0 x) has no coefficients). Defaults are the plain gradient step ("none").
    """
    if k < 1:
        raise ValueError(f"iterations with coefficients are k = 1..N, got k = {k}")
    second = k >= 2
    if momentum == "nesterov":
        if not second:
            return StepCoefficients(a=-(1 + rho), c=1 + rho)
        return StepCoefficients(
            a=-(1 + rho), b=rho, c=1 + rho, c_prev=-rho, prev_operator=True, prev_iterate=True
        )
    if momentum == "polyak":
        if not second:
            return StepCoefficients()
        return StepCoefficients(c=1 + rho, c_prev=-rho, prev_iterate=True)
    if momentum == "none":
        return StepCoefficients()
    if momentum == "qhm":
        return StepCoefficients(
            a=1.0, e=-1.0, s=nu * rho - 1, c_m=-nu * rho, m_keep=rho, m_add=1 - rho, buffer=True
        )
    raise ValueError(f"momentum must be one of {MOMENTUM_KINDS}, got {momentum!r}")


def pre_activation(
    co: StepCoefficients, u: Tensor, u_prev: Tensor | None, lin: Tensor, m: Tensor | None
) -> Tensor:
    """pre^k = c u^{k-1} + c' u^{k-2} + s lin^k + c_m m^{k-1}, skipping the terms that are absent.

    Where u^{k-2} takes part, c + c' = 1 and the first two terms are one ``lerp(u^{k-1}, u^{k-2}, c')``.
    """
    if co.prev_iterate:
        pre = torch.lerp(u, u_prev, co.c_prev)
    else:
        pre = u if isinstance(co.c, float) and co.c == 1.0 else co.c * u
    pre = pre + lin if isinstance(co.s, float) and co.s == 1.0 else pre + co.s * lin
    if co.buffer and m is not None:
        pre = pre + co.c_m * m
    return pre


def next_buffer(co: StepCoefficients, m: Tensor | None, lin: Tensor) -> Tensor | None:
    """QHM's m^k = rho m^{k-1} + (1 - rho) lin^k (m^0 = 0); None for the other kinds."""
    if not co.buffer:
        return None
    return co.m_add * lin if m is None else co.m_keep * m + co.m_add * lin
