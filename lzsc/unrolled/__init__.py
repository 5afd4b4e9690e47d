"""Unrolled sparse-coding blocks: the same iterations as ``lzsc.solvers`` with learned operators."""

from .lcsc_block import LCSCBlock
from .learned_iht import FitHistory, LearnedIHT, block_from_dictionary, fit_learned_iht, nmse_db
from .lzsc_block import MOMENTUM_KINDS, BlockOutput, LZSCBlock, LZSCConfig, conv, rho_schedule, theta_schedule

__all__ = [
    "MOMENTUM_KINDS",
    "BlockOutput",
    "FitHistory",
    "LCSCBlock",
    "LZSCBlock",
    "LZSCConfig",
    "LearnedIHT",
    "block_from_dictionary",
    "conv",
    "fit_learned_iht",
    "nmse_db",
    "rho_schedule",
    "theta_schedule",
]
