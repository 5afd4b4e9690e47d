"""Reproducibility helpers for training: seeding, capturing/restoring every RNG, deferring Ctrl-C.

A run stopped and resumed must end with exactly the weights of an uninterrupted run, so a checkpoint
stores every random state that a step can touch: the CPU generator that samples crops, torch's
global generator, numpy's and Python's, and CUDA's when present. Ctrl-C is deferred to the end of
the current step so that the checkpoint written on interruption is a consistent state;
:func:`stopping` is how every training loop of lzsc (FNet's, CSC-IVFN's) ends early.
Introduced in ``notebooks/06_train_stage1.ipynb``.
"""

from __future__ import annotations

import random
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "DivergenceError",
    "InterruptGuard",
    "capture_rng",
    "lower_lr_advice",
    "restore_rng",
    "seed_everything",
    "stopping",
    "torch_threads",
]


class DivergenceError(FloatingPointError):
    """Training diverged (a non-finite or exploding loss, non-finite weights); the message says what to do."""


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's (CPU and CUDA) global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (the legacy global state is what third-party code uses)
    torch.manual_seed(seed)


def capture_rng(generator: torch.Generator) -> dict[str, Any]:
    """Every RNG state, in a form ``torch.load(weights_only=True)`` accepts."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002
    version, mt, gauss = random.getstate()
    state: dict[str, Any] = {
        "data": generator.get_state(),
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": {"version": version, "state": list(mt), "gauss": gauss},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any], generator: torch.Generator) -> None:
    """Inverse of :func:`capture_rng`; the CUDA states are restored when this machine has as many GPUs."""
    generator.set_state(state["data"])
    torch.set_rng_state(state["torch"])
    npy = state["numpy"]
    keys = npy["keys"].numpy().astype(np.uint32)
    np.random.set_state((npy["kind"], keys, npy["pos"], npy["has_gauss"], npy["cached_gaussian"]))  # noqa: NPY002
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss"]))
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


class InterruptGuard:
    """Context manager that turns the first Ctrl-C (SIGINT) into a flag checked between steps.

    ``check()`` raises ``KeyboardInterrupt`` when a Ctrl-C arrived; a second Ctrl-C before that raises
    at once (``interrupted_mid_step`` then tells the trainer that the state may be inconsistent).
    Outside the main thread signals cannot be caught and the guard does nothing.
    """

    def __init__(self) -> None:
        self.pending = False
        self.interrupted_mid_step = False
        self._previous: Any = None
        self._installed = False

    def _handler(self, signum: int, frame: Any) -> None:
        if self.pending:
            self.interrupted_mid_step = True
            raise KeyboardInterrupt
        self.pending = True

    def __enter__(self) -> InterruptGuard:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler)
            self._installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False

    def check(self) -> None:
        """Raise ``KeyboardInterrupt`` if a Ctrl-C arrived since the last check."""
        if self.pending:
            self.pending = False
            raise KeyboardInterrupt


@contextmanager
def stopping(
    bar: Any,
    log: Any,
    guard: InterruptGuard,
    save_current: Callable[[], int],
    checkpoint: Path,
    advice: Callable[[], str],
) -> Iterator[None]:
    """How a training loop ends early: wrap the loop (inside it, ``guard`` defers Ctrl-C).

    On :class:`DivergenceError` the progress ``bar`` and the step ``log`` are closed and the error is
    raised again with ``advice()`` appended (what to do: the last good checkpoint, a lower lr). On
    Ctrl-C the checkpoint of the current step is saved (``save_current()`` writes it and returns the
    step), unless a second Ctrl-C came mid-step, when the last saved ``checkpoint`` is kept; either way
    stderr says so and ``KeyboardInterrupt`` is raised again.
    """
    try:
        yield
    except DivergenceError as err:
        bar.close()
        log.close()
        raise DivergenceError(f"{err}{advice()}") from None
    except KeyboardInterrupt:
        bar.close()
        if guard.interrupted_mid_step:
            log.close()
            print(f"interrupted twice: the last saved checkpoint {checkpoint} is kept", file=sys.stderr)
        else:
            step = save_current()
            log.close()
            print(
                f"interrupted at step {step}: saved {checkpoint}; continue with resume=True (--resume)",
                file=sys.stderr,
            )
        raise


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """torch's CPU threads set to ``threads`` inside the block (None: left as they are), restored after."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def lower_lr_advice(lr: float, last_saved: int | None, checkpoint: Path) -> str:
    """What to do after a divergence: continue the last good ``checkpoint`` (saved at step
    ``last_saved``; None: none was written) with a tenth of the learning rate ``lr``."""
    lower = f"{lr / 10:g}"
    if last_saved is None:
        return f" No checkpoint was written yet: run again with a lower learning rate (--set lr={lower})."
    return (
        f" The last good checkpoint {checkpoint} (step {last_saved}) is kept: continue it with a lower "
        f"learning rate (--resume --set lr={lower})."
    )
