"""``lzsc.printed``: the paper's eq. 6 as printed is even in x (notebook 03's erratum)."""

from __future__ import annotations

import pytest
import torch

from lzsc.printed import eq6_as_printed
from lzsc.thresholds import sigmoidal_threshold


class TestEq6AsPrinted:
    def test_smoke_and_shape(self) -> None:
        x = torch.linspace(-3, 3, 61, dtype=torch.float64)
        assert eq6_as_printed(x, 1.0).shape == x.shape

    def test_even_where_the_release_is_odd(self) -> None:
        x = torch.linspace(0.01, 3, 300, dtype=torch.float64)
        assert torch.equal(eq6_as_printed(x, 1.0), eq6_as_printed(-x, 1.0))
        assert torch.allclose(sigmoidal_threshold(-x, 1.0), -sigmoidal_threshold(x, 1.0))

    def test_agrees_with_lzsc_for_positive_inputs(self) -> None:
        x = torch.linspace(0.01, 3, 300, dtype=torch.float64)
        assert torch.allclose(eq6_as_printed(x, 0.5, 0.2, 30.0), sigmoidal_threshold(x, 0.5, 0.2, 30.0))

    def test_bad_input(self) -> None:
        with pytest.raises(TypeError, match="floating-point"):
            eq6_as_printed(torch.arange(3), 1.0)
        with pytest.raises(ValueError, match="cut-off"):
            eq6_as_printed(torch.zeros(3), -1.0)
