"""The papers' published numbers: FNet's Tables I and III, the CSC paper's Table II, the cost row.

The CSVs live beside the data (``$LZSC_DATA/../reference`` by default, or ``$LZSC_REFERENCE``);
they are the papers' values, not ours, and are only ever printed next to numbers this library
computes. Without them, tables show our numbers alone and say that the reference is missing. Which
table reports a test set is its ``paper`` in the registry :mod:`lzsc.datasets` ("FNet": Table I,
``paper_table1_sota.csv``, the set's ``paper_name`` there; "CSC": Table II, ``csc_table2.csv``, the
set's lzsc name there, MI converted from its bits to lzsc's nats); a method's row name in each table
is its label in :mod:`lzsc.methods.registry`.
"""

from __future__ import annotations

import csv
import math
import os
from functools import cache
from pathlib import Path

from .datasets import lookup
from .paths import data_root

__all__ = [
    "CSC_IVFN",
    "FNET",
    "PAPER_COST",
    "PAPER_METRICS",
    "TABLE2_METRICS",
    "TABLE2_MI_SCALE",
    "ablation_table",
    "best_competitor",
    "own_method",
    "paper_metrics",
    "paper_value",
    "reference_root",
    "table1_name",
]

#: The metrics of FNet's Table I, and of the CSC paper's Table II.
PAPER_METRICS = ("MI", "CE", "VIF", "Qabf", "Qcb", "SSIM")
TABLE2_METRICS = ("EN", "MI", "SD", "SF", "VIF", "AG", "SCD")
#: Table II reports MI in bits, lzsc (and FNet's Table I) in nats: its MI values are multiplied by
#: ln 2 when read (measured: the released CSC-IVFN's MI is 1.733 nats = 2.500 bits on TNO40, Table II
#: 2.50; ``notebooks/11_csc_networks.ipynb``).
TABLE2_MI_SCALE = math.log(2)
#: Each paper's own method, as its table names it.
FNET = "FNet (Ours)"
CSC_IVFN = "CSC-IVFN"
_OWN = {"FNet": FNET, "CSC": CSC_IVFN}

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


def _table2() -> tuple[dict[str, str], ...]:
    root = reference_root()
    path = root / "csc_table2.csv" if root else None
    return _read(path) if path and path.is_file() else ()


def table1_name(dataset: str) -> str | None:
    """Table I's name of ``dataset``: of a registered or extra set (None when Table I does not report
    it), or ``dataset`` itself when it names no known set (it may be a Table I name already)."""
    spec = lookup(dataset)
    if spec is None:
        return dataset
    return spec.paper_name if spec.paper == "FNet" else None


def _cells(dataset: str, metric: str) -> list[tuple[str, float]]:
    """(method, value) of every method the paper reporting ``dataset`` gives for ``metric``, in lzsc's
    units (Table II's MI converted from bits to nats, :data:`TABLE2_MI_SCALE`)."""
    spec = lookup(dataset)
    scale = 1.0
    if spec is not None and spec.paper == "CSC":
        rows, key, name = _table2(), "dataset", spec.name
        scale = TABLE2_MI_SCALE if metric == "MI" else 1.0
    else:
        rows, key, name = _table1(), "task_dataset", table1_name(dataset)
    cells = [r for r in rows if r[key] == name and r["metric"] == metric]
    return [(r["method"], scale * float(r["value"])) for r in cells]


def own_method(dataset: str) -> str:
    """The row name of the method of the paper that reports ``dataset``: "FNet (Ours)" (Table I, and any
    set no paper reports) or "CSC-IVFN" (Table II)."""
    spec = lookup(dataset)
    return _OWN[spec.paper if spec is not None and spec.paper else "FNet"]


def paper_metrics(dataset: str) -> tuple[str, ...]:
    """The metrics of the table that reports ``dataset``: Table II's for the CSC sets, else Table I's."""
    spec = lookup(dataset)
    return TABLE2_METRICS if spec is not None and spec.paper == "CSC" else PAPER_METRICS


def paper_value(dataset: str, metric: str, method: str | None = None) -> float | None:
    """The published value of ``method`` (its row name; default: the reporting paper's own method,
    FNet in Table I, CSC-IVFN in Table II) for ``dataset`` (lzsc name, e.g. "TNO"); None if unknown."""
    return dict(_cells(dataset, metric)).get(method or own_method(dataset))


def best_competitor(dataset: str, metric: str, exclude: str | None = "own") -> tuple[str, float] | None:
    """The best published method of a cell (lowest for CE, highest otherwise) other than ``exclude``:
    "own" (default) leaves out the reporting paper's own method, None leaves out nothing, any other
    string that row name. None when no method is left."""
    if exclude == "own":
        exclude = own_method(dataset)
    rows = [cell for cell in _cells(dataset, metric) if cell[0] != exclude]
    if not rows:
        return None
    return (min if metric == "CE" else max)(rows, key=lambda r: r[1])


def ablation_table() -> list[dict[str, str]]:
    """Rows of the paper's Table III (``paper_table3_ablation.csv``), notes included; [] if absent."""
    root = reference_root()
    path = root / "paper_table3_ablation.csv" if root else None
    return list(_read(path)) if path and path.is_file() else []
