"""``lzsc.plotting.diagrams``: the LZSC block, FNet and IFNet drawn from their configurations
(notebooks 04, 05): the drawing follows K, N and the momentum, and bad input fails clearly."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure

from lzsc.models import FNetConfig, IFNetConfig
from lzsc.plotting.checks import missing_labels
from lzsc.plotting.diagrams import fnet_diagram, ifnet_diagram, lzsc_block_diagram
from lzsc.unrolled import LZSCBlock, LZSCConfig


@pytest.fixture(autouse=True)
def _close(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LZSC_CHECK_FIGURES", "1")
    yield
    plt.close("all")


def _count(fig: Figure, gid: str) -> int:
    ax = fig.axes[0]
    return sum(1 for artist in [*ax.patches, *ax.texts] if artist.get_gid() == gid)


def _text(fig: Figure) -> str:
    ax = fig.axes[0]
    return " ".join([ax.get_title(), *(t.get_text() for t in ax.texts)])


class TestLZSCBlockDiagram:
    def test_smoke_default_is_the_release(self) -> None:
        fig = lzsc_block_diagram()
        assert isinstance(fig, Figure)
        assert missing_labels(fig) == []
        assert "K = 64" in _text(fig)
        assert "N = 4" in _text(fig)
        assert "98,500 parameters" in _text(fig)

    @pytest.mark.parametrize("n_iter", [1, 2, 4, 7])
    def test_one_stage_per_iteration(self, n_iter: int) -> None:
        fig = lzsc_block_diagram(LZSCConfig(n_iter=n_iter, n_filters=8, kernel_size=3))
        assert _count(fig, "stage") == n_iter + 1
        assert _count(fig, "skip") == max(n_iter - 1, 0)

    @pytest.mark.parametrize(("momentum", "skips"), [("nesterov", 3), ("polyak", 3), ("none", 0), ("qhm", 0)])
    def test_momentum_changes_the_drawing(self, momentum: str, skips: int) -> None:
        fig = lzsc_block_diagram(LZSCConfig(n_iter=4, n_filters=4, kernel_size=3, momentum=momentum))
        assert _count(fig, "skip") == skips
        text = _text(fig)
        assert ("rho" in text) is (momentum != "none")
        assert ("W_d'" in text) is (momentum == "nesterov")

    def test_filters_and_shared_weights_in_the_text(self) -> None:
        fig = lzsc_block_diagram(LZSCConfig(n_filters=16, kernel_size=5, n_iter=3, shared_weights=True))
        text = _text(fig)
        assert "K = 16 filters of 5x5" in text
        assert "weights shared" in text
        assert "W_e^{2}" not in text  # no superscript k when the weights are shared

    def test_a_block_prints_its_schedules(self) -> None:
        block = LZSCBlock(LZSCConfig(n_filters=4, kernel_size=3, n_iter=2))
        text = _text(lzsc_block_diagram(block))
        theta0 = f"{block.thetas()[0].item():.3g}"
        assert theta0 in text
        assert "rho^{2}" in text

    def test_bad_input(self) -> None:
        with pytest.raises(TypeError, match="LZSCConfig or an LZSCBlock, got FNetConfig"):
            lzsc_block_diagram(FNetConfig())
        with pytest.raises(ValueError, match="n_iter = 13"):
            lzsc_block_diagram(LZSCConfig(n_iter=13, n_filters=2, kernel_size=3))


class TestFNetDiagram:
    def test_smoke_default_is_the_release(self) -> None:
        fig = fnet_diagram()
        assert missing_labels(fig) == []
        assert _count(fig, "block") == 3
        assert "419,916 parameters" in _text(fig)

    @pytest.mark.parametrize(("n_filters", "n_iter"), [(8, 1), (16, 3), (64, 6)])
    def test_follows_the_configuration(self, n_filters: int, n_iter: int) -> None:
        config = FNetConfig(block=LZSCConfig(n_filters=n_filters, kernel_size=3, n_iter=n_iter))
        fig = fnet_diagram(config)
        assert _count(fig, "stage") == 3 * (n_iter + 1)
        assert f"K = {n_filters} filters" in _text(fig)
        assert f"N = {n_iter}" in _text(fig)

    def test_each_block_names_its_problem(self) -> None:
        text = _text(fnet_diagram())
        assert "with $c = 0$" in text
        assert "L_c c = [D_{c_1}c" in text

    def test_lcsc_blocks(self) -> None:
        assert "LCSC" in _text(fnet_diagram(FNetConfig(block_kind="lcsc")))

    def test_bad_input(self) -> None:
        with pytest.raises(TypeError, match="takes an FNetConfig, got LZSCConfig"):
            fnet_diagram(LZSCConfig())
        with pytest.raises(ValueError, match="n_iter = 20"):
            fnet_diagram(FNetConfig(block=LZSCConfig(n_iter=20)))


class TestIFNetDiagram:
    def test_smoke(self) -> None:
        fig = ifnet_diagram()
        assert missing_labels(fig) == []
        assert _count(fig, "block") == 2
        assert _count(fig, "stage") == 10
        assert "207,368 parameters" in _text(fig)

    def test_shared_decoder_is_drawn(self) -> None:
        assert "release defect" not in _text(ifnet_diagram())
        assert "release defect" in _text(ifnet_diagram(IFNetConfig(shared_decoder=True)))

    def test_bad_input(self) -> None:
        with pytest.raises(TypeError, match="takes an IFNetConfig, got str"):
            ifnet_diagram("ifnet")
