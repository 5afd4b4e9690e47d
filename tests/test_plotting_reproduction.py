"""``lzsc.plotting.reproduction``: comparison tables whose columns say what minus what, the
measured-vs-paper plot with error bars and pair counts, the gallery (notebook 08)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from lzsc.evaluation import EvalResult
from lzsc.metrics import METRIC_NAMES
from lzsc.plotting.checks import missing_labels
from lzsc.plotting.reproduction import ComparisonTable, plot_ours_vs_paper, show_gallery


@pytest.fixture(autouse=True)
def _paper_table(tmp_path, monkeypatch: pytest.MonkeyPatch):
    """A two-method Table I for TNO under $LZSC_REFERENCE, and the figure check switched on."""
    lines = ["task_dataset,metric,method,value"]
    for metric, value in {
        "MI": 2.57,
        "CE": 2.20,
        "VIF": 0.80,
        "Qabf": 0.57,
        "Qcb": 0.52,
        "SSIM": 1.05,
    }.items():
        lines += [
            f"VIS-IR (TNO),{metric},FNet (Ours),{value}",
            f"VIS-IR (TNO),{metric},Other [1],{value / 2}",
        ]
    (tmp_path / "paper_table1_sota.csv").write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("LZSC_REFERENCE", str(tmp_path))
    monkeypatch.setenv("LZSC_CHECK_FIGURES", "1")
    yield
    plt.close("all")


def _result(values: list[float], model: str = "m") -> EvalResult:
    rows = [{"name": f"{i:02d}.png", **dict.fromkeys(METRIC_NAMES, v)} for i, v in enumerate(values)]
    return EvalResult("TNO", "paper", model, rows=rows, pairs_in_set=25)


class TestComparisonTable:
    def test_columns_say_what_minus_what(self) -> None:
        table = ComparisonTable("TNO", {"released": _result([1.0, 3.0]), "ours": _result([2.0])})
        assert table.column_titles() == {
            "released": ("released (mean ± sd, n = 2)", "released − paper FNet"),
            "ours": ("ours (mean ± sd, n = 1)", "ours − paper FNet"),
        }
        page = table._repr_html_()
        assert "<th>released − paper FNet</th>" in page
        assert "<th>ours − paper FNet</th>" in page
        assert "ours − paper (released)" not in page
        assert "released − paper FNet" in str(table)

    def test_difference_is_mean_minus_paper(self) -> None:
        table = ComparisonTable("TNO", {"released": _result([2.0, 3.0])}, metrics=["MI"])
        (row,) = table.rows()
        assert row["released"] == (2.5, 0.5)
        assert row["diff released"] == pytest.approx(2.5 - 2.57)
        assert row["best other"] == ("Other [1]", 2.57 / 2)

    def test_unknown_set_has_no_paper_value(self) -> None:
        result = _result([1.0])
        result.dataset = "nowhere"
        (row,) = ComparisonTable("nowhere", {"x": result}, metrics=["MI"]).rows()
        assert row["diff x"] is None


class TestPlotOursVsPaper:
    def test_smoke_labelled_with_error_bars_and_counts(self) -> None:
        fig = plot_ours_vs_paper({"released weights": {"TNO": _result([1.0, 2.0])}})
        (ax,) = fig.axes
        assert missing_labels(fig) == []
        assert ax.get_ylabel() == "measured with lzsc: mean ± sd over pairs"
        assert ax.get_title().startswith("released weights\n")
        assert "ours" not in ax.get_ylabel() + ax.get_title()
        assert "6 cells, n = 2 pairs per set" in ax.get_title()
        assert len(ax.containers) == 6  # one error bar per (data set, metric) cell

    def test_one_panel_per_model(self) -> None:
        fig = plot_ours_vs_paper({"a": {"TNO": _result([1.0])}, "b": {"TNO": _result([2.0])}})
        assert len(fig.axes) == 2

    def test_no_results(self) -> None:
        with pytest.raises(ValueError, match="no results to plot"):
            plot_ours_vs_paper({})


class TestShowGallery:
    def test_smoke_grey_and_rgb(self) -> None:
        grey, rgb = np.zeros((8, 8), np.uint8), np.zeros((8, 8, 3), np.uint8)
        fig = show_gallery([("p", {"A": grey, "B": rgb, "F": None})], title="g")
        assert len(fig.axes) == 3
        assert missing_labels(fig) == []

    def test_rows_must_share_columns(self) -> None:
        img = np.zeros((4, 4), np.uint8)
        with pytest.raises(ValueError, match="row 'q' has columns"):
            show_gallery([("p", {"A": img}), ("q", {"B": img})])

    def test_no_rows(self) -> None:
        with pytest.raises(ValueError, match="no rows to show"):
            show_gallery([])
