"""``lzsc reproduce``: train FNet at a profile, evaluate it next to the released weights and the paper.

One call runs the whole pipeline into ``out`` (default ``runs/<profile>``)::

    out/train/stage1/            stage I (FNet + IFNet, eq. 25): checkpoint.pt, stage1.pt, log.csv
    out/train/stage2/            stage II (eq. 26) from stage I's result: stage2.pt is the trained FNet
    out/eval_trained_paper.csv   per-pair rows of the trained FNet
    out/eval_released_paper.csv  per-pair rows of the released weights ("official")
    out/fused/                   the fused images of both (the evaluation's cache)
    RESULTS/reproduce_<profile>.csv, .md   the comparison table

1. Training: :func:`lzsc.training.train_both` with the profile's configuration and the ``--set``
   overrides in this process, or, with ``nproc > 1``, ``lzsc train --stage both --resume`` launched
   under torchrun (:func:`torchrun_command`), whose exit status is checked.
2. Evaluation: :func:`lzsc.evaluation.evaluate`, the machinery of ``lzsc evaluate``, on FNet's Table I
   test sets (``--dataset all``) under protocol ``paper``, for the trained and the released weights, on
   the training device; the ``quick`` profile takes the first :data:`QUICK_PAIRS` pairs of each set,
   ``paper`` all of them (``pairs`` overrides both).
3. Table: one row per (set, Table I metric): the paper's FNet value (:mod:`lzsc.reference`), the
   released and trained means, and trained minus released / paper; CSV and markdown, written
   atomically into ``results``: by default the repository's ``results/`` for the paper profile at its
   full scale (no ``pairs``, no overrides), else ``out`` (so reduced runs never touch committed results).

Resuming: a call continues wherever an interrupted one stopped. A stage is finished when its
checkpoint holds all its steps (under the same settings: another configuration is the trainer's
ValueError) and its result exists; when every stage is, training is skipped without reading the
training data, else the trainer resumes each stage from its checkpoint (a finished one runs no step).
Evaluation rows are keyed by the weights' hash, so the rows already in the CSVs are reused and only
the missing pairs are fused and measured (new weights, e.g. after more steps, get new rows). The
table is rebuilt from the rows on every call.
"""

from __future__ import annotations

import csv
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from importlib.util import find_spec
from pathlib import Path
from typing import Literal, get_args

import torch

from .atomic import atomic_open, write_text_atomic
from .datasets import FNET_TEST_SETS, dataset_dirs
from .evaluation import EvalResult, evaluate
from .methods.registry import load_method
from .paths import official_checkpoint, require_data_root
from .profiles import Profile, check_profile
from .protocols import ProtocolName, get_protocol
from .reference import FNET, PAPER_METRICS, TABLE_NAMES, paper_value
from .training import TrainConfig, apply_overrides, profile, train_both
from .training.preflight import CHECKPOINT_NAME, read_resume
from .training.state import torch_threads
from .training.trainer import resolve_device

__all__ = [
    "COLUMNS",
    "PROTOCOL",
    "QUICK_PAIRS",
    "WEIGHTS",
    "ReproduceError",
    "ReproduceResult",
    "Weights",
    "comparison_rows",
    "default_results_dir",
    "reproduce",
    "torchrun_command",
]

Weights = Literal["released", "trained"]
WEIGHTS: tuple[Weights, ...] = get_args(Weights)
PROTOCOL: ProtocolName = "paper"
QUICK_PAIRS = 2
"""Pairs per test set that the ``quick`` profile evaluates (the ``paper`` profile: all)."""
COLUMNS = ("dataset", "metric", "pairs", "paper", "released", "trained",
           "trained_minus_released", "trained_minus_paper")  # fmt: skip
"""The columns of the comparison CSV."""


class ReproduceError(RuntimeError):
    """The pipeline cannot go on (no torchrun, or the launched training failed); the message says why."""


@dataclass(frozen=True)
class ReproduceResult:
    """What :func:`reproduce` did: the trained weights, the table's files and rows (:data:`COLUMNS`),
    whether this call trained (False: every stage was finished) and its wall time."""

    profile: Profile
    out: Path
    weights: Path
    table_csv: Path
    table_md: Path
    rows: list[dict[str, object]]
    trained_now: bool
    seconds: float


def default_results_dir(profile_name: Profile, out: Path, full_scale: bool) -> Path:
    """The repository's ``results/`` (beside the package, else ./results) for the paper profile at its
    full scale; ``out`` otherwise."""
    if profile_name != "paper" or not full_scale:
        return out
    beside_package = Path(__file__).resolve().parents[1] / "results"
    return beside_package if beside_package.is_dir() else Path.cwd() / "results"


def torchrun_command(
    profile_name: Profile, train_dir: Path, nproc: int, overrides: Sequence[str] = (), progress: bool = True
) -> list[str]:
    """The command line that trains both stages in ``nproc`` processes (``lzsc train`` under torchrun)."""
    settings = [part for item in overrides for part in ("--set", item)]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
            "-m", "lzsc", "train", "--stage", "both", "--profile", profile_name, "--out", str(train_dir),
            "--resume", *settings, *([] if progress else ["--no-progress"])]  # fmt: skip


def _check_nproc(nproc: int, config: TrainConfig, device: torch.device) -> None:
    if nproc == 1:
        return
    if config.batch_size % nproc:
        raise ValueError(
            f"batch_size {config.batch_size} cannot be split over {nproc} processes; choose a multiple of "
            f"{nproc} (--set batch_size=N) or another --nproc"
        )
    if device.type == "cuda" and torch.cuda.device_count() < nproc:
        raise ValueError(f"--nproc {nproc} needs {nproc} CUDA devices; {torch.cuda.device_count()} found")
    if find_spec("torch.distributed.run") is None or not torch.distributed.is_available():
        raise ReproduceError(
            f"--nproc {nproc} launches torchrun (torch.distributed.run), which this torch does not provide; "
            "use --nproc 1, or a torch build with torch.distributed"
        )


def _resolve(config: TrainConfig) -> torch.device:
    try:
        return resolve_device(config.device)
    except RuntimeError:
        raise ValueError(
            f"this profile trains on {config.device!r} but CUDA is not available: run it on a GPU machine, "
            "use --profile quick, or --set device=cpu"
        ) from None


def _finished(config: TrainConfig, train_dir: Path) -> bool:
    """Whether every stage's checkpoint holds all its steps (the trainer's resume checks: ValueError for
    other settings) and its result exists."""
    for stage in (2,) if config.skip_stage1 else (1, 2):
        folder = train_dir / f"stage{stage}"
        if not (folder / f"stage{stage}.pt").is_file():
            return False
        saved = read_resume(folder / CHECKPOINT_NAME, replace(config, stage=stage), resume=True)
        if saved is None or saved["step"] < config.steps:
            return False
    return True


def _train(config: TrainConfig, train_dir: Path, command: list[str] | None, progress: bool) -> bool:
    """Train both stages unless finished, in this process or by running ``command`` (torchrun); True
    when training ran."""
    if _finished(config, train_dir):
        return False
    if command is None:
        train_both(config, out_dir=train_dir, resume=True, progress=progress)
        return True
    done = subprocess.run(command, check=False)
    if done.returncode != 0 or not _finished(config, train_dir):
        raise ReproduceError(
            f"training under torchrun failed (exit status {done.returncode}; its output is above): "
            f"{shlex.join(command)}\nRun reproduce again to continue from the last checkpoint."
        )
    return True


def _evaluate(
    model: torch.nn.Module, out_csv: Path, pairs: int | None, cache: Path, progress: bool
) -> dict[str, EvalResult]:
    """``lzsc evaluate --dataset all --protocol paper [--limit pairs]`` of ``model``, rows in ``out_csv``."""
    scale = "" if pairs is None else f"first {pairs} pairs only"
    options = {"protocol": PROTOCOL, "limit": pairs, "cache_dir": cache, "progress": progress, "scale": scale}
    return {name: evaluate(name, model=model, out_csv=out_csv, **options) for name in FNET_TEST_SETS}


def comparison_rows(
    released: dict[str, EvalResult], trained: dict[str, EvalResult]
) -> list[dict[str, object]]:
    """One row per (set, Table I metric) with the columns :data:`COLUMNS`; ``paper`` (and the
    difference to it) is None where the paper's value is unknown (no reference CSVs)."""
    rows: list[dict[str, object]] = []
    for name, ours in trained.items():
        theirs, means = released[name].means(), ours.means()
        for metric in PAPER_METRICS:
            paper, new, old = paper_value(name, metric, FNET, "FNet"), means[metric], theirs[metric]
            to_paper = None if paper is None else new - paper
            values = (name, metric, len(ours.rows), paper, old, new, new - old, to_paper)
            rows.append(dict(zip(COLUMNS, values, strict=True)))
    return rows


def _cell(value: object, digits: int) -> str:
    if value is None:
        return ""
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _markdown(rows: list[dict[str, object]], lines: list[str]) -> str:
    head = ("set (pairs)", "metric", "paper", "released", "trained", "trained - released", "trained - paper")
    table = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        diffs = (
            "" if r[k] is None else f"{r[k]:+.3f}" for k in ("trained_minus_released", "trained_minus_paper")
        )
        cells = (f"{r['dataset']} ({r['pairs']})", r["metric"], _cell(r["paper"], 2), _cell(r["released"], 3),
                 _cell(r["trained"], 3), *diffs)  # fmt: skip
        table.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines) + "\n\n" + "\n".join(table) + "\n"


def _write_csv(path: Path, rows: list[dict[str, object]]) -> None:
    with atomic_open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows({k: _cell(r[k], 6) for k in COLUMNS} for r in rows)


def _header(
    config: TrainConfig, profile_name: Profile, pairs: int | None, device: torch.device, nproc: int
) -> list[str]:
    """The markdown's lines above the table: the run's scale, the protocol, what the columns are."""
    settings = config.to_dict()
    gpu = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    subset = "every pair of each test set" if pairs is None else f"the first {pairs} pair(s) of each test set"
    lines = [
        f"# FNet's Table I reproduced: profile `{profile_name}`",
        "",
        f"Scale: profile `{profile_name}`, {config.steps} steps per stage (batch {config.batch_size} of "
        f"{config.patch}x{config.patch} crops of {config.data}, K = {settings['n_filters']} filters of "
        f"{settings['kernel_size']}x{settings['kernel_size']}, {settings['n_iter']} iterations), {subset}, "
        f"device {device}{gpu} x {nproc} process(es).",
        f"Protocol `{PROTOCOL}`: {get_protocol(PROTOCOL).describe()}.",
        f"Columns: paper, {FNET} in {TABLE_NAMES['FNet']}; released, the authors' weights; trained, this "
        "run's stage-II FNet (EMA weights). CE: lower is better; the other metrics: higher is better.",
    ]
    if pairs is not None:
        lines.append(f"**Reduced scale**: means over {pairs} pair(s) per set, not the paper's test sets.")
    return lines


def reproduce(
    profile_name: Profile,
    out: str | Path | None = None,
    nproc: int = 1,
    results: str | Path | None = None,
    pairs: int | None = None,
    overrides: Sequence[str] = (),
    progress: bool = True,
) -> ReproduceResult:
    """Train (stages I and II), evaluate the trained and released weights, write the comparison table;
    see the module docstring. ``overrides`` are ``KEY=VALUE`` training settings (``--set``); ``pairs``
    the pairs per test set (default: :data:`QUICK_PAIRS` for ``quick``, all for ``paper``).

    Everything is checked before anything runs: the profile, the settings, ``nproc`` (ValueError),
    ``$LZSC_DATA``, the test sets and the released weights (FileNotFoundError saying how to set them),
    the device, and torchrun for ``nproc > 1`` (:class:`ReproduceError`, as for a failed training).
    """
    start = time.perf_counter()
    if nproc < 1:
        raise ValueError(f"nproc must be at least 1 (processes), got {nproc}")
    if pairs is not None and pairs < 1:
        raise ValueError(f"pairs must be at least 1 (per test set), got {pairs}")
    profile_name = check_profile(profile_name)
    config = apply_overrides(profile(profile_name), overrides)
    device = _resolve(config)
    _check_nproc(nproc, config, device)
    require_data_root()
    for name in FNET_TEST_SETS:
        dataset_dirs(name, "test")
    official_checkpoint()
    if pairs is None and profile_name == "quick":
        pairs = QUICK_PAIRS
    out = Path(out) if out is not None else Path("runs") / profile_name
    full_scale = pairs is None and not overrides
    results = Path(results) if results is not None else default_results_dir(profile_name, out, full_scale)
    train_dir = out / "train"
    command = torchrun_command(profile_name, train_dir, nproc, overrides, progress) if nproc > 1 else None
    trained_now = _train(config, train_dir, command, progress)
    weights = train_dir / "stage2" / "stage2.pt"
    with torch_threads(config.threads):
        evals = {
            which: _evaluate(
                load_method("fnet", weights if which == "trained" else "official", str(device)),
                out / f"eval_{which}_{PROTOCOL}.csv",
                pairs,
                out / "fused",
                progress,
            )
            for which in WEIGHTS
        }
    rows = comparison_rows(evals["released"], evals["trained"])
    tags = {which: next(iter(evals[which].values())).model for which in WEIGHTS}
    lines = _header(config, profile_name, pairs, device, nproc)
    lines.append(
        f"Weights: trained `{weights}` (hash {tags['trained']}); released (hash {tags['released']})."
    )
    if all(r["paper"] is None for r in rows):
        lines.append("The paper's numbers are missing here: no reference CSVs (see lzsc.reference).")
    table_csv = results / f"reproduce_{profile_name}.csv"
    table_md = table_csv.with_suffix(".md")
    _write_csv(table_csv, rows)
    write_text_atomic(table_md, _markdown(rows, lines))
    seconds = time.perf_counter() - start
    return ReproduceResult(profile_name, out, weights, table_csv, table_md, rows, trained_now, seconds)
