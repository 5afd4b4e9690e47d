"""Directions of change: ours next to the paper's Table III.

:func:`paper_directions` reads the paper's direction of change (ablation vs full FNet) from Table III
(``paper_table3_ablation.csv``; rows whose alignment in the source is uncertain are flagged), and
:func:`compare_directions` sets ours next to it in a :class:`DirectionTable`; :func:`binomial_tail`
says how likely the agreement is by chance.
"""

from __future__ import annotations

import html
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..datasets import REGISTRY
from ..metrics import HIGHER_IS_BETTER
from ..reference import PAPER_METRICS, ablation_table
from .configs import BASELINE, PAPER_BASELINE, _describe
from .runs import AblationRun

__all__ = ["Direction", "DirectionTable", "binomial_tail", "compare_directions", "paper_directions"]

Direction = Literal["better", "worse", "tie"]
"""An ablation's change of one metric against the full model (CE: lower is better)."""


def _lzsc_name(paper_name: str) -> str:
    """lzsc's name of the test set FNet's tables call ``paper_name``, else ``paper_name`` itself."""
    spec = REGISTRY.by_paper_name(paper_name)
    return paper_name if spec is None else spec.name


def _direction(delta: float, metric: str, tie: float) -> Direction:
    """Direction "better", "worse" or "tie": the ablation vs the full model (CE: lower is better)."""
    if not math.isfinite(delta) or abs(delta) < tie:
        return "tie"
    improves = delta > 0 if HIGHER_IS_BETTER.get(metric, True) else delta < 0
    return "better" if improves else "worse"


def paper_directions(rows: Sequence[Mapping[str, str]] | None = None) -> dict[tuple[str, str, str], dict]:
    """The paper's Table III as ``{(dataset, metric, AE): {value, fnet, delta, direction, aligned}}``.

    ``dataset`` is lzsc's name of a set registered in :data:`lzsc.datasets.REGISTRY` (TNO, RoadScene,
    MRI_CT, MRI_PET, MRI_SPECT, and CATS, KAIST, RGB-NIR once :func:`~lzsc.datasets.register_extra_sets`
    has registered them), else the paper's (e.g. "VIS-IR (KAIST)"). Directions compare the printed
    2-decimal values: equal values are a "tie". ``aligned`` is False for rows the reference marks as
    uncertain ("alignment uncertain").
    """
    rows = ablation_table() if rows is None else rows
    base = {
        (r["task_dataset"], r["metric"]): float(r["value"]) for r in rows if r["experiment"] == PAPER_BASELINE
    }
    out = {}
    for r in rows:
        if r["experiment"] == PAPER_BASELINE or (r["task_dataset"], r["metric"]) not in base:
            continue
        fnet, value = base[(r["task_dataset"], r["metric"])], float(r["value"])
        delta = value - fnet
        out[(_lzsc_name(r["task_dataset"]), r["metric"], r["experiment"])] = {
            "value": value,
            "fnet": fnet,
            "delta": delta,
            "direction": _direction(round(delta, 6), r["metric"], 0.005),
            "aligned": not r.get("note", "").strip(),
        }
    return out


def _paper_overall(paper: Mapping, metric: str, ablation: str) -> dict | None:
    """Majority direction over the paper's data sets (aligned rows only), for synthetic-only runs."""
    votes = Counter(
        v["direction"] for (d, m, e), v in paper.items() if m == metric and e == ablation and v["aligned"]
    )
    if not votes:
        return None
    (top, n), *rest = votes.most_common()
    direction = top if not rest or rest[0][1] < n else "tie"
    return {"direction": direction, "aligned": True, "value": math.nan, "fnet": math.nan, "delta": math.nan}


def binomial_tail(k: int, n: int, p: float = 0.5) -> float:
    """P(X >= k) for X ~ Binomial(n, p): how likely at least k agreements of n are by coin flips."""
    if n <= 0:
        return math.nan
    return float(sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(max(k, 0), n + 1)))


@dataclass(repr=False)
class DirectionTable:
    """Ours vs the paper, one row per (ablation, dataset, metric); prints as text and HTML.

    ``agreement()`` counts, over cells where the paper's row is aligned and the paper shows a change,
    how often our direction equals the paper's (``p_chance``: the probability of at least that many
    agreements if each of our directions were a fair coin flip); ``by_ablation()`` does that per
    ablation; :meth:`summary` states both in words, computed from the counts.
    """

    rows: list[dict[str, Any]]
    scale: str
    tie: float

    def __repr__(self) -> str:
        return str(self)

    def counted(self, ablation: str | None = None) -> list[dict[str, Any]]:
        return [
            r
            for r in self.rows
            if r["paper"] in ("better", "worse")
            and r["aligned"]
            and (ablation is None or r["ablation"] == ablation)
        ]

    def agreement(self, ablation: str | None = None) -> dict[str, Any]:
        rows = self.counted(ablation)
        agree = sum(r["ours"] == r["paper"] for r in rows)
        ties = sum(r["ours"] == "tie" for r in rows)
        n = len(rows)
        return {
            "cells": n,
            "agree": agree,
            "disagree": n - agree - ties,
            "ours_tie": ties,
            "rate": agree / n if n else math.nan,
            "p_chance": binomial_tail(agree, n),
        }

    def by_ablation(self) -> list[dict[str, Any]]:
        names = list(dict.fromkeys(r["ablation"] for r in self.rows))
        return [{"ablation": n, "description": _describe(n), **self.agreement(n)} for n in names]

    def summary(self, majority: float = 0.5) -> str:
        """Which ablations agree with the paper's direction in more than ``majority`` of their counted
        cells, which do not, and the overall count: sentences computed from the table, nothing else."""
        if all(r["paper"] is None for r in self.rows):
            return (
                "No paper direction to compare with: the paper's Table III (paper_table3_ablation.csv) was "
                "not found. Set LZSC_REFERENCE to the folder that holds it (or LZSC_DATA to a data root "
                "with reference/ beside it)."
            )
        rows = [r for r in self.by_ablation() if r["cells"]]
        agree = [r["ablation"] for r in rows if r["rate"] > majority]
        other = [r["ablation"] for r in rows if r["rate"] <= majority]
        none = [r["ablation"] for r in self.by_ablation() if not r["cells"]]
        total = self.agreement()
        lines = [
            f"Overall: our direction equals the paper's in {total['agree']} of {total['cells']} counted "
            f"cells ({100 * total['rate']:.0f}%); opposite in {total['disagree']}, no change of ours in "
            f"{total['ours_tie']}. Probability of at least {total['agree']} agreements by independent coin "
            f"flips: {total['p_chance']:.3g} (optimistic: the cells of one ablation are correlated).",
            f"Agreeing in more than {100 * majority:.0f}% of their cells: {', '.join(agree) or 'none'}.",
            f"Agreeing in at most {100 * majority:.0f}% of their cells: {', '.join(other) or 'none'}.",
        ]
        if none:
            lines.append(
                f"No counted cell (the paper shows no change or its rows are uncertain): {', '.join(none)}."
            )
        for r in rows:
            lines.append(
                f"  {r['ablation']:<5} {r['agree']:>2}/{r['cells']:<2} agree, {r['disagree']:>2} opposite, "
                f"{r['ours_tie']:>2} no change  ({r['description']})"
            )
        return "\n".join(lines)

    def pivot(self) -> tuple[list[str], list[tuple[str, str, dict[str, dict]]]]:
        """(metrics, [(ablation, dataset, {metric: row})]) for a compact display."""
        metrics = list(dict.fromkeys(r["metric"] for r in self.rows))
        groups: dict[tuple[str, str], dict[str, dict]] = {}
        for r in self.rows:
            groups.setdefault((r["ablation"], r["dataset"]), {})[r["metric"]] = r
        return metrics, [(a, d, cells) for (a, d), cells in groups.items()]

    @staticmethod
    def _cell(r: dict[str, Any]) -> str:
        arrow: dict[Direction, str] = {"better": "+", "worse": "-", "tie": "="}
        paper = "n/a" if r["paper"] is None else arrow[r["paper"]] + ("" if r["aligned"] else "?")
        mark = ""
        if r["paper"] in ("better", "worse") and r["aligned"]:
            mark = " ok" if r["ours"] == r["paper"] else (" ~" if r["ours"] == "tie" else " X")
        return f"{r['rel_pct']:+6.1f}% {arrow[r['ours']]} | {paper}{mark}"

    def legend(self) -> str:
        return (
            f"Cells: our change of the metric vs our full FNet (%), our direction (+ better, - worse, "
            f"= within {self.tie:g}), then the paper's direction from Table III (? = row of uncertain "
            "alignment in the source, not counted); ok = same direction, X = opposite, ~ = ours a tie. "
            "CE: lower is better. " + self.scale
        )

    def __str__(self) -> str:
        metrics, groups = self.pivot()
        width = 24
        lines = [self.legend(), f"{'ablation':<6}{'dataset':<11}" + "".join(f"{m:<{width}}" for m in metrics)]
        for ablation, dataset, cells in groups:
            row = "".join(f"{self._cell(cells[m]) if m in cells else '':<{width}}" for m in metrics)
            lines.append(f"{ablation:<6}{dataset:<11}{row}")
        total = self.agreement()
        lines.append(
            f"agreement with the paper's direction: {total['agree']}/{total['cells']} cells "
            f"({100 * total['rate']:.0f}%), opposite {total['disagree']}, ours a tie {total['ours_tie']}"
        )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        metrics, groups = self.pivot()
        colour = {" ok": "#d8f0d8", " X": "#f6d5d5", " ~": "#eeeeee", "": "#ffffff"}
        head = "".join(f"<th>{m}</th>" for m in ["ablation", "data set", *metrics])
        body = []
        for ablation, dataset, cells in groups:
            tds = []
            for m in metrics:
                if m not in cells:
                    tds.append("<td></td>")
                    continue
                text = self._cell(cells[m])
                mark = next((k for k in (" ok", " X", " ~") if text.endswith(k)), "")
                tds.append(f'<td style="background:{colour[mark]}">{html.escape(text)}</td>')
            body.append(f"<tr><td>{ablation}</td><td>{dataset}</td>{''.join(tds)}</tr>")
        total = self.agreement()
        foot = (
            f"<p>Agreement with the paper's direction: <b>{total['agree']}/{total['cells']}</b> cells "
            f"({100 * total['rate']:.0f}%), opposite {total['disagree']}, ours a tie {total['ours_tie']}.</p>"
        )
        return (
            f"<p>{html.escape(self.legend())}</p><table style='font-family:monospace;font-size:85%'>"
            f"<tr>{head}</tr>{''.join(body)}</table>{foot}"
        )


def compare_directions(
    runs: Mapping[str, AblationRun],
    metrics: Sequence[str] = PAPER_METRICS,
    tie: float = 0.005,
    paper: Mapping | None = None,
    scale: str = "",
) -> DirectionTable:
    """Each ablation's metrics relative to the baseline run, next to the paper's direction of change.

    ``tie``: an absolute change below it counts as no change (default: half the paper's rounding unit,
    0.005, since the paper prints 2 decimals). For a synthetic-only run (data set "synthetic") the
    paper's direction is its majority over its data sets.
    """
    if BASELINE not in runs:
        raise KeyError(f"the runs must include the baseline {BASELINE!r}")
    paper = paper_directions() if paper is None else paper
    base = runs[BASELINE]
    rows = []
    for name, run in runs.items():
        if name == BASELINE:
            continue
        for dataset, values in run.metrics.items():
            for metric in metrics:
                ours, ref = values[metric], base.metrics[dataset][metric]
                delta = ours - ref
                ref_paper = (
                    _paper_overall(paper, metric, name)
                    if dataset == "synthetic"
                    else paper.get((dataset, metric, name))
                )
                rows.append(
                    {
                        "ablation": name,
                        "dataset": dataset,
                        "metric": metric,
                        "ours_value": ours,
                        "fnet_value": ref,
                        "delta": delta,
                        "rel_pct": 100.0 * delta / abs(ref) if ref else math.nan,
                        "ours": _direction(delta, metric, tie),
                        "paper": None if ref_paper is None else ref_paper["direction"],
                        "paper_delta": None if ref_paper is None else ref_paper["delta"],
                        "aligned": bool(ref_paper and ref_paper["aligned"]),
                    }
                )
    return DirectionTable(rows, scale, tie)
