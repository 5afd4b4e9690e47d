"""The paper's ablations (Table III) as configurations: what each one changes.

Every ablation AE1-AE15 is a set of :class:`lzsc.training.TrainConfig` overrides applied to the
same base configuration as the full FNet: no code fork. :data:`ABLATIONS` lists them with what they
change, :func:`ablation_config` builds one, :func:`model_diff` / :func:`train_diff` say which
model or training fields differ from the baseline. Block settings (threshold, momentum, weight
sharing, sigmoid shape, iterations) apply to every LZSC block, FNet's and IFNet's (they go into
``TrainConfig.model``, which both networks use); AE12 changes IFNet's threshold only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..training import TrainConfig
from ..training.profiles import MODEL_SETTINGS

__all__ = [
    "ABLATIONS",
    "BASELINE",
    "PAPER_BASELINE",
    "Ablation",
    "ablation_config",
    "model_diff",
    "overview",
    "train_diff",
]

BASELINE = "FNet"
"""Name of the full model in :func:`run_ablations` results (Table III's "FNet(Ours)")."""
PAPER_BASELINE = "FNet(Ours)"


@dataclass(frozen=True)
class Ablation:
    """One experiment of Table III: its overrides of the baseline :class:`TrainConfig`.

    ``overrides`` are settings by name (:meth:`TrainConfig.with_overrides`). ``model_fields`` are the
    dotted fields of ``fnet.*`` / ``ifnet.*`` (the two networks' configurations) that must differ from
    the baseline, ``train_fields`` the training settings that must differ (loss weights, stage I on/off).
    """

    name: str
    description: str
    overrides: Mapping[str, Any]
    model_fields: tuple[str, ...] = ()
    train_fields: tuple[str, ...] = ()


def _both(path: str) -> tuple[str, ...]:
    return (f"fnet.{path}", f"ifnet.{path}")


ABLATIONS: dict[str, Ablation] = {
    a.name: a
    for a in (
        Ablation("AE1", "LCSC block (unrolled ISTA, l1) instead of LZSC in FNet and IFNet",
                 {"block_kind": "lcsc"}, _both("block_kind")),
        Ablation("AE2", "soft threshold instead of the sigmoidal one in the LZSC blocks",
                 {"threshold": "soft"}, _both("block.threshold")),
        Ablation("AE3", "LZSC weights shared across iterations", {"shared_weights": True},
                 _both("block.shared_weights")),
        Ablation("AE4", "no momentum (plain IHT iterations)", {"momentum": "none"}, _both("block.momentum")),
        Ablation("AE5", "Polyak (heavy-ball) momentum instead of Nesterov", {"momentum": "polyak"},
                 _both("block.momentum")),
        Ablation("AE6", "quasi-hyperbolic momentum instead of Nesterov", {"momentum": "qhm"},
                 _both("block.momentum")),
        Ablation("AE7", "sigmoid shape alpha = 0.9 (gamma = 100)", {"alpha": 0.9}, _both("block.alpha")),
        Ablation("AE8", "sigmoid shape gamma = 50 (alpha = 0.1)", {"gamma": 50.0}, _both("block.gamma")),
        Ablation("AE9", "3 iterations (IMs) per LZSC block instead of 4", {"n_iter": 3},
                 _both("block.n_iter")),
        Ablation("AE10", "5 iterations (IMs) per LZSC block instead of 4", {"n_iter": 5},
                 _both("block.n_iter")),
        Ablation("AE11", "no stage I (no IFNet): stage II from random weights", {"skip_stage1": True},
                 train_fields=("skip_stage1",)),
        Ablation("AE12", "soft threshold in IFNet only", {"ifnet_threshold": "soft"},
                 ("ifnet.block.threshold",)),
        Ablation("AE13", "stage-II loss without L_int", {"w_int": 0.0}, train_fields=("w_int",)),
        Ablation("AE14", "stage-II loss without L_grad", {"w_grad": 0.0}, train_fields=("w_grad",)),
        Ablation("AE15", "stage-II loss without L_ssim", {"w_ssim": 0.0}, train_fields=("w_ssim",)),
    )
}  # fmt: skip
"""AE1-AE15 of the paper's Table III."""


def ablation_config(name: str, base: TrainConfig) -> TrainConfig:
    """``base`` with the overrides of ablation ``name`` (``"FNet"``: ``base`` itself).

    The fields an ablation overrides must hold the paper's values in ``base`` (e.g. 4 iterations for
    AE9 / AE10, which compare 3 and 5 with the paper's 4); otherwise a ValueError says which differ.
    """
    if name == BASELINE:
        return base
    if name not in ABLATIONS:
        raise KeyError(f"unknown ablation {name!r}; choose {BASELINE} or one of {', '.join(ABLATIONS)}")
    overrides = ABLATIONS[name].overrides
    mine, paper = base.to_dict(), TrainConfig().to_dict()
    differ = {k: mine[k] for k in overrides if mine[k] != paper[k]}
    if differ:
        wanted = ", ".join(f"{k}={paper[k]!r}" for k in differ)
        raise ValueError(
            f"{name} ({ABLATIONS[name].description}) is defined against the paper's FNet ({wanted}), but the "
            f"base configuration has {differ}; build the base from profile('paper', ...) (e.g. SCALES['ci'])"
        )
    return base.with_overrides(**overrides)


def _flatten(obj: Any, prefix: str) -> dict[str, Any]:
    if dataclasses.is_dataclass(obj):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(obj):
            out.update(_flatten(getattr(obj, f.name), f"{prefix}.{f.name}"))
        return out
    return {prefix: obj}


def _model_fields(config: TrainConfig) -> dict[str, Any]:
    return {**_flatten(config.fnet_config(), "fnet"), **_flatten(config.ifnet_config(), "ifnet")}


def model_diff(config: TrainConfig, base: TrainConfig) -> list[str]:
    """Dotted fields of the FNet / IFNet configurations in which ``config`` differs from ``base``."""
    mine, theirs = _model_fields(config), _model_fields(base)
    return sorted(k for k in mine if mine[k] != theirs.get(k))


def train_diff(config: TrainConfig, base: TrainConfig) -> list[str]:
    """Training settings (not the networks', :data:`~lzsc.training.profiles.MODEL_SETTINGS`) in which
    ``config`` differs from ``base``."""
    mine, theirs = config.to_dict(), base.to_dict()
    return sorted(k for k in mine if k not in MODEL_SETTINGS and mine[k] != theirs[k])


def overview(base: TrainConfig) -> str:
    """Text table of every ablation: its overrides and the fields of the baseline it changes."""
    lines = [f"{'name':<5} {'overrides':<28} {'changes (vs the baseline)':<52} description"]
    for a in ABLATIONS.values():
        config = ablation_config(a.name, base)
        changes = model_diff(config, base) + train_diff(config, base)
        overrides = ", ".join(f"{k}={v!r}" for k, v in a.overrides.items())
        lines.append(f"{a.name:<5} {overrides:<28} {', '.join(changes):<52} {a.description}")
    return "\n".join(lines)


def _describe(name: str) -> str:
    return "full FNet (baseline)" if name == BASELINE else ABLATIONS[name].description
