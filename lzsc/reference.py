"""The paper's published numbers: Tables I and III from the reference CSV files, and the cost row.

The CSVs live beside the data (``$LZSC_DATA/../reference`` by default, or ``$LZSC_REFERENCE``);
they are the paper's values, not ours, and are only ever printed next to numbers this library
computes. Without them, tables show our numbers alone and say that the reference is missing. A data
set's name in Table I is its ``paper_name`` in the registry :mod:`lzsc.datasets`.
"""

from __future__ import annotations

import csv
import os
from functools import cache
from pathlib import Path

from .datasets import lookup
from .paths import data_root

__all__ = [
    "PAPER_COST",
    "PAPER_METRICS",
    "ablation_table",
    "best_competitor",
    "paper_value",
    "reference_root",
    "table1_name",
]

PAPER_METRICS = ("MI", "CE", "VIF", "Qabf", "Qcb", "SSIM")
FNET = "FNet (Ours)"

PAPER_COST = {"params": 420e3, "gflops": 0.33, "seconds": 0.051, "device": "NVIDIA A40", "size": 320}
"""The paper's Table I cost row for FNet (parameters, "GFLOPs" and run time per 320x320 pair)."""


def reference_root() -> Path | None:
    """Folder holding ``paper_table1_sota.csv``: ``$LZSC_REFERENCE`` or ``$LZSC_DATA/../reference``."""
    env = os.environ.get("LZSC_REFERENCE")
    candidates = [Path(env)] if env else []
    root = data_root()
    if root is not None:
        candidates.append(root.parent / "reference")
    return next((c for c in candidates if (c / "paper_table1_sota.csv").is_file()), None)


@cache
def _read(path: Path) -> tuple[dict[str, str], ...]:
    with open(path, newline="") as fh:
        return tuple(csv.DictReader(fh))


def _table1() -> tuple[dict[str, str], ...]:
    root = reference_root()
    return _read(root / "paper_table1_sota.csv") if root else ()


def table1_name(dataset: str) -> str | None:
    """Table I's name of ``dataset``: of a registered or extra set (None when Table I does not report
    it), or ``dataset`` itself when it names no known set (it may be a Table I name already)."""
    spec = lookup(dataset)
    if spec is None:
        return dataset
    return spec.paper_name if spec.paper == "FNet" else None


def paper_value(dataset: str, metric: str, method: str = FNET) -> float | None:
    """The paper's Table I value for ``dataset`` (lzsc name, e.g. "TNO"), or None when unknown."""
    name = table1_name(dataset)
    for row in _table1():
        if row["task_dataset"] == name and row["metric"] == metric and row["method"] == method:
            return float(row["value"])
    return None


def best_competitor(dataset: str, metric: str) -> tuple[str, float] | None:
    """The best non-FNet method of Table I for a cell (lowest for CE, highest otherwise)."""
    name = table1_name(dataset)
    rows = [
        (r["method"], float(r["value"]))
        for r in _table1()
        if r["task_dataset"] == name and r["metric"] == metric and r["method"] != FNET
    ]
    if not rows:
        return None
    return (min if metric == "CE" else max)(rows, key=lambda r: r[1])


def ablation_table() -> list[dict[str, str]]:
    """Rows of the paper's Table III (``paper_table3_ablation.csv``), notes included; [] if absent."""
    root = reference_root()
    path = root / "paper_table3_ablation.csv" if root else None
    return list(_read(path)) if path and path.is_file() else []
