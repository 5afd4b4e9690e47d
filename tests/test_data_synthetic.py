"""Synthetic MCSC pairs (eq. 7): exact ground truth, determinism, the training interface."""

from __future__ import annotations

import pytest
import torch

from lzsc.data import SyntheticMCSC, synthetic_pair


def test_codes_kind_reconstructs_a_and_b_exactly() -> None:
    data = SyntheticMCSC(size=48, n_filters=4, kernel_size=5, density=0.02, seed=3)
    pair = data.pair(0)
    d, codes = data.dictionaries, pair.codes
    raw_a = d["D_u1"](codes["u1"]) + d["D_c1"](codes["c"])
    raw_b = d["D_u2"](codes["u2"]) + d["D_c2"](codes["c"])
    assert torch.allclose(pair.a.double(), pair.scale_a * raw_a + pair.offset_a, rtol=0, atol=1e-6)
    assert torch.allclose(pair.b.double(), pair.scale_b * raw_b + pair.offset_b, rtol=0, atol=1e-6)
    assert torch.allclose(pair.a, pair.unique_a + pair.common_a + pair.offset_a.float(), atol=1e-6)
    assert torch.allclose(pair.unique_b.double(), pair.scale_b * d["D_u2"](codes["u2"]), atol=1e-6)
    assert pair.a.shape == pair.b.shape == (1, 1, 48, 48)
    assert pair.a.dtype == torch.float32
    for x in (pair.a, pair.b):
        assert float(x.min()) == pytest.approx(0.0, abs=1e-6)
        assert float(x.max()) == pytest.approx(1.0, abs=1e-6)
    for name, dictionary in d.items():
        norms = dictionary.weight.flatten(2).norm(dim=2)
        assert torch.allclose(norms, torch.ones_like(norms)), name
    assert torch.equal(pair.supports["common"], codes["c"] != 0)
    density = float(pair.supports["unique_a"].double().mean())
    assert 0.01 < density < 0.03


def test_image_kind_parts_and_supports() -> None:
    pair = SyntheticMCSC(size=64, kind="image", seed=1).pair(0)
    assert torch.equal(pair.a, pair.common + pair.unique_a)
    assert torch.equal(pair.b, pair.common + pair.unique_b)
    for x in (pair.a, pair.b):
        assert float(x.min()) >= 0.0
        assert float(x.max()) <= 1.0
    s = pair.supports
    assert not pair.unique_a[~s["unique_a"]].any()
    assert not pair.unique_b[~s["unique_b"]].any()
    assert not pair.common[~s["common"]].any()
    assert s["edges"].any()
    assert s["unique_a"].any()
    assert s["unique_b"].any()
    assert torch.equal(pair.common_a, pair.common_b)


@pytest.mark.parametrize("kind", ["codes", "image"])
def test_fully_determined_by_the_seed(kind: str) -> None:
    first = SyntheticMCSC(size=32, kind=kind, seed=0).pairs(2)
    again = SyntheticMCSC(size=32, kind=kind, seed=0).pairs(2)
    other = SyntheticMCSC(size=32, kind=kind, seed=1).pairs(2)
    assert torch.equal(first[1].a, again[1].a)
    assert torch.equal(first[1].b, again[1].b)
    assert not torch.equal(first[0].a, first[1].a)
    assert not torch.equal(first[0].a, other[0].a)
    a, b = synthetic_pair(size=32, seed=0, kind=kind)
    assert torch.equal(a, first[0].a)
    assert torch.equal(b, first[0].b)


@pytest.mark.parametrize("kind", ["codes", "image"])
def test_sample_batch_interface(kind: str) -> None:
    data = SyntheticMCSC(size=64, patch=24, kind=kind, n_pairs=5)
    batch = data.sample_batch(3, torch.Generator().manual_seed(0))
    for key in ("a", "b", "common_a", "common_b", "unique_a", "unique_b"):
        assert batch[key].shape == (3, 1, 24, 24), key
        assert batch[key].dtype == torch.float32
    same = data.sample_batch(3, torch.Generator().manual_seed(0))
    assert torch.equal(batch["a"], same["a"])
    assert not torch.equal(batch["a"], data.sample_batch(3, torch.Generator().manual_seed(1))["a"])
    assert len(data) == 5
    item = data[4]
    assert item["a"].shape == (1, 24, 24)
    assert item["name"] == "synthetic_0004"
    assert torch.equal(data[4]["b"], item["b"])


def test_bad_arguments_are_explained() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        SyntheticMCSC(kind="video")
    with pytest.raises(ValueError, match="odd"):
        SyntheticMCSC(kernel_size=4)
    with pytest.raises(ValueError, match="probability"):
        SyntheticMCSC(density=2.0)
