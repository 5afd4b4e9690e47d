"""Unrolled sparse-coding blocks: the same iterations as ``lzsc.solvers`` with learned operators."""

from .backends import BACKENDS, Backend, Execution, run_blocks
from .dcu import DCU, DCUConfig, DCUStack
from .lcsc_block import LCSCBlock
from .learned_iht import FitHistory, LearnedIHT, block_from_dictionary, fit_learned_iht, nmse_db
from .lzsc_block import BlockOutput, LZSCBlock, LZSCConfig, conv, rho_schedule, theta_schedule
from .momentum import MOMENTUM_KINDS, Momentum, step_coefficients

__all__ = [
    "BACKENDS",
    "DCU",
    "MOMENTUM_KINDS",
    "Backend",
    "BlockOutput",
    "DCUConfig",
    "DCUStack",
    "Execution",
    "FitHistory",
    "LCSCBlock",
    "LZSCBlock",
    "LZSCConfig",
    "LearnedIHT",
    "Momentum",
    "block_from_dictionary",
    "conv",
    "fit_learned_iht",
    "nmse_db",
    "rho_schedule",
    "run_blocks",
    "step_coefficients",
    "theta_schedule",
]
