"""lzsc.interpret.intensity_auc: the brightness baseline of the code-energy AUC (notebook 09)."""

from __future__ import annotations

import numpy as np
import pytest

from lzsc.data import SyntheticMCSC
from lzsc.interpret import intensity_auc, roc_auc


class TestIntensityAuc:
    def test_smoke_keys_and_range(self):
        pairs = SyntheticMCSC(size=32, kind="image", seed=0).pairs(2)
        out = intensity_auc(pairs)
        assert set(out) == {"intensity on A", "intensity on B"}
        assert all(0.0 <= v <= 1.0 for v in out.values())

    def test_matches_roc_auc_by_hand(self):
        pair = SyntheticMCSC(size=32, kind="image", seed=1).pair(0)
        unique, common = pair.supports["unique_a"][0, 0] > 0.5, pair.supports["common"][0, 0] > 0.5
        keep = unique ^ common
        expected = roc_auc(pair.a[0, 0][keep].numpy(), unique[keep].numpy())
        assert np.isclose(intensity_auc([pair])["intensity on A"], expected)

    def test_empty_input(self):
        with pytest.raises(ValueError, match="at least one synthetic pair"):
            intensity_auc([])

    def test_pair_without_supports(self):
        pair = SyntheticMCSC(size=32, kind="image", seed=0).pair(0)
        pair.supports.pop("common")
        with pytest.raises(KeyError, match="common"):
            intensity_auc([pair])
