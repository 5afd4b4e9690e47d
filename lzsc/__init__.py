"""lzsc: l0-regularized convolutional sparse coding, algorithm unrolling, and FNet / IFNet.

A teaching and reproduction library for Panda et al., "l0-Regularized Sparse Coding-based
Interpretable Network for Multi-Modal Image Fusion" (TPAMI). Folders follow the maths:

- ``lzsc.thresholds``  H_theta, S_theta, T_{alpha,gamma,theta} (eqs. 3, 5, 6)
- ``lzsc.operators``, ``lzsc.solvers``  dictionaries and the classical solvers (IHT, NIHT, ...)
- ``lzsc.unrolled``    the same iterations with learned operators: the LZSC block (eq. 20)
- ``lzsc.models``      FNet (eqs. 22-23) and IFNet (eq. 24)
- ``lzsc.checkpoints`` released weights, atomic checkpoints
- ``lzsc.io``, ``lzsc.fusion``, ``lzsc.paths``  images, fusing pairs and folders, data layout
"""

from .models import FNet, FNetConfig, IFNet, IFNetConfig
from .thresholds import hard_threshold, sigmoidal_threshold, soft_threshold
from .unrolled import LZSCBlock, LZSCConfig

__version__ = "0.1.0"

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
