"""Training and evaluating the ablations: one run, all of them (optionally in parallel), and checks.

:func:`run_ablation` trains one configuration through both stages (stage II only for AE11) and
evaluates it with :func:`lzsc.evaluation.evaluate` on the first ``pairs_per_set`` test pairs of each
set, under a named :class:`~lzsc.ablations.scales.AblationScale`. Every configuration of one scale
trains from the same seed and the same data stream. Without ``LZSC_DATA`` training and evaluation use
synthetic MCSC pairs. :func:`run_ablations` runs the baseline and every named ablation, in worker
processes if asked; :func:`check_runs` says whether the runs are comparable.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic import write_text_atomic
from ..paths import data_root
from ..reference import PAPER_METRICS
from ..training import TrainConfig
from .configs import ABLATIONS, BASELINE, _describe, ablation_config, model_diff, train_diff
from .scales import SCALES, AblationScale

__all__ = ["AblationRun", "baseline_report", "check_runs", "run_ablation", "run_ablations", "run_folder"]


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
    from ..data import SyntheticMCSC
    from ..fusion import fuse
    from ..io import to_uint8
    from ..metrics import METRIC_NAMES, compute_all

    pairs = SyntheticMCSC(size=scale.synthetic_size, kind="image", seed=10_007 + seed).pairs(
        scale.synthetic_pairs
    )
    rows = []
    for pair in pairs:
        fused = to_uint8(fuse(model, pair.a, pair.b))
        a, b = (np.rint(np.clip(t[0, 0].double().numpy(), 0, 1) * 255) for t in (pair.a, pair.b))
        rows.append(compute_all(np.asarray(fused, dtype=np.float64), a, b, protocol="default"))
    return {m: float(np.mean([r[m] for r in rows])) for m in METRIC_NAMES}, len(rows)


_DATA_CACHE: dict[tuple, Any] = {}


def _training_data(config: TrainConfig) -> Any:
    """The training pairs of ``config``, kept per process so that every run shares one image cache."""
    from ..training import build_dataset

    key = (config.data, config.patch, config.seed, str(data_root()))
    if key not in _DATA_CACHE:
        _DATA_CACHE[key] = build_dataset(config)
    return _DATA_CACHE[key]


_KEYED_WHEN_SET = {"loader": "host", "host_sync": "step", "compile_model": False}
"""Settings added after the first runs were keyed: they enter a run's key only away from these
defaults, so that the folders of earlier runs keep their names."""


def _identity(
    name: str, scale: AblationScale, out_dir: str | Path, overrides: dict[str, Any]
) -> tuple[TrainConfig, bool, dict[str, Any], Path]:
    """(configuration, synthetic, stamp, folder) of a run: the folder's key hashes the stamp."""
    config = ablation_config(name, scale.config(**overrides))
    synthetic = data_root() is None
    if synthetic and config.data != "synthetic":
        config = replace(config, data="synthetic")
    settings = {
        k: v for k, v in config.to_dict().items() if k not in _KEYED_WHEN_SET or _KEYED_WHEN_SET[k] != v
    }
    raw = {"config": settings, "scale": dataclasses.asdict(scale), "synthetic": synthetic}
    text = json.dumps(raw, sort_keys=True)
    stamp, key = json.loads(text), hashlib.sha256(text.encode()).hexdigest()[:8]
    return config, synthetic, stamp, Path(out_dir) / scale.name / f"{name}-{key}"


def run_folder(
    name: str,
    scale: AblationScale | str = "ci",
    out_dir: str | Path = Path("runs") / "ablations",
    **train_overrides: Any,
) -> Path:
    """The folder :func:`run_ablation` uses for the same arguments (its ``stage2/stage2.pt`` is the
    trained FNet once the run has finished)."""
    scale = SCALES[scale] if isinstance(scale, str) else scale
    return _identity(name, scale, out_dir, train_overrides)[3]


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

    Results go to ``out_dir/<scale>/<name>-<key>/`` (checkpoints, logs, fused images, ``result.json``),
    ``key`` a short hash of the configuration, the scale and the data source (real or synthetic), so
    that runs of different settings never share a folder or resume from each other's checkpoints.
    With ``reuse`` a finished run is read back, not redone, and an interrupted one resumes from its
    checkpoints; ``reuse=False`` deletes the run's folder first and redoes it from scratch (training
    and evaluation).
    ``threads`` sets torch's intra-op threads for the run (1 is fastest for the tiny ``ci`` models).
    ``train_overrides`` change the scale's base configuration (e.g. ``device="cuda"``, ``seed=1``).
    """
    from ..evaluation import evaluate
    from ..training import train_both

    scale = SCALES[scale] if isinstance(scale, str) else scale
    config, synthetic, stamp, folder = _identity(name, scale, out_dir, train_overrides)
    result_path = folder / "result.json"
    if reuse and result_path.is_file():
        saved = json.loads(result_path.read_text())
        if saved.get("stamp") == stamp:
            return AblationRun(**saved["run"])
    if not reuse and folder.exists():
        shutil.rmtree(folder)
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        t0 = time.perf_counter()
        data = data if data is not None else _training_data(config)
        resume = folder.is_dir()  # an interrupted run continues; a new one starts without a notice
        _, second = train_both(config, data, folder, resume=resume, progress=progress)
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
    write_text_atomic(result_path, json.dumps({"stamp": stamp, "run": run.to_dict()}, indent=1) + "\n")
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
    from ..reference import paper_value

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
