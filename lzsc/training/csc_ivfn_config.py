"""CSC-IVFN training settings: :class:`CSCTrainConfig`, the ``paper`` and ``quick`` profiles, ``--set``.

The defaults are the release's (``CSC-IVF/Train.py``, ``Arguments.py``; the conventions and the
deviations are listed in :mod:`lzsc.training.csc_ivfn`). Change settings by name with
:meth:`CSCTrainConfig.with_overrides` or from ``KEY=VALUE`` strings with :func:`apply_csc_overrides`
(the CLI's ``--set``, values parsed as FNet's, :func:`lzsc.training.profiles.apply_overrides`).
Introduced in ``notebooks/11_csc_networks.ipynb``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, get_type_hints

from ..methods.csc_ivfn import CSCIVFNConfig
from ..profiles import Profile, check_profile
from .csc_ivfn_data import steps_per_epoch
from .profiles import parse_assignments

__all__ = [
    "CSC_PROFILES",
    "CSC_RESUMABLE",
    "CSC_SETTINGS",
    "PAPER",
    "QUICK",
    "CSCTrainConfig",
    "apply_csc_overrides",
    "csc_profile",
]


@dataclass(frozen=True)
class CSCTrainConfig:
    """One CSC-IVFN training run; the defaults are the release's (``paper``).

    ``epochs`` passes over the images, ``steps`` an optional total at which to stop earlier (with
    ``resume``: the total to reach). ``crop``, ``scale``, ``ratio``: the random-resized crops.
    ``lr`` drops by ``lr_gamma`` from epoch ``lr_decay_epoch`` (0-based, so 30 = after 30 epochs;
    None: never). ``w_ssim`` weighs the SSIM term (window ``ssim_window``). ``n_filters``,
    ``kernel_size``, ``n_iter``: the network (:class:`~lzsc.methods.csc_ivfn.CSCIVFNConfig`). ``data``:
    a training set ("FLIR") or a folder (``ir/`` + ``vi/``, or images). ``checkpoint_every`` and
    ``log_every`` count steps. ``device``: "cpu", "auto", "cuda[:N]"; ``threads``: torch's CPU threads
    for the run (None: torch's default).
    """

    epochs: int = 60
    steps: int | None = None
    batch_size: int = 16
    crop: int = 128
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    lr: float = 1e-2
    lr_decay_epoch: int | None = 30
    lr_gamma: float = 0.1
    w_ssim: float = 5.0
    ssim_window: int = 3
    n_filters: int = 64
    kernel_size: int = 3
    n_iter: int = 7
    data: str = "FLIR"
    seed: int = 0
    checkpoint_every: int = 23
    log_every: int = 5
    device: str = "cpu"
    threads: int | None = None

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("steps", "threads", "lr_decay_epoch"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be None or >= 1, got {getattr(self, name)}")
        if self.crop < 8:
            raise ValueError(f"crop must be >= 8 (the network's 11 x 11 box blur), got {self.crop}")
        if not (math.isfinite(self.lr) and self.lr > 0) or not 0 < self.lr_gamma <= 1:
            raise ValueError(f"need lr > 0 and 0 < lr_gamma <= 1, got lr={self.lr}, lr_gamma={self.lr_gamma}")
        if not (math.isfinite(self.w_ssim) and self.w_ssim >= 0):
            raise ValueError(f"w_ssim must be a finite number >= 0, got {self.w_ssim}")
        if self.ssim_window < 1 or self.ssim_window % 2 == 0:
            raise ValueError(f"ssim_window must be odd and >= 1, got {self.ssim_window}")
        if self.n_filters < 4 or self.n_filters % 4 or self.n_iter < 0:
            raise ValueError(
                f"n_filters must be a multiple of 4 (the decoder halves it twice) and n_iter >= 0, got "
                f"n_filters={self.n_filters}, n_iter={self.n_iter}"
            )
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {self.device!r}")
        self.model_config()  # the network's own checks (kernel size)

    def model_config(self) -> CSCIVFNConfig:
        return CSCIVFNConfig(n_filters=self.n_filters, kernel_size=self.kernel_size, n_iter=self.n_iter)

    def lr_at(self, epoch: int) -> float:
        """The learning rate of 0-based ``epoch`` (MultiStepLR's closed form with one milestone)."""
        decayed = self.lr_decay_epoch is not None and epoch >= self.lr_decay_epoch
        return self.lr * self.lr_gamma if decayed else self.lr

    def total_steps(self, n_images: int) -> int:
        """min(steps, epochs * ceil(n_images / batch_size))."""
        full = self.epochs * steps_per_epoch(n_images, self.batch_size)
        return full if self.steps is None else min(self.steps, full)

    def with_overrides(self, **changes: Any) -> CSCTrainConfig:
        unknown = sorted(set(changes) - set(CSC_SETTINGS))
        if unknown:
            raise ValueError(
                f"unknown CSC-IVFN training setting(s) {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(CSC_SETTINGS)}"
            )
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> CSCTrainConfig:
        return cls().with_overrides(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


CSC_SETTINGS: dict[str, Any] = get_type_hints(CSCTrainConfig)
CSC_RESUMABLE = frozenset({"epochs", "steps", "checkpoint_every", "log_every", "device", "threads", "lr"})
"""Settings that may differ on resume (a new device or thread count gives a valid run, not bitwise the
uninterrupted one); ``lr`` so that a diverged run can continue its last checkpoint with a lower one."""

PAPER = CSCTrainConfig()
"""The release's schedule: 60 epochs over FLIR's 360 images (23 steps each, 1,380 steps), batch 16,
128 x 128 crops, Adam lr 1e-2 then 1e-3 from epoch 31, seed 0, on the CPU with torch's default threads.

Estimated wall time on the 2-core development machine: 6.5 to 8 hours. Measured: 17 s per step over
the first 60 steps of ``lzsc train --method csc-ivfn --profile paper --set threads=1`` beside other
jobs (1,380 x 17 s = 6.5 h), and 21.1 s per step (mean of steps 2-21) with 2 threads while another job
kept the machine busy (load average about 3.5; 1,380 x 21.1 s = 8.1 h). Peak memory about 6.6 GB.
Checkpoints every epoch (23 steps, 6-8 minutes), so ``--resume`` loses little.
"""

QUICK = CSCTrainConfig(
    epochs=6,
    batch_size=8,
    crop=64,
    n_filters=16,
    n_iter=3,
    lr_decay_epoch=3,
    checkpoint_every=45,
    log_every=5,
    threads=1,
)
"""A CPU run of about a minute that visibly learns (``notebooks/11_csc_networks.ipynb``).

Settings: 6 epochs over FLIR's 360 images with batch 8 (45 steps each, 270 steps), 64 x 64 crops, a
smaller CSC-IVFN (16 filters, 3 units after the first, instead of 64 and 7), lr 1e-2 then 1e-3 from
epoch 4 (the paper's halfway drop), one CPU thread; the rest is the release's.

Measured with ``lzsc train --method csc-ivfn --profile quick`` (``LZSC_DATA`` set) on the 2-core
development machine: 52 s wall (48 s of training), 0.7 GB; the loss falls from 2.40 (first step) to
0.034 (last step), epoch means 0.354, 0.083, 0.065, 0.057, 0.048, 0.047. In eval mode the result
reconstructs TNO40 test images (its first five, autoencoder PSNR) at 38.6 dB infrared / 27.6 dB
visible, against 38.4 / 31.2 dB for the released weights.

Why these choices: the release's network at batch 8 and 64 x 64 crops takes about 1.2 s a step here,
so a minute is one epoch, after which its batch-norm running statistics still lag the weights (about
19 dB in eval mode); the smaller network runs six epochs in the same time. One thread: on a CPU
shared with other jobs, as FNet's quick profile (``--set threads=none`` on an idle machine).
"""

CSC_PROFILES: dict[Profile, CSCTrainConfig] = {"quick": QUICK, "paper": PAPER}


def csc_profile(name: Profile, **overrides: Any) -> CSCTrainConfig:
    """The named profile with setting overrides, e.g. ``csc_profile("quick", epochs=1, crop=32)``."""
    return CSC_PROFILES[check_profile(name)].with_overrides(**overrides)


def apply_csc_overrides(config: CSCTrainConfig, assignments: Iterable[str]) -> CSCTrainConfig:
    """Apply ``KEY=VALUE`` strings (the CLI's ``--set``), each converted to the setting's type
    (``none`` for an optional one, ``a,b`` for a pair)."""
    return config.with_overrides(**parse_assignments(assignments, CSC_SETTINGS, "CSC-IVFN training"))
