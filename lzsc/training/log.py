"""Per-step training log: ``out_dir/log.csv`` and, when TensorBoard is installed, ``out_dir/tensorboard``.

On resume the CSV keeps the rows up to the checkpoint's step and appends after them, so a step is
never listed twice even when the log was flushed past the last checkpoint before a crash. Every write
(the truncation on resume, each flush) replaces the file atomically (:mod:`lzsc.atomic`), so an
interrupted run never leaves a half-written row.
Introduced in ``notebooks/06_train_stage1.ipynb``.
"""

from __future__ import annotations

import csv
from pathlib import Path

from ..atomic import append_csv, atomic_open

__all__ = ["StepLog", "read_log"]


def read_log(path: str | Path) -> list[dict[str, float]]:
    """The rows of a ``log.csv`` as dicts of floats (``step`` as a float too)."""
    with open(path, newline="") as fh:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]


class StepLog:
    """Buffered CSV writer (one row per step) plus optional TensorBoard scalars.

    ``resume_step=None`` starts a new file; otherwise rows with ``step > resume_step`` are dropped.
    """

    def __init__(
        self, path: str | Path, resume_step: int | None = None, tensorboard: bool = True, tag: str = "train"
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tag = tag
        self.columns: list[str] | None = None
        self._rows: list[dict[str, float]] = []
        if resume_step is None or not self.path.exists():
            self.path.unlink(missing_ok=True)
        else:
            self._truncate(resume_step)
        self._writer = self._tensorboard(resume_step) if tensorboard else None

    def _truncate(self, step: int) -> None:
        with open(self.path, newline="") as fh:
            reader = csv.DictReader(fh)
            self.columns = list(reader.fieldnames or [])
            kept = [row for row in reader if float(row["step"]) <= step]
        with atomic_open(self.path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.columns)
            writer.writeheader()
            writer.writerows(kept)

    def _tensorboard(self, resume_step: int | None):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            return None
        purge = None if resume_step is None else resume_step + 1
        return SummaryWriter(str(self.path.parent / "tensorboard"), purge_step=purge)

    def add(self, step: int, values: dict[str, float], scalars: bool = False) -> None:
        """Queue one CSV row; ``scalars=True`` also writes the values to TensorBoard."""
        row = {"step": step, **values}
        if self.columns is None:
            self.columns = list(row)
        elif list(row) != self.columns:
            raise ValueError(f"log columns changed: {list(row)} vs {self.columns} in {self.path}")
        self._rows.append(row)
        if scalars and self._writer is not None:
            for key, value in values.items():
                self._writer.add_scalar(f"{self.tag}/{key}", value, step)

    def flush(self) -> None:
        """Append the queued rows to the CSV (rewritten atomically; the header when it is new)."""
        if not self._rows:
            return
        append_csv(self.path, self._rows)
        self._rows.clear()
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        self.flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
