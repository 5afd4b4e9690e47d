"""``lzsc.plotting.thresholds``: labelled figures, and the explorer that switches itself (notebook 03)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.figure import Figure

from lzsc.plotting import thresholds as plots
from lzsc.plotting.checks import missing_labels

X = torch.linspace(-3, 3, 201, dtype=torch.float64)


@pytest.fixture(autouse=True)
def _close(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LZSC_CHECK_FIGURES", "1")
    yield
    plt.close("all")


class TestThresholdExplorer:
    def test_headless_default_is_the_static_figure(self) -> None:
        fig = plots.threshold_explorer(X, 1.0, 0.1, 100.0)
        assert isinstance(fig, Figure)
        assert missing_labels(fig) == []

    def test_follows_live_frontend(self, monkeypatch: pytest.MonkeyPatch) -> None:
        pytest.importorskip("ipywidgets")
        monkeypatch.setattr(plots, "live_frontend", lambda: True)
        assert not isinstance(plots.threshold_explorer(X), Figure)
        assert isinstance(plots.threshold_explorer(X, interactive=False), Figure)


class TestLabelledFigures:
    def test_every_figure_is_labelled(self) -> None:
        figures = [
            plots.plot_thresholds(X, 1.0, 0.1, 100.0).figure,
            plots.plot_limits(X, 1.0, [0.0, 1.0], [10.0, 100.0], 0.0, 100.0),
            plots.threshold_grid(X, 1.0, [0.0, 0.5], [3.0, 30.0]),
            plots.plot_derivatives(X, {"a": X}, {"a": X}, 1.0),
            plots.plot_theta_landscape(X.abs(), {"hard": X**2}).figure,
        ]
        assert all(missing_labels(fig) == [] for fig in figures)
