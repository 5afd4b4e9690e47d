"""``lzsc.decomposition``: the shares and correlations of FNet's decoded parts (notebook 05)."""

from __future__ import annotations

import pytest
import torch

from lzsc.decomposition import PARTS, part_shares
from lzsc.metrics.structural import pearson
from lzsc.models import FNet, FNetConfig
from lzsc.unrolled import LZSCConfig


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(0)
    net = FNet(FNetConfig(block=LZSCConfig(n_filters=4, kernel_size=3, n_iter=1))).eval()
    a, b = torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        return net(a, b, return_parts=True), a, b


class TestPartShares:
    def test_smoke_and_keys(self, small) -> None:
        shares = part_shares(*small)
        assert tuple(shares) == PARTS
        assert all(set(v) == {"share", "corr_a", "corr_b"} for v in shares.values())

    def test_shares_sum_to_one(self, small) -> None:
        shares = part_shares(*small)
        assert sum(v["share"] for v in shares.values()) == pytest.approx(1.0, abs=1e-6)

    def test_correlations_are_the_parts(self, small) -> None:
        parts, a, b = small
        assert part_shares(parts, a, b)["c"]["corr_b"] == pytest.approx(
            pearson(parts.rec_c.double().numpy(), b.double().numpy())
        )

    def test_bad_input(self, small) -> None:
        parts, a, _ = small
        with pytest.raises(ValueError, match="source B has shape"):
            part_shares(parts, a, torch.rand(1, 1, 8, 8))
