"""Two-stage training of FNet / IFNet (paper eqs. 25-26) with the release's schedule.

``train(config, data, out_dir)`` runs one stage, ``train_both`` runs stage I then stage II;
``profile("quick" | "paper", **overrides)`` (the profiles of :mod:`lzsc.profiles`) gives a
:class:`TrainConfig`, which holds FNet's configuration in ``model``. Introduced in
``notebooks/06_train_stage1.ipynb`` and ``notebooks/07_train_stage2.ipynb``.

CSC-IVFN's training (an autoencoder on single images, as released) is
``train_csc_ivfn(csc_profile("quick" | "paper"), out_dir)`` (:mod:`lzsc.training.csc_ivfn`,
``notebooks/11_csc_networks.ipynb``).
"""

from .csc_ivfn import CSCTrainConfig, CSCTrainResult, csc_profile, train_csc_ivfn
from .ema import EMA
from .log import StepLog, read_log
from .losses import (
    FusionLoss,
    LossOutput,
    ReconstructionLoss,
    fusion_loss,
    gradient_weights,
    reconstruction_loss,
    sobel_magnitude,
    ssim,
    ssim_map,
)
from .profiles import PROFILES, TrainConfig, apply_overrides, profile
from .trainer import TrainResult, build_dataset, train, train_both

__all__ = [
    "EMA",
    "PROFILES",
    "CSCTrainConfig",
    "CSCTrainResult",
    "FusionLoss",
    "LossOutput",
    "ReconstructionLoss",
    "StepLog",
    "TrainConfig",
    "TrainResult",
    "apply_overrides",
    "build_dataset",
    "csc_profile",
    "fusion_loss",
    "gradient_weights",
    "profile",
    "read_log",
    "reconstruction_loss",
    "sobel_magnitude",
    "ssim",
    "ssim_map",
    "train",
    "train_both",
    "train_csc_ivfn",
]
