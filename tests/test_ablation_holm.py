"""lzsc.stats.holm (multiplicity, notebooks 02 and 10) and AblationScale.describe (notebook 10)."""

from __future__ import annotations

import numpy as np
import pytest

from lzsc.ablations import SCALES
from lzsc.stats import holm


class TestHolm:
    def test_smoke_known_values(self):
        # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> monotone 0.06
        np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])

    def test_shape_order_and_cap(self):
        p = np.array([0.5, 0.001, 0.9])
        out = holm(p)
        assert out.shape == p.shape
        assert np.all(out >= p)
        assert out.max() <= 1.0
        assert holm([0.2]).tolist() == [0.2]  # one test: unchanged
        assert holm([1.0000000000000004, 0.01]).tolist() == [1.0, 0.02]  # rounding above 1 is clipped

    @pytest.mark.parametrize("bad", [[0.1, 1.5], [-0.1], [float("nan")]])
    def test_bad_p_values(self, bad):
        with pytest.raises(ValueError, match="p-values must lie in"):
            holm(bad)

    def test_bad_shape(self):
        with pytest.raises(ValueError, match="one-dimensional"):
            holm([[0.1, 0.2]])


class TestDescribe:
    def test_names_the_training_profile_not_a_notebook_profile(self):
        text = SCALES["ci"].describe()
        assert "(profile '" not in text
        assert text.startswith("scale 'ci' = the 'paper' training profile (lzsc.training) shrunk to K = 8")

    def test_paper_scale_is_not_called_shrunk(self):
        assert "shrunk" not in SCALES["paper"].describe()
