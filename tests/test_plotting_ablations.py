"""``lzsc.plotting.ablations`` and ``AblationStudy.directions``: the figures and numbers of notebook 10."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from lzsc.ablations import AblationStudy
from lzsc.plotting.ablations import (
    VERDICT_STYLE,
    better_pct,
    plot_effects,
    plot_verdict_grid,
    plot_verdicts,
)
from lzsc.plotting.checks import missing_labels

DATASETS = ("TNO", "RoadScene", "MRI_CT", "MRI_PET")
METRICS = ("MI", "CE", "VIF")


@pytest.fixture(autouse=True)
def _check_figures(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LZSC_CHECK_FIGURES", "1")
    yield
    plt.close("all")


def study(seeds: int = 3, noise: float = 0.02) -> AblationStudy:
    """FNet at 1 +- noise; AE1 better by 30% everywhere; AE2 worse by 30% (the paper: both worse)."""
    rng = np.random.default_rng(0)
    effect = {"FNet": 0.0, "AE1": 0.3, "AE2": -0.3}
    rows = [
        {
            "config": config,
            "seed": seed,
            "dataset": d,
            "metric": m,
            "value": 1.0 + (-1 if m == "CE" else 1) * e + noise * rng.standard_normal(),
        }
        for config, e in effect.items()
        for seed in range(seeds)
        for d in DATASETS
        for m in METRICS
    ]
    paper = {
        (d, m, ae): {"direction": "worse", "aligned": True, "value": 0, "fnet": 0, "delta": 0}
        for d in DATASETS
        for m in METRICS
        for ae in ("AE1", "AE2")
    }
    return AblationStudy(rows, "synthetic numbers", paper=paper)


class TestBetterPct:
    def test_sign_flips_for_ce(self) -> None:
        assert better_pct({"metric": "MI", "effect_pct": 5.0}) == 5.0
        assert better_pct({"metric": "CE", "effect_pct": 5.0}) == -5.0

    def test_other_key(self) -> None:
        assert better_pct({"metric": "CE", "low_pct": -2.0}, "low_pct") == 2.0


class TestPlotVerdictGrid:
    def test_smoke_one_labelled_heat_map_per_data_set(self) -> None:
        fig = plot_verdict_grid(study(), METRICS, ncols=3)
        assert missing_labels(fig) == []
        maps = [ax for ax in fig.axes if ax.images]
        assert [ax.get_title() for ax in maps] == list(DATASETS)
        assert maps[0].images[0].get_array().shape == (2, len(METRICS))  # ablations x metrics

    def test_symbols_mark_the_verdicts(self) -> None:
        fig = plot_verdict_grid(study(), METRICS)
        symbols = {t.get_text() for ax in fig.axes for t in ax.texts}
        assert symbols == {VERDICT_STYLE["agree"]["symbol"], VERDICT_STYLE["opposite"]["symbol"]}

    def test_empty_panels_are_off(self) -> None:
        fig = plot_verdict_grid(study(), METRICS, ncols=3)
        assert sum(not ax.axison for ax in fig.axes) == 2  # 4 data sets on a 2 x 3 grid

    def test_bad_ncols(self) -> None:
        with pytest.raises(ValueError, match="ncols must be >= 1"):
            plot_verdict_grid(study(), METRICS, ncols=0)


class TestPlotEffects:
    def test_smoke_rows_per_ablation_and_metric(self) -> None:
        fig = plot_effects(study(), ["AE1"], METRICS, ncols=2)
        assert missing_labels(fig) == []
        panel = fig.axes[0]
        assert [t.get_text() for t in panel.get_yticklabels()] == [f"AE1 {m}" for m in METRICS]

    def test_signed_so_that_better_is_positive(self) -> None:
        fig = plot_effects(study(), ["AE1", "AE2"], METRICS, ncols=4)
        points = [line for line in fig.axes[0].lines if line.get_marker() in ("o", "D")]
        x = np.array([line.get_xdata()[0] for line in points])
        assert (x[: len(METRICS)] > 20).all()  # AE1 is better, CE included
        assert (x[len(METRICS) :] < -20).all()

    def test_unknown_ablation(self) -> None:
        with pytest.raises(ValueError, match=r"ablations \['AE9'\] are not in the study"):
            plot_effects(study(), ["AE9"], METRICS)

    def test_baseline_only(self) -> None:
        only = AblationStudy([r for r in study().rows if r["config"] == "FNet"], paper={})
        with pytest.raises(ValueError, match="no ablation besides the baseline"):
            plot_effects(only, metrics=METRICS)


class TestPlotVerdicts:
    def test_smoke_labelled_with_counts(self) -> None:
        fig = plot_verdicts(study(), METRICS)
        assert missing_labels(fig) == []
        ax = fig.axes[0]
        assert [t.get_text() for t in ax.get_xticklabels()] == ["AE1", "AE2"]
        assert {t.get_text() for t in ax.texts} == {"C", "S"}

    def test_baseline_only(self) -> None:
        only = AblationStudy([r for r in study().rows if r["config"] == "FNet"], paper={})
        with pytest.raises(ValueError, match="no ablation besides the baseline"):
            plot_verdicts(only, METRICS)


class TestDirections:
    def test_counts_and_median(self) -> None:
        d = study().directions("AE1", METRICS)
        n = len(DATASETS) * len(METRICS)
        assert (d["cells"], d["paper_direction"], d["better"], d["agree"], d["opposite"]) == (n, 0, n, 0, n)
        assert d["median_better_pct"] == pytest.approx(30, abs=5)
        assert d["sign_p"] == pytest.approx(0.5**n)

    def test_the_paper_direction(self) -> None:
        d = study().directions("AE2", METRICS)
        assert d["paper_direction"] == d["agree"] == d["cells"]
        assert d["median_better_pct"] < 0
        assert d["sign_p"] == 1.0

    def test_unknown_ablation(self) -> None:
        with pytest.raises(ValueError, match="'AE7': no cell with a paper direction"):
            study().directions("AE7", METRICS)
