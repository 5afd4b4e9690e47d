"""The figures of notebooks 11 and 12: ``lzsc.plotting.csc.plot_training_log`` and the labels of
``lzsc.plotting.methods.plot_ranks`` (every data axis labelled, pair counts on the data-set axis)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from lzsc.evaluation import EvalResult
from lzsc.metrics import METRIC_NAMES
from lzsc.plotting.checks import missing_labels
from lzsc.plotting.csc import plot_training_log
from lzsc.plotting.methods import MethodsTable, plot_ranks


def training_log(steps: int = 6) -> list[dict[str, float]]:
    return [
        {"step": k, "loss": 1.0 / (k + 1), "mse": 0.1 / (k + 1), "ssim": 0.2 / (k + 1), "lr": 1e-2}
        for k in range(steps)
    ]


class TestPlotTrainingLog:
    def test_smoke_and_labels(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("LZSC_CHECK_FIGURES", "1")
        fig = plot_training_log(training_log(), batch=8, title="t")
        (ax,) = fig.axes
        assert missing_labels(fig) == []
        assert ax.get_yscale() == "log"
        assert "batch of 8" in ax.get_ylabel()
        assert [line.get_label() for line in ax.lines] == [
            "loss = MSE + 5 (1 - SSIM) / 2",
            "MSE",
            "(1 - SSIM) / 2",
        ]
        plt.close(fig)

    def test_shapes_follow_the_keys(self) -> None:
        fig = plot_training_log([{**r, "lr": 1e-2} for r in training_log(4)], keys=("lr",))
        (ax,) = fig.axes
        assert len(ax.lines) == 1
        assert ax.lines[0].get_label() == "lr"  # a column without a legend name keeps its own
        assert list(ax.lines[0].get_xdata()) == [0, 1, 2, 3]
        assert "one batch" in ax.get_ylabel()
        plt.close(fig)

    def test_bad_input(self) -> None:
        with pytest.raises(ValueError, match="empty training log"):
            plot_training_log([])
        with pytest.raises(ValueError, match=r"no column \['psnr'\]"):
            plot_training_log(training_log(), keys=("loss", "psnr"))


class TestPlotRanksLabels:
    @staticmethod
    def result(dataset: str, names: list[str], value: float) -> EvalResult:
        rows = [{"name": n, **dict.fromkeys(METRIC_NAMES, value)} for n in names]
        return EvalResult(dataset, "default", "t", rows, pairs_in_set=25)

    def test_axes_labelled_and_pairs_counted(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("LZSC_CHECK_FIGURES", "1")
        table = MethodsTable(
            {
                "a": {
                    "TNO": self.result("TNO", ["01", "02"], 1.0),
                    "MRI_CT": self.result("MRI_CT", ["1"], 2.0),
                },
                "b": {
                    "TNO": self.result("TNO", ["01", "02"], 2.0),
                    "MRI_CT": self.result("MRI_CT", ["1"], 1.0),
                },
            },
            metrics=("MI",),
            partial=True,
        )
        fig = plot_ranks(table, title="t")
        ax = fig.axes[0]
        assert missing_labels(fig) == []
        assert ax.get_xlabel()
        assert ax.get_ylabel() == "method"
        assert [t.get_text() for t in ax.get_xticklabels()] == ["TNO\n2 pairs", "MRI_CT\n1 pair"]
        plt.close(fig)
