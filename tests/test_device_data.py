"""The device-resident loader (lzsc.data.device) and the batch draws both loaders share."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import write_pairs

from lzsc.data import DeviceBatches, DevicePairs, PairedImageDataset, SyntheticMCSC, dihedral
from lzsc.data.transforms import dihedral_grids, draw_batch


@pytest.fixture
def pairs(tmp_path: Path) -> PairedImageDataset:
    """Six pairs in two sizes, so that the device tensor pads the smaller ones."""
    write_pairs(tmp_path, ["a.png", "b.png", "c.png"], size=(40, 52), seed=1)
    write_pairs(tmp_path, ["d.png", "e.png", "f.png"], size=(23, 31), seed=2)
    return PairedImageDataset(tmp_path / "ir", tmp_path / "vi", patch=16)


class TestDihedralGrids:
    @pytest.mark.parametrize("k", range(8))
    def test_a_gather_through_the_grids_is_the_transform(self, k: int) -> None:
        x = torch.randn(3, 9, 9)
        rows, cols = dihedral_grids(9)
        assert torch.equal(x[:, rows[k], cols[k]], dihedral(x, k))

    def test_shapes_and_bad_patch(self) -> None:
        rows, cols = dihedral_grids(5)
        assert rows.shape == cols.shape == (8, 5, 5)
        with pytest.raises(ValueError, match="patch must be a positive integer"):
            dihedral_grids(0)


class TestDrawBatch:
    def test_rows_lie_inside_each_image(self) -> None:
        sizes = [(20, 30), (16, 16), (40, 17)]
        rows = draw_batch(sizes, 200, 16, torch.Generator().manual_seed(0))
        assert rows.shape == (200, 4)
        assert rows.dtype == torch.long
        for index, top, left, k in rows.tolist():
            h, w = sizes[index]
            assert 0 <= top <= h - 16
            assert 0 <= left <= w - 16
            assert 0 <= k < 8
        assert set(rows[:, 0].tolist()) == {0, 1, 2}
        assert set(rows[:, 3].tolist()) == set(range(8))

    def test_a_pure_function_of_the_generator(self) -> None:
        draw = [draw_batch([(30, 30)] * 4, 8, 8, torch.Generator().manual_seed(3)) for _ in range(2)]
        assert torch.equal(*draw)

    def test_bad_batch_size(self) -> None:
        with pytest.raises(ValueError, match="batch_size must be >= 1"):
            draw_batch([(30, 30)], 0, 8, torch.Generator())


class TestDevicePairs:
    def test_same_batches_as_the_host_loader(self, pairs: PairedImageDataset) -> None:
        device = DevicePairs(pairs)
        host_gen, device_gen = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
        for _ in range(5):
            host, dev = pairs.sample_batch(6, host_gen), device.sample_batch(6, device_gen)
            assert torch.equal(host["a"], dev["a"])
            assert torch.equal(host["b"], dev["b"])
            assert torch.equal(host["index"], dev["index"])
        assert torch.equal(host_gen.get_state(), device_gen.get_state())

    def test_shards_make_up_the_batch(self, pairs: PairedImageDataset) -> None:
        device = DevicePairs(pairs)
        whole = device.sample_batch(6, torch.Generator().manual_seed(1))
        parts = [device.sample_batch(6, torch.Generator().manual_seed(1), slice(i, i + 3)) for i in (0, 3)]
        assert torch.equal(torch.cat([p["a"] for p in parts]), whole["a"])
        host = pairs.sample_batch(6, torch.Generator().manual_seed(1), shard=slice(3, 6))
        assert torch.equal(host["b"], parts[1]["b"])

    def test_without_augmentation_no_transform(self, tmp_path: Path) -> None:
        write_pairs(tmp_path, ["a.png", "b.png"], size=(30, 40))
        plain = PairedImageDataset(tmp_path / "ir", tmp_path / "vi", patch=12, augment=False)
        got = DevicePairs(plain).sample_batch(8, torch.Generator().manual_seed(0))
        want = plain.sample_batch(8, torch.Generator().manual_seed(0))
        assert torch.equal(got["a"], want["a"])

    def test_holds_every_pair_once_as_uint8(self, pairs: PairedImageDataset) -> None:
        device = DevicePairs(pairs)
        assert device.images.dtype == torch.uint8
        assert device.images.shape == (6, 2, 40, 52)
        assert len(device) == 6
        assert "6 pairs" in repr(device)

    def test_refuses_other_data(self) -> None:
        with pytest.raises(TypeError, match="needs a PairedImageDataset"):
            DevicePairs(SyntheticMCSC(size=16, kind="image"))


class TestDeviceBatches:
    def test_chunked_draws_equal_step_by_step_draws(self, pairs: PairedImageDataset) -> None:
        device = DevicePairs(pairs)
        stream = DeviceBatches(device, 4, torch.Generator().manual_seed(2), chunk=3)
        reference = torch.Generator().manual_seed(2)
        for _ in range(7):
            assert torch.equal(stream.next()["a"], device.sample_batch(4, reference)["a"])

    def test_rewind_leaves_the_generator_after_the_used_batches(self, pairs: PairedImageDataset) -> None:
        device = DevicePairs(pairs)
        generator = torch.Generator().manual_seed(4)
        stream = DeviceBatches(device, 4, generator, chunk=5)
        for _ in range(2):
            stream.next()
        stream.rewind()
        reference = torch.Generator().manual_seed(4)
        for _ in range(2):
            device.draw(4, reference)
        assert torch.equal(generator.get_state(), reference.get_state())
        assert torch.equal(stream.next()["b"], device.sample_batch(4, reference)["b"])

    def test_bad_chunk(self, pairs: PairedImageDataset) -> None:
        with pytest.raises(ValueError, match="chunk must be >= 1"):
            DeviceBatches(DevicePairs(pairs), 4, torch.Generator(), chunk=0)
