"""``lzsc fuse``: pairs, folders, colour mode, and a clear message for every kind of bad input."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from lzsc.checkpoints import save_atomic
from lzsc.cli import main
from lzsc.datasets import dataset_dirs
from lzsc.io import read_image, rgb_to_ycbcr_matlab
from lzsc.models import FNet, FNetConfig
from lzsc.unrolled import LZSCConfig


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    cfg = FNetConfig(block=LZSCConfig(n_filters=4, kernel_size=3, n_iter=2))
    net = FNet(cfg)
    meta = {"block": dataclasses.asdict(cfg.block), "block_kind": "lzsc"}
    return save_atomic(
        {"model": net.state_dict(), "ema": net.state_dict(), "fnet_config": meta},
        tmp_path_factory.mktemp("ck") / "small.pt",
    )


def _img(path, shape, mode="L", seed=0, low=0, high=256):
    rng = np.random.default_rng(seed)
    arr = rng.integers(low, high, size=shape, dtype=np.uint8)
    Image.fromarray(arr).convert(mode).save(path)
    return path


def test_pair(tmp_path, ckpt):
    a, b = _img(tmp_path / "a.png", (20, 24)), _img(tmp_path / "b.png", (20, 24, 3), "RGB", 1)
    assert main(["fuse", str(a), str(b), "-o", str(tmp_path / "f.png"), "--checkpoint", str(ckpt)]) == 0
    out = read_image(tmp_path / "f.png")
    assert out.shape == (20, 24)
    assert out.dtype == np.uint8


def test_color_keeps_chroma(tmp_path, ckpt):
    a = _img(tmp_path / "a.png", (16, 16), low=80, high=170)
    b = _img(tmp_path / "b.png", (16, 16, 3), "RGB", 1, low=80, high=170)
    out_path = tmp_path / "f.png"
    assert main(["fuse", str(a), str(b), "-o", str(out_path), "--checkpoint", str(ckpt), "--color"]) == 0
    out = read_image(out_path)
    assert out.shape == (16, 16, 3)
    # chroma survives up to the rounding of two conversions
    cb_cr_in = rgb_to_ycbcr_matlab(read_image(b))[..., 1:].astype(int)
    cb_cr_out = rgb_to_ycbcr_matlab(out)[..., 1:].astype(int)
    unclipped = (out > 3).all(-1) & (out < 252).all(-1)
    assert np.abs(cb_cr_in - cb_cr_out)[unclipped].max() <= 2


def test_folder_mode_reports_each_bad_pair_and_fuses_the_rest(tmp_path, ckpt, capsys):
    a_dir, b_dir = tmp_path / "A", tmp_path / "B"
    a_dir.mkdir()
    b_dir.mkdir()
    for name in ("good1.png", "good2.png"):
        _img(a_dir / name, (12, 12))
        _img(b_dir / name, (12, 12, 3), "RGB")
    _img(a_dir / "size.png", (12, 12))
    _img(b_dir / "size.png", (12, 14))
    _img(a_dir / "corrupt.png", (12, 12))
    (b_dir / "corrupt.png").write_bytes(b"\x89PNG garbage")
    _img(a_dir / "alpha.png", (12, 12))
    _img(b_dir / "alpha.png", (12, 12, 4), "RGBA")
    _img(a_dir / "deep.png", (12, 12))
    Image.fromarray(np.full((12, 12), 40000, dtype=np.uint16)).save(b_dir / "deep.png")
    _img(a_dir / "pal.png", (12, 12))
    _img(b_dir / "pal.png", (12, 12, 3), "RGB")
    Image.open(b_dir / "pal.png").convert("P").save(b_dir / "pal.png")
    _img(a_dir / "lonely.png", (12, 12))
    out = tmp_path / "out"
    rc = main(["fuse", str(a_dir), str(b_dir), "-o", str(out), "--checkpoint", str(ckpt)])
    text = capsys.readouterr().out
    assert rc == 1
    assert sorted(p.name for p in out.iterdir()) == ["good1.png", "good2.png"]
    assert "fused 2 pair(s), 6 failed" in text
    assert "size mismatch" in text
    assert "unreadable or corrupt" in text
    assert "alpha channel" in text
    assert "16-bit" in text
    assert "palette" in text
    assert "no file named lonely.png" in text


def test_keep_ext_writes_jpeg_like_the_release(tmp_path, ckpt):
    a_dir, b_dir = tmp_path / "A", tmp_path / "B"
    a_dir.mkdir()
    b_dir.mkdir()
    _img(a_dir / "x.jpg", (16, 16))
    _img(b_dir / "x.jpg", (16, 16))
    out = tmp_path / "out"
    assert (
        main(["fuse", str(a_dir), str(b_dir), "-o", str(out), "--checkpoint", str(ckpt), "--keep-ext"]) == 0
    )
    assert Image.open(out / "x.jpg").format == "JPEG"


def test_missing_data_root_gives_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("LZSC_DATA", raising=False)
    a = _img(tmp_path / "a.png", (8, 8))
    assert main(["fuse", str(a), str(a), "-o", str(tmp_path / "f.png")]) == 2
    assert "LZSC_DATA is not set" in capsys.readouterr().err


def test_bad_checkpoint(tmp_path, capsys):
    a = _img(tmp_path / "a.png", (8, 8))
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"nope")
    assert main(["fuse", str(a), str(a), "-o", str(tmp_path / "f.png"), "--checkpoint", str(bad)]) == 2
    assert "not a readable PyTorch checkpoint" in capsys.readouterr().err


def test_backend_option_reaches_the_model(tmp_path, ckpt, monkeypatch):
    chosen = []
    set_backend = FNet.set_backend

    def spy(self, backend="auto", **options):
        chosen.append(backend)
        return set_backend(self, backend, **options)

    monkeypatch.setattr(FNet, "set_backend", spy)
    a, b = _img(tmp_path / "a.png", (12, 12)), _img(tmp_path / "b.png", (12, 12), seed=1)
    argv = ["fuse", str(a), str(b), "-o", str(tmp_path / "f.png"), "--checkpoint", str(ckpt)]
    assert main([*argv, "--backend", "reference"]) == 0
    assert chosen == ["reference"]
    assert read_image(tmp_path / "f.png").shape == (12, 12)


def test_bad_device_names_the_flag(tmp_path, ckpt, capsys):
    a = _img(tmp_path / "a.png", (8, 8))
    argv = ["fuse", str(a), str(a), "-o", str(tmp_path / "f.png"), "--checkpoint", str(ckpt)]
    assert main([*argv, "--device", "cdua"]) == 2
    assert capsys.readouterr().err.startswith("error: --device cdua: not a torch device")
    if not torch.cuda.is_available():
        assert main([*argv, "--device", "cuda"]) == 2
        assert "error: --device cuda: CUDA is not available" in capsys.readouterr().err


def test_a_file_and_a_folder_is_an_error(tmp_path, capsys):
    a = _img(tmp_path / "a.png", (8, 8))
    assert main(["fuse", str(a), str(tmp_path), "-o", str(tmp_path / "f.png")]) == 2
    assert "give two files or two folders" in capsys.readouterr().err


def test_released_weights_on_a_small_real_pair(tmp_path, lzsc_data, official_path):
    """The released weights through the CLI on a 64x64 crop of a medical pair, colour mode."""
    a_dir, b_dir, _ = dataset_dirs("MRI_SPECT", root=lzsc_data)
    a = tmp_path / "a.png"
    b = tmp_path / "b.png"
    Image.open(a_dir / "11.png").crop((96, 96, 160, 160)).save(a)
    Image.open(b_dir / "11.png").crop((96, 96, 160, 160)).save(b)
    assert main(["fuse", str(a), str(b), "-o", str(tmp_path / "f.png"), "--color"]) == 0
    out = read_image(tmp_path / "f.png")
    assert out.shape == (64, 64, 3)
    assert 0 < out.mean() < 255
