"""data_prep scripts end to end on a temporary folder: outputs, manifest, checksums, reported problems."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image

from lzsc.data import check_manifest, to_luma
from lzsc.io import read_image, rgb_to_gray_u8

ROOT = Path(__file__).resolve().parents[1]


def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "data_prep" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def prepare() -> ModuleType:
    return load_script("prepare_pairs")


@pytest.fixture(scope="module")
def check() -> ModuleType:
    return load_script("check_manifest")


def make_source(root: Path, names: list[str], seed: int = 0) -> None:
    """RGB infrared and RGB visible images, roadscene-style .jpg names saved losslessly as PNG data."""
    rng = np.random.default_rng(seed)
    for sub in ("cropinfrared", "crop_HR_visible"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for name in names:
        for sub in ("cropinfrared", "crop_HR_visible"):
            rgb = rng.integers(0, 256, size=(20, 24, 3), dtype=np.uint8)
            Image.fromarray(rgb).save(root / sub / name, format="PNG")


def test_prepare_and_check_end_to_end(
    tmp_path: Path, prepare: ModuleType, check: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    src, out = tmp_path / "RoadScene", tmp_path / "out"
    make_source(src, ["p1.jpg", "p2.jpg", "p3.jpg", "bad.jpg"])
    bad = src / "crop_HR_visible" / "bad.jpg"
    bad.write_bytes(bad.read_bytes()[:50])
    Image.fromarray(np.zeros((20, 24), np.uint8)).save(src / "cropinfrared" / "lonely.png")

    status = prepare.main(["--src", str(src), "--layout", "roadscene", "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert status == 1
    assert "bad.jpg: unreadable or corrupt" in err
    assert "lonely.png: no file named" in err

    with open(out / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["name"] for r in rows] == ["p1.png", "p2.png", "p3.png"]
    assert rows[0]["width"] == "24"
    assert rows[0]["height"] == "20"
    source_a = read_image(src / "cropinfrared" / "p1.jpg")
    source_b = read_image(src / "crop_HR_visible" / "p1.jpg")
    assert np.array_equal(read_image(out / "ir" / "p1.png"), rgb_to_gray_u8(source_a))
    assert np.array_equal(read_image(out / "vi" / "p1.png"), to_luma(source_b))

    assert check_manifest(out, sources=True, progress=False) == []
    assert check.main([str(out), "--no-progress"]) == 0

    written = out / "vi" / "p2.png"
    written.write_bytes(written.read_bytes()[:60])
    Image.fromarray(np.zeros((20, 24), np.uint8)).save(out / "ir" / "stale.png")
    problems = check_manifest(out, progress=False)
    assert any("p2.png: checksum differs" in p for p in problems)
    assert any("p2.png: unreadable or corrupt" in p for p in problems)
    assert any("stale.png: image not listed" in p for p in problems)
    assert check.main([str(out), "--no-progress"]) == 1
    assert "p2.png: checksum differs" in capsys.readouterr().err


def test_prepare_excludes_the_test_pairs(tmp_path: Path, prepare: ModuleType) -> None:
    src, out, data = tmp_path / "src", tmp_path / "out", tmp_path / "data"
    make_source(src, ["a.jpg", "b.jpg", "c.jpg"])
    make_source(data / "test" / "RoadScene", ["b.jpg"], seed=1)
    for sub, new in (("cropinfrared", "ir"), ("crop_HR_visible", "vi")):
        (data / "test" / "RoadScene" / sub).rename(data / "test" / "RoadScene" / new)
    argv = ["--a-dir", str(src / "cropinfrared"), "--b-dir", str(src / "crop_HR_visible"), "--out", str(out)]
    argv += ["--layout", "roadscene", "--exclude-test", str(data), "--no-progress"]
    assert prepare.main(argv) == 0
    assert sorted(p.name for p in (out / "ir").iterdir()) == ["a.png", "c.png"]
    assert sorted(p.name for p in (out / "vi").iterdir()) == ["a.png", "c.png"]


def make_ir_vi(root: Path, names: list[str], seed: int = 0) -> None:
    """A set in the data root's layout: ``root/ir`` and ``root/vi``."""
    make_source(root, names, seed)
    for sub, new in (("cropinfrared", "ir"), ("crop_HR_visible", "vi")):
        (root / sub).rename(root / new)


@pytest.mark.parametrize(
    ("source", "kept"),
    [
        ("FLIR", ["a.png", "b.png", "c.png"]),  # test/FLIR shares file names, not images: keep all
        ("RoadScene", ["a.png", "c.png"]),  # train/RoadScene holds test/RoadScene's pairs: drop b
    ],
)
def test_exclude_test_drops_only_a_test_set_the_source_holds(
    tmp_path: Path, prepare: ModuleType, capsys: pytest.CaptureFixture[str], source: str, kept: list[str]
) -> None:
    src, out, data = tmp_path / "src" / source, tmp_path / "out", tmp_path / "data"
    make_ir_vi(src, ["a.jpg", "b.jpg", "c.jpg"])
    make_ir_vi(data / "test" / source, ["b.jpg"], seed=1)
    argv = ["--src", str(src), "--layout", "msrs", "--out", str(out), "--exclude-test", str(data)]
    assert prepare.main([*argv, "--no-progress"]) == 0
    assert sorted(p.name for p in (out / "ir").iterdir()) == kept
    assert sorted(p.name for p in (out / "vi").iterdir()) == kept
    if source == "FLIR":
        assert "FLIR holds no test set's pairs" in capsys.readouterr().out


def test_check_manifest_without_manifest(tmp_path: Path, check: ModuleType) -> None:
    assert check.main([str(tmp_path)]) == 2
