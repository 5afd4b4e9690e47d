"""Dense and convolutional dictionaries: exact adjoints, densification, power iteration, input checks."""

from __future__ import annotations

import pytest
import torch

from lzsc.operators import ConvDictionary, DenseDictionary, as_dictionary

F64 = torch.float64


pytestmark = pytest.mark.usefixtures("one_thread")


def _randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def _inner(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a * b).sum())


def test_dense_adjoint_and_batching() -> None:
    D = DenseDictionary(_randn(12, 20))
    z, r = _randn(3, 2, 20, seed=1), _randn(3, 2, 12, seed=2)
    assert D.forward(z).shape == (3, 2, 12)
    assert D.adjoint(r).shape == (3, 2, 20)
    assert D.code_shape(r) == (3, 2, 20)
    assert _inner(D.forward(z), r) == pytest.approx(_inner(z, D.adjoint(r)), rel=1e-12)
    torch.testing.assert_close(D.forward(z[0, 0]), D.weight @ z[0, 0])
    torch.testing.assert_close(D.to_dense(), D.weight)


@pytest.mark.parametrize(
    ("channels", "atoms", "kernel", "size"),
    [
        (1, 4, (9,), (32,)),
        (3, 2, (5,), (11,)),
        (2, 3, (7,), (3,)),
        (1, 1, (1,), (6,)),
        (3, 4, (3, 5), (7, 8)),
    ],
)
def test_conv_adjoint_and_dense_twin(
    channels: int, atoms: int, kernel: tuple[int, ...], size: tuple[int, ...]
) -> None:
    D = ConvDictionary(_randn(channels, atoms, *kernel), size=size)
    z, r = _randn(2, atoms, *size, seed=1), _randn(2, channels, *size, seed=2)
    assert D.forward(z).shape == r.shape
    assert D.adjoint(r).shape == z.shape
    lhs, rhs = _inner(D.forward(z), r), _inner(z, D.adjoint(r))
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs))
    M = D.to_dense()
    assert M.shape == (channels * r[0].numel() // channels, z[0].numel())
    torch.testing.assert_close(D.forward(z).reshape(2, -1), z.reshape(2, -1) @ M.T, rtol=0, atol=1e-12)
    torch.testing.assert_close(D.adjoint(r).reshape(2, -1), r.reshape(2, -1) @ M, rtol=0, atol=1e-12)


def test_conv_padding_convention_centres_the_atom() -> None:
    """A spike at i0 in code channel k synthesises d_k with its middle tap at i0 (zero padding outside)."""
    filters = _randn(2, 3, 5)
    D = ConvDictionary(filters)
    z = torch.zeros(1, 3, 16, dtype=F64)
    z[0, 1, 8] = 1.0
    out = D.forward(z)
    torch.testing.assert_close(out[0, :, 6:11], filters[:, 1])
    assert out[0, :, :6].abs().max() == 0
    assert out[0, :, 11:].abs().max() == 0
    z_edge = torch.zeros(1, 3, 16, dtype=F64)
    z_edge[0, 0, 0] = 1.0
    torch.testing.assert_close(D.forward(z_edge)[0, :, :3], filters[:, 0, 2:])


@pytest.mark.parametrize(
    ("op", "iters"),
    [
        (DenseDictionary(_randn(30, 50)), 300),
        (ConvDictionary(_randn(1, 4, 9), size=24), 300),
        (ConvDictionary(_randn(2, 3, 3, 3), size=(6, 5)), 300),
    ],
)
def test_power_iteration_matches_spectral_norm(op: DenseDictionary | ConvDictionary, iters: int) -> None:
    exact = float(torch.linalg.matrix_norm(op.to_dense(), 2) ** 2)
    estimate = op.norm_sq(iters)
    assert estimate == pytest.approx(exact, rel=1e-6)
    assert estimate <= exact * (1 + 1e-12)


def test_conv_norm_needs_a_size_and_twins_share_the_start_vector() -> None:
    D = ConvDictionary(_randn(1, 4, 9))
    x = _randn(2, 1, 20)
    with pytest.raises(ValueError, match="no size"):
        D.norm_sq()
    with pytest.raises(ValueError, match="no size"):
        D.to_dense()
    twin = DenseDictionary(D.to_dense(20))
    assert D.norm_sq(50, like=x) == pytest.approx(twin.norm_sq(50), rel=1e-12)


def test_as_dictionary() -> None:
    M = _randn(5, 7)
    assert isinstance(as_dictionary(M), DenseDictionary)
    D = ConvDictionary(_randn(1, 2, 3))
    assert as_dictionary(D) is D
    with pytest.raises(TypeError, match="DenseDictionary, ConvDictionary"):
        as_dictionary([[1.0]])


def test_bad_inputs_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"shape \(n, m\)"):
        DenseDictionary(_randn(3, 4, 5))
    with pytest.raises(TypeError, match="floating point"):
        DenseDictionary(torch.ones(3, 4, dtype=torch.long))
    D = DenseDictionary(_randn(6, 8))
    with pytest.raises(ValueError, match="m=8"):
        D.forward(_randn(2, 6))
    with pytest.raises(ValueError, match="n=6"):
        D.adjoint(_randn(2, 8))
    with pytest.raises(TypeError, match="dtype"):
        D.forward(torch.zeros(8, dtype=torch.float32))
    with pytest.raises(ValueError, match="odd"):
        ConvDictionary(_randn(1, 2, 4))
    with pytest.raises(ValueError, match=r"\(C, K, k\)"):
        ConvDictionary(_randn(4, 9))
    C = ConvDictionary(_randn(2, 3, 5))
    with pytest.raises(ValueError, match="rank 2"):
        C.forward(_randn(3, 16))
    with pytest.raises(ValueError, match="K=3"):
        C.forward(_randn(1, 2, 16))
    with pytest.raises(ValueError, match="C=2"):
        C.adjoint(_randn(1, 3, 16))
    with pytest.raises(ValueError, match="C=2"):
        C.code_shape(_randn(1, 1, 16))
    with pytest.raises(ValueError, match="positive"):
        ConvDictionary(_randn(1, 2, 3, 3), size=(4,))
    with pytest.raises(ValueError, match="iters"):
        D.norm_sq(0)
    with pytest.raises(ValueError, match="n=6"):
        D.norm_sq(like=_randn(2, 5))
