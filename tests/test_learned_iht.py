"""Learned IHT: at initialisation it is IHT, training improves it; the LZSC block built from a dictionary."""

from __future__ import annotations

import math

import pytest
import torch

from lzsc.operators import ConvDictionary, DenseDictionary
from lzsc.problems import random_conv_problem, random_sparse_problem
from lzsc.solvers import iht, momentum_iht
from lzsc.unrolled.learned_iht import LearnedIHT, block_from_dictionary, fit_learned_iht, nmse_db

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def dense():
    D, z, x = random_sparse_problem(32, 64, 3, batch=2100, noise=0.01, seed=1, dtype=torch.float64)
    return D, z, x


@pytest.mark.parametrize("n_layers", [1, 3, 7])
def test_tied_hard_network_is_iht(dense, n_layers):
    D, _, x = dense
    lam, mu = 0.01, 0.99 / D.norm_sq()
    net = LearnedIHT(D, n_layers, theta=math.sqrt(2 * lam * mu), step=mu, threshold="hard")
    with torch.no_grad():
        out = net(x)
    torch.testing.assert_close(out, iht(D, x, lam, n_iter=n_layers, step=mu).z, rtol=0, atol=1e-12)


def test_tied_hard_network_is_iht_on_a_1d_convolution():
    D, _, x = random_conv_problem(1, 3, 5, 40, k=4, batch=2, seed=2)
    lam = 0.02
    mu = 0.99 / D.norm_sq(like=x)
    net = LearnedIHT(D, 4, theta=math.sqrt(2 * lam * mu), step=mu, threshold="hard")
    with torch.no_grad():
        out = net(x)
    torch.testing.assert_close(out, iht(D, x, lam, n_iter=4, step=mu).z, rtol=0, atol=1e-12)


def test_untied_starts_equal_to_tied(dense):
    D, _, x = dense
    tied = LearnedIHT(D, 4, theta=0.05)
    untied = LearnedIHT(D, 4, theta=0.05, untied=True)
    with torch.no_grad():
        torch.testing.assert_close(untied(x), tied(x))
    assert sum(p.numel() for p in tied.parameters()) == 4
    assert sum(p.numel() for p in untied.parameters()) == 4 + (4 + 3 + 3) * 32 * 64


def test_thetas_and_iterates(dense):
    D, _, x = dense
    net = LearnedIHT(D, 5, theta=0.3)
    torch.testing.assert_close(net.thetas(), torch.full((5,), 0.3, dtype=torch.float64))
    with torch.no_grad():
        iterates = net(x, return_all=True)
    assert len(iterates) == 5
    assert iterates[-1].shape == (x.shape[0], 64)
    assert LearnedIHT(DenseDictionary(D.weight.float()), 2).s_theta.dtype == torch.float32


def test_fit_improves_on_iht_at_equal_depth_and_is_reproducible(dense):
    D, z, x = dense
    x_train, z_train, x_test, z_test = x[:2000], z[:2000], x[2000:], z[2000:]
    lam, mu = 0.005, 0.99 / D.norm_sq()
    theta = math.sqrt(2 * lam * mu)
    results = []
    for _ in range(2):
        net = LearnedIHT(D, 3, theta=theta, untied=True, alpha=0.0, gamma=30.0)
        fit = fit_learned_iht(net, x_train, z_train, steps=100, lr=5e-3, batch_size=100, seed=3)
        results.append(fit)
    assert results[0].losses == results[1].losses
    assert len(results[0].thetas) == 101
    assert results[0].losses[-1] < 0.8 * results[0].losses[0]
    with torch.no_grad():
        learned = nmse_db(net(x_test), z_test)
    assert learned < nmse_db(iht(D, x_test, lam, n_iter=3).z, z_test) - 1.0


def test_hard_threshold_gives_theta_no_gradient(dense):
    D, z, x = dense
    net = LearnedIHT(D, 2, theta=0.1, threshold="hard")
    fit = fit_learned_iht(net, x[:50], z[:50], steps=5, lr=0.1)
    assert all(torch.equal(t, fit.thetas[0]) for t in fit.thetas)
    assert len(set(fit.losses)) == 1


def test_sigmoidal_threshold_learns_theta(dense):
    D, z, x = dense
    net = LearnedIHT(D, 2, theta=0.5, alpha=0.0, gamma=30.0)
    fit = fit_learned_iht(net, x[:200], z[:200], steps=30, lr=0.05)
    assert not torch.equal(fit.thetas[0], fit.thetas[-1])
    assert fit.losses[-1] < fit.losses[0]


def test_nmse_db():
    z = torch.tensor([[3.0, 4.0]])
    assert nmse_db(z, z) == float("-inf")
    assert nmse_db(torch.zeros_like(z), z) == pytest.approx(0.0)
    assert nmse_db(0.9 * z, z) == pytest.approx(-20.0)


@pytest.mark.parametrize("threshold", ["hard", "sigmoidal"])
def test_block_from_dictionary_is_momentum_iht(threshold):
    D, _, x = random_conv_problem(1, 3, 5, (20, 20), k=6, batch=2, seed=4)
    lam = 0.05
    mu = 0.99 / D.norm_sq(like=x)
    block = block_from_dictionary(D, math.sqrt(2 * lam * mu), mu, n_iter=3, threshold=threshold, alpha=0.0)
    rhos = block.rhos().detach()
    with torch.no_grad():
        out = block(x)
    ref = momentum_iht(
        D, x, lam, n_iter=4, step=mu, rho=lambda j: float(rhos[j - 1]) if j else 0.0, restart=False
    )
    if threshold == "hard":
        torch.testing.assert_close(out, ref.z, rtol=0, atol=1e-12)
    else:
        assert out.shape == ref.z.shape
        assert block.thetas().detach().unique().numel() == 1


def test_errors(dense):
    D, z, x = dense
    with pytest.raises(ValueError, match="n_layers"):
        LearnedIHT(D, 0)
    with pytest.raises(ValueError, match="theta"):
        LearnedIHT(D, 2, theta=0.0)
    with pytest.raises(ValueError, match="alpha"):
        LearnedIHT(D, 2, alpha=1.5)
    with pytest.raises(ValueError, match="threshold"):
        LearnedIHT(D, 2, threshold="median")
    with pytest.raises(TypeError, match="DenseDictionary or ConvDictionary"):
        LearnedIHT(D.weight, 2)
    with pytest.raises(ValueError, match="same number of samples"):
        fit_learned_iht(LearnedIHT(D, 1), x[:3], z[:4])
    conv_1d = ConvDictionary(torch.randn(1, 2, 5, dtype=torch.float64), size=16)
    with pytest.raises(TypeError, match="2-D ConvDictionary"):
        block_from_dictionary(conv_1d, 0.1)
