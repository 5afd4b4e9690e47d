"""The paper's ablations (Table III) as configurations of the library, run at a stated scale.

Every ablation AE1-AE15 is a set of :class:`lzsc.training.TrainConfig` overrides applied to the
same base configuration as the full FNet: no code fork. :data:`ABLATIONS` lists them with what they
change, :func:`ablation_config` builds one, :func:`model_diff` / :func:`train_diff` say which
model or training fields differ from the baseline. Block settings (threshold, momentum, weight
sharing, sigmoid shape, iterations) apply to every LZSC block, FNet's and IFNet's, as
``TrainConfig.block_config`` does; AE12 changes IFNet's threshold only.

:func:`run_ablation` trains one configuration through both stages (stage II only for AE11) and
evaluates it with :func:`lzsc.evaluation.evaluate` on the first ``pairs_per_set`` test pairs of each
set, under a named :class:`AblationScale` (``"ci"``: a few CPU minutes for all 16 models; ``"paper"``:
the release's schedule on every test pair); both keep the paper's model except for its size. Every
configuration of one scale trains from the same seed and the same data stream. Without ``LZSC_DATA``
training and evaluation use synthetic MCSC pairs.

:func:`paper_directions` reads the paper's direction of change (ablation vs full FNet) from Table III
(``paper_table3_ablation.csv``; rows whose alignment in the source is uncertain are flagged), and
:func:`compare_directions` sets ours next to it. Introduced in ``notebooks/10_ablations.ipynb``.
"""

from __future__ import annotations

import dataclasses
import html
import json
import math
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .metrics import HIGHER_IS_BETTER
from .paths import TEST_SETS, data_root
from .reference import PAPER_DATASET, PAPER_METRICS, ablation_table
from .training import TrainConfig, profile

__all__ = [
    "ABLATIONS",
    "BASELINE",
    "SCALES",
    "Ablation",
    "AblationRun",
    "AblationScale",
    "DirectionTable",
    "ablation_config",
    "baseline_report",
    "binomial_tail",
    "check_runs",
    "compare_directions",
    "model_diff",
    "overview",
    "paper_directions",
    "run_ablation",
    "run_ablations",
    "train_diff",
]

BASELINE = "FNet"
"""Name of the full model in :func:`run_ablations` results (Table III's "FNet(Ours)")."""
PAPER_BASELINE = "FNet(Ours)"


@dataclass(frozen=True)
class Ablation:
    """One experiment of Table III: its overrides of the baseline :class:`TrainConfig`.

    ``model_fields`` are the dotted fields of ``fnet.*`` / ``ifnet.*`` (the two networks'
    configurations) that must differ from the baseline, ``train_fields`` the non-model
    :class:`TrainConfig` fields that must differ (loss weights, stage I on/off).
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
    paper = TrainConfig()
    differ = {k: getattr(base, k) for k in overrides if getattr(base, k) != getattr(paper, k)}
    if differ:
        wanted = ", ".join(f"{k}={getattr(paper, k)!r}" for k in differ)
        raise ValueError(
            f"{name} ({ABLATIONS[name].description}) is defined against the paper's FNet ({wanted}), but the "
            f"base configuration has {differ}; build the base from profile('paper', ...) (e.g. SCALES['ci'])"
        )
    return replace(base, **overrides)


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


_MODEL_INPUTS = frozenset(
    {"n_filters", "kernel_size", "n_iter", "threshold", "ifnet_threshold", "alpha", "gamma", "momentum",
     "shared_weights", "block_kind", "ifnet_shared_decoder"}
)  # fmt: skip


def train_diff(config: TrainConfig, base: TrainConfig) -> list[str]:
    """:class:`TrainConfig` fields other than the model's in which ``config`` differs from ``base``."""
    return sorted(
        f.name
        for f in dataclasses.fields(TrainConfig)
        if f.name not in _MODEL_INPUTS and getattr(config, f.name) != getattr(base, f.name)
    )


def overview(base: TrainConfig) -> str:
    """Text table of every ablation: its overrides and the fields of the baseline it changes."""
    lines = [f"{'name':<5} {'overrides':<28} {'changes (vs the baseline)':<52} description"]
    for a in ABLATIONS.values():
        config = ablation_config(a.name, base)
        changes = model_diff(config, base) + train_diff(config, base)
        overrides = ", ".join(f"{k}={v!r}" for k, v in a.overrides.items())
        lines.append(f"{a.name:<5} {overrides:<28} {', '.join(changes):<52} {a.description}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------- scale


@dataclass(frozen=True)
class AblationScale:
    """How big one ablation run is: the training profile and its overrides, and the evaluation subset.

    ``train`` overrides the ``profile``'s :class:`TrainConfig` (``steps`` is per stage);
    ``pairs_per_set`` keeps the first N test pairs (by name) of each of ``datasets`` (None: all);
    ``synthetic_pairs`` / ``synthetic_size`` replace the test sets when no data root is set.
    """

    name: str
    profile: str
    train: Mapping[str, Any] = field(default_factory=dict)
    pairs_per_set: int | None = None
    datasets: tuple[str, ...] = tuple(TEST_SETS)
    protocol: str = "paper"
    synthetic_pairs: int = 4
    synthetic_size: int = 128

    def config(self, **overrides: Any) -> TrainConfig:
        """The baseline :class:`TrainConfig` of this scale (keyword overrides win)."""
        return profile(self.profile, **{**self.train, **overrides})

    def with_(self, **changes: Any) -> AblationScale:
        """A copy with ``changes``; keys of :class:`TrainConfig` go into ``train``."""
        train_keys = {f.name for f in dataclasses.fields(TrainConfig)}
        train = {**self.train, **{k: v for k, v in changes.items() if k in train_keys}}
        rest = {k: v for k, v in changes.items() if k not in train_keys}
        return replace(self, train=train, **rest)

    def describe(self, synthetic: bool = False) -> str:
        """One line stating the scale (printed next to every reduced-scale result)."""
        c = self.config()
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
        return (
            f"scale '{self.name}' (profile '{self.profile}'): K = {c.n_filters} filters of "
            f"{c.kernel_size}x{c.kernel_size}, {c.n_iter} iterations, {c.patch}x{c.patch} crops, batch "
            f"{c.batch_size}, {c.steps} steps per stage, lr {c.lr:g}, EMA {c.ema_decay:g}, seed {c.seed}, "
            f"data {c.data}; {evaluation}"
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
    "paper": AblationScale("paper", "paper", {}, pairs_per_set=None),
}
"""Named scales, both on the ``paper`` profile's model (4 iterations, sigmoidal threshold, Nesterov, the
eq. 26 weights), so that every ablation changes what the paper changed. ``ci`` keeps 16 trainings and
their evaluation within a few minutes on 2 CPU cores: K = 8 filters of 5x5, 100 steps per stage on
32x32 crops, lr 3e-3, EMA decay 0.9 (a 10-step time constant; 0.999 would still be 90% the random
initialisation after 100 steps), one thread and channels_last (fastest for these tiny convolutions on
a CPU). ``paper`` is the release's schedule (20,000 steps per stage, K = 64 filters of 9x9, GPU)."""


# ----------------------------------------------------------------------------------------------- run


@dataclass
class AblationRun:
    """What :func:`run_ablation` returns: per-dataset metric means and what produced them."""

    name: str
    description: str
    config: dict[str, Any]
    metrics: dict[str, dict[str, float]]
    pairs: dict[str, int]
    protocol: str
    scale: str
    train_seconds: float
    eval_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _synthetic_metrics(model: torch.nn.Module, scale: AblationScale, seed: int) -> tuple[dict, int]:
    from .data import SyntheticMCSC
    from .fusion import fuse_tensors
    from .io import to_uint8
    from .metrics import METRIC_NAMES, compute_all

    pairs = SyntheticMCSC(size=scale.synthetic_size, kind="image", seed=10_007 + seed).pairs(
        scale.synthetic_pairs
    )
    rows = []
    for pair in pairs:
        fused = to_uint8(fuse_tensors(model, pair.a, pair.b))
        a, b = (np.rint(np.clip(t[0, 0].double().numpy(), 0, 1) * 255) for t in (pair.a, pair.b))
        rows.append(compute_all(np.asarray(fused, dtype=np.float64), a, b, protocol="default"))
    return {m: float(np.mean([r[m] for r in rows])) for m in METRIC_NAMES}, len(rows)


_DATA_CACHE: dict[tuple, Any] = {}


def _training_data(config: TrainConfig) -> Any:
    """The training pairs of ``config``, kept per process so that every run shares one image cache."""
    from .training import build_dataset

    key = (config.data, config.patch, config.seed, str(data_root()))
    if key not in _DATA_CACHE:
        _DATA_CACHE[key] = build_dataset(config)
    return _DATA_CACHE[key]


def _describe(name: str) -> str:
    return "full FNet (baseline)" if name == BASELINE else ABLATIONS[name].description


def run_ablation(
    name: str,
    scale: AblationScale | str = "ci",
    out_dir: str | Path = Path("runs") / "ablations",
    data: Any = None,
    reuse: bool = True,
    progress: bool = False,
    threads: int | None = None,
    **train_overrides: Any,
) -> AblationRun:
    """Train ablation ``name`` (or ``"FNet"``) at ``scale`` and evaluate it; see the module docstring.

    Results go to ``out_dir/<scale>/<name>/`` (checkpoints, logs, fused images, ``result.json``).
    With ``reuse`` a finished run whose configuration and scale match is read back, not redone.
    ``threads`` sets torch's intra-op threads for the run (1 is fastest for the tiny ``ci`` models).
    ``train_overrides`` change the scale's base configuration (e.g. ``device="cuda"``, ``seed=1``).
    """
    from .evaluation import evaluate
    from .training import train_both

    scale = SCALES[scale] if isinstance(scale, str) else scale
    config = ablation_config(name, scale.config(**train_overrides))
    synthetic = data_root() is None
    if synthetic and config.data != "synthetic":
        config = replace(config, data="synthetic")
    folder = Path(out_dir) / scale.name / name
    result_path = folder / "result.json"
    stamp = {"config": config.to_dict(), "scale": dataclasses.asdict(scale), "synthetic": synthetic}
    if reuse and result_path.is_file():
        saved = json.loads(result_path.read_text())
        if saved.get("stamp") == json.loads(json.dumps(stamp)):
            return AblationRun(**saved["run"])
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        t0 = time.perf_counter()
        data = data if data is not None else _training_data(config)
        _, second = train_both(config, data, folder, resume=True, progress=progress)
        model = second.fnet.cpu().eval()
        t1 = time.perf_counter()
        metrics, pairs = {}, {}
        label = f"reduced scale: {scale.describe(synthetic)}"
        if synthetic:
            metrics["synthetic"], pairs["synthetic"] = _synthetic_metrics(model, scale, config.seed)
        else:
            for dataset in scale.datasets:
                res = evaluate(
                    dataset,
                    model=model,
                    protocol=scale.protocol,
                    limit=scale.pairs_per_set,
                    cache_dir=folder / "fused",
                    out_csv=folder / "metrics.csv",
                    progress=progress,
                    scale=label,
                )
                metrics[dataset], pairs[dataset] = res.means(), len(res.rows)
        t2 = time.perf_counter()
    finally:
        torch.set_num_threads(previous)
    run = AblationRun(
        name,
        _describe(name),
        config.to_dict(),
        metrics,
        pairs,
        "default" if synthetic else scale.protocol,
        scale.name,
        t1 - t0,
        t2 - t1,
    )
    folder.mkdir(parents=True, exist_ok=True)
    result_path.write_text(json.dumps({"stamp": stamp, "run": run.to_dict()}, indent=1) + "\n")
    return run


def check_runs(runs: Mapping[str, AblationRun]) -> list[str]:
    """Problems that would make the runs incomparable (empty when fine): every run must share the
    baseline's seed, data, scale and evaluated pairs, and differ from its configuration in exactly the
    ablation's fields."""
    if BASELINE not in runs:
        return [f"no {BASELINE} run"]
    base = runs[BASELINE]
    base_config = TrainConfig.from_dict(base.config)
    problems = []
    for name, run in runs.items():
        config = TrainConfig.from_dict(run.config)
        for what, mine, theirs in (
            ("seed", config.seed, base_config.seed),
            ("data", config.data, base_config.data),
            ("scale", run.scale, base.scale),
            ("evaluated pairs", run.pairs, base.pairs),
            ("protocol", run.protocol, base.protocol),
        ):
            if mine != theirs:
                problems.append(f"{name}: {what} {mine!r} differs from the baseline's {theirs!r}")
        if name == BASELINE:
            continue
        ablation = ABLATIONS[name]
        for what, found, wanted in (
            ("model fields", model_diff(config, base_config), sorted(ablation.model_fields)),
            ("training fields", train_diff(config, base_config), sorted(ablation.train_fields)),
        ):
            if found != wanted:
                problems.append(f"{name}: {what} changed {found}, expected {wanted}")
    return problems


def baseline_report(run: AblationRun, metrics: Sequence[str] = PAPER_METRICS) -> str:
    """One line per data set: the run's metric means, the paper's FNet value in brackets."""
    from .reference import paper_value

    lines = []
    for dataset, values in run.metrics.items():
        cells = []
        for m in metrics:
            ref = paper_value(dataset, m)
            cells.append(f"{m} {values[m]:.2f}" + ("" if ref is None else f" ({ref:.2f})"))
        lines.append(f"  {dataset:<10} {run.pairs.get(dataset, '?')} pair(s): " + ", ".join(cells))
    return "\n".join(lines)


def _worker(args: tuple) -> AblationRun:
    name, scale, out_dir, reuse, threads, overrides = args
    return run_ablation(name, scale, out_dir, None, reuse, False, threads, **overrides)


def run_ablations(
    names: Iterable[str] | None = None,
    scale: AblationScale | str = "ci",
    out_dir: str | Path = Path("runs") / "ablations",
    workers: int = 1,
    threads: int | None = None,
    reuse: bool = True,
    log=print,
    **train_overrides: Any,
) -> dict[str, AblationRun]:
    """:func:`run_ablation` for the baseline and every named ablation (default: all of Table III).

    ``workers > 1`` runs that many in parallel processes (spawned; each with ``threads`` torch threads,
    default 1); results are the same as a serial run up to floating-point summation order.
    ``log`` receives one line per finished run (``None`` for silence).
    """
    scale = SCALES[scale] if isinstance(scale, str) else scale
    todo = [BASELINE, *(n for n in (names if names is not None else ABLATIONS) if n != BASELINE)]
    for name in todo:
        ablation_config(name, scale.config())  # unknown names fail before any training
    results: dict[str, AblationRun] = {}

    def done(run: AblationRun) -> None:
        results[run.name] = run
        if log is not None:
            log(f"{run.name:<5} trained in {run.train_seconds:.1f} s, evaluated in {run.eval_seconds:.1f} s")

    if workers <= 1:
        for name in todo:
            done(run_ablation(name, scale, out_dir, None, reuse, False, threads, **train_overrides))
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        jobs = [(n, scale, str(out_dir), reuse, threads or 1, train_overrides) for n in todo]
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
            for run in pool.map(_worker, jobs):
                done(run)
    return {name: results[name] for name in todo}


# ----------------------------------------------------------------------------------------- directions

_PAPER_NAME = {v: k for k, v in PAPER_DATASET.items()}


def _direction(delta: float, metric: str, tie: float) -> str:
    """Direction "better", "worse" or "tie": the ablation vs the full model (CE: lower is better)."""
    if not math.isfinite(delta) or abs(delta) < tie:
        return "tie"
    improves = delta > 0 if HIGHER_IS_BETTER.get(metric, True) else delta < 0
    return "better" if improves else "worse"


def paper_directions(rows: Sequence[Mapping[str, str]] | None = None) -> dict[tuple[str, str, str], dict]:
    """The paper's Table III as ``{(dataset, metric, AE): {value, fnet, delta, direction, aligned}}``.

    ``dataset`` is lzsc's name where there is one (TNO, RoadScene, MRI_CT, MRI_PET, MRI_SPECT), else the
    paper's (CATS, KAIST, RGB-NIR). Directions compare the printed 2-decimal values: equal values are a
    "tie". ``aligned`` is False for rows the reference marks as uncertain ("alignment uncertain").
    """
    rows = ablation_table() if rows is None else rows
    base = {
        (r["task_dataset"], r["metric"]): float(r["value"]) for r in rows if r["experiment"] == PAPER_BASELINE
    }
    out = {}
    for r in rows:
        if r["experiment"] == PAPER_BASELINE or (r["task_dataset"], r["metric"]) not in base:
            continue
        fnet, value = base[(r["task_dataset"], r["metric"])], float(r["value"])
        delta = value - fnet
        out[(_PAPER_NAME.get(r["task_dataset"], r["task_dataset"]), r["metric"], r["experiment"])] = {
            "value": value,
            "fnet": fnet,
            "delta": delta,
            "direction": _direction(round(delta, 6), r["metric"], 0.005),
            "aligned": not r.get("note", "").strip(),
        }
    return out


def _paper_overall(paper: Mapping, metric: str, ablation: str) -> dict | None:
    """Majority direction over the paper's data sets (aligned rows only), for synthetic-only runs."""
    votes = Counter(
        v["direction"] for (d, m, e), v in paper.items() if m == metric and e == ablation and v["aligned"]
    )
    if not votes:
        return None
    (top, n), *rest = votes.most_common()
    direction = top if not rest or rest[0][1] < n else "tie"
    return {"direction": direction, "aligned": True, "value": math.nan, "fnet": math.nan, "delta": math.nan}


def binomial_tail(k: int, n: int, p: float = 0.5) -> float:
    """P(X >= k) for X ~ Binomial(n, p): how likely at least k agreements of n are by coin flips."""
    if n <= 0:
        return math.nan
    return float(sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(max(k, 0), n + 1)))


@dataclass(repr=False)
class DirectionTable:
    """Ours vs the paper, one row per (ablation, dataset, metric); prints as text and HTML.

    ``agreement()`` counts, over cells where the paper's row is aligned and the paper shows a change,
    how often our direction equals the paper's (``p_chance``: the probability of at least that many
    agreements if each of our directions were a fair coin flip); ``by_ablation()`` does that per
    ablation; :meth:`summary` states both in words, computed from the counts.
    """

    rows: list[dict[str, Any]]
    scale: str
    tie: float

    def __repr__(self) -> str:
        return str(self)

    def counted(self, ablation: str | None = None) -> list[dict[str, Any]]:
        return [
            r
            for r in self.rows
            if r["paper"] in ("better", "worse")
            and r["aligned"]
            and (ablation is None or r["ablation"] == ablation)
        ]

    def agreement(self, ablation: str | None = None) -> dict[str, Any]:
        rows = self.counted(ablation)
        agree = sum(r["ours"] == r["paper"] for r in rows)
        ties = sum(r["ours"] == "tie" for r in rows)
        n = len(rows)
        return {
            "cells": n,
            "agree": agree,
            "disagree": n - agree - ties,
            "ours_tie": ties,
            "rate": agree / n if n else math.nan,
            "p_chance": binomial_tail(agree, n),
        }

    def by_ablation(self) -> list[dict[str, Any]]:
        names = list(dict.fromkeys(r["ablation"] for r in self.rows))
        return [{"ablation": n, "description": _describe(n), **self.agreement(n)} for n in names]

    def summary(self, majority: float = 0.5) -> str:
        """Which ablations agree with the paper's direction in more than ``majority`` of their counted
        cells, which do not, and the overall count: sentences computed from the table, nothing else."""
        rows = [r for r in self.by_ablation() if r["cells"]]
        agree = [r["ablation"] for r in rows if r["rate"] > majority]
        other = [r["ablation"] for r in rows if r["rate"] <= majority]
        none = [r["ablation"] for r in self.by_ablation() if not r["cells"]]
        total = self.agreement()
        lines = [
            f"Overall: our direction equals the paper's in {total['agree']} of {total['cells']} counted "
            f"cells ({100 * total['rate']:.0f}%); opposite in {total['disagree']}, no change of ours in "
            f"{total['ours_tie']}. Probability of at least {total['agree']} agreements by coin flips: "
            f"{total['p_chance']:.3g}.",
            f"Agreeing in more than {100 * majority:.0f}% of their cells: {', '.join(agree) or 'none'}.",
            f"Agreeing in at most {100 * majority:.0f}% of their cells: {', '.join(other) or 'none'}.",
        ]
        if none:
            lines.append(
                f"No counted cell (the paper shows no change or its rows are uncertain): {', '.join(none)}."
            )
        for r in rows:
            lines.append(
                f"  {r['ablation']:<5} {r['agree']:>2}/{r['cells']:<2} agree, {r['disagree']:>2} opposite, "
                f"{r['ours_tie']:>2} no change  ({r['description']})"
            )
        return "\n".join(lines)

    def pivot(self) -> tuple[list[str], list[tuple[str, str, dict[str, dict]]]]:
        """(metrics, [(ablation, dataset, {metric: row})]) for a compact display."""
        metrics = list(dict.fromkeys(r["metric"] for r in self.rows))
        groups: dict[tuple[str, str], dict[str, dict]] = {}
        for r in self.rows:
            groups.setdefault((r["ablation"], r["dataset"]), {})[r["metric"]] = r
        return metrics, [(a, d, cells) for (a, d), cells in groups.items()]

    @staticmethod
    def _cell(r: dict[str, Any]) -> str:
        arrow = {"better": "+", "worse": "-", "tie": "="}
        paper = "n/a" if r["paper"] is None else arrow[r["paper"]] + ("" if r["aligned"] else "?")
        mark = ""
        if r["paper"] in ("better", "worse") and r["aligned"]:
            mark = " ok" if r["ours"] == r["paper"] else (" ~" if r["ours"] == "tie" else " X")
        return f"{r['rel_pct']:+6.1f}% {arrow[r['ours']]} | {paper}{mark}"

    def legend(self) -> str:
        return (
            f"Cells: our change of the metric vs our full FNet (%), our direction (+ better, - worse, "
            f"= within {self.tie:g}), then the paper's direction from Table III (? = row of uncertain "
            "alignment in the source, not counted); ok = same direction, X = opposite, ~ = ours a tie. "
            "CE: lower is better. " + self.scale
        )

    def __str__(self) -> str:
        metrics, groups = self.pivot()
        width = 24
        lines = [self.legend(), f"{'ablation':<6}{'dataset':<11}" + "".join(f"{m:<{width}}" for m in metrics)]
        for ablation, dataset, cells in groups:
            row = "".join(f"{self._cell(cells[m]) if m in cells else '':<{width}}" for m in metrics)
            lines.append(f"{ablation:<6}{dataset:<11}{row}")
        total = self.agreement()
        lines.append(
            f"agreement with the paper's direction: {total['agree']}/{total['cells']} cells "
            f"({100 * total['rate']:.0f}%), opposite {total['disagree']}, ours a tie {total['ours_tie']}"
        )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        metrics, groups = self.pivot()
        colour = {" ok": "#d8f0d8", " X": "#f6d5d5", " ~": "#eeeeee", "": "#ffffff"}
        head = "".join(f"<th>{m}</th>" for m in ["ablation", "data set", *metrics])
        body = []
        for ablation, dataset, cells in groups:
            tds = []
            for m in metrics:
                if m not in cells:
                    tds.append("<td></td>")
                    continue
                text = self._cell(cells[m])
                mark = next((k for k in (" ok", " X", " ~") if text.endswith(k)), "")
                tds.append(f'<td style="background:{colour[mark]}">{html.escape(text)}</td>')
            body.append(f"<tr><td>{ablation}</td><td>{dataset}</td>{''.join(tds)}</tr>")
        total = self.agreement()
        foot = (
            f"<p>Agreement with the paper's direction: <b>{total['agree']}/{total['cells']}</b> cells "
            f"({100 * total['rate']:.0f}%), opposite {total['disagree']}, ours a tie {total['ours_tie']}.</p>"
        )
        return (
            f"<p>{html.escape(self.legend())}</p><table style='font-family:monospace;font-size:85%'>"
            f"<tr>{head}</tr>{''.join(body)}</table>{foot}"
        )


def compare_directions(
    runs: Mapping[str, AblationRun],
    metrics: Sequence[str] = PAPER_METRICS,
    tie: float = 0.005,
    paper: Mapping | None = None,
    scale: str = "",
) -> DirectionTable:
    """Each ablation's metrics relative to the baseline run, next to the paper's direction of change.

    ``tie``: an absolute change below it counts as no change (default: half the paper's rounding unit,
    0.005, since the paper prints 2 decimals). For a synthetic-only run (data set "synthetic") the
    paper's direction is its majority over its data sets.
    """
    if BASELINE not in runs:
        raise KeyError(f"the runs must include the baseline {BASELINE!r}")
    paper = paper_directions() if paper is None else paper
    base = runs[BASELINE]
    rows = []
    for name, run in runs.items():
        if name == BASELINE:
            continue
        for dataset, values in run.metrics.items():
            for metric in metrics:
                ours, ref = values[metric], base.metrics[dataset][metric]
                delta = ours - ref
                ref_paper = (
                    _paper_overall(paper, metric, name)
                    if dataset == "synthetic"
                    else paper.get((dataset, metric, name))
                )
                rows.append(
                    {
                        "ablation": name,
                        "dataset": dataset,
                        "metric": metric,
                        "ours_value": ours,
                        "fnet_value": ref,
                        "delta": delta,
                        "rel_pct": 100.0 * delta / abs(ref) if ref else math.nan,
                        "ours": _direction(delta, metric, tie),
                        "paper": None if ref_paper is None else ref_paper["direction"],
                        "paper_delta": None if ref_paper is None else ref_paper["delta"],
                        "aligned": bool(ref_paper and ref_paper["aligned"]),
                    }
                )
    return DirectionTable(rows, scale, tie)
