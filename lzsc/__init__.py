"""lzsc: l0-regularized convolutional sparse coding, algorithm unrolling, and FNet / IFNet.

A teaching and reproduction library for Panda et al., "l0-Regularized Sparse Coding-based
Interpretable Network for Multi-Modal Image Fusion" (TPAMI). Folders follow the maths:

- ``lzsc.thresholds``  H_theta, S_theta, T_{alpha,gamma,theta} (eqs. 3, 5, 6)
- ``lzsc.operators``, ``lzsc.solvers``  dictionaries and the classical solvers (IHT, NIHT, ...)
- ``lzsc.unrolled``    the same iterations with learned operators: the LZSC block (eq. 20)
- ``lzsc.models``      FNet (eqs. 22-23) and IFNet (eq. 24)
- ``lzsc.checkpoints`` released weights, atomic checkpoints
- ``lzsc.io``, ``lzsc.fusion``  images, fusing pairs and folders
- ``lzsc.paths``       the data root ``$LZSC_DATA`` and the released weights' place in it
- ``lzsc.datasets``    the registry of named data sets: A / B folders, names in the papers' tables
- ``lzsc.protocols``   the evaluation protocols ``default`` and ``paper``: fusion mode, file names,
  SSIM data range and CE reduction
- ``lzsc.cost``        parameters, multiply-accumulates and run time of a forward pass

The facts about the authors' release and the evaluation that the code depends on (which source is A,
grey conversion, colour mode, metric definitions, the protocols) are in ``docs/conventions.md``.

The names below are imported on first use (``lzsc.FNet``, ``from lzsc import FNet``), so that
``import lzsc`` and the ``lzsc`` command line start without loading torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import FNet, FNetConfig, IFNet, IFNetConfig
    from .thresholds import hard_threshold, sigmoidal_threshold, soft_threshold
    from .unrolled import LZSCBlock, LZSCConfig

__version__ = "0.1.0"

_HOMES = {
    "FNet": "models",
    "FNetConfig": "models",
    "IFNet": "models",
    "IFNetConfig": "models",
    "LZSCBlock": "unrolled",
    "LZSCConfig": "unrolled",
    "hard_threshold": "thresholds",
    "sigmoidal_threshold": "thresholds",
    "soft_threshold": "thresholds",
}

__all__ = [
    "FNet",
    "FNetConfig",
    "IFNet",
    "IFNetConfig",
    "LZSCBlock",
    "LZSCConfig",
    "__version__",
    "hard_threshold",
    "sigmoidal_threshold",
    "soft_threshold",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
