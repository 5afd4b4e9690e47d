"""The LZSC block (eqs. 15-21): schedules, the iteration itself, the ablation switches."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from lzsc.thresholds import hard_threshold, sigmoidal_threshold
from lzsc.unrolled import LZSCBlock, LZSCConfig, rho_schedule, theta_schedule

TINY = LZSCConfig(in_channels=1, n_filters=3, kernel_size=3, n_iter=3)


def _conv(x, w):
    return F.conv2d(x, w, padding=w.shape[-1] // 2)


def _softplus(v: float) -> float:
    return math.log1p(math.exp(v))


class TestSchedules:
    def test_eq21_values(self):
        w, b = torch.tensor([-0.5]), torch.tensor([-2.0])
        k = torch.arange(5.0)
        expected = torch.tensor([_softplus(-0.5 * i - 2.0) for i in range(5)])
        assert torch.allclose(theta_schedule(w, b, k), expected)
        wr, br = torch.tensor([0.5]), torch.tensor([0.0])
        rho = rho_schedule(wr, br, k)
        assert float(rho[0]) == 0.0
        s = [_softplus(0.5 * i) for i in range(5)]
        assert torch.allclose(rho, torch.tensor([(si - s[0]) / si for si in s]))

    @pytest.mark.parametrize("seed", range(5))
    def test_monotone(self, seed):
        g = torch.Generator().manual_seed(seed)
        w_neg, w_pos, b = (
            -torch.rand(1, generator=g) - 0.01,
            torch.rand(1, generator=g) + 0.01,
            torch.randn(1, generator=g),
        )
        k = torch.arange(8.0)
        assert torch.all(theta_schedule(w_neg, b, k).diff() < 0)
        rho = rho_schedule(w_pos, b, k)
        assert torch.all(rho.diff() > 0)
        assert torch.all((rho >= 0) & (rho < 1))


class TestLZSCBlock:
    def test_shapes_and_return_all(self):
        block = LZSCBlock(TINY).double()
        x = torch.rand(2, 1, 10, 12, dtype=torch.float64)
        out = block(x, return_all=True)
        assert out.u.shape == (2, 3, 10, 12)
        assert len(out.iterates) == len(out.pre_activations) == TINY.n_iter + 1
        assert torch.equal(out.iterates[-1], out.u)
        assert torch.equal(block.forward_reference(x), out.u)
        assert torch.allclose(block(x), out.u, rtol=1e-10, atol=1e-12)  # the auto backend (fused)

    def test_bad_input(self):
        with pytest.raises(ValueError, match=r"expects \(B, 1, H, W\)"):
            LZSCBlock(TINY)(torch.rand(1, 2, 8, 8))
        with pytest.raises(ValueError, match="momentum"):
            LZSCConfig(momentum="adam")
        with pytest.raises(ValueError, match="odd"):
            LZSCConfig(kernel_size=4)

    def test_equals_hand_written_eq20(self):
        """The block equals eq. 20 written out with the block's own weights (released structure)."""
        torch.manual_seed(1)
        block = LZSCBlock(LZSCConfig(in_channels=2, n_filters=4, kernel_size=5, n_iter=4)).double()
        with torch.no_grad():
            block.w_rho.fill_(0.3)
            block.b_rho.fill_(0.2)
        x = torch.rand(1, 2, 9, 9, dtype=torch.float64)
        th = [_softplus(block.w_theta.item() * k + block.b_theta.item()) for k in range(5)]
        s0 = _softplus(0.2)
        rho = [(_softplus(0.3 * k + 0.2) - s0) / _softplus(0.3 * k + 0.2) for k in range(5)]

        def t(v, k):
            return torch.sign(v) * (v.abs() - 0.1 * th[k]) / (1 + torch.exp(-100 * (v.abs() - th[k])))

        def res(u, wd, wu):
            return u - _conv(_conv(u, wd), wu)

        u_prev = t(_conv(x, block.W_e[0]), 0)
        u = t((1 + rho[1]) * res(u_prev, block.W_d[0], block.W_u[0]) + _conv(x, block.W_e[1]), 1)
        for k in range(2, 5):
            pre = (
                (1 + rho[k]) * res(u, block.W_d[k - 1], block.W_u[k - 1])
                - rho[k] * res(u_prev, block.W_d_prev[k - 2], block.W_u_prev[k - 2])
                + _conv(x, block.W_e[k])
            )
            u_prev, u = u, t(pre, k)
        with torch.no_grad():
            assert torch.allclose(block(x), u, rtol=1e-10, atol=1e-12)

    def test_is_classical_iht_with_dictionary_weights(self):
        """With W_e = mu D^T, W_d = D, W_u = mu D^T, fixed theta, hard threshold and no momentum,
        the block runs exactly classical convolutional IHT from z = 0 (eq. 2): unrolling is the
        same iteration, with the operators made learnable."""
        torch.manual_seed(0)
        n_f, ks, n_iter = 3, 5, 6
        d = torch.randn(1, n_f, ks, ks, dtype=torch.float64) / ks  # D: K -> 1 ("synthesis")
        d_t = d.flip(-1, -2).transpose(0, 1)  # D^T: 1 -> K (adjoint of a 'same' conv)
        mu, theta = 0.5, 0.05
        cfg = LZSCConfig(n_filters=n_f, kernel_size=ks, n_iter=n_iter, threshold="hard", momentum="none")
        block = LZSCBlock(cfg).double()
        with torch.no_grad():
            for w in block.W_e:
                w.copy_(mu * d_t)
            for w in block.W_d:
                w.copy_(d)
            for w in block.W_u:
                w.copy_(mu * d_t)
            block.w_theta.fill_(0.0)
            block.b_theta.fill_(math.log(math.expm1(theta)))
        x = torch.rand(1, 1, 12, 12, dtype=torch.float64)
        z = torch.zeros(1, n_f, 12, 12, dtype=torch.float64)
        for _ in range(n_iter + 1):
            z = hard_threshold(z + mu * _conv(x - _conv(z, d), d_t), theta)
        with torch.no_grad():
            assert torch.allclose(block(x), z, atol=1e-12)

    def test_momentum_variants_reduce_to_plain_step_when_rho_is_zero(self):
        torch.manual_seed(0)
        x = torch.rand(1, 1, 8, 8)
        base = LZSCBlock(TINY, momentum="none")
        for kind in ("polyak", "nesterov"):
            other = LZSCBlock(TINY, momentum=kind)
            other.load_state_dict(base.state_dict(), strict=False)
            with torch.no_grad():
                other.w_rho.fill_(0.0)  # rho^k = 0: no momentum term, no (1 + rho) factor
                assert torch.allclose(other(x), base(x), atol=1e-6), kind

    def test_qhm_with_nu_zero_is_plain(self):
        torch.manual_seed(0)
        x = torch.rand(1, 1, 8, 8)
        base = LZSCBlock(TINY, momentum="none")
        qhm = LZSCBlock(TINY, momentum="qhm", qhm_nu=0.0)
        qhm.load_state_dict(base.state_dict(), strict=False)
        with torch.no_grad():
            assert torch.allclose(qhm(x), base(x), atol=1e-6)

    @pytest.mark.parametrize("momentum", ["nesterov", "none", "polyak", "qhm"])
    @pytest.mark.parametrize("kind", ["sigmoidal", "soft", "hard"])
    def test_all_ablation_configs_run(self, momentum, kind):
        out = LZSCBlock(TINY, momentum=momentum, threshold=kind)(torch.rand(1, 1, 6, 6))
        assert torch.isfinite(out).all()

    def test_shared_weights(self):
        per_iter = LZSCBlock(TINY)
        shared = LZSCBlock(TINY, shared_weights=True)
        assert len(shared.W_e) == len(shared.W_d) == len(shared.W_u) == len(shared.W_d_prev) == 1
        n_conv = sum(p.numel() for n, p in per_iter.named_parameters() if n.startswith("W_"))
        n_shared = sum(p.numel() for n, p in shared.named_parameters() if n.startswith("W_"))
        assert n_shared * 14 == n_conv * 5  # n_iter = 3: 4 W_e + 3 W_d + 3 W_u + 2 W_d' + 2 W_u' = 14 tensors
        assert torch.isfinite(shared(torch.rand(1, 1, 6, 6))).all()

    def test_default_release_parameter_count(self):
        # per block: 5 W_e + 4 (W_d, W_u) + 3 (W_d', W_u') = 19 convs of 64 x 81 weights, + 4 scalars
        assert sum(p.numel() for p in LZSCBlock().parameters()) == 19 * 64 * 81 + 4

    def test_gradcheck_float64(self):
        torch.manual_seed(0)
        block = LZSCBlock(LZSCConfig(n_filters=2, kernel_size=3, n_iter=2, gamma=5.0)).double()
        x = torch.rand(1, 1, 5, 5, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda t: block(t), (x,))

    def test_threshold_is_the_sigmoidal_of_thresholds_module(self):
        block = LZSCBlock(LZSCConfig(n_filters=2, kernel_size=3, n_iter=1))
        x = torch.rand(1, 1, 6, 6)
        with torch.no_grad():
            expected = sigmoidal_threshold(_conv(x, block.W_e[0]), block.thetas()[0])
            assert torch.allclose(block(x, return_all=True).iterates[0], expected)
