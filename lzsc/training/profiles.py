"""Training configurations: :class:`TrainConfig` and one per profile of :mod:`lzsc.profiles`.

``profile("quick")`` is a small CPU run, ``profile("paper")`` the release's schedule (GPU). A
:class:`TrainConfig` holds FNet's :class:`~lzsc.models.FNetConfig` (``model``), so the model's defaults
live once, in :class:`~lzsc.unrolled.LZSCConfig`. Change any setting by name, model settings included:
by keyword (``profile("quick", steps=50, n_iter=3)``, :meth:`TrainConfig.with_overrides`) or from
strings (``apply_overrides(cfg, ["n_iter=2"])``, the CLI's ``--set``); :data:`SETTINGS` lists the
names. The paper's ablations (Table III) are configurations of the same trainer:

=========  ==========================================  =========================================
AE1        LCSC block instead of LZSC                  ``block_kind="lcsc"``
AE2        soft threshold                              ``threshold="soft"``
AE3        weights shared across iterations            ``shared_weights=True``
AE4-AE6    no momentum / Polyak / QHM                  ``momentum="none" | "polyak" | "qhm"``
AE7, AE8   sigmoid shape                               ``alpha=...``, ``gamma=...``
AE9, AE10  number of iterations                        ``n_iter=...``
AE11       no stage I (stage II from scratch)          ``skip_stage1=True``
AE12       soft threshold in IFNet only                ``ifnet_threshold="soft"``
AE13-AE15  drop L_int / L_grad / L_ssim (eq. 26)       ``w_int=0`` / ``w_grad=0`` / ``w_ssim=0``
=========  ==========================================  =========================================

Introduced in ``notebooks/06_train_stage1.ipynb``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from ..models import BLOCK_KINDS, FNetConfig, IFNetConfig
from ..profiles import Profile, check_profile
from ..thresholds import THRESHOLD_KINDS, ThresholdKind
from ..unrolled import LZSCConfig
from ..unrolled.backends import BACKENDS, Backend

__all__ = [
    "CPU_PATH",
    "MODEL_SETTINGS",
    "PROFILES",
    "RESUMABLE_FIELDS",
    "SETTINGS",
    "DeviceName",
    "HostSync",
    "Loader",
    "Stage",
    "TrainConfig",
    "apply_overrides",
    "parse_assignments",
    "profile",
]

Stage = Literal[1, 2]
DeviceName = Literal["auto", "cpu", "cuda"]
Loader = Literal["host", "device"]
HostSync = Literal["step", "log"]


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training stage needs; the defaults are the release's (``docs/conventions.md``).

    ``stage`` 1 trains FNet + IFNet with eq. 25, ``stage`` 2 FNet alone with eq. 26. ``steps`` is the
    total number of optimiser steps of the stage. ``model`` is FNet's configuration (its defaults, in
    :class:`lzsc.unrolled.LZSCConfig`, are the released FNet's); IFNet uses the same, with
    ``ifnet_threshold`` (AE12) and ``ifnet_shared_decoder`` (the release's defect) on top. ``data``
    names the training pairs: a set under ``$LZSC_DATA/train`` ("MSRS", "RoadScene"), a folder holding
    ``ir/`` and ``vi/``, or "synthetic". ``device`` is "auto" (CUDA when available), "cpu", "cuda" or
    "cuda:N"; ``threads`` sets torch's CPU threads for the run (None: torch's default; 1 is far faster
    on a CPU shared with other jobs). ``backend`` is the models' execution backend
    (:mod:`lzsc.unrolled.backends`; "auto": the fastest exact one), ``bf16`` runs the convolutions
    under bfloat16 autocast (thresholds and losses stay float32), ``channels_last`` uses NHWC memory.
    ``loader`` is "host" (crops cut on the CPU, :class:`~lzsc.data.PairedImageDataset`) or "device"
    (every pair decoded once onto the device and cut there, :class:`~lzsc.data.DevicePairs`; the same
    crops for a seed; other data, such as the synthetic pairs, is always served by the host).
    ``host_sync`` "step" reads the loss every step and checks it before the update (CPU runs); "log"
    reads it only every ``log_every`` steps and before each checkpoint, so a GPU step never waits for
    the host (a diverging loss is then found at the next log step, and no checkpoint
    is written after it). ``compile_model`` runs the networks through ``torch.compile``.

    Change settings by name with :meth:`with_overrides` (model settings such as ``n_iter`` or
    ``threshold`` go into ``model``); :meth:`to_dict` lists every setting by that name.
    """

    stage: Stage = 1
    steps: int = 20_000
    batch_size: int = 16
    patch: int = 128
    lr: float = 1e-4
    ema_decay: float = 0.999
    model: FNetConfig = field(default_factory=FNetConfig)
    ifnet_threshold: ThresholdKind | None = None
    ifnet_shared_decoder: bool = False
    skip_stage1: bool = False
    w_rec_int: float = 1.0
    w_rec_grad: float = 1.0
    w_int: float = 20.0
    w_grad: float = 20.0
    w_ssim: float = 15.0
    data: str = "MSRS"
    seed: int = 0
    checkpoint_every: int = 1000
    log_every: int = 50
    device: DeviceName | str = "auto"
    threads: int | None = None
    backend: Backend = "auto"
    bf16: bool = False
    channels_last: bool = False
    loader: Loader = "host"
    host_sync: HostSync = "step"
    compile_model: bool = False

    def __post_init__(self) -> None:
        if self.stage not in (1, 2):
            raise ValueError(
                f"stage must be 1 (FNet + IFNet, eq. 25) or 2 (fusion, eq. 26), got {self.stage}"
            )
        if type(self.model) is not FNetConfig:
            raise TypeError(
                f"model must be an FNetConfig (IFNet's follows from it), got {type(self.model).__name__}"
            )
        for name in ("steps", "batch_size", "patch"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1 (steps), got {getattr(self, name)}")
        for name, value in self.to_dict().items():
            numbers = value if isinstance(value, tuple) else (value,)
            if any(isinstance(v, float) and not math.isfinite(v) for v in numbers):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be None or >= 1, got {self.threads}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must lie in [0, 1), got {self.ema_decay}")
        for name in ("w_rec_int", "w_rec_grad", "w_int", "w_grad", "w_ssim"):
            if getattr(self, name) < 0:
                raise ValueError(f"loss weight {name} must be >= 0, got {getattr(self, name)}")
        if self.ifnet_threshold is not None and self.ifnet_threshold not in THRESHOLD_KINDS:
            raise ValueError(
                f"ifnet_threshold must be None or one of {THRESHOLD_KINDS}, got {self.ifnet_threshold!r}"
            )
        if self.model.block_kind not in BLOCK_KINDS:
            raise ValueError(f"block_kind must be one of {BLOCK_KINDS}, got {self.model.block_kind!r}")
        if self.device not in get_args(DeviceName) and not self.device.startswith("cuda:"):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {self.device!r}")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {self.backend!r}")
        for name, kind in (("loader", Loader), ("host_sync", HostSync)):
            if getattr(self, name) not in get_args(kind):
                raise ValueError(f"{name} must be one of {get_args(kind)}, got {getattr(self, name)!r}")

    def fnet_config(self) -> FNetConfig:
        """FNet's configuration (``model``)."""
        return self.model

    def ifnet_config(self) -> IFNetConfig:
        """IFNet's configuration: FNet's, with ``ifnet_threshold`` (AE12) and the release-defect switch."""
        block = self.model.block
        if self.ifnet_threshold is not None:
            block = replace(block, threshold=self.ifnet_threshold)
        return IFNetConfig(
            block=block, block_kind=self.model.block_kind, shared_decoder=self.ifnet_shared_decoder
        )

    def with_overrides(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` by setting name (:data:`SETTINGS`), e.g. ``n_iter=2, w_ssim=0``.

        Model settings (the :class:`~lzsc.unrolled.LZSCConfig` fields but ``in_channels``, and
        ``block_kind``) go into ``model``, the others are this configuration's own fields.
        """
        unknown = sorted(set(changes) - set(SETTINGS))
        if unknown:
            raise ValueError(
                f"unknown training setting(s) {', '.join(map(repr, unknown))}; known: {', '.join(SETTINGS)}"
            )
        block = {k: v for k, v in changes.items() if k in _BLOCK_SETTINGS}
        net = {k: v for k, v in changes.items() if k in _NET_SETTINGS}
        own = {k: v for k, v in changes.items() if k not in block and k not in net}
        model = replace(self.model, block=replace(self.model.block, **block), **net)
        return replace(self, model=model, **own)

    def to_dict(self) -> dict[str, Any]:
        """Every setting by name, in :data:`SETTINGS` order (the model's flattened out of ``model``).

        Stored in training checkpoints (compared on resume, :data:`RESUMABLE_FIELDS`) and hashed for
        the ablation run folders; JSON-ready but for the tuples ``init_theta`` / ``init_rho``.
        """
        owner = {
            **dict.fromkeys(_BLOCK_SETTINGS, self.model.block),
            **dict.fromkeys(_NET_SETTINGS, self.model),
        }
        return {name: getattr(owner.get(name, self), name) for name in SETTINGS}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict` (JSON's lists read back as tuples); missing settings take the
        defaults, unknown ones are an error."""
        return cls().with_overrides(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


_BLOCK_SETTINGS = tuple(f.name for f in fields(LZSCConfig) if f.name != "in_channels")
_NET_SETTINGS = tuple(f.name for f in fields(FNetConfig) if f.name != "block")


def _setting_types() -> dict[str, Any]:
    own, block, net = (get_type_hints(cls) for cls in (TrainConfig, LZSCConfig, FNetConfig))
    types: dict[str, Any] = {}
    for f in fields(TrainConfig):
        if f.name == "model":
            types.update({name: block[name] for name in _BLOCK_SETTINGS})
            types.update({name: net[name] for name in _NET_SETTINGS})
        else:
            types[f.name] = own[f.name]
    return types


SETTINGS: dict[str, Any] = _setting_types()
"""Every setting name of :meth:`TrainConfig.with_overrides`, ``--set`` and :meth:`TrainConfig.to_dict`,
with its type: the configuration's own fields, with ``model`` replaced by the LZSC block's fields
(but ``in_channels``, set per block) and FNet's ``block_kind``."""

MODEL_SETTINGS = frozenset({*_BLOCK_SETTINGS, *_NET_SETTINGS, "ifnet_threshold", "ifnet_shared_decoder"})
"""The settings that configure the networks (FNet's and IFNet's configurations); the rest are training's."""

RESUMABLE_FIELDS = frozenset(
    {
        "steps",
        "checkpoint_every",
        "log_every",
        "device",
        "threads",
        "backend",
        "bf16",
        "channels_last",
        "lr",
        "loader",
        "host_sync",
        "compile_model",
    }
)
"""Settings that may differ between a checkpoint and the configuration that resumes it (changing the
device, threads, backend or precision on resume gives a valid run, but no longer bitwise the
uninterrupted one; the loader and the host synchronisation do not change the run). ``lr`` may change
so that a diverged run can continue from its last good checkpoint with a lower learning rate
(``--resume --set lr=VALUE``); Adam's moments are kept."""


PAPER = TrainConfig(device="cuda", bf16=True, channels_last=True, loader="device", host_sync="log")
"""The release's schedule (``docs/conventions.md``): MSRS, 128x128 crops, batch 16, Adam lr 1e-4, EMA 0.999,
20,000 steps per stage, K = 64 filters of 9x9, 4 iterations. Meant for a GPU (``device="cuda"``), run
fast: the pairs on the device, no host synchronisation between log steps, channels_last, and bfloat16
autocast for the convolutions (thresholds and losses stay float32). The last is a deviation from the
release, which trains in float32: ``--set bf16=false`` restores it."""

QUICK = TrainConfig(
    steps=270,
    batch_size=4,
    patch=48,
    model=FNetConfig(LZSCConfig(n_filters=12, kernel_size=7, n_iter=2)),
    lr=1e-3,
    ema_decay=0.98,
    checkpoint_every=100,
    log_every=10,
    device="cpu",
    threads=1,
    channels_last=True,
)
"""A small CPU run that trains a visibly working FNet through both stages in about 5 minutes on 2 cores.

Settings: K = 12 filters of 7x7, 2 iterations per LZSC block, 48x48 crops, batch 4, 270 steps per
stage, Adam lr 1e-3, EMA decay 0.98, one CPU thread, channels_last.

Measured with ``lzsc train --stage both --profile quick --data MSRS`` on the 2-core development
machine while other jobs kept it busy (load average 5-6): 5 min 23 s wall in total (stage I 196 s,
stage II 114 s, the rest start-up and reading the MSRS images), 2 min 25 s of CPU time, so about
2.5 min on an idle core. On TNO the result has visible infrared targets on the visible texture
(MI 1.72, Qabf 0.42 on three test pairs, against 2.19 and 0.53 for the released weights).

Why these choices:

- EMA decay 0.98 instead of 0.999: the time constant of 0.999 is 1,000 steps, so after 270 steps
  the average would still be 76% the random initialisation (0.999^270); 0.98 (50 steps) forgets
  it, and scored better than 0.99 and than the raw weights in trial runs.
- lr 1e-3 instead of 1e-4: 1e-4 barely moves the weights in a few hundred steps.
- One thread: on a CPU shared with other jobs, two threads were 8x slower than one (threads wait on
  each other); pass ``threads=None`` (``--set threads=none``) on an idle machine.
- channels_last: about 20% faster on CPU for these convolutions.
- 2 iterations and K = 12: what fits the time; the paper's ablations (AE9, AE10) change little with N.
"""

CPU_PATH: dict[str, Any] = {"bf16": False, "loader": "host", "host_sync": "step"}
"""The CPU's training path, which replaces the ``paper`` profile's GPU settings when a run is moved to the
CPU (``lzsc train --device cpu``, the ablations' CPU scales): float32, the host loader, a loss check
before every update. Explicit ``--set`` values still win."""

PROFILES: dict[Profile, TrainConfig] = {"quick": QUICK, "paper": PAPER}
"""The training configuration of each profile of :mod:`lzsc.profiles`."""


def profile(name: Profile, **overrides: Any) -> TrainConfig:
    """The named profile with setting overrides, e.g. ``profile("quick", stage=2, steps=100, n_iter=3)``."""
    return PROFILES[check_profile(name)].with_overrides(**overrides)


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _parse(text: str, hint: Any) -> Any:
    """``text`` as a value of type ``hint`` (bool, int, float, str, a Literal, a tuple, a union); a
    ValueError says what was expected."""
    low = text.strip().lower()
    origin, args = get_origin(hint), get_args(hint)
    if origin is Union or isinstance(hint, UnionType):
        if type(None) in args and low in ("none", "null", ""):
            return None
        expected = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _parse(text, arg)
            except ValueError as err:
                expected.append(str(err))
        raise ValueError(" or ".join(expected) + (" or none" if type(None) in args else ""))
    if origin is Literal:
        for option in args:
            if str(option).lower() == low:
                return option
        raise ValueError(f"one of {', '.join(map(repr, args))}")
    if origin is tuple:
        parts = text.strip().strip("()[]").split(",")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_parse(part, args[0]) for part in parts)
        if len(parts) != len(args):
            raise ValueError(f"{len(args)} comma-separated values")
        return tuple(_parse(part, arg) for part, arg in zip(parts, args, strict=True))
    if hint is bool:
        if low in _TRUE or low in _FALSE:
            return low in _TRUE
        raise ValueError("true/false")
    if hint is int:
        try:
            return int(text)
        except ValueError:
            number = _parse(text, float)
            if not number.is_integer():
                raise ValueError("an integer") from None
            return int(number)
    if hint is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError("a number") from None
    return text.strip()


def parse_assignments(
    assignments: Iterable[str], types: Mapping[str, Any], what: str = "training"
) -> dict[str, Any]:
    """``KEY=VALUE`` strings (the CLI's ``--set``) as ``{key: value}``, each value converted to
    ``types[key]`` (``none`` for an optional setting, ``a,b`` for a tuple); ``what`` names the
    settings in the error for an unknown key."""
    changes: dict[str, Any] = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        if key not in types:
            raise ValueError(f"unknown {what} setting {key!r}; known: {', '.join(types)}")
        try:
            changes[key] = _parse(value, types[key])
        except ValueError as err:
            raise ValueError(f"bad value for {key}: expects {err}, got {value!r}") from err
    return changes


def apply_overrides(config: TrainConfig, assignments: Iterable[str]) -> TrainConfig:
    """Apply ``KEY=VALUE`` strings (the CLI's ``--set``; any name of :data:`SETTINGS`), each value
    converted to the setting's type."""
    return config.with_overrides(**parse_assignments(assignments, SETTINGS))
