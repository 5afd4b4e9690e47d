"""The LCSC block (AE1): unrolled convolutional ISTA with tied weights."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from lzsc.models import FNet, FNetConfig, IFNet, IFNetConfig
from lzsc.thresholds import soft_threshold
from lzsc.unrolled import LCSCBlock, LZSCConfig

CFG = LZSCConfig(n_filters=3, kernel_size=3, n_iter=3)


def _conv(x, w):
    return F.conv2d(x, w, padding=w.shape[-1] // 2)


class TestLCSCBlock:
    def test_shapes_and_iterates(self):
        out = LCSCBlock(CFG)(torch.rand(2, 1, 9, 7), return_all=True)
        assert out.u.shape == (2, 3, 9, 7)
        assert len(out.iterates) == CFG.n_iter + 1

    def test_bad_input(self):
        with pytest.raises(ValueError, match="LCSC block expects"):
            LCSCBlock(CFG)(torch.rand(1, 3, 8, 8))

    def test_is_convolutional_ista(self):
        """With W_e = mu D^T and W_d = D the block is classical ISTA from u = 0, whose fixed point
        satisfies the l1 optimality condition; here: the iterates equal ISTA's exactly."""
        torch.manual_seed(0)
        block = LCSCBlock(CFG, init_cutoff=0.02).double()
        d = torch.randn(1, 3, 3, 3, dtype=torch.float64) / 3
        d_t = d.flip(-1, -2).transpose(0, 1)
        mu = 0.3
        with torch.no_grad():
            block.W_e.copy_(mu * d_t)
            block.W_d.copy_(d)
        x = torch.rand(1, 1, 10, 10, dtype=torch.float64)
        u = torch.zeros(1, 3, 10, 10, dtype=torch.float64)
        for _ in range(CFG.n_iter + 1):
            u = soft_threshold(u + mu * _conv(x - _conv(u, d), d_t), 0.02)
        with torch.no_grad():
            assert torch.allclose(block(x), u, atol=1e-12)

    def test_theta_positive_per_channel(self):
        block = LCSCBlock(CFG, init_cutoff=0.05)
        assert block.theta().shape == (3,)
        assert torch.allclose(block.theta(), torch.full((3,), 0.05))
        assert math.isclose(float(block.theta_raw[0].detach()), math.log(math.expm1(0.05)), rel_tol=1e-6)

    def test_gradcheck(self):
        torch.manual_seed(0)
        block = LCSCBlock(LZSCConfig(n_filters=2, kernel_size=3, n_iter=2)).double()
        x = torch.rand(1, 1, 5, 5, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda t: block(t), (x,))

    def test_fnet_and_ifnet_swap_blocks_by_configuration(self):
        block = LZSCConfig(n_filters=4, kernel_size=3, n_iter=2)
        fnet = FNet(FNetConfig(block=block, block_kind="lcsc"))
        ifnet = IFNet(IFNetConfig(block=block, block_kind="lcsc"))
        assert isinstance(fnet.lzsc_c, LCSCBlock)
        assert isinstance(ifnet.lzsc_x1, LCSCBlock)
        a = torch.rand(1, 1, 8, 8)
        assert fnet(a, a).shape == a.shape
        assert ifnet(a)[1].shape == a.shape
        with pytest.raises(ValueError, match="unknown block kind"):
            FNet(FNetConfig(block=block, block_kind="lista"))
