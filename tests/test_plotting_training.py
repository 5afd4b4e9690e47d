"""``lzsc.plotting.training``: loss logs and image grids of notebooks 06-07, with labelled axes."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from lzsc.plotting.checks import missing_labels
from lzsc.plotting.training import (
    moving_average,
    plot_loss_components,
    show_image_grid,
    window_means,
)


@pytest.fixture(autouse=True)
def _check_figures(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LZSC_CHECK_FIGURES", "1")
    yield
    plt.close("all")


def _log(n: int = 40) -> list[dict[str, float]]:
    return [{"step": i + 1, "loss": 1.0 / (i + 1), "int_a": 0.5 / (i + 1)} for i in range(n)]


class TestMovingAverage:
    def test_trailing_mean(self) -> None:
        np.testing.assert_allclose(moving_average([1, 2, 3, 4], 2), [1.0, 1.5, 2.5, 3.5])

    def test_window_one_is_identity(self) -> None:
        np.testing.assert_allclose(moving_average([3.0, 1.0], 1), [3.0, 1.0])


class TestWindowMeans:
    def test_first_and_last(self) -> None:
        rows = [{"loss": float(i)} for i in range(10)]
        assert window_means(rows, "loss", 3) == (1.0, 8.0)

    def test_too_few_rows(self) -> None:
        with pytest.raises(ValueError, match="too few for two disjoint windows of 3"):
            window_means([{"loss": 1.0}] * 5, "loss", 3)


class TestPlotLossComponents:
    def test_smoke_one_labelled_panel_per_key(self) -> None:
        fig = plot_loss_components(_log(), window=5, title="t")
        assert len(fig.axes) == 2
        assert missing_labels(fig) == []
        assert [ax.get_ylabel() for ax in fig.axes] == ["loss (per batch)", "int_a (per batch)"]

    def test_keys_select_panels(self) -> None:
        fig = plot_loss_components(_log(), keys=["loss"])
        assert [ax.get_title() for ax in fig.axes] == ["loss"]

    def test_empty_log(self) -> None:
        with pytest.raises(ValueError, match="empty log"):
            plot_loss_components([])


class TestShowImageGrid:
    def _rows(self) -> dict[str, dict[str, torch.Tensor]]:
        torch.manual_seed(0)
        return {f"pair {i}": {"A": torch.rand(1, 1, 12, 16), "F": torch.randn(12, 16)} for i in range(2)}

    def test_smoke_titles_only_on_the_top_row(self) -> None:
        fig = show_image_grid(self._rows(), title="grid", own_range=["F"])
        assert len(fig.axes) == 4
        assert missing_labels(fig) == []
        titles = [ax.get_title() for ax in fig.axes]
        assert titles == ["A", "F (own range)", "", ""]  # no title between two rows of images

    def test_row_labels_and_own_range_printed(self) -> None:
        rows = self._rows()
        fig = show_image_grid(rows, own_range=["F"])
        texts = [t.get_text() for ax in fig.axes for t in ax.texts]
        assert {"pair 0", "pair 1"} <= set(texts)
        low, high = float(rows["pair 1"]["F"].min()), float(rows["pair 1"]["F"].max())
        assert f"range [{low:.2f}, {high:.2f}]" in texts

    def test_shapes_follow_the_rows(self) -> None:
        fig = show_image_grid({"r": {"x": np.zeros((4, 8)), "y": np.ones((4, 8)), "z": np.zeros((4, 8))}})
        assert len(fig.axes) == 3

    def test_rows_with_different_columns(self) -> None:
        rows = {"r1": {"A": np.zeros((4, 4))}, "r2": {"B": np.zeros((4, 4))}}
        with pytest.raises(ValueError, match="row 'r2' has columns \\['B'\\], expected \\['A'\\]"):
            show_image_grid(rows)

    def test_bad_inputs(self) -> None:
        with pytest.raises(ValueError, match="no rows to show"):
            show_image_grid({})
        with pytest.raises(ValueError, match="low < high"):
            show_image_grid({"r": {"A": np.zeros((4, 4))}}, vrange=(1.0, 0.0))
        with pytest.raises(ValueError, match="single grey image"):
            show_image_grid({"r": {"A": np.zeros((2, 4, 4))}})
