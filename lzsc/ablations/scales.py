"""The scale of an ablation run: the training profile and its overrides, and the evaluation subset.

An :class:`AblationScale` is named (:data:`SCALES`: ``"ci"``, a few CPU minutes for all 16 models;
``"cpu"``, a larger scale for background CPU runs; ``"paper"``, the release's schedule on every test
pair); all keep the paper's model except for its size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..datasets import FNET_TEST_SETS
from ..profiles import Profile
from ..protocols import ProtocolName
from ..training import TrainConfig, profile
from ..training.profiles import CPU_PATH, SETTINGS

__all__ = ["SCALES", "AblationScale"]


@dataclass(frozen=True)
class AblationScale:
    """How big one ablation run is: the training profile and its overrides, and the evaluation subset.

    ``train`` overrides the ``profile``'s :class:`TrainConfig`, by setting name (``steps`` is per stage);
    ``pairs_per_set`` keeps the first N test pairs (by name) of each of ``datasets`` (None: all);
    ``synthetic_pairs`` / ``synthetic_size`` replace the test sets when no data root is set.
    """

    name: str
    profile: Profile
    train: Mapping[str, Any] = field(default_factory=dict)
    pairs_per_set: int | None = None
    datasets: tuple[str, ...] = FNET_TEST_SETS
    protocol: ProtocolName = "paper"
    synthetic_pairs: int = 4
    synthetic_size: int = 128

    def config(self, **overrides: Any) -> TrainConfig:
        """The baseline :class:`TrainConfig` of this scale (keyword overrides win). A scale that trains on
        the CPU drops the profile's GPU settings (:data:`CPU_PATH`: float32, host loader, per-step checks)."""
        cpu = CPU_PATH if {**self.train, **overrides}.get("device") == "cpu" else {}
        return profile(self.profile, **{**cpu, **self.train, **overrides})

    def with_(self, **changes: Any) -> AblationScale:
        """A copy with ``changes``; training settings (:data:`~lzsc.training.profiles.SETTINGS`) go into
        ``train``."""
        train = {**self.train, **{k: v for k, v in changes.items() if k in SETTINGS}}
        rest = {k: v for k, v in changes.items() if k not in SETTINGS}
        return replace(self, train=train, **rest)

    def describe(self, synthetic: bool = False, seeds: Sequence[int] | None = None) -> str:
        """One line stating the scale (printed next to every reduced-scale result); ``seeds`` replaces
        the configuration's one seed by the list a multi-seed study used. It names the training profile
        the scale starts from (:func:`lzsc.training.profile`, e.g. ``'paper'`` for ``ci``), which is
        not the notebook profile (``quick``) that picked the scale, and says when it is shrunk."""
        c = self.config()
        k, n = c.model.kernel_size, c.model.block.n_iter
        seed_text = f"seed {c.seed}" if seeds is None else f"seeds {', '.join(str(x) for x in seeds)}"
        if synthetic:
            evaluation = (
                f"evaluated on {self.synthetic_pairs} synthetic {self.synthetic_size}x{self.synthetic_size} "
                "pairs (no LZSC_DATA), protocol 'default'"
            )
        else:
            pairs = "all" if self.pairs_per_set is None else f"the first {self.pairs_per_set}"
            evaluation = (
                f"evaluated on {pairs} test pair(s) of {', '.join(self.datasets)}, protocol '{self.protocol}'"
            )
        base = profile(self.profile)
        smaller = c.steps < base.steps or c.model.n_filters < base.model.n_filters
        source = f"the '{self.profile}' training profile (lzsc.training)" + (" shrunk to" if smaller else ",")
        return (
            f"scale '{self.name}' = {source} K = {c.model.n_filters} filters of "
            f"{k}x{k}, {n} iterations, {c.patch}x{c.patch} crops, batch "
            f"{c.batch_size}, {c.steps} steps per stage, lr {c.lr:g}, EMA {c.ema_decay:g}, {seed_text}, "
            f"data {'synthetic MCSC pairs' if synthetic else c.data}; {evaluation}"
        )


SCALES: dict[str, AblationScale] = {
    "ci": AblationScale(
        "ci",
        "paper",
        {
            "n_filters": 8,
            "kernel_size": 5,
            "patch": 32,
            "batch_size": 4,
            "steps": 100,
            "lr": 3e-3,
            "ema_decay": 0.9,
            "device": "cpu",
            "threads": 1,
            "channels_last": True,
            "log_every": 10,
            "checkpoint_every": 1_000_000,
        },
        pairs_per_set=1,
    ),
    "cpu": AblationScale(
        "cpu",
        "paper",
        {
            "n_filters": 12,
            "kernel_size": 5,
            "patch": 32,
            "batch_size": 4,
            "steps": 500,
            "lr": 1e-3,
            "ema_decay": 0.98,
            "device": "cpu",
            "threads": 1,
            "channels_last": True,
            "log_every": 25,
            "checkpoint_every": 250,
        },
        pairs_per_set=2,
    ),
    "paper": AblationScale("paper", "paper", {}, pairs_per_set=None),
}
"""Named scales, both on the ``paper`` profile's model (4 iterations, sigmoidal threshold, Nesterov, the
eq. 26 weights), so that every ablation changes what the paper changed. ``ci`` keeps 16 trainings and
their evaluation within a few minutes on 2 CPU cores: K = 8 filters of 5x5, 100 steps per stage on
32x32 crops, lr 3e-3, EMA decay 0.9 (a 10-step time constant; 0.999 would still be 90% the random
initialisation after 100 steps), one thread and channels_last (fastest for these tiny convolutions on
a CPU). ``cpu`` is the larger scale a background run on two CPU cores can afford (about five
minutes per configuration and seed), to see whether the picture sharpens with scale: K = 12 filters
of 5x5, five times the steps (500 per stage) at a third of the learning rate (1e-3: at 3e-3, stage II
blew up in one of three seeds of most configurations, the loss jumping a thousandfold), EMA decay 0.98
(a 50-step time constant), two test pairs per set. (K = 16 filters of 7x7 and 1,000 steps would
cost about 90 times a ``ci`` run: hours per run on such a machine.) ``paper`` is the release's
schedule (20,000 steps per stage, K = 64 filters of 9x9, GPU)."""
