"""The paper's formulas as printed, where lzsc computes something else (the errata of the notebooks).

- :func:`eq6_as_printed`: the sigmoidal threshold of eq. 6 without the factor sign(x) that the
  authors' release (and :func:`lzsc.thresholds.sigmoidal_threshold`) has. As printed it is an even
  function of x, so it maps a code and its negative to the same value and cannot be the threshold of
  signed codes. Introduced in ``notebooks/03_thresholds.ipynb`` (its erratum box).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .thresholds import _check, _check_shape_params

__all__ = ["eq6_as_printed"]


def eq6_as_printed(x: Tensor, theta: Tensor | float, alpha: float = 0.1, gamma: float = 100.0) -> Tensor:
    """Eq. 6 as the paper prints it: (|x| - alpha theta) sigmoid(gamma (|x| - theta)), without sign(x).

    Equals ``sigmoidal_threshold(x, ...)`` for x > 0 and ``-sigmoidal_threshold(x, ...)`` for x < 0
    (and -alpha theta sigmoid(-gamma theta) at x = 0). Takes the arguments of
    :func:`lzsc.thresholds.sigmoidal_threshold` and checks them the same way.
    """
    theta_t = _check(x, theta)
    _check_shape_params(alpha, gamma)
    magnitude = x.abs()
    return (magnitude - alpha * theta_t) * torch.sigmoid(gamma * (magnitude - theta_t))
