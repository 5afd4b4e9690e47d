"""The papers' published numbers: FNet's Tables I and III, the CSC paper's Table II, DAE-Fuse's Table I,
the cost row.

The CSVs live beside the data (``$LZSC_DATA/../reference`` by default, or ``$LZSC_REFERENCE``);
they are the papers' values, not ours, and are only ever printed next to numbers this library
computes. Without them, tables show our numbers alone and say that the reference is missing. Which
table reports a test set is its ``paper`` in the registry :mod:`lzsc.datasets` ("FNet": Table I,
``paper_table1_sota.csv``, the set's ``paper_name`` there; "CSC": Table II, ``csc_table2.csv``, the
set's lzsc name there, MI converted from its bits to lzsc's nats); a method's row name in each table
is its label in :mod:`lzsc.methods.registry`. DAE-Fuse's Table I (``dae_fuse_table1.csv``: TNO and
MRI_CT, lzsc's names) reports sets that FNet's Table I reports too, so it is read on request
(``paper="DAE"`` in the functions below); its MI is on FNet's Table I's scale (the two tables give
U2Fusion 1.35 / 1.37 and CDDFuse 2.11 / 2.19 on TNO; in bits they would be 1.44 times larger), so it
is read unconverted.
"""

from __future__ import annotations

import csv
import math
import os
from functools import cache
from pathlib import Path

from .datasets import Paper, lookup
from .paths import data_root

__all__ = [
    "CSC_IVFN",
    "DAE_FUSE",
    "DAE_METRICS",
    "FNET",
    "PAPER_COST",
    "PAPER_METRICS",
    "TABLE2_METRICS",
    "TABLE2_MI_SCALE",
    "TABLE_NAMES",
    "ablation_table",
    "best_competitor",
    "own_method",
    "paper_metrics",
    "paper_value",
    "reference_root",
    "reports",
    "table1_name",
]

#: The metrics of FNet's Table I, and of the CSC paper's Table II.
PAPER_METRICS = ("MI", "CE", "VIF", "Qabf", "Qcb", "SSIM")
TABLE2_METRICS = ("EN", "MI", "SD", "SF", "VIF", "AG", "SCD")
DAE_METRICS = ("EN", "SD", "SF", "MI", "SCD", "VIF", "Qabf")
#: Table II reports MI in bits, lzsc (and FNet's Table I) in nats: its MI values are multiplied by
#: ln 2 when read (measured: the released CSC-IVFN's MI is 1.733 nats = 2.500 bits on TNO40, Table II
#: 2.50; ``notebooks/11_csc_networks.ipynb``).
TABLE2_MI_SCALE = math.log(2)
#: Each paper's own method, as its table names it.
FNET = "FNet (Ours)"
CSC_IVFN = "CSC-IVFN"
DAE_FUSE = "DAE-Fuse"
_OWN = {"FNet": FNET, "CSC": CSC_IVFN, "DAE": DAE_FUSE}
_METRICS = {"FNet": PAPER_METRICS, "CSC": TABLE2_METRICS, "DAE": DAE_METRICS}
#: Each paper's results table, by name.
TABLE_NAMES = {"FNet": "FNet's Table I", "CSC": "the CSC paper's Table II", "DAE": "DAE-Fuse's Table I"}

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


def _table(name: str) -> tuple[dict[str, str], ...]:
    root = reference_root()
    path = root / name if root else None
    return _read(path) if path and path.is_file() else ()


def _paper(dataset: str, paper: Paper | None) -> Paper:
    """``paper``, or the paper reporting ``dataset`` (FNet's for a set no paper reports)."""
    if paper is not None:
        if paper not in _OWN:
            raise ValueError(f"unknown paper {paper!r}; choose one of {', '.join(_OWN)}")
        return paper
    spec = lookup(dataset)
    return spec.paper if spec is not None and spec.paper else "FNet"


def table1_name(dataset: str) -> str | None:
    """Table I's name of ``dataset``: of a registered or extra set (None when Table I does not report
    it), or ``dataset`` itself when it names no known set (it may be a Table I name already)."""
    spec = lookup(dataset)
    if spec is None:
        return dataset
    return spec.paper_name if spec.paper == "FNet" else None


def _cells(dataset: str, metric: str, paper: Paper | None = None) -> list[tuple[str, float]]:
    """(method, value) of every method that ``paper`` (default: the one reporting ``dataset``) gives for
    ``metric``, in lzsc's units (Table II's MI converted from bits to nats, :data:`TABLE2_MI_SCALE`)."""
    paper = _paper(dataset, paper)
    spec = lookup(dataset)
    scale = 1.0
    if paper == "FNet":
        rows, key, name = _table1(), "task_dataset", table1_name(dataset)
    else:
        rows = _table("csc_table2.csv" if paper == "CSC" else "dae_fuse_table1.csv")
        key, name = "dataset", spec.name if spec is not None else dataset
        scale = TABLE2_MI_SCALE if paper == "CSC" and metric == "MI" else 1.0
    cells = [r for r in rows if r[key] == name and r["metric"] == metric]
    return [(r["method"], scale * float(r["value"])) for r in cells]


def reports(dataset: str, paper: Paper) -> bool:
    """Whether ``paper``'s table gives numbers for ``dataset`` (False without the reference CSVs)."""
    return any(_cells(dataset, metric, paper) for metric in paper_metrics(dataset, paper))


def own_method(dataset: str, paper: Paper | None = None) -> str:
    """The row name of ``paper``'s own method (default: the paper reporting ``dataset``): "FNet (Ours)"
    (Table I, and any set no paper reports), "CSC-IVFN" (Table II) or "DAE-Fuse"."""
    return _OWN[_paper(dataset, paper)]


def paper_metrics(dataset: str, paper: Paper | None = None) -> tuple[str, ...]:
    """The metrics of ``paper``'s table (default: the one reporting ``dataset``)."""
    return _METRICS[_paper(dataset, paper)]


def paper_value(
    dataset: str, metric: str, method: str | None = None, paper: Paper | None = None
) -> float | None:
    """The published value of ``method`` (its row name; default: the paper's own method) for ``dataset``
    (lzsc name, e.g. "TNO") in ``paper``'s table (default: the one reporting it); None if unknown."""
    return dict(_cells(dataset, metric, paper)).get(method or own_method(dataset, paper))


def best_competitor(
    dataset: str, metric: str, exclude: str | None = "own", paper: Paper | None = None
) -> tuple[str, float] | None:
    """The best published method of a cell (lowest for CE, highest otherwise) other than ``exclude``:
    "own" (default) leaves out the paper's own method, None leaves out nothing, any other string that
    row name. None when no method is left. ``paper`` as in :func:`paper_value`."""
    if exclude == "own":
        exclude = own_method(dataset, paper)
    rows = [cell for cell in _cells(dataset, metric, paper) if cell[0] != exclude]
    if not rows:
        return None
    return (min if metric == "CE" else max)(rows, key=lambda r: r[1])


def ablation_table() -> list[dict[str, str]]:
    """Rows of the paper's Table III (``paper_table3_ablation.csv``), notes included; [] if absent."""
    root = reference_root()
    path = root / "paper_table3_ablation.csv" if root else None
    return list(_read(path)) if path and path.is_file() else []
