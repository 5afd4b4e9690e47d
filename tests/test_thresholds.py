"""Hard, soft and sigmoidal thresholds (paper eqs. 3, 5, 6): one test class per operator."""

from __future__ import annotations

import pytest
import torch

from lzsc.thresholds import (
    HardThreshold,
    SigmoidalThreshold,
    SoftThreshold,
    hard_threshold,
    sigmoidal_threshold,
    soft_threshold,
    threshold,
)

X = torch.linspace(-3, 3, 601, dtype=torch.float64)


class TestHardThreshold:
    def test_smoke_values(self):
        x = torch.tensor([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5])
        assert torch.equal(hard_threshold(x, 1.0), torch.tensor([-2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.5]))

    @pytest.mark.parametrize("shape", [(5,), (2, 3), (2, 4, 8, 8)])
    def test_shapes(self, shape):
        x = torch.randn(shape)
        assert hard_threshold(x, 0.3).shape == x.shape

    def test_exact_zeros_below_threshold_and_identity_above(self):
        y = hard_threshold(X, 1.0)
        assert torch.all(y[X.abs() <= 1.0] == 0)
        assert torch.equal(y[X.abs() > 1.0], X[X.abs() > 1.0])

    def test_odd(self):
        assert torch.equal(hard_threshold(-X, 0.7), -hard_threshold(X, 0.7))

    def test_bad_input(self):
        with pytest.raises(ValueError, match="cut-off"):
            hard_threshold(X, -1.0)
        with pytest.raises(TypeError, match="floating-point"):
            hard_threshold(torch.arange(4), 1.0)

    def test_gradcheck_away_from_cutoff(self):
        x = torch.tensor([-2.0, -0.3, 0.4, 1.7], dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda t: hard_threshold(t, 1.0), (x,))

    def test_module_equals_function(self):
        assert torch.equal(HardThreshold(0.8)(X), hard_threshold(X, 0.8))


class TestSoftThreshold:
    def test_smoke_values(self):
        x = torch.tensor([-2.0, -0.5, 0.0, 0.5, 1.5])
        assert torch.allclose(soft_threshold(x, 1.0), torch.tensor([-1.0, 0.0, 0.0, 0.0, 0.5]))

    @pytest.mark.parametrize("shape", [(5,), (2, 3), (2, 4, 8, 8)])
    def test_shapes(self, shape):
        assert soft_threshold(torch.randn(shape), 0.3).shape == shape

    def test_exact_zeros_and_shrinkage(self):
        y = soft_threshold(X, 1.0)
        assert torch.all(y[X.abs() <= 1.0] == 0)
        big = X.abs() > 1.0
        assert torch.allclose(y[big].abs(), X[big].abs() - 1.0)

    def test_odd(self):
        assert torch.equal(soft_threshold(-X, 0.7), -soft_threshold(X, 0.7))

    def test_is_l1_prox(self):
        """S_theta(v) minimises 0.5 (z - v)^2 + theta |z|: compare with a dense grid search."""
        grid = torch.linspace(-4, 4, 80001, dtype=torch.float64)
        for v in (-2.5, -0.3, 0.0, 0.9, 3.1):
            best = grid[torch.argmin(0.5 * (grid - v) ** 2 + 0.8 * grid.abs())]
            assert abs(float(soft_threshold(torch.tensor(v), 0.8)) - float(best)) < 2e-4

    def test_bad_input(self):
        with pytest.raises(ValueError, match="cut-off"):
            soft_threshold(X, torch.tensor(-0.1))

    def test_gradcheck(self):
        x = torch.tensor([-2.0, -0.3, 0.4, 1.7], dtype=torch.float64, requires_grad=True)
        theta = torch.tensor(0.9, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(soft_threshold, (x, theta))

    def test_module_equals_function(self):
        m = SoftThreshold(0.6, learnable=True)
        assert isinstance(m.theta, torch.nn.Parameter)
        assert torch.equal(m(X.float()), soft_threshold(X.float(), 0.6))


class TestSigmoidalThreshold:
    def test_smoke_values(self):
        y = sigmoidal_threshold(torch.tensor([0.0, 2.0]), 1.0, alpha=0.1, gamma=100.0)
        assert float(y[0]) == 0.0
        assert abs(float(y[1]) - 1.9) < 1e-6

    @pytest.mark.parametrize("shape", [(5,), (2, 3), (2, 4, 8, 8)])
    def test_shapes(self, shape):
        assert sigmoidal_threshold(torch.randn(shape), 0.3).shape == shape

    def test_odd(self):
        assert torch.equal(sigmoidal_threshold(-X, 0.7), -sigmoidal_threshold(X, 0.7))

    def test_release_formula(self):
        """Equals the release's sign(x)(|x| - a theta) / (1 + exp(-g(|x| - theta))) where that is finite."""
        theta, a, g = 0.4, 0.1, 100.0
        ref = torch.sign(X) * (X.abs() - a * theta) / (1 + torch.exp(-g * (X.abs() - theta)))
        assert torch.allclose(sigmoidal_threshold(X, theta, a, g), ref, rtol=1e-12, atol=1e-12)

    @pytest.mark.parametrize("delta", [0.05, 0.2])
    def test_limit_alpha0_is_hard(self, delta):
        """alpha = 0, gamma = 1000: |T - H| <= |x| exp(-gamma delta) for ||x| - theta| >= delta."""
        theta, gamma = 1.0, 1000.0
        away = (X.abs() - theta).abs() >= delta
        diff = (sigmoidal_threshold(X, theta, 0.0, gamma) - hard_threshold(X, theta))[away].abs()
        tol = 3.0 * torch.exp(torch.tensor(-gamma * delta, dtype=torch.float64))
        assert float(diff.max()) <= float(tol) + 1e-15

    def test_limit_alpha1_is_soft(self):
        theta, gamma, delta = 1.0, 1000.0, 0.05
        away = (X.abs() - theta).abs() >= delta
        diff = (sigmoidal_threshold(X, theta, 1.0, gamma) - soft_threshold(X, theta))[away].abs()
        assert float(diff.max()) <= 3.0 * float(torch.exp(torch.tensor(-gamma * delta))) + 1e-15

    def test_numerically_safe_float32(self):
        x = torch.tensor([-1e6, -1e3, -0.5, 0.0, 0.5, 1e3, 1e6], requires_grad=True)
        theta = torch.tensor(0.5, requires_grad=True)
        y = sigmoidal_threshold(x, theta, alpha=0.1, gamma=100.0)
        y.sum().backward()
        assert torch.isfinite(y).all()
        assert torch.isfinite(x.grad).all()
        assert torch.isfinite(theta.grad).all()
        assert float(y[-1].detach()) == pytest.approx(1e6 - 0.05, rel=1e-6)

    def test_bad_input(self):
        with pytest.raises(ValueError, match="alpha"):
            sigmoidal_threshold(X, 1.0, alpha=1.5)
        with pytest.raises(ValueError, match="gamma"):
            sigmoidal_threshold(X, 1.0, gamma=0.0)
        with pytest.raises(ValueError, match="unknown threshold"):
            threshold("medium", X, 1.0)

    def test_gradcheck_x_and_theta(self):
        # x = 0 is left out: T jumps there by 2 alpha theta sigmoid(-gamma theta) (sign(x) flips).
        x = torch.tensor([-2.0, -0.55, -0.3, 0.05, 0.45, 0.52, 1.7], dtype=torch.float64, requires_grad=True)
        theta = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda t, th: sigmoidal_threshold(t, th, 0.1, 20.0), (x, theta))

    def test_module_equals_function(self):
        m = SigmoidalThreshold(0.3, alpha=0.2, gamma=50.0, learnable=True)
        x = X.float()
        assert torch.equal(m(x), sigmoidal_threshold(x, 0.3, 0.2, 50.0))
        assert torch.equal(threshold("sigmoidal", x, 0.3, 0.2, 50.0), m(x))
