"""The dictionary convolution unit (CSC paper eq. 3) and its stack: shapes, checks, and ISTA."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lzsc.operators import ConvDictionary
from lzsc.solvers import ista
from lzsc.thresholds import soft_threshold
from lzsc.unrolled import DCU, DCUConfig, DCUStack

TINY = DCUConfig(in_channels=1, n_filters=3, kernel_size=3, n_iter=2)


class TestDCU:
    def test_smoke(self):
        z = DCUStack(TINY)(torch.rand(2, 1, 9, 7))
        assert z.shape == (2, 3, 9, 7)
        assert torch.isfinite(z).all()

    @pytest.mark.parametrize("activation", ["sst", "prelu", "relu"])
    @pytest.mark.parametrize("batch_norm", [True, False])
    def test_shapes_and_parameters(self, activation, batch_norm):
        cfg = DCUConfig(in_channels=2, n_filters=4, activation=activation, batch_norm=batch_norm, n_iter=3)
        stack = DCUStack(cfg)
        codes = stack(torch.rand(1, 2, 8, 6), return_all=True)
        assert len(codes) == 4
        assert all(c.shape == (1, 4, 8, 6) for c in codes)
        assert not hasattr(stack.first, "conv0")
        assert stack.units[0].conv0.weight.shape == (2, 4, 3, 3)
        assert stack.first.conv1.weight.shape == (4, 2, 3, 3)
        assert stack.first.conv1.bias is None
        assert (stack.first.bn is not None) == batch_norm
        if activation == "sst":
            assert torch.equal(stack.first.theta, torch.full((4,), 1e-2))
        if activation == "prelu":
            assert torch.equal(stack.first.prelu.weight, torch.full((4,), 0.25))

    def test_unit_is_eq3_with_reflection_padding(self):
        """z' = f(BN(z + Conv1(x - Conv0 z))) with reflection-padded convolutions, written out."""
        torch.manual_seed(0)
        unit = DCU(DCUConfig(n_filters=3, activation="sst", init=0.05)).double().eval()
        with torch.no_grad():
            unit.bn.running_mean.uniform_(-0.1, 0.1)
            unit.bn.running_var.uniform_(0.5, 2.0)
        x, z = torch.rand(2, 1, 6, 5, dtype=torch.float64), torch.randn(2, 3, 6, 5, dtype=torch.float64)

        def conv(t, w):
            return F.conv2d(F.pad(t, (1, 1, 1, 1), mode="reflect"), w)

        v = z + conv(x - conv(z, unit.conv0.weight), unit.conv1.weight)
        bn = unit.bn
        v = (v - bn.running_mean.view(1, -1, 1, 1)) / torch.sqrt(bn.running_var.view(1, -1, 1, 1) + bn.eps)
        v = v * bn.weight.view(1, -1, 1, 1) + bn.bias.view(1, -1, 1, 1)
        with torch.no_grad():
            expected = soft_threshold(v, unit.theta.view(1, -1, 1, 1))
            torch.testing.assert_close(unit(x, z), expected, rtol=0, atol=1e-12)

    def test_first_input_feeds_only_the_first_unit(self):
        torch.manual_seed(0)
        stack = DCUStack(TINY).eval()
        x, x0 = torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8)
        with torch.no_grad():
            z = stack.first(x0)
            for unit in stack.units:
                z = unit(x, z)
            assert torch.equal(stack(x, first_input=x0), z)

    def test_negative_theta_widens(self):
        """The release's SST is unconstrained: a negative theta adds |theta| to |v| (released ones do)."""
        unit = DCU(DCUConfig(n_filters=2, batch_norm=False), first=True)
        with torch.no_grad():
            unit.theta.copy_(torch.tensor([-0.5, 0.5]))
            v = torch.tensor([-1.0, 0.0, 0.25, 2.0]).view(1, 1, 1, 4).expand(1, 2, 1, 4)
            out = unit.activation(v)
        assert out[0, 0, 0].tolist() == [-1.5, 0.0, 0.75, 2.5]
        assert out[0, 1, 0].tolist() == [-0.5, 0.0, 0.0, 1.5]

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"activation": "tanh"}, "activation must be one of"),
            ({"padding": "circular"}, "padding must be one of"),
            ({"kernel_size": 4}, "kernel_size must be odd"),
            ({"n_filters": 0}, "must be >= 1"),
            ({"n_iter": -1}, "n_iter"),
            ({"activation": "relu", "init": 0.1}, "has no parameter"),
            ({"init": float("nan")}, "finite"),
        ],
    )
    def test_bad_config(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            DCUConfig(**kwargs)

    def test_bad_input(self):
        stack, unit = DCUStack(TINY), DCU(TINY)
        with pytest.raises(ValueError, match=r"expects an image x of shape \(B, 1, H, W\)"):
            stack(torch.rand(1, 3, 8, 8))
        with pytest.raises(TypeError, match="floating-point"):
            stack(torch.ones(1, 1, 8, 8, dtype=torch.long))
        with pytest.raises(ValueError, match="needs H and W > 1"):
            stack(torch.rand(1, 1, 1, 8))
        with pytest.raises(ValueError, match="first_input must have x's shape"):
            stack(torch.rand(1, 1, 8, 8), first_input=torch.rand(1, 1, 8, 9))
        with pytest.raises(ValueError, match="needs the previous code z"):
            unit(torch.rand(1, 1, 8, 8))
        with pytest.raises(ValueError, match=r"code z must have shape"):
            unit(torch.rand(1, 1, 8, 8), torch.rand(1, 3, 8, 7))
        with pytest.raises(ValueError, match="takes no code z"):
            stack.first(torch.rand(1, 1, 8, 8), torch.rand(1, 3, 8, 8))

    @pytest.mark.parametrize("activation", ["sst", "prelu"])
    def test_gradcheck(self, activation):
        torch.manual_seed(0)
        cfg = DCUConfig(n_filters=2, activation=activation, batch_norm=False, n_iter=1, init=0.01)
        stack = DCUStack(cfg).double()
        x = torch.rand(1, 1, 4, 5, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda t: stack(t), (x,))

    @pytest.mark.parametrize("n_iter", [0, 1, 5])
    def test_stack_is_convolutional_ista(self, n_iter):
        """BN off, f = S_theta, Conv0 = D, Conv1 = mu D^T: n_iter + 1 units are n_iter + 1 ISTA steps from 0.

        Compared on the solver's operator: the DCU uses ``padding="zeros"``, the 'same' zero padding of
        :class:`ConvDictionary`, under which mu D^T is the exact adjoint of D (with reflection padding
        it is not, and no classical ISTA corresponds). Conv0 is a correlation, D a true convolution, so
        Conv0's kernel is D's flipped; Conv1's is D^T's as the dictionary stores it; theta = lam mu.
        """
        torch.manual_seed(1)
        c, k, lam = 2, 4, 0.05
        filters = torch.randn(c, k, 3, 3, dtype=torch.float64) / 4
        x = torch.rand(2, c, 9, 8, dtype=torch.float64)
        dictionary = ConvDictionary(filters)
        mu = 0.9 / dictionary.norm_sq(200, like=x)
        stack = DCUStack.from_ista(filters, lam, mu, n_iter + 1)
        with torch.no_grad():
            reference = ista(dictionary, x, lam, n_iter=n_iter + 1, step=mu).z
            ours = stack(x)
        assert reference.abs().sum() > 0
        assert (reference == 0).any()
        assert (ours - reference).abs().max() <= 1e-10

    def test_from_ista_bad_input(self):
        with pytest.raises(ValueError, match=r"filters must be \(C, K, k, k\)"):
            DCUStack.from_ista(torch.zeros(2, 3, 3), 0.1, 0.5, 2)
        with pytest.raises(ValueError, match="n_steps >= 1"):
            DCUStack.from_ista(torch.zeros(1, 2, 3, 3), 0.1, 0.5, 0)
