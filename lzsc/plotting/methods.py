"""Several fusion methods on the same test sets: one table, the better mean of each cell marked.

:class:`MethodsTable` takes ``{method label: {data set: EvalResult}}`` (e.g. from
:func:`lzsc.evaluation.load_results`) and sets, per data set and metric, every method's mean side by
side; cells where a method lacks the set stay empty, so no method is compared on pairs the other did
not see. All results must share one protocol (the header names it). Introduced in
``notebooks/11_csc_networks.ipynb``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..evaluation import EvalResult
from ..metrics import HIGHER_IS_BETTER, METRIC_NAMES
from ..protocols import CONVENTIONS, get_protocol

__all__ = ["MethodsTable"]


@dataclass
class MethodsTable:
    """Per data set (rows) and metric (column groups), each method's mean; the best mean of a cell is
    starred (bold in HTML). Counts: :meth:`wins` per method, over the cells where all methods ran."""

    results: Mapping[str, Mapping[str, EvalResult]]
    metrics: Sequence[str] = METRIC_NAMES

    def __post_init__(self) -> None:
        if not any(self.results.values()):
            raise ValueError("no results to compare: give {method label: {data set: EvalResult}}")
        protocols = {r.protocol for per in self.results.values() for r in per.values()}
        if len(protocols) > 1:
            raise ValueError(f"results under different protocols {sorted(protocols)}: compare under one")
        for label, per in self.results.items():
            for dataset, r in per.items():
                if not r.complete:
                    raise ValueError(f"{label} on {dataset} covers {len(r.rows)} pairs only ({r.scale})")

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
