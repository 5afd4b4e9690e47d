"""Unrolled sparse-coding blocks: the same iterations as ``lzsc.solvers`` with learned operators."""

from .lcsc_block import LCSCBlock
from .lzsc_block import MOMENTUM_KINDS, BlockOutput, LZSCBlock, LZSCConfig, conv, rho_schedule, theta_schedule

__all__ = [
    "MOMENTUM_KINDS",
    "BlockOutput",
    "LCSCBlock",
    "LZSCBlock",
    "LZSCConfig",
    "conv",
    "rho_schedule",
    "theta_schedule",
]
