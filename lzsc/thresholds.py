"""Thresholding operators: hard H_theta, soft S_theta and sigmoidal T_{alpha,gamma,theta}.

One convention for the whole library: **theta is the cut-off** on |x|, never the regularisation
weight lambda. A solver with step mu and weight lambda converts once:

- l0 (IHT):  H_theta is the prox of mu * lambda * ||.||_0 with theta = sqrt(2 * lambda * mu);
- l1 (ISTA): S_theta is the prox of mu * lambda * ||.||_1 with theta = lambda * mu.

Definitions (paper eqs. 3, 5, 6; the sigmoidal one sign-symmetric as in the authors' release)::

    H_theta(x)               = x * 1[|x| > theta]
    S_theta(x)               = sign(x) * max(|x| - theta, 0)
    T_{alpha,gamma,theta}(x) = sign(x) * (|x| - alpha * theta) * sigmoid(gamma * (|x| - theta))

T interpolates between the two: away from |x| = theta it equals H for alpha = 0 and S for alpha = 1,
while staying smooth (differentiable in x and theta), which is what lets the LZSC block learn theta.
Introduced in ``notebooks/03_thresholds.ipynb``.

Argument checks (``ValueError`` naming the parameter): theta must be a finite cut-off >= 0, alpha a
number in [0, 1] and gamma a finite number > 0. The rule that keeps checks out of training's hot path:

- Python numbers (theta, alpha, gamma) are always checked: that is free.
- A tensor theta is checked by the public functions (:func:`hard_threshold`, :func:`soft_threshold`,
  :func:`sigmoidal_threshold`, :func:`threshold`, and so the modules' ``forward``) only when it is on
  the CPU and does not require grad. A theta on an accelerator, or one being learned, is not
  inspected: reading its values would force a host synchronisation on every call inside a network's
  forward pass. Such a theta comes from a parametrisation that keeps it valid (the LZSC and LCSC
  blocks use softplus), and the module constructors check the initial value.
- :func:`threshold_kernel` returns the unchecked operators, for loops that have checked once.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor, nn

__all__ = [
    "THRESHOLD_KINDS",
    "HardThreshold",
    "SigmoidalThreshold",
    "SoftThreshold",
    "ThresholdKind",
    "hard_threshold",
    "sigmoidal_threshold",
    "soft_threshold",
    "threshold",
    "threshold_kernel",
]


def _check(x: Tensor, theta: Tensor | float) -> Tensor:
    """Check ``x`` and ``theta`` (as the module docstring says) and return theta as a tensor like ``x``."""
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if not torch.is_floating_point(x):
        raise TypeError(f"x must be a floating-point tensor, got dtype {x.dtype}; convert with x.float()")
    if not isinstance(theta, Tensor):
        _check_cutoff(theta)
    elif theta.device.type == "cpu" and not theta.requires_grad:
        bad = int((~torch.isfinite(theta) | (theta < 0)).sum())
        if bad:
            raise ValueError(
                f"theta is a cut-off on |x| and must be finite and >= 0, but {bad} of its {theta.numel()} "
                "values are NaN, infinite or negative; fix them (keep a learned theta valid with softplus)"
            )
    return torch.as_tensor(theta, dtype=x.dtype, device=x.device)


def _check_cutoff(theta: float) -> None:
    """Refuse a cut-off given as a number that is not finite and >= 0."""
    if isinstance(theta, bool) or not isinstance(theta, numbers.Real):
        raise TypeError(f"theta must be a number or a tensor, got {type(theta).__name__}")
    if not (math.isfinite(theta) and theta >= 0):
        raise ValueError(
            f"theta is a cut-off on |x| and must be a finite number >= 0, got {theta}; "
            "0 keeps every value, larger values zero more of them"
        )


def hard_threshold(x: Tensor, theta: Tensor | float) -> Tensor:
    """Hard threshold H_theta(x) = x * 1[|x| > theta] (paper eq. 3).

    ``theta`` is the cut-off (a float, or a tensor broadcastable to ``x``). Values with
    |x| <= theta become exact zeros. The gradient w.r.t. ``x`` is the support indicator;
    there is no useful gradient w.r.t. ``theta`` (the reason the LZSC block uses the sigmoidal T).
    """
    return _hard(x, _check(x, theta))


def soft_threshold(x: Tensor, theta: Tensor | float) -> Tensor:
    """Soft threshold S_theta(x) = sign(x) * max(|x| - theta, 0) (paper eq. 5), the l1 prox."""
    return _soft(x, _check(x, theta))


def sigmoidal_threshold(x: Tensor, theta: Tensor | float, alpha: float = 0.1, gamma: float = 100.0) -> Tensor:
    """Sigmoidal threshold T_{alpha,gamma,theta}(x) (paper eq. 6, sign-symmetric as released).

    T(x) = sign(x) * (|x| - alpha * theta) * sigmoid(gamma * (|x| - theta)).

    ``alpha`` in [0, 1] sets how much large values are shrunk (0: none, like H; 1: by theta,
    like S); ``gamma`` > 0 sets the steepness at |x| = theta. ``torch.sigmoid`` is used instead
    of the release's ``1 / (1 + exp(-z))`` so that neither values nor gradients overflow
    (|x| up to 1e6 with gamma = 100 in float32 stays finite). Away from the cut-off the
    sigmoid saturates: for | |x| - theta | >= delta it differs from a step by at most
    exp(-gamma * delta).
    """
    theta_t = _check(x, theta)
    _check_shape_params(alpha, gamma)
    return _sigmoidal(x, theta_t, alpha, gamma)


def threshold(
    kind: str, x: Tensor, theta: Tensor | float, alpha: float = 0.1, gamma: float = 100.0
) -> Tensor:
    """Apply the threshold named ``kind`` ("hard", "soft" or "sigmoidal") with cut-off ``theta``.

    ``alpha`` and ``gamma`` are used (and checked) by the sigmoidal threshold only.
    """
    kernel = threshold_kernel(kind)
    theta_t = _check(x, theta)
    if kind == "sigmoidal":
        _check_shape_params(alpha, gamma)
    return kernel(x, theta_t, alpha, gamma)


def _hard(x: Tensor, theta: Tensor, alpha: float = 0.0, gamma: float = 0.0) -> Tensor:
    return x * (x.abs() > theta).to(x.dtype)


def _soft(x: Tensor, theta: Tensor, alpha: float = 1.0, gamma: float = 0.0) -> Tensor:
    return torch.sign(x) * torch.clamp(x.abs() - theta, min=0)


def _sigmoidal(x: Tensor, theta: Tensor, alpha: float = 0.1, gamma: float = 100.0) -> Tensor:
    mag = x.abs()
    return torch.sign(x) * (mag - alpha * theta) * torch.sigmoid(gamma * (mag - theta))


ThresholdKind = Literal["sigmoidal", "soft", "hard"]
_KERNELS = {"hard": _hard, "soft": _soft, "sigmoidal": _sigmoidal}
THRESHOLD_KINDS: tuple[ThresholdKind, ...] = ("hard", "soft", "sigmoidal")


def threshold_kernel(kind: ThresholdKind) -> Callable[[Tensor, Tensor, float, float], Tensor]:
    """The unchecked threshold ``f(x, theta, alpha, gamma)`` named ``kind``, for hot loops.

    Inputs are not validated (no host synchronisation); the LZSC block uses this with a
    theta that is positive by construction (softplus). hard ignores alpha and gamma, soft too.
    """
    try:
        return _KERNELS[kind]
    except KeyError:
        raise ValueError(f"unknown threshold kind {kind!r}; choose one of {THRESHOLD_KINDS}") from None


def _check_shape_params(alpha: float, gamma: float) -> None:
    """Refuse an alpha outside [0, 1] and a gamma that is not a finite number > 0 (NaN included)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1] (0: like hard, 1: like soft), got {alpha}")
    if not (math.isfinite(gamma) and gamma > 0):
        raise ValueError(
            f"gamma is the steepness at the cut-off and must be a finite number > 0, got {gamma}; "
            "use the hard threshold for an infinitely steep step"
        )


class _Threshold(nn.Module):
    """Base: holds theta either as a learnable parameter or as a fixed buffer."""

    def __init__(self, theta: float = 0.1, learnable: bool = False) -> None:
        super().__init__()
        _check_cutoff(theta)
        value = torch.tensor(float(theta))
        if learnable:
            self.theta = nn.Parameter(value)
        else:
            self.register_buffer("theta", value)

    def extra_repr(self) -> str:
        return f"theta={float(self.theta.detach()):.4g}, learnable={isinstance(self.theta, nn.Parameter)}"


class HardThreshold(_Threshold):
    """Module form of :func:`hard_threshold`."""

    def forward(self, x: Tensor) -> Tensor:
        return hard_threshold(x, self.theta)


class SoftThreshold(_Threshold):
    """Module form of :func:`soft_threshold`."""

    def forward(self, x: Tensor) -> Tensor:
        return soft_threshold(x, self.theta)


class SigmoidalThreshold(_Threshold):
    """Module form of :func:`sigmoidal_threshold` (alpha and gamma fixed, theta optionally learnable)."""

    def __init__(self, theta: float = 0.1, alpha: float = 0.1, gamma: float = 100.0, learnable: bool = False):
        super().__init__(theta, learnable)
        _check_shape_params(alpha, gamma)
        self.alpha = alpha
        self.gamma = gamma

    def forward(self, x: Tensor) -> Tensor:
        return sigmoidal_threshold(x, self.theta, self.alpha, self.gamma)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, alpha={self.alpha}, gamma={self.gamma}"
