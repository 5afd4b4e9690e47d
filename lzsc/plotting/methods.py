"""Several fusion methods on the same test sets: one table, the better mean of each cell marked.

:class:`MethodsTable` takes ``{method label: {data set: EvalResult}}`` (e.g. from
:func:`lzsc.evaluation.load_results`) and sets, per data set and metric, every method's mean side by
side; cells where a method lacks the set stay empty, so no method is compared on pairs the other did
not see. All results must share one protocol (the header names it). Introduced in
``notebooks/11_csc_networks.ipynb``; :meth:`MethodsTable.dataset` and :func:`plot_ranks` (mean ranks,
with the pair count of each data set) in ``notebooks/12_methods_side_by_side.ipynb``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ..evaluation import EvalResult
from ..metrics import HIGHER_IS_BETTER, METRIC_NAMES
from ..protocols import CONVENTIONS, get_protocol
from .checks import labelled_figure

__all__ = ["DatasetTable", "MethodsTable", "plot_ranks"]


@dataclass
class MethodsTable:
    """Per data set (rows) and metric (column groups), each method's mean; the best mean of a cell is
    starred (bold in HTML). Counts: :meth:`wins` per method, over the cells where all methods ran."""

    results: Mapping[str, Mapping[str, EvalResult]]
    metrics: Sequence[str] = METRIC_NAMES
    partial: bool = False

    def __post_init__(self) -> None:
        if not any(self.results.values()):
            raise ValueError("no results to compare: give {method label: {data set: EvalResult}}")
        protocols = {r.protocol for per in self.results.values() for r in per.values()}
        if len(protocols) > 1:
            raise ValueError(f"results under different protocols {sorted(protocols)}: compare under one")
        for label, per in self.results.items():
            for dataset, r in per.items():
                if not r.complete and not self.partial:
                    raise ValueError(
                        f"{label} on {dataset} covers {len(r.rows)} pairs only ({r.scale}); pass "
                        "partial=True to compare methods on the same part of a set"
                    )
        if self.partial:
            for dataset in self.datasets:
                names = {
                    label: sorted(r["name"] for r in per[dataset].rows)
                    for label, per in self.results.items()
                    if dataset in per
                }
                if len({tuple(v) for v in names.values()}) > 1:
                    raise ValueError(f"the methods ran on different pairs of {dataset}: {names}")

    @property
    def datasets(self) -> list[str]:
        return list(dict.fromkeys(d for per in self.results.values() for d in per))

    def cell(self, dataset: str, metric: str) -> dict[str, float]:
        """{method: mean} for one cell, the methods that ran on ``dataset`` only."""
        return {
            label: per[dataset].means().get(metric, math.nan)
            for label, per in self.results.items()
            if dataset in per
        }

    def best(self, dataset: str, metric: str) -> str | None:
        """The method with the best mean of a cell (lowest for CE), None if fewer than two ran."""
        values = {k: v for k, v in self.cell(dataset, metric).items() if not math.isnan(v)}
        if len(values) < 2:
            return None
        pick = max if HIGHER_IS_BETTER.get(metric, True) else min
        return pick(values, key=values.get)

    def wins(self) -> dict[str, int]:
        """Cells won by each method, over every (data set, metric) where all methods ran."""
        counts = dict.fromkeys(self.results, 0)
        for d in self.datasets:
            for m in self.metrics:
                winner = self.best(d, m)
                if winner is not None and len(self.cell(d, m)) == len(self.results):
                    counts[winner] += 1
        return counts

    def ranks(self, dataset: str) -> dict[str, dict[str, float]]:
        """{method: {metric: rank}} on ``dataset`` (1 = best; ties share the mean rank; an undefined,
        NaN, mean ranks last), over the methods that ran on it."""
        out: dict[str, dict[str, float]] = {
            label: {} for label, per in self.results.items() if dataset in per
        }
        for m in self.metrics:
            cell = self.cell(dataset, m)
            sign = 1.0 if HIGHER_IS_BETTER.get(m, True) else -1.0
            defined = [v for v in cell.values() if not math.isnan(v)]
            for label, value in cell.items():
                if math.isnan(value):  # an undefined metric (lzsc.metrics.checks) ranks last
                    out[label][m] = float(len(cell))
                    continue
                better = sum(sign * (v - value) > 0 for v in defined)
                ties = sum(v == value for v in defined)
                out[label][m] = better + (ties + 1) / 2
        return out

    def mean_ranks(self) -> dict[str, dict[str, float]]:
        """{data set: {method: mean rank over the metrics}}."""
        return {
            d: {k: float(np.mean(list(v.values()))) for k, v in self.ranks(d).items()} for d in self.datasets
        }

    def dataset(self, dataset: str) -> DatasetTable:
        """One data set as a table: a row per method, a column per metric, the best of each column marked."""
        if dataset not in self.datasets:
            raise ValueError(f"no results on {dataset}; the sets are {', '.join(self.datasets)}")
        return DatasetTable(self, dataset)

    def header(self) -> str:
        protocol = next(r.protocol for per in self.results.values() for r in per.values())
        pairs = "; ".join(
            f"{label}: " + ", ".join(f"{d} {len(r.rows)}" for d, r in per.items())
            for label, per in self.results.items()
        )
        return (
            f"protocol '{protocol}' [{get_protocol(protocol).describe()}]. Pairs: {pairs}. "
            f"Best mean of each cell starred. {CONVENTIONS}"
        )

    def _cells(self, dataset: str, mark: tuple[str, str]) -> list[str]:
        out = []
        for m in self.metrics:
            cell, best = self.cell(dataset, m), self.best(dataset, m)
            out.append(
                " / ".join(
                    f"{mark[0]}{cell[k]:.3f}{mark[1]}"
                    if k == best
                    else f"{cell[k]:.3f}"
                    if k in cell
                    else "-"
                    for k in self.results
                )
            )
        return out

    def __str__(self) -> str:
        lines = [self.header(), f"cells: {' / '.join(self.results)}", " | ".join(["set", *self.metrics])]
        lines += [" | ".join([d, *self._cells(d, ("*", ""))]) for d in self.datasets]
        lines.append("cells won: " + ", ".join(f"{k} {v}" for k, v in self.wins().items()))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in ["set", *self.metrics])
        body = "".join(
            "<tr>"
            + "".join(f"<td>{c}</td>" for c in [html.escape(d), *self._cells(d, ("<b>", "</b>"))])
            + "</tr>"
            for d in self.datasets
        )
        wins = ", ".join(f"{html.escape(k)} {v}" for k, v in self.wins().items())
        order = html.escape(" / ".join(self.results))
        return (
            f"<p><b>{html.escape(self.header())}</b></p><p>each cell: {order}</p>"
            f"<table><tr>{head}</tr>{body}</table><p>cells won: {wins}</p>"
        )


@dataclass
class DatasetTable:
    """:meth:`MethodsTable.dataset`: one set, a row per method (mean of its pairs and mean rank)."""

    table: MethodsTable
    name: str

    def rows(self) -> list[tuple[str, list[float], float]]:
        ranks = self.table.ranks(self.name)
        cells = {m: self.table.cell(self.name, m) for m in self.table.metrics}
        return [
            (
                label,
                [cells[m][label] for m in self.table.metrics],
                float(np.mean(list(ranks[label].values()))),
            )
            for label in ranks
        ]

    def _marked(self, mark: tuple[str, str]) -> list[list[str]]:
        best = {m: self.table.best(self.name, m) for m in self.table.metrics}
        return [
            [
                label,
                *(
                    f"{mark[0]}{v:.3f}{mark[1]}" if best[m] == label else f"{v:.3f}"
                    for m, v in zip(self.table.metrics, values, strict=True)
                ),
                f"{rank:.1f}",
            ]
            for label, values, rank in self.rows()
        ]

    def _title(self) -> str:
        pairs = {len(per[self.name].rows) for per in self.table.results.values() if self.name in per}
        return f"{self.name}: {'/'.join(map(str, sorted(pairs)))} pairs; best of each column marked"

    def __str__(self) -> str:
        head = ["method", *self.table.metrics, "mean rank"]
        return "\n".join([self._title(), " | ".join(head), *(" | ".join(r) for r in self._marked(("*", "")))])

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in ["method", *self.table.metrics, "mean rank"])
        body = "".join(
            "<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in self._marked(("<b>", "</b>"))
        )
        return f"<p><b>{html.escape(self._title())}</b></p><table><tr>{head}</tr>{body}</table>"


@labelled_figure
def plot_ranks(table: MethodsTable, title: str | None = None) -> Figure:
    """Mean rank of each method (rows) on each data set (columns) over the table's metrics, as a heat
    map with the values written in (1 = best on every metric). Each rank is that of the method's means
    over the pairs it ran on; the column labels give the number of pairs (a range if methods differ)."""
    ranks = table.mean_ranks()
    methods = list(table.results)
    sets = table.datasets
    grid = np.array([[ranks[d].get(m, np.nan) for d in sets] for m in methods])
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(sets), 0.9 + 0.42 * len(methods)))
    image = ax.imshow(grid, cmap="viridis_r", vmin=1, vmax=len(methods), aspect="auto")
    for (i, j), value in np.ndenumerate(grid):
        if not np.isnan(value):
            ax.text(
                j,
                i,
                f"{value:.1f}",
                ha="center",
                va="center",
                color="w" if value > (len(methods) + 1) / 2 else "k",
            )
    ax.set_xticks(range(len(sets)), [f"{d}\n{_pairs(table, d)}" for d in sets])
    ax.set_yticks(range(len(methods)), methods)
    ax.set_xlabel("data set (means over its pairs)")
    ax.set_ylabel("method")
    fig.colorbar(image, ax=ax, label=f"mean rank over {len(table.metrics)} metrics (1 = best)")
    ax.set_title(title or "methods ranked per data set")
    fig.tight_layout()
    return fig


def _pairs(table: MethodsTable, dataset: str) -> str:
    """The pairs behind the means of ``dataset``: "1 pair", "2 pairs", or "2-25 pairs" if methods differ."""
    counts = sorted({len(per[dataset].rows) for per in table.results.values() if dataset in per})
    if len(counts) > 1:
        return f"{counts[0]}-{counts[-1]} pairs"
    return "1 pair" if counts[0] == 1 else f"{counts[0]} pairs"
