"""lzsc.phase (the phase-transition sweep of notebook 02) and the sparse-coding plots that show it."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.figure import Figure

from lzsc.phase import (
    PhaseDiagram,
    bounded_away_from_zero,
    phase_transition,
    support_recovered,
    transition_point,
)
from lzsc.plotting.checks import missing_labels
from lzsc.plotting.sparse import (
    plot_code_errors,
    plot_magnitude_errors,
    plot_phase_diagram,
    plot_race,
    plot_recovery,
    plot_step_paths,
    step_explorer,
)
from lzsc.problems import random_sparse_problem, two_atom_problem
from lzsc.solvers import fista, iht, niht

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def diagram() -> PhaseDiagram:
    return phase_transition({"IHT": iht, "FISTA": fista}, [16, 32], [1, 2, 8], atoms=32, trials=6, n_iter=60)


class TestSupportRecovered:
    def test_smoke(self) -> None:
        z = torch.tensor([[0.0, 1.0, 0.0], [2.0, 0.0, 0.0]])
        z_hat = torch.tensor([[0.0, 0.5, 0.0], [2.0, 0.1, 0.0]])
        assert support_recovered(z_hat, z).tolist() == [True, False]

    def test_sample_dims(self) -> None:
        z = torch.zeros(3, 2, 5)
        z[:, 0, 1] = 1.0
        z_hat = z.clone()
        z_hat[2, 1, 4] = 0.3
        assert support_recovered(z_hat, z, sample_dims=2).tolist() == [True, True, False]
        assert support_recovered(z_hat, z, sample_dims=1).shape == (3, 2)

    def test_bad_input(self) -> None:
        with pytest.raises(ValueError, match="same shape"):
            support_recovered(torch.zeros(2, 3), torch.zeros(2, 4))
        with pytest.raises(ValueError, match="sample_dims must lie in"):
            support_recovered(torch.zeros(2, 3), torch.zeros(2, 3), sample_dims=3)


class TestBoundedAwayFromZero:
    def test_smoke(self) -> None:
        z = torch.tensor([-0.2, 0.0, 0.1])
        assert torch.allclose(bounded_away_from_zero(z, 0.5), torch.tensor([-0.7, 0.0, 0.6]))

    def test_bad_input(self) -> None:
        with pytest.raises(ValueError, match="z_min must be a finite number >= 0"):
            bounded_away_from_zero(torch.ones(2), -1.0)


class TestTransitionPoint:
    def test_smoke(self) -> None:
        assert transition_point([2, 4, 8], [1.0, 0.75, 0.25]) == pytest.approx(6.0)
        assert transition_point([2, 4, 8], torch.tensor([1.0, 0.5, 0.0])) == pytest.approx(4.0)

    def test_outside_the_grid(self) -> None:
        assert transition_point([2, 4], [0.2, 0.0]) == 2.0
        assert transition_point([2, 4], [1.0, 0.9]) == 4.0

    def test_bad_input(self) -> None:
        with pytest.raises(ValueError, match="as many rates as sparsities"):
            transition_point([1, 2], [1.0])
        with pytest.raises(ValueError, match="sparsities must increase"):
            transition_point([2, 1], [1.0, 0.0])
        with pytest.raises(ValueError, match="level must lie strictly between 0 and 1"):
            transition_point([1, 2], [1.0, 0.0], level=1.0)


class TestPhaseTransition:
    def test_shapes_and_range(self, diagram: PhaseDiagram) -> None:
        assert set(diagram.rates) == {"IHT", "FISTA"}
        for rates in diagram.rates.values():
            assert rates.shape == (2, 3)
            assert bool(((rates >= 0) & (rates <= 1)).all())
            assert (rates * diagram.trials).round().sub(rates * diagram.trials).abs().max() < 1e-9
        assert diagram.ratio().shape == (2, 3)
        assert diagram.standard_error("IHT").shape == (2, 3)

    def test_easy_cell_recovered_and_hard_cell_not(self, diagram: PhaseDiagram) -> None:
        # s = 1 with n = 32 measurements is trivial; s = 8 with n = 16 is beyond any solver's transition
        assert diagram.rates["FISTA"][1, 0] == 1.0
        assert diagram.rates["IHT"][0, 2] == 0.0

    def test_cells_do_not_depend_on_the_grid(self, diagram: PhaseDiagram) -> None:
        alone = phase_transition({"IHT": iht}, [32], [2], atoms=32, trials=6, n_iter=60)
        assert alone.rates["IHT"][0, 0] == diagram.rates["IHT"][1, 1]

    def test_noise_changes_the_problems(self) -> None:
        args = ({"NIHT": niht}, [16], [4])
        clean = phase_transition(*args, atoms=32, trials=8, n_iter=30)
        noisy = phase_transition(*args, atoms=32, trials=8, n_iter=30, noise=1.0)
        assert noisy.rates["NIHT"][0, 0] <= clean.rates["NIHT"][0, 0]

    def test_difference_and_ahead(self, diagram: PhaseDiagram) -> None:
        diff, se = diagram.difference("IHT", "FISTA")
        assert torch.equal(diff, diagram.rates["IHT"] - diagram.rates["FISTA"])
        assert bool((se >= 0).all())
        assert not bool((diagram.ahead("IHT", "FISTA") & diagram.ahead("FISTA", "IHT")).any())
        assert not bool(diagram.ahead("IHT", "IHT").any())

    def test_bad_input(self, diagram: PhaseDiagram) -> None:
        with pytest.raises(ValueError, match="family-wise error rate"):
            diagram.ahead_holm("IHT", "FISTA", alpha=1.5)
        with pytest.raises(ValueError, match="at least one solver"):
            phase_transition({}, [8], [1])
        with pytest.raises(ValueError, match="sparsities must be a non-empty sequence"):
            phase_transition({"IHT": iht}, [8], [])
        with pytest.raises(ValueError, match="measurements must be a non-empty sequence"):
            phase_transition({"IHT": iht}, [0], [1])
        with pytest.raises(ValueError, match="exceeds the number of atoms"):
            phase_transition({"IHT": iht}, [8], [40], atoms=32)
        with pytest.raises(ValueError, match="trials must be an int"):
            phase_transition({"IHT": iht}, [8], [1], trials=0)
        with pytest.raises(ValueError, match="noise is a standard deviation"):
            phase_transition({"IHT": iht}, [8], [1], noise=-1.0)
        with pytest.raises(KeyError, match="no solver named 'ISTA'"):
            diagram.standard_error("ISTA")


class TestAheadHolm:
    @staticmethod
    def grid(a: list[list[float]], b: list[list[float]], trials: int = 100) -> PhaseDiagram:
        rates = {"a": torch.tensor(a, dtype=torch.float64), "b": torch.tensor(b, dtype=torch.float64)}
        return PhaseDiagram((8,) * len(a), tuple(range(1, len(a[0]) + 1)), 32, trials, rates)

    def test_smoke(self, diagram: PhaseDiagram) -> None:
        holm = diagram.ahead_holm("IHT", "FISTA")
        assert holm.shape == diagram.rates["IHT"].shape
        assert holm.dtype == torch.bool
        assert not bool((holm & diagram.ahead_holm("FISTA", "IHT")).any())

    def test_stricter_than_two_standard_errors(self) -> None:
        # 0.60 vs 0.45 at 100 trials is 2.15 standard errors: significant alone, not among 20 cells
        d = self.grid([[0.6] * 10, [0.6] * 10], [[0.45] * 10, [0.45] * 10])
        assert bool(d.ahead("a", "b").all())
        assert not bool(d.ahead_holm("a", "b").any())

    def test_large_differences_survive(self) -> None:
        d = self.grid([[0.9, 0.5, 1.0]], [[0.1, 0.5, 1.0]])
        assert d.ahead_holm("a", "b").tolist() == [[True, False, False]]
        assert not bool(d.ahead_holm("b", "a").any())


class TestSparsePlots:
    """Every figure is labelled (the check of LZSC_CHECK_FIGURES runs in the decorators too)."""

    @pytest.fixture(autouse=True)
    def _check_figures(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("LZSC_CHECK_FIGURES", "1")
        yield
        plt.close("all")

    def test_phase_diagram(self, diagram: PhaseDiagram) -> None:
        fig = plot_phase_diagram(diagram, compare=("IHT", "FISTA"), title="test")
        assert isinstance(fig, Figure)
        assert len([ax for ax in fig.axes if ax.get_label() != "<colorbar>"]) == 3
        assert missing_labels(fig) == []

    def test_phase_diagram_holm(self, diagram: PhaseDiagram) -> None:
        fig = plot_phase_diagram(diagram, compare=("IHT", "FISTA"), holm_alpha=0.05)
        assert any("Holm" in ax.get_title() for ax in fig.axes)
        assert missing_labels(fig) == []

    def test_code_errors(self) -> None:
        z = torch.tensor([0.0, 1.0, -2.0, 0.0])
        ax = plot_code_errors(z, {"shrunk": torch.tensor([0.0, 0.9, -1.9, 0.0])}, reference=0.1)
        heights = [p.get_height() for p in ax.patches]
        assert heights == pytest.approx([-0.1, -0.1])
        with pytest.raises(ValueError, match="no non-zero entry"):
            plot_code_errors(torch.zeros(3), {"a": torch.zeros(3)})

    def test_magnitude_errors(self) -> None:
        ax = plot_magnitude_errors({"a": torch.randn(50), "b": torch.randn(50) - 1}, reference=1.0)
        assert "± " in ax.get_legend().get_texts()[0].get_text()
        with pytest.raises(ValueError, match="at least 2 errors"):
            plot_magnitude_errors({"a": torch.ones(1)})

    def test_recovery_has_error_bars(self) -> None:
        ax = plot_recovery([1, 2, 3], {"a": [1.0, 0.5, 0.0]}, trials=10)
        assert len(ax.containers) == 1
        with pytest.raises(ValueError, match="3 rates for 2 sparsities"):
            plot_recovery([1, 2], {"a": [1.0, 0.5, 0.0]}, trials=10)
        with pytest.raises(ValueError, match="trials must be an int >= 1"):
            plot_recovery([1], {"a": [1.0]}, trials=0)

    def test_race(self) -> None:
        curves = {"A": torch.linspace(1, 0.1, 20), "B": torch.linspace(1, 0.2, 20)}
        fig = plot_race(curves, {"C": torch.linspace(1, 1e-3, 20)}, {"A": torch.linspace(0, 1, 20)}, trials=5)
        assert len(fig.axes) == 3
        assert [t.get_text() for t in fig.legends[0].get_texts()] == ["A", "B", "C"]
        assert "5 codes" in fig.axes[2].get_ylabel()


class TestTwoAtomProblem:
    def test_smoke(self) -> None:
        D, x = two_atom_problem(0.5, (1.0, 2.0))
        assert D.weight.shape == (2, 2)
        assert torch.allclose(D.weight.norm(dim=0), torch.ones(2, dtype=torch.float64))
        assert torch.dot(D.weight[:, 0], D.weight[:, 1]).item() == pytest.approx(0.5)
        assert torch.allclose(x, D.weight @ torch.tensor([1.0, 2.0], dtype=torch.float64))

    def test_bad_input(self) -> None:
        with pytest.raises(ValueError, match="coherence must lie strictly between -1 and 1"):
            two_atom_problem(1.0)
        with pytest.raises(ValueError, match="z_true must hold 2 coefficients"):
            two_atom_problem(0.5, (1.0, 2.0, 3.0))


class TestStepExplorer:
    @pytest.fixture(autouse=True)
    def _check_figures(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("LZSC_CHECK_FIGURES", "1")
        yield
        plt.close("all")

    def test_paths(self) -> None:
        D, x = two_atom_problem()
        ax = plot_step_paths(D, x, 0.0, [(0.5, 0.0), (0.99, 0.5)], n_iter=10)
        assert len(ax.get_legend().get_texts()) == 3  # two paths and the least-squares point
        assert missing_labels(ax.figure) == []
        D3, _, x3 = random_sparse_problem(2, 3, 1)
        with pytest.raises(ValueError, match="D must be 2 x 2"):
            plot_step_paths(D3, x3[0], 0.0)

    def test_static_when_headless(self) -> None:
        D, x = two_atom_problem()
        fig = step_explorer(D, x, step=0.5, momentum=0.3, interactive=False)
        assert isinstance(fig, Figure)
        assert len(fig.axes[0].get_legend().get_texts()) == 6  # four reference settings, the given one, LS

    def test_widget_when_live(self) -> None:
        ipywidgets = pytest.importorskip("ipywidgets")
        D, x = two_atom_problem()
        assert isinstance(step_explorer(D, x, interactive=True), ipywidgets.interactive)
