"""FNet and IFNet, built from the unrolled blocks of ``lzsc.unrolled``."""

from .fnet import BLOCK_KINDS, BlockKind, FNet, FNetConfig, FNetOutput, check_pair
from .ifnet import IFNet, IFNetConfig

__all__ = [
    "BLOCK_KINDS",
    "BlockKind",
    "FNet",
    "FNetConfig",
    "FNetOutput",
    "IFNet",
    "IFNetConfig",
    "check_pair",
]
