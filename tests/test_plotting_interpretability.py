"""``lzsc.plotting.interpretability`` and the Fig. 8 / Fig. 10 helpers of ``lzsc.interpret`` (notebook 09)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from lzsc.data import SyntheticMCSC
from lzsc.interpret import (
    BLOCKS,
    increase_order,
    matching_tolerances,
    recovery_scores,
    schedules,
    source_alignment,
    source_report,
    trace_fnet,
    zero_increase,
    zero_increase_table,
)
from lzsc.models import FNet, FNetConfig
from lzsc.plotting.checks import missing_labels
from lzsc.plotting.interpretability import (
    iterate_viewer,
    plot_activation_histograms,
    plot_feature_maps,
    plot_iterates,
    plot_learned_schedules,
    plot_reconstruction_parts,
    plot_recovery_scores,
    plot_zero_increase_vs_tol,
)
from lzsc.unrolled import LZSCConfig


@pytest.fixture(autouse=True)
def _check_figures(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LZSC_CHECK_FIGURES", "1")
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def model() -> FNet:
    torch.manual_seed(0)
    return FNet(FNetConfig(block=LZSCConfig(n_filters=4, kernel_size=3))).eval()


@pytest.fixture(scope="module")
def pairs():
    return SyntheticMCSC(size=24, kind="image", seed=3).pairs(2)


@pytest.fixture(scope="module")
def trace(model, pairs):
    return trace_fnet(model, pairs[0].a, pairs[0].b)


class TestZeroIncreaseTable:
    def test_equals_zero_increase(self, trace) -> None:
        tols = [0.0, 1e-3, 1e-2, 1.0]
        rows = zero_increase_table(trace, tols)
        assert len(rows) == len(BLOCKS) * len(tols)
        for r in rows:
            out = trace.blocks[r["block"]]
            ref = zero_increase(out.pre_activations[-1], out.iterates[-1], r["tol"])
            assert r == pytest.approx({"block": r["block"], **ref})

    def test_negative_tolerance(self, trace) -> None:
        with pytest.raises(ValueError, match="tolerances must be >= 0"):
            zero_increase_table(trace, [-1.0])


def _rows(values: dict[float, dict[str, float]]) -> list[dict]:
    return [{"block": b, "tol": t, "increase_pct": v} for t, per in values.items() for b, v in per.items()]


class TestIncreaseOrder:
    def test_least_to_most(self) -> None:
        rows = _rows({1e-3: {"u1": 300.0, "u2": 100.0, "c": 400.0}, 1e-2: {"u1": 5.0, "u2": 9.0, "c": 13.0}})
        assert increase_order(rows) == {1e-3: ("u2", "u1", "c"), 1e-2: ("u1", "u2", "c")}


class TestMatchingTolerances:
    def test_bands(self) -> None:
        rows = _rows({1e-4: {"u1": 600.0, "u2": 300.0}, 1e-3: {"u1": 340.0, "u2": 90.0}})
        found = matching_tolerances(rows, {"u1": 596.5, "u2": 84.4}, rel=0.1)
        assert found == {"u1": [1e-4], "u2": [1e-3]}

    def test_bad_rel(self) -> None:
        with pytest.raises(ValueError, match="rel must be > 0"):
            matching_tolerances([], rel=0.0)


class TestSourceAlignment:
    def test_rows_and_shares(self, trace) -> None:
        rows = source_alignment(trace)
        assert [r["block"] for r in rows] == list(BLOCKS)
        assert sum(r["part_share"] for r in rows) == pytest.approx(1.0)
        for r in rows:
            for key in ("energy_r_a", "energy_r_b", "part_r_a", "part_r_b"):
                assert -1.0 <= r[key] <= 1.0
        assert "share of the parts energy" in source_report(rows)

    def test_a_part_equal_to_a_correlates_one(self, trace) -> None:
        copy = type(trace)(**{**trace.__dict__, "rec_u1": trace.a.clone()})
        assert source_alignment(copy)[0]["part_r_a"] == pytest.approx(1.0)


class TestFigures:
    def test_feature_maps_and_parts(self, trace) -> None:
        for fig in (plot_feature_maps(trace, 2), plot_reconstruction_parts(trace)):
            assert missing_labels(fig) == []

    def test_schedules_and_histograms(self, model, trace) -> None:
        assert missing_labels(plot_learned_schedules({"init": schedules(model)})) == []
        assert missing_labels(plot_activation_histograms(trace, 1e-3)) == []
        assert missing_labels(plot_iterates(trace, "c", 0)) == []

    def test_zero_increase_vs_tol(self, trace) -> None:
        rows = zero_increase_table(trace, np.logspace(-4, -1, 7))
        fig = plot_zero_increase_vs_tol(rows, tol=1e-3)
        assert missing_labels(fig) == []
        assert fig.axes[0].get_xscale() == "log"
        with pytest.raises(ValueError, match="no rows"):
            plot_zero_increase_vs_tol([])


class TestRecoveryScores:
    def test_two_panels_with_their_reference_lines(self, model, pairs) -> None:
        scores = {"net": recovery_scores(model, pairs)}
        scores["untrained"] = scores["net"]
        fig = plot_recovery_scores(scores, reference="untrained", n_pairs=len(pairs))
        assert missing_labels(fig) == []
        auc, corr = fig.axes[:2]
        assert auc.get_ylim() == (0.0, 1.0)
        assert corr.get_ylim() == (-1.0, 1.0)
        assert 0.5 in [line.get_ydata()[0] for line in auc.lines]
        assert "pooled over 2 pairs" in fig._suptitle.get_text()

    def test_no_known_score(self) -> None:
        with pytest.raises(ValueError, match=r"no 'AUC \.\.\.' or 'corr \.\.\.' score"):
            plot_recovery_scores({"net": {"other": 1.0}})


class TestIterateViewer:
    def test_headless_gives_the_static_figure(self, trace) -> None:
        assert isinstance(iterate_viewer({"pair": trace}, block="u1", channel=1), Figure)

    def test_forced_widget(self, trace) -> None:
        pytest.importorskip("ipywidgets")
        viewer = iterate_viewer({"pair": trace}, block="c", interactive=True)
        assert not isinstance(viewer, Figure)
        assert viewer.children[2].max == trace.code("c").shape[1] - 1

    def test_bad_block_and_channel(self, trace) -> None:
        with pytest.raises(ValueError, match="block must be one of"):
            iterate_viewer({"pair": trace}, block="z")
        with pytest.raises(ValueError, match=r"channel must lie in \[0, 3\]"):
            iterate_viewer({"pair": trace}, channel=4)
