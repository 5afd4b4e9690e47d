"""Checks before a training run starts: the data, the output folder, the stage-II init and the checkpoint
to resume (each failure a clear message before anything is trained or written). Used by
:mod:`lzsc.training.trainer` (and :func:`load_every` by :mod:`lzsc.training.csc_ivfn_data`);
introduced in ``notebooks/06_train_stage1.ipynb``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from ..atomic import remove_stale_temporaries
from ..checkpoints import CheckpointError, check_finite, describe_checkpoint, load_fnet, read_checkpoint
from ..models import FNet
from .profiles import RESUMABLE_FIELDS, TrainConfig

if TYPE_CHECKING:
    from .trainer import PairDataset

__all__ = [
    "CHECKPOINT_NAME",
    "FORMAT",
    "check_batch",
    "check_data",
    "load_every",
    "load_init",
    "open_out_dir",
    "read_resumable",
    "read_resume",
]

CHECKPOINT_NAME = "checkpoint.pt"
FORMAT = "lzsc-train-v1"
CHECKPOINT_KEYS = ("stage", "step", "config", "model", "ifnet", "ema", "optimizer", "rng", "elapsed_s")
LISTED = 20  # at most this many bad training pairs or images are listed


def check_batch(batch: Any, config: Any, batch_size: int | None = None) -> None:
    """A training batch must be a dict with ``"a"`` and ``"b"`` of shape (``batch_size`` (default
    ``config.batch_size``), 1, patch, patch)."""
    if not isinstance(batch, dict) or "a" not in batch or "b" not in batch:
        raise TypeError(f"sample_batch must return a dict with 'a' and 'b', got {type(batch).__name__}")
    want = (config.batch_size if batch_size is None else batch_size, 1, config.patch, config.patch)
    for key in ("a", "b"):
        if tuple(batch[key].shape) != want:
            raise ValueError(
                f"sample_batch returned {key!r} of shape {tuple(batch[key].shape)}, expected {want}"
            )


def check_data(data: PairDataset, config: TrainConfig, progress: bool) -> None:
    """Read every pair of a :class:`~lzsc.data.PairedImageDataset` now (cached for training), so that an
    unreadable or too-small image fails before the first step, listing every bad pair."""
    from ..data import PairedImageDataset

    if not isinstance(data, PairedImageDataset):
        return
    if data.patch != config.patch:
        raise ValueError(
            f"the data set serves {data.patch}x{data.patch} crops but this run's patch is {config.patch}; "
            "build the data set with the run's patch (build_dataset(config))"
        )
    load_every(len(data), data.load, "pair", "a smaller patch (--set patch=N)", progress)


def load_every(count: int, load: Callable[[int], object], unit: str, smaller: str, progress: bool) -> None:
    """Call ``load(i)`` for every item now, so that bad files fail before the first step: a ValueError
    lists up to :data:`LISTED` of the items whose load raised ValueError or OSError (``unit``: "pair",
    "image"; ``smaller``: the setting that makes a too-small image usable)."""
    bad = []
    for index in tqdm(range(count), desc=f"checking {unit}s", unit=unit, disable=not progress, leave=False):
        try:
            load(index)
        except (ValueError, OSError) as err:
            bad.append(str(err))
    if bad:
        more = f"\n  ... and {len(bad) - LISTED} more" if len(bad) > LISTED else ""
        raise ValueError(
            f"{len(bad)} of {count} training {unit}(s) cannot be used (nothing was trained):\n  "
            + "\n  ".join(bad[:LISTED])
            + f"{more}\nFix or remove these files, or use {smaller}, then run again."
        )


def open_out_dir(out_dir: Path) -> None:
    """Create ``out_dir`` (with a message for a path that cannot be a folder) and remove orphaned
    temporary files of killed writes from it."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise FileExistsError(f"output folder {out_dir} is a file; choose another --out") from None
    except OSError as err:
        raise ValueError(
            f"cannot create the output folder {out_dir} ({err.strerror}); choose a writable --out"
        ) from None
    remove_stale_temporaries(out_dir)


def load_init(init: str | Path | None, config: TrainConfig) -> FNet | None:
    if init is None:
        if config.skip_stage1:
            return None
        raise ValueError(
            "stage II starts from the stage-I FNet: pass init=<stage1 result, e.g. out/stage1/stage1.pt> "
            "(--init), or set skip_stage1=True (--set skip_stage1=true) for the AE11 ablation "
            "(stage II from scratch)"
        )
    if config.skip_stage1:
        raise ValueError("skip_stage1=True (AE11) trains stage II from scratch; do not pass init")
    loaded = load_fnet(init)
    if loaded.config != config.fnet_config():
        raise ValueError(
            f"init {init} holds an FNet built with {loaded.config}, but this run's configuration is "
            f"{config.fnet_config()}; use the same model settings in both stages"
        )
    return loaded


def read_resumable(
    path: Path,
    config: Any,
    resume: bool,
    *,
    fmt: str,
    keys: Iterable[str],
    resumable: Iterable[str],
    what: str,
    hint: Callable[[str], str] = lambda described: "",
) -> dict[str, Any] | None:
    """The training checkpoint ``path`` to continue, or None when there is none; the checks every
    trainer of lzsc makes before resuming (FNet's, CSC-IVFN's, DAE-Fuse's).

    Without ``resume`` an existing checkpoint is an error (never overwritten). The file must hold a
    dict of format ``fmt`` with every key of ``keys``, a configuration ``type(config).from_dict`` reads
    and that equals ``config`` but for the ``resumable`` settings, and finite tensors; ``what`` names
    the checkpoint in the messages, ``hint(description)`` adds advice for a file of another kind.
    """
    if not path.exists():
        return None
    if not resume:
        raise FileExistsError(
            f"{path} exists: pass resume=True (--resume) to continue that run, or choose another "
            "out_dir (--out)"
        )
    saved = read_checkpoint(path)
    if not isinstance(saved, dict) or saved.get("format") != fmt or any(k not in saved for k in keys):
        described = describe_checkpoint(saved)
        raise CheckpointError(
            f"{path} is {described}, not a resumable {what} checkpoint (the {CHECKPOINT_NAME} that "
            f"training writes, with the optimiser and random states). Move it out of {path.parent} or "
            f"choose another out_dir (--out).{hint(described)}"
        )
    try:
        old = type(config).from_dict(saved["config"]).to_dict()
    except (TypeError, ValueError) as err:
        raise CheckpointError(
            f"{path} holds a training configuration this version cannot read ({err}); start a new run "
            "in another out_dir (--out)"
        ) from None
    new, free = config.to_dict(), set(resumable)
    differ = [f"{k}: {old.get(k)!r} -> {new[k]!r}" for k in new if k not in free and old.get(k) != new[k]]
    if differ:
        raise ValueError(f"cannot resume {path} with a different configuration ({'; '.join(differ)})")
    check_finite(saved, str(path))
    return saved


def _init_hint(described: str) -> str:
    if "result" in described or "FNet" in described:
        return (
            " A stage result or FNet weights can start stage II instead: pass the file as --init (init=...)."
        )
    return ""


def read_resume(path: Path, config: TrainConfig, resume: bool) -> dict[str, Any] | None:
    """FNet's checkpoint to continue (:func:`read_resumable`), not beyond the run's ``steps``."""
    saved = read_resumable(
        path,
        config,
        resume,
        fmt=FORMAT,
        keys=CHECKPOINT_KEYS,
        resumable=RESUMABLE_FIELDS,
        what="lzsc training",
        hint=_init_hint,
    )
    if saved is not None and saved["step"] > config.steps:
        raise ValueError(
            f"{path} is at step {saved['step']}, beyond the requested total of {config.steps} steps (--steps)"
        )
    return saved
