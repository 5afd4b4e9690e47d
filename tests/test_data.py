"""Paired training data: pairing, exclusion, shared windows, dihedral group, determinism, bad files."""

from __future__ import annotations

import itertools
from pathlib import Path

import kornia
import numpy as np
import pytest
import torch
from helpers import SIZE, write_pairs
from PIL import Image

from lzsc.data import (
    PairedImageDataset,
    SyntheticMCSC,
    dihedral,
    dihedral_compose,
    dihedral_inverse,
    random_crop_pair,
    test_names,
    to_luma,
    training_data,
    training_dataset,
)
from lzsc.io import ImageError
from lzsc.paths import data_root


@pytest.fixture
def pair_dirs(tmp_path: Path) -> tuple[Path, Path]:
    return write_pairs(tmp_path, [f"{i:02d}.png" for i in range(6)])


# --- dihedral group ---------------------------------------------------------------------------


def test_dihedral_gives_eight_distinct_transforms() -> None:
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    images = [dihedral(x, k) for k in range(8)]
    assert all(img.shape == x.shape for img in images)
    for i, j in itertools.combinations(range(8), 2):
        assert not torch.equal(images[i], images[j]), (i, j)
    assert torch.equal(images[0], x)


def test_dihedral_forms_the_group() -> None:
    x = torch.arange(12.0).reshape(3, 4)
    results = {k: dihedral(x, k) for k in range(8)}
    for j, k in itertools.product(range(8), repeat=2):
        m = dihedral_compose(j, k)
        assert torch.equal(dihedral(dihedral(x, j), k), results[m]), (j, k, m)
    for k in range(8):
        assert torch.equal(dihedral(dihedral(x, k), dihedral_inverse(k)), x)
        assert dihedral_compose(k, dihedral_inverse(k)) == 0
    # closure table is a Latin square (each element once per row), as for any group
    table = [[dihedral_compose(j, k) for k in range(8)] for j in range(8)]
    assert all(sorted(row) == list(range(8)) for row in table)


def test_dihedral_numpy_matches_torch_and_rejects_bad_k() -> None:
    x = np.arange(20, dtype=np.uint8).reshape(4, 5)
    for k in range(8):
        assert np.array_equal(dihedral(x, k), dihedral(torch.from_numpy(x), k).numpy())
    with pytest.raises(ValueError, match=r"0\.\.7"):
        dihedral(x, 8)


# --- crops and luma ---------------------------------------------------------------------------


def test_random_crop_pair_uses_the_same_window() -> None:
    a = torch.rand(1, 30, 40)
    a2, b2 = random_crop_pair(a, 3 * a + 1, 16, torch.Generator().manual_seed(3))
    assert a2.shape == (1, 16, 16)
    assert torch.equal(b2, 3 * a2 + 1)
    with pytest.raises(ValueError, match="smaller than the 64x64 patch"):
        random_crop_pair(a, a, 64)
    with pytest.raises(ValueError, match="differ in size"):
        random_crop_pair(a, a[..., :20], 8)


def test_to_luma_is_kornia_y() -> None:
    rgb = torch.rand(2, 3, 5, 6, generator=torch.Generator().manual_seed(0))
    assert torch.equal(to_luma(rgb), kornia.color.rgb_to_ycbcr(rgb)[:, :1])
    u8 = (rgb[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    expected = (
        kornia.color.rgb_to_ycbcr(torch.from_numpy(u8).permute(2, 0, 1).float() / 255)[0] * 255
    ).round()
    assert np.array_equal(to_luma(u8), expected.to(torch.uint8).numpy())
    grey = u8[..., 0]
    assert to_luma(grey) is grey


# --- the data set -----------------------------------------------------------------------------


def test_batches_crop_the_same_window_in_a_and_b(pair_dirs: tuple[Path, Path]) -> None:
    ds = PairedImageDataset(*pair_dirs, patch=16)
    batch = ds.sample_batch(12, torch.Generator().manual_seed(0))
    assert batch["a"].shape == batch["b"].shape == (12, 1, 16, 16)
    assert batch["a"].dtype == torch.float32
    a8, b8 = (batch["a"] * 255).round(), (batch["b"] * 255).round()
    assert torch.equal(b8, a8 + 20)  # B's luma is A + 20 everywhere: same window, same transform
    item = ds[2]
    assert item["a"].shape == (1, 16, 16)
    assert item["name"] == "02.png"
    assert torch.equal((item["b"] * 255).round(), (item["a"] * 255).round() + 20)


def test_luma_opencv_reads_b_like_a(tmp_path: Path) -> None:
    a_dir, b_dir = tmp_path / "ir", tmp_path / "vi"
    a_dir.mkdir()
    b_dir.mkdir()
    rgb = np.random.default_rng(1).integers(0, 256, size=(*SIZE, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(a_dir / "x.png")
    Image.fromarray(rgb).save(b_dir / "x.png")
    a, b = PairedImageDataset(a_dir, b_dir, patch=8, luma="opencv").full_pair(0)
    assert torch.equal(a, b)
    a, b = PairedImageDataset(a_dir, b_dir, patch=8, luma="kornia").full_pair(0)
    assert not torch.equal(a, b)
    assert (a - b).abs().max() <= 2 / 255  # OpenCV's and kornia's luma weights agree to ~1 grey level


def test_sampling_is_reproducible_and_resumable(pair_dirs: tuple[Path, Path]) -> None:
    ds = PairedImageDataset(*pair_dirs, patch=16)
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    b1, b2 = ds.sample_batch(8, g1), ds.sample_batch(8, g2)
    assert torch.equal(b1["a"], b2["a"])
    assert torch.equal(b1["b"], b2["b"])
    assert b1["names"] == b2["names"]
    other = ds.sample_batch(8, torch.Generator().manual_seed(8))
    assert not torch.equal(b1["a"], other["a"])
    state = g1.get_state()  # resume: restoring the generator state replays the next batch
    nxt = ds.sample_batch(8, g1)
    g3 = torch.Generator()
    g3.set_state(state)
    assert torch.equal(ds.sample_batch(8, g3)["a"], nxt["a"])
    ds.set_epoch(0)
    first = ds[1]["a"]
    assert torch.equal(ds[1]["a"], first)
    ds.set_epoch(1)
    assert not torch.equal(ds[1]["a"], first)


def test_step_batch_is_a_pure_function_covering_each_epoch(pair_dirs: tuple[Path, Path]) -> None:
    ds = PairedImageDataset(*pair_dirs, patch=16, seed=5)
    assert torch.equal(ds.step_batch(4, 3)["a"], ds.step_batch(4, 3)["a"])
    epoch0 = ds.step_batch(0, 3)["index"].tolist() + ds.step_batch(1, 3)["index"].tolist()
    epoch1 = ds.step_batch(2, 3)["index"].tolist() + ds.step_batch(3, 3)["index"].tolist()
    assert sorted(epoch0) == sorted(epoch1) == list(range(6))  # without replacement within an epoch
    assert not torch.equal(ds.step_batch(0, 3, seed=6)["a"], ds.step_batch(0, 3)["a"])


def test_cache_is_optional(pair_dirs: tuple[Path, Path]) -> None:
    cached = PairedImageDataset(*pair_dirs, patch=16).preload(progress=False)
    assert cached.cache_bytes == 6 * 2 * SIZE[0] * SIZE[1]
    uncached = PairedImageDataset(*pair_dirs, patch=16, cache=False)
    gen = torch.Generator().manual_seed(0)
    batch = uncached.sample_batch(4, gen)
    assert uncached.cache_bytes == 0
    assert torch.equal(batch["a"], cached.sample_batch(4, torch.Generator().manual_seed(0))["a"])


# --- pairing and exclusion --------------------------------------------------------------------


def test_exclusion_by_name_or_stem(pair_dirs: tuple[Path, Path]) -> None:
    ds = PairedImageDataset(*pair_dirs, exclude=["01.png", "03.jpg", "05"], patch=16)
    assert ds.names == ["00.png", "02.png", "04.png"]
    assert ds.excluded == ["01.png", "03.png", "05.png"]
    with pytest.raises(TypeError, match="wrap it in a list"):
        PairedImageDataset(*pair_dirs, exclude="01.png")
    with pytest.raises(ValueError, match="no image pairs left"):
        PairedImageDataset(*pair_dirs, exclude=[f"{i:02d}" for i in range(6)])


def test_unmatched_files_raise_or_are_skipped(pair_dirs: tuple[Path, Path]) -> None:
    a_dir, b_dir = pair_dirs
    (a_dir / "02.png").rename(a_dir / "orphan_a.png")
    with pytest.raises(ValueError, match=r"2 unmatched file\(s\)(.|\n)*orphan_a.png(.|\n)*02.png"):
        PairedImageDataset(a_dir, b_dir, patch=16)
    with pytest.warns(UserWarning, match="skipping 2 unmatched"):
        ds = PairedImageDataset(a_dir, b_dir, patch=16, strict=False)
    assert len(ds) == 5


def test_training_dataset_excludes_the_test_set_of_the_same_name(tmp_path: Path) -> None:
    write_pairs(tmp_path / "train" / "RoadScene", ["a.jpg", "b.jpg", "c.jpg", "d.jpg"])
    write_pairs(tmp_path / "test" / "RoadScene", ["b.jpg", "d.jpg"])
    assert test_names("RoadScene", root=tmp_path) == ["b.jpg", "d.jpg"]
    ds = training_dataset("RoadScene", root=tmp_path, patch=16)
    assert ds.names == ["a.jpg", "c.jpg"]
    folder = training_dataset(tmp_path / "train" / "RoadScene", root=tmp_path, patch=16)  # a path, same name
    assert folder.names == ["a.jpg", "c.jpg"]
    assert len(training_dataset("RoadScene", root=tmp_path, patch=16, exclude_test=False)) == 4


def test_training_dataset_refuses_when_the_test_set_is_missing(tmp_path: Path) -> None:
    write_pairs(tmp_path / "train" / "RoadScene", ["a.png"])
    with pytest.raises(FileNotFoundError, match=r"test/RoadScene/{ir,vi} not found(.|\n)*exclude_test=False"):
        training_dataset("RoadScene", root=tmp_path, patch=16)
    write_pairs(tmp_path / "train" / "MSRS", ["a.png", "b.png"])
    assert len(training_dataset("MSRS", root=tmp_path, patch=16)) == 2  # no MSRS test set: nothing to drop


def test_training_dataset_medical_folders_by_configuration(tmp_path: Path) -> None:
    write_pairs(tmp_path / "harvard", ["1.png", "2.png"], a_sub="MRI", b_sub="SPECT")
    assert len(training_dataset(tmp_path / "harvard", patch=16)) == 2  # layout detected (MRI + SPECT)
    ds = training_dataset(tmp_path / "harvard", a_dir="MRI", b_dir="SPECT", patch=16)
    assert ds.a_dir.name == "MRI"
    assert ds.b_dir.name == "SPECT"


@pytest.mark.data
def test_roadscene_training_minus_test_pairs_is_171() -> None:
    if data_root() is None:
        pytest.skip("LZSC_DATA is not set: the real RoadScene pairs are not available")
    names = test_names("RoadScene")
    ds = training_dataset("RoadScene")
    assert len(names) == 50
    assert len(ds) == 171
    assert not set(ds.names) & set(names)
    assert sorted(ds.excluded) == sorted(names)


# --- bad files --------------------------------------------------------------------------------


def test_size_mismatch_names_both_files(pair_dirs: tuple[Path, Path]) -> None:
    a_dir, b_dir = pair_dirs
    Image.fromarray(np.zeros((SIZE[0] + 1, SIZE[1]), np.uint8)).save(b_dir / "03.png")
    ds = PairedImageDataset(a_dir, b_dir, patch=16)
    with pytest.raises(ImageError, match=r"size mismatch: .*03.png is 52x40 but .*03.png is 52x41"):
        ds.preload(progress=False)


@pytest.mark.parametrize(
    ("mode", "match"),
    [("corrupt", "unreadable or corrupt"), ("RGBA", "alpha channel"), ("I;16", "16-bit")],
)
def test_bad_files_are_rejected_with_their_name(pair_dirs: tuple[Path, Path], mode: str, match: str) -> None:
    a_dir, b_dir = pair_dirs
    bad = b_dir / "04.png"
    if mode == "corrupt":
        bad.write_bytes(bad.read_bytes()[:60])
    elif mode == "RGBA":
        Image.new("RGBA", SIZE[::-1], (1, 2, 3, 4)).save(bad)
    else:
        Image.fromarray(np.full(SIZE, 1000, np.uint16)).save(bad)
    ds = PairedImageDataset(a_dir, b_dir, patch=16)
    with pytest.raises(ImageError, match=rf"04.png: .*{match}"):
        ds.load(4)


def test_images_smaller_than_the_patch_are_rejected(pair_dirs: tuple[Path, Path]) -> None:
    ds = PairedImageDataset(*pair_dirs, patch=48)
    with pytest.raises(ImageError, match="smaller than the 48x48 patch"):
        ds.sample_batch(2, torch.Generator().manual_seed(0))


def test_training_data_falls_back_to_synthetic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LZSC_DATA", raising=False)
    with pytest.warns(UserWarning, match="synthetic"):
        data = training_data("MSRS", patch=16)
    assert isinstance(data, SyntheticMCSC)
    assert data.sample_batch(2, torch.Generator().manual_seed(0))["a"].shape == (2, 1, 16, 16)
