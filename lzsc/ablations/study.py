"""Ablations over seeds: the baseline's seed spread is the noise floor, and a direction counts only above it.

One training of a tiny network is one draw of a noisy experiment: at the ``ci`` scale three seeds of the
*unchanged* FNet differ by a median of ~15% per (data set, metric) cell, as much as most ablation
effects. :func:`run_study` therefore trains every configuration under several seeds and
:class:`AblationStudy` judges each (ablation, data set, metric) cell with one stated rule,
:func:`cell_verdict`:

- **separated**: the ablation's values over its seeds and the baseline's over its seeds do not overlap
  (every value of one above every value of the other). Under no effect, all seeds' results are
  exchangeable and this happens by chance with probability ``2 / C(n_a + n_b, n_a)``
  (:func:`chance_separation`: 0.1 for 3 + 3 seeds, 0.029 for 4 + 4, 1 for one seed each, which can
  therefore never resolve anything). It is a permutation test at that level.
- a separated cell **agrees** with the paper when the direction of the mean change (CE: lower is better)
  is the paper's, is **opposite** otherwise; a cell that is not separated is **within noise**.

One outcome per ablation (:meth:`AblationStudy.by_ablation`), because the cells of one ablation are
not independent (the same networks measured on several sets and metrics): it **supports** the paper when
more of its counted cells are separated than chance would give (binomial tail of the separated count at
the chance level below 0.05; approximate, since the cells are correlated) and more of them agree than are
opposite; it **contradicts** the paper in the mirror case; otherwise the data **cannot resolve** it.

Introduced in ``notebooks/10_ablations.ipynb``.
"""

from __future__ import annotations

import csv
import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from ..atomic import atomic_open
from ..metrics import HIGHER_IS_BETTER
from ..reference import PAPER_METRICS
from ..stats import holm
from .configs import ABLATIONS, BASELINE, _describe
from .directions import _paper_overall, binomial_tail, paper_directions
from .runs import AblationRun, check_runs, run_ablations
from .scales import SCALES, AblationScale

__all__ = [
    "AblationStudy",
    "CellVerdict",
    "Outcome",
    "cell_verdict",
    "chance_separation",
    "holm",
    "run_study",
]

CellVerdict = Literal["agree", "opposite", "within noise", "no paper direction"]
Outcome = Literal["supports", "contradicts", "cannot resolve"]
COLUMNS = ("config", "seed", "dataset", "metric", "value")
LEVEL = 0.05
"""The level of the per-ablation test (binomial tail of the separated cells at the chance rate)."""


def chance_separation(n_base: int, n_ablation: int) -> float:
    """P(the two groups' values do not overlap) when seeds are exchangeable: 2 / C(n_a + n_b, n_a)."""
    if n_base < 1 or n_ablation < 1:
        raise ValueError(f"need at least one seed per group, got {n_base} and {n_ablation}")
    return min(1.0, 2.0 / math.comb(n_base + n_ablation, n_base))


def cell_verdict(
    baseline: Sequence[float], ablation: Sequence[float], metric: str, paper: str | None
) -> tuple[CellVerdict, bool, str]:
    """(verdict, separated, our direction) of one cell; the rule is in the module docstring.

    ``baseline`` / ``ablation``: the metric's values over seeds; ``paper``: the paper's direction
    ("better" / "worse"; anything else, or None, gives "no paper direction").
    """
    base, abl = np.asarray(baseline, dtype=float), np.asarray(ablation, dtype=float)
    if base.size == 0 or abl.size == 0 or not (np.isfinite(base).all() and np.isfinite(abl).all()):
        raise ValueError(
            f"{metric}: need finite values for both groups, got {base.tolist()} and {abl.tolist()}"
        )
    separated = bool(abl.min() > base.max() or abl.max() < base.min())
    up = abl.mean() > base.mean()
    ours = "better" if up == HIGHER_IS_BETTER.get(metric, True) else "worse"
    if paper not in ("better", "worse"):
        return "no paper direction", separated, ours
    if not separated:
        return "within noise", separated, ours
    return ("agree" if ours == paper else "opposite"), separated, ours


@dataclass(repr=False)
class AblationStudy:
    """Metric values per (configuration, seed, data set, metric), and the verdicts computed from them.

    ``rows``: dicts with :data:`COLUMNS`; ``scale``: the scale's description (printed with every table).
    """

    rows: list[dict[str, Any]]
    scale: str = ""
    paper: Mapping | None = field(default=None)

    @classmethod
    def from_runs(cls, runs: Mapping[tuple[str, int], AblationRun], scale: str = "") -> AblationStudy:
        """From :func:`run_ablation` results keyed by (configuration, seed)."""
        rows = [
            {"config": name, "seed": seed, "dataset": d, "metric": m, "value": v}
            for (name, seed), run in runs.items()
            for d, values in run.metrics.items()
            for m, v in values.items()
        ]
        return cls(rows, scale)

    @classmethod
    def read_csv(cls, path: str | Path, scale: str = "") -> AblationStudy:
        """A study written by :meth:`write_csv`."""
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            missing = set(COLUMNS) - set(reader.fieldnames or ())
            if missing:
                raise ValueError(f"{path}: not an ablation study CSV (missing columns {sorted(missing)})")
            rows = [{**r, "seed": int(r["seed"]), "value": float(r["value"])} for r in reader]
        return cls(rows, scale)

    def write_csv(self, path: str | Path) -> Path:
        """One row per (configuration, seed, data set, metric), written atomically."""
        with atomic_open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows({**r, "value": f"{r['value']:.6f}"} for r in self.rows)
        return Path(path)

    def _keys(self, column: str) -> list:
        return list(dict.fromkeys(r[column] for r in self.rows))

    @property
    def configs(self) -> list[str]:
        return self._keys("config")

    @property
    def seeds(self) -> list[int]:
        return sorted(self._keys("seed"))

    def values(self, config: str, dataset: str, metric: str) -> np.ndarray:
        """The metric's values over the seeds of ``config`` (seed order)."""
        found = sorted(
            (r["seed"], r["value"])
            for r in self.rows
            if (r["config"], r["dataset"], r["metric"]) == (config, dataset, metric)
        )
        return np.array([v for _, v in found])

    def noise_floor(self, metrics: Sequence[str] = PAPER_METRICS) -> list[dict[str, Any]]:
        """The baseline's spread per (data set, metric): mean, min, max and range / |mean| in %."""
        out = []
        for dataset in self._keys("dataset"):
            for metric in metrics:
                v = self.values(BASELINE, dataset, metric)
                if v.size:
                    mean = float(v.mean())
                    spread = 100 * float(v.max() - v.min()) / abs(mean) if mean else math.nan
                    out.append(
                        {
                            "dataset": dataset,
                            "metric": metric,
                            "seeds": int(v.size),
                            "mean": mean,
                            "min": float(v.min()),
                            "max": float(v.max()),
                            "range_pct": spread,
                        }
                    )
        return out

    def effects(self, metrics: Sequence[str] = PAPER_METRICS) -> list[dict[str, Any]]:
        """One row per (ablation, data set, metric): mean effect in %, both groups' ranges, the verdict."""
        paper = paper_directions() if self.paper is None else self.paper
        out = []
        for name in (c for c in self.configs if c != BASELINE):
            for dataset in self._keys("dataset"):
                for metric in metrics:
                    base, abl = self.values(BASELINE, dataset, metric), self.values(name, dataset, metric)
                    if not (base.size and abl.size):
                        continue
                    ref = (
                        _paper_overall(paper, metric, name)
                        if dataset == "synthetic"
                        else paper.get((dataset, metric, name))
                    )
                    aligned = bool(ref and ref["aligned"])
                    direction = ref["direction"] if aligned else None
                    verdict, separated, ours = cell_verdict(base, abl, metric, direction)
                    scale = abs(float(base.mean())) or math.nan
                    out.append(
                        {
                            "ablation": name,
                            "dataset": dataset,
                            "metric": metric,
                            "effect_pct": 100 * float(abl.mean() - base.mean()) / scale,
                            "low_pct": 100 * float(abl.min() - base.mean()) / scale,
                            "high_pct": 100 * float(abl.max() - base.mean()) / scale,
                            "base_low_pct": 100 * float(base.min() - base.mean()) / scale,
                            "base_high_pct": 100 * float(base.max() - base.mean()) / scale,
                            "separated": separated,
                            "ours": ours,
                            "paper": direction,
                            "verdict": verdict,
                            "chance": chance_separation(base.size, abl.size),
                        }
                    )
        return out

    def by_ablation(self, metrics: Sequence[str] = PAPER_METRICS) -> list[dict[str, Any]]:
        """Per ablation: counts of agree / opposite / within noise, the separation test, the outcome."""
        effects = self.effects(metrics)
        out = []
        for name in (c for c in self.configs if c != BASELINE):
            cells = [e for e in effects if e["ablation"] == name and e["verdict"] != "no paper direction"]
            agree = sum(e["verdict"] == "agree" for e in cells)
            opposite = sum(e["verdict"] == "opposite" for e in cells)
            chance = max((e["chance"] for e in cells), default=1.0)
            p = binomial_tail(agree + opposite, len(cells), chance) if cells and chance < 1 else 1.0
            outcome: Outcome = "cannot resolve"
            if p < LEVEL and agree != opposite:
                outcome = "supports" if agree > opposite else "contradicts"
            out.append(
                {
                    "ablation": name,
                    "description": _describe(name) if name in ABLATIONS else name,
                    "cells": len(cells),
                    "agree": agree,
                    "opposite": opposite,
                    "within_noise": len(cells) - agree - opposite,
                    "chance": chance,
                    "p_separated": p,
                    "outcome": outcome,
                }
            )
        return out

    def directions(self, ablation: str, metrics: Sequence[str] = PAPER_METRICS) -> dict[str, Any]:
        """Where ``ablation``'s mean change points, over its cells with a paper direction, separated or not.

        ``cells``; ``paper_direction``: cells whose mean change has the paper's direction; ``better``:
        cells where the ablation is better than the baseline on average; ``agree`` / ``opposite``:
        the separated ones (:meth:`by_ablation`); ``median_better_pct``: the median change in % with
        the sign "+ = ablation better" (CE flipped); ``sign_p``: the sign test, P(at least
        ``cells - paper_direction`` of ``cells`` fair coin flips go against the paper), approximate
        because the cells share their networks. Without the papers' tables every count is 0. Introduced
        in ``notebooks/10_ablations.ipynb``.
        """
        cells = [
            e
            for e in self.effects(metrics)
            if e["ablation"] == ablation and e["verdict"] != "no paper direction"
        ]
        if ablation not in self.configs:
            raise ValueError(
                f"{ablation!r}: no cell with a paper direction in the study (configs: {self.configs})"
            )
        if not cells:  # the papers' tables are missing (no LZSC_DATA): nothing to count
            zero = {k: 0 for k in ("cells", "paper_direction", "better", "agree", "opposite")}
            return {"ablation": ablation, **zero, "median_better_pct": math.nan, "sign_p": 1.0}
        signed = [e["effect_pct"] * (1.0 if HIGHER_IS_BETTER.get(e["metric"], True) else -1.0) for e in cells]
        along = sum(e["ours"] == e["paper"] for e in cells)
        return {
            "ablation": ablation,
            "cells": len(cells),
            "paper_direction": along,
            "better": sum(e["ours"] == "better" for e in cells),
            "agree": sum(e["verdict"] == "agree" for e in cells),
            "opposite": sum(e["verdict"] == "opposite" for e in cells),
            "median_better_pct": float(np.median(signed)),
            "sign_p": binomial_tail(len(cells) - along, len(cells)),
        }

    def summary(self, metrics: Sequence[str] = PAPER_METRICS) -> str:
        """The verdicts in sentences, computed from the table (nothing written by hand)."""
        rows = self.by_ablation(metrics)
        if not rows:
            return "No ablation in the study: only the baseline was run."
        groups = {o: [r["ablation"] for r in rows if r["outcome"] == o] for o in get_args(Outcome)}
        floor = [f["range_pct"] for f in self.noise_floor(metrics) if math.isfinite(f["range_pct"])]
        seeds = len(self.seeds)
        lines = [
            f"{seeds} seed(s) per configuration; the baseline's seed range is a median "
            f"{np.median(floor) if floor else math.nan:.0f}% of its mean per (data set, metric) cell "
            f"(up to {max(floor, default=math.nan):.0f}%). A cell counts only when the ablation's seeds and "
            f"the baseline's do not overlap (by chance: {rows[0]['chance']:.3g} per cell).",
            f"Supports the paper: {', '.join(groups['supports']) or 'none'}.",
            f"Contradicts the paper: {', '.join(groups['contradicts']) or 'none'}.",
            f"Cannot resolve at this scale: {', '.join(groups['cannot resolve']) or 'none'}.",
        ]
        for r in rows:
            lines.append(
                f"  {r['ablation']:<5} {r['agree']:>2} agree, {r['opposite']:>2} opposite, "
                f"{r['within_noise']:>2} within noise of {r['cells']:<2} (p = {r['p_separated']:.2g}): "
                f"{r['outcome']}  ({r['description']})"
            )
        return "\n".join(([self.scale] if self.scale else []) + lines)

    def __repr__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        head = "".join(
            f"<th>{h}</th>" for h in ("ablation", "agree", "opposite", "within noise", "p", "outcome", "what")
        )
        colour = {"supports": "#d8f0d8", "contradicts": "#f6d5d5", "cannot resolve": "#eeeeee"}
        body = "".join(
            f"<tr style='background:{colour[r['outcome']]}'><td>{r['ablation']}</td><td>{r['agree']}</td>"
            f"<td>{r['opposite']}</td><td>{r['within_noise']}</td><td>{r['p_separated']:.2g}</td>"
            f"<td>{r['outcome']}</td><td>{html.escape(r['description'])}</td></tr>"
            for r in self.by_ablation()
        )
        return f"<p>{html.escape(self.scale)}</p><table><tr>{head}</tr>{body}</table>"


def run_study(
    names: Iterable[str] | None = None,
    scale: AblationScale | str = "ci",
    seeds: Sequence[int] = (0, 1, 2),
    out_dir: str | Path = Path("runs") / "ablations",
    workers: int = 1,
    threads: int | None = None,
    reuse: bool = True,
    log=print,
    **train_overrides: Any,
) -> AblationStudy:
    """:func:`~lzsc.ablations.runs.run_ablations` under each seed (the baseline always included).

    Every run keeps its seed in its configuration, hence its own folder; finished runs are reused.
    Raises ValueError when the runs of one seed are not comparable (:func:`check_runs`).
    """
    seeds = list(dict.fromkeys(int(s) for s in seeds))
    if not seeds:
        raise ValueError("give at least one seed")
    scale = SCALES[scale] if isinstance(scale, str) else scale
    names = list(names) if names is not None else None
    runs: dict[tuple[str, int], AblationRun] = {}
    for seed in seeds:
        batch = run_ablations(
            names, scale, out_dir, workers, threads, reuse, log, **train_overrides, seed=seed
        )
        problems = check_runs(batch)
        if problems:
            raise ValueError(f"seed {seed}: runs not comparable:\n  " + "\n  ".join(problems))
        runs.update({(name, seed): run for name, run in batch.items()})
    synthetic = any(d == "synthetic" for run in runs.values() for d in run.metrics)
    return AblationStudy.from_runs(runs, scale.describe(synthetic, seeds))
