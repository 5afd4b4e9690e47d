"""Bad inputs to ``lzsc fuse`` / ``lzsc evaluate`` and their library functions (issue 19, part B).

Each case: the exit code (or the exception), a message naming the problem without a traceback, and no
input or earlier output changed. A tiny FNet checkpoint stands in for the released weights; the cases
that need the released weights and a real test image skip without ``LZSC_DATA``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from catalogue import Snapshot, expect_failure, write_grey
from PIL import Image
from torch import nn

from lzsc.checkpoints import save_atomic
from lzsc.evaluation import evaluate
from lzsc.fusion import TILE_MARGIN, fuse, fuse_folder
from lzsc.io import read_gray, read_image, to_uint8
from lzsc.models import FNet, FNetConfig
from lzsc.unrolled import LZSCConfig

pytestmark = pytest.mark.usefixtures("one_thread")

CFG = FNetConfig(block=LZSCConfig(n_filters=4, kernel_size=3, n_iter=2))


def _small_net(seed: int = 0) -> FNet:
    torch.manual_seed(seed)
    return FNet(CFG).eval()


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny FNet checkpoint in lzsc's training format."""
    net = _small_net()
    meta = {"block": dataclasses.asdict(CFG.block), "block_kind": "lzsc"}
    return save_atomic(
        {"model": net.state_dict(), "fnet_config": meta}, tmp_path_factory.mktemp("ck") / "m.pt"
    )


@pytest.fixture
def fuse_cli(cli, ckpt):
    """``lzsc fuse ARGS... --checkpoint <tiny>``."""
    return lambda *argv: cli("fuse", *argv, "--checkpoint", ckpt)


@pytest.fixture
def data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``LZSC_DATA`` with a 3-pair TNO and a 2-pair MRI_CT of small random grey images."""
    root = tmp_path / "data"
    for dataset, (a_sub, b_sub), n in (("TNO", ("ir", "vi"), 3), ("MRI_CT", ("MRI", "CT"), 2)):
        for i in range(n):
            write_grey(root / "test" / dataset / a_sub / f"{i:02d}.png", (48, 56), seed=i)
            write_grey(root / "test" / dataset / b_sub / f"{i:02d}.png", (48, 56), seed=20 + i)
    monkeypatch.setenv("LZSC_DATA", str(root))
    return root


@pytest.fixture
def eval_cli(cli, ckpt, tmp_path):
    """``lzsc evaluate ARGS... --checkpoint <tiny> --cache <tmp>``."""
    return lambda *argv: cli("evaluate", *argv, "--checkpoint", ckpt, "--cache", tmp_path / "cache")


def fused_dir(root: Path, folder: Path, offset: int = 0, dataset: str = "TNO", a_sub: str = "ir") -> Path:
    """round((A + B) / 2) + offset for every pair of ``dataset``, written into ``folder``."""
    folder.mkdir(parents=True)
    b_sub = {"ir": "vi", "MRI": "CT"}[a_sub]
    for path in sorted((root / "test" / dataset / a_sub).iterdir()):
        a = np.asarray(Image.open(path), dtype=np.float64)
        b = np.asarray(Image.open(root / "test" / dataset / b_sub / path.name), dtype=np.float64)
        mean = np.clip((a + b) / 2 + offset, 0, 255).round().astype(np.uint8)
        Image.fromarray(mean).save(folder / path.name)
    return folder


def _csv_rows(path: Path) -> list[str]:
    return path.read_text().strip().splitlines()[1:]


# ---------------------------------------------------------------- fuse: never write over an input


@pytest.mark.parametrize("target", ["a", "b", "a/../a"])
def test_fuse_into_a_source_folder_is_refused(fuse_cli, pair_dirs, tmp_path, target):
    snap = Snapshot(tmp_path)
    outcome = fuse_cli(*pair_dirs, "-o", tmp_path / target)
    expect_failure(outcome, 2, "is a source folder", "would replace the sources")
    snap.unchanged()


@pytest.mark.parametrize("target", ["p0.png", "q0.png"])
def test_fuse_pair_onto_a_source_file_is_refused(fuse_cli, tmp_path, target):
    a, b = write_grey(tmp_path / "p0.png"), write_grey(tmp_path / "q0.png", seed=1)
    snap = Snapshot(tmp_path)
    expect_failure(fuse_cli(a, b, "-o", tmp_path / target), 2, "is one of the sources", "choose another")
    snap.unchanged()


# ---------------------------------------------------------------- fuse: folder mode keeps going


def test_one_pair_failing_in_the_model_is_reported_and_the_rest_fused(
    fuse_cli, pair_dirs, tmp_path, monkeypatch
):
    """Any exception of the model (here the RuntimeError of a too-small input) fails that pair only."""
    forward = FNet.forward

    def fragile(self, a, b, *args, **kwargs):
        if a.shape[-1] < 8:
            raise RuntimeError("input smaller than the kernel")
        return forward(self, a, b, *args, **kwargs)

    monkeypatch.setattr(FNet, "forward", fragile)
    write_grey(pair_dirs[0] / "p1.png", (4, 4))  # p1 becomes too small for this model
    write_grey(pair_dirs[1] / "p1.png", (4, 4), seed=5)
    snap = Snapshot(*pair_dirs)
    outcome = fuse_cli(*pair_dirs, "-o", tmp_path / "out")
    expect_failure(outcome, 1, "fused 2 pair(s), 1 failed", "FAILED p1.png: RuntimeError: input smaller")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["p0.png", "p2.png"]
    snap.unchanged()


def test_a_1x1_pair_in_a_folder_is_fused(fuse_cli, pair_dirs, tmp_path):
    write_grey(pair_dirs[0] / "tiny.png", (1, 1))
    write_grey(pair_dirs[1] / "tiny.png", (1, 1), seed=3)
    snap = Snapshot(*pair_dirs)
    outcome = fuse_cli(*pair_dirs, "-o", tmp_path / "out")
    assert outcome.code == 0, outcome.text
    assert "fused 4 pair(s), 0 failed" in outcome.out
    assert read_image(tmp_path / "out" / "tiny.png").shape == (1, 1)
    snap.unchanged()


@pytest.mark.parametrize("files", [{}, {"a/x.png": 0, "b/y.png": 1}], ids=["empty", "no-matching-names"])
def test_folders_without_pairs_are_an_error(fuse_cli, tmp_path, files):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for name, seed in files.items():
        write_grey(tmp_path / name, seed=seed)
    snap = Snapshot(tmp_path)
    outcome = fuse_cli(tmp_path / "a", tmp_path / "b", "-o", tmp_path / "out")
    expect_failure(outcome, 2, "no image pairs found in", str(tmp_path / "a"), str(tmp_path / "b"))
    if files:
        assert "no partner" in outcome.err
    snap.unchanged()


def test_fuse_folder_limit_must_be_positive(pair_dirs, tmp_path):
    snap = Snapshot(tmp_path)
    for limit in (0, -2):
        with pytest.raises(ValueError, match="limit must be a positive number of pairs"):
            fuse_folder(_small_net(), *pair_dirs, tmp_path / "out", limit=limit, progress=False)
    snap.unchanged()


# ---------------------------------------------------------------- fuse: messages, not tracebacks


def test_output_folder_that_cannot_be_created(fuse_cli, pair_dirs, tmp_path):
    blocker = write_grey(tmp_path / "file.png")
    snap = Snapshot(tmp_path)
    outcome = fuse_cli(*pair_dirs, "-o", blocker / "out")
    expect_failure(outcome, 2, "cannot write into the output folder", str(blocker / "out"))
    snap.unchanged()


def test_output_file_in_a_folder_that_cannot_be_created(fuse_cli, tmp_path):
    a, b = write_grey(tmp_path / "a.png"), write_grey(tmp_path / "b.png", seed=1)
    snap = Snapshot(tmp_path)
    expect_failure(fuse_cli(a, b, "-o", a / "f.png"), 2, "cannot write", str(a / "f.png"))
    snap.unchanged()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder(fuse_cli, pair_dirs, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    snap = Snapshot(tmp_path)
    expect_failure(fuse_cli(*pair_dirs, "-o", locked), 2, "cannot write into the output folder")
    expect_failure(fuse_cli(*(p / "p0.png" for p in pair_dirs), "-o", locked / "f.png"), 2, "cannot write")
    snap.unchanged()


def test_pair_output_naming_a_folder(fuse_cli, tmp_path):
    a, b = write_grey(tmp_path / "a.png"), write_grey(tmp_path / "b.png", seed=1)
    (tmp_path / "out").mkdir()
    snap = Snapshot(tmp_path)
    expect_failure(fuse_cli(a, b, "-o", tmp_path / "out"), 2, "is a folder", "fused.png")
    snap.unchanged()


def test_folder_output_naming_a_file(fuse_cli, pair_dirs, tmp_path):
    existing = write_grey(tmp_path / "existing.png", seed=7)
    snap = Snapshot(tmp_path)
    expect_failure(fuse_cli(*pair_dirs, "-o", existing), 2, "is an existing file", "name of a folder")
    snap.unchanged()


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_cuda(fuse_cli, tmp_path):
    a, b = write_grey(tmp_path / "a.png"), write_grey(tmp_path / "b.png", seed=1)
    snap = Snapshot(tmp_path)
    expect_failure(fuse_cli(a, b, "-o", tmp_path / "f.png", "--device", "cuda"), 2, "CUDA is not available")
    snap.unchanged()


@pytest.mark.parametrize("command", ["fuse", "evaluate"])
def test_missing_checkpoint(cli, tmp_path, data_root, command):
    a, b = write_grey(tmp_path / "a.png"), write_grey(tmp_path / "b.png", seed=1)
    snap = Snapshot(tmp_path)
    argv = (
        [a, b, "-o", tmp_path / "f.png"]
        if command == "fuse"
        else ["--dataset", "TNO", "--out", tmp_path / "r.csv"]
    )
    outcome = cli(command, *argv, "--checkpoint", tmp_path / "nope.pt")
    expect_failure(outcome, 2, "nope.pt does not exist")
    snap.unchanged()


# ---------------------------------------------------------------- fuse: thin images keep their shape


@pytest.mark.parametrize("shape", [(1, 50), (50, 1), (1, 1), (2, 3)])
def test_thin_images_keep_their_orientation(fuse_cli, tmp_path, shape):
    a, b = write_grey(tmp_path / "a.png", shape), write_grey(tmp_path / "b.png", shape, seed=1)
    outcome = fuse_cli(a, b, "-o", tmp_path / "f.png")
    assert outcome.code == 0, outcome.text
    assert read_image(tmp_path / "f.png").shape == shape


def test_thin_colour_image_keeps_its_orientation(fuse_cli, tmp_path):
    a = write_grey(tmp_path / "a.png", (1, 9))
    b = tmp_path / "b.png"
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (1, 9, 3), dtype=np.uint8)).save(b)
    outcome = fuse_cli(a, b, "-o", tmp_path / "f.png", "--color")
    assert outcome.code == 0, outcome.text
    assert read_image(tmp_path / "f.png").shape == (1, 9, 3)


def test_to_uint8_keeps_height_and_width():
    assert to_uint8(torch.zeros(1, 1, 1, 50)).shape == (1, 50)
    assert to_uint8(torch.zeros(1, 50, 1)).shape == (50, 1)
    assert to_uint8(torch.zeros(1, 1)).shape == (1, 1)
    with pytest.raises(ValueError, match="one image"):
        to_uint8(torch.zeros(2, 1, 4, 4))


# ---------------------------------------------------------------- fuse(): the library's contract


def _with_pixel(a: torch.Tensor, value: float) -> torch.Tensor:
    a[0, 0, 3, 5] = value
    return a


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda a: a * 255, "scale 8-bit images by 1/255"),
        (lambda a: a - 0.5, "must be in [0, 1]"),
        (lambda a: _with_pixel(a, float("nan")), "1 NaN or infinite"),
        (lambda a: _with_pixel(a, -float("inf")), "1 NaN or infinite"),
        (lambda a: a[0], "(N, 1, H, W)"),
        (lambda a: a.repeat(1, 3, 1, 1), "(N, 1, H, W)"),
        (lambda a: a[..., :0], "non-empty"),
        (lambda a: (a * 255).to(torch.uint8), "floating-point"),
        (lambda a: a.numpy(), "torch tensor"),
        (lambda a: a[..., :5], "differ in shape"),
    ],
    ids=["0..255", "negative", "nan", "inf", "3-d", "rgb", "empty", "uint8", "numpy", "shapes"],
)
def test_fuse_refuses_inputs_outside_its_contract(change, fragment):
    a, b = torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8)
    kept = a.clone()
    with pytest.raises(ValueError, match=re.escape(fragment)):
        fuse(_small_net(), change(a.clone()), b)
    assert torch.equal(a, kept)


def test_fuse_files_and_fuse_folder_reach_the_checks(tmp_path):
    """Files are always in [0, 1]: the check passes on every real image, the 0/255 extremes included."""
    a = write_grey(tmp_path / "a.png")
    Image.fromarray(np.full((24, 32), 255, np.uint8)).save(tmp_path / "b.png")
    fused = fuse(_small_net(), read_gray(a), read_gray(tmp_path / "b.png"))
    assert torch.isfinite(fused).all()


# ---------------------------------------------------------------- memory: tiles


class Mean(nn.Module):
    """A stand-in model that records the size of every piece it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[tuple[int, int]] = []

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        self.sizes.append(tuple(a.shape[-2:]))
        return (a + b) / 2


def test_a_large_image_is_fused_in_pieces_of_bounded_size():
    model = Mean()
    a, b = torch.rand(1, 1, 2500, 2100), torch.rand(1, 1, 2500, 2100)
    out = fuse(model, a, b)
    assert max(h * w for h, w in model.sizes) <= 1024 * 1024
    assert torch.equal(out, (a + b) / 2)  # every pixel written exactly once, by its own tile
    with pytest.raises(ValueError, match="larger than twice the margin"):
        fuse(model, a, b, tile=2 * TILE_MARGIN)


def test_tiled_fusion_matches_whole_image_fusion_small_model():
    net = _small_net()
    gen = torch.Generator().manual_seed(0)
    a, b = torch.rand(1, 1, 150, 190, generator=gen), torch.rand(1, 1, 150, 190, generator=gen)
    whole = to_uint8(fuse(net, a, b, tile=None)).astype(int)
    tiled = to_uint8(fuse(net, a, b, tile=96)).astype(int)
    assert np.abs(whole - tiled).max() <= 1


def test_tiled_fusion_matches_whole_image_fusion_released_weights(lzsc_data, official_fnet):
    """TNO 01 (192 x 256 crop) in 12 tiles of at most 128 x 128: within 1 grey level, on < 0.1% of pixels."""
    from lzsc.datasets import dataset_dirs

    a_dir, b_dir, _ = dataset_dirs("TNO", root=lzsc_data)
    a, b = (read_gray(d / "01.png")[..., :192, :256] for d in (a_dir, b_dir))
    whole = to_uint8(fuse(official_fnet, a, b, tile=None)).astype(int)
    tiled = to_uint8(fuse(official_fnet, a, b, tile=128)).astype(int)
    assert np.abs(whole - tiled).max() <= 1
    assert (whole != tiled).mean() < 1e-3


def test_tile_option(fuse_cli, tmp_path):
    a, b = write_grey(tmp_path / "a.png", (150, 200)), write_grey(tmp_path / "b.png", (150, 200), seed=1)
    assert fuse_cli(a, b, "-o", tmp_path / "whole.png").code == 0
    assert fuse_cli(a, b, "-o", tmp_path / "tiled.png", "--tile", "128").code == 0
    diff = read_image(tmp_path / "whole.png").astype(int) - read_image(tmp_path / "tiled.png").astype(int)
    assert np.abs(diff).max() <= 1
    snap = Snapshot(tmp_path)
    expect_failure(fuse_cli(a, b, "-o", tmp_path / "f.png", "--tile", "10"), 2, "--tile", "at least 128")
    snap.unchanged()


# ---------------------------------------------------------------- evaluate: rows keyed by what made them


def test_two_fused_folders_with_one_base_name_get_their_own_numbers(eval_cli, data_root, tmp_path):
    first = fused_dir(data_root, tmp_path / "x" / "fused")
    second = fused_dir(data_root, tmp_path / "y" / "fused", offset=40)
    out = tmp_path / "r.csv"
    assert eval_cli("--dataset", "TNO", "--fused", first, "--out", out).code == 0
    reused = eval_cli("--dataset", "TNO", "--fused", second, "--out", out)
    fresh = eval_cli("--dataset", "TNO", "--fused", second, "--out", tmp_path / "fresh.csv")
    assert reused.code == fresh.code == 0
    table = [line for line in reused.out.splitlines() if line.startswith(("EN ", "SD "))]
    assert table == [line for line in fresh.out.splitlines() if line.startswith(("EN ", "SD "))]
    assert len({row.split(",")[4] for row in _csv_rows(out)}) == 2  # two keys, 6 rows
    assert len(_csv_rows(out)) == 6


def test_a_changed_fused_image_is_measured_again(data_root, tmp_path):
    folder = fused_dir(data_root, tmp_path / "fused")
    out = tmp_path / "r.csv"
    before = evaluate("TNO", fused_dir=folder, out_csv=out, progress=False)
    write_grey(folder / "01.png", (48, 56), seed=99)
    after = evaluate("TNO", fused_dir=folder, out_csv=out, progress=False)
    assert before.model != after.model
    assert before.rows[1]["EN"] != after.rows[1]["EN"]


def test_two_checkpoints_get_their_own_rows(cli, data_root, tmp_path):
    meta = {"block": dataclasses.asdict(CFG.block), "block_kind": "lzsc"}
    paths = [
        save_atomic({"model": _small_net(seed).state_dict(), "fnet_config": meta}, tmp_path / f"m{seed}.pt")
        for seed in (0, 1)
    ]
    out = tmp_path / "r.csv"
    for path in paths:
        argv = [
            "--dataset",
            "TNO",
            "--checkpoint",
            path,
            "--out",
            out,
            "--cache",
            tmp_path / "c",
            "--limit",
            "1",
        ]
        assert cli("evaluate", *argv).code == 0
    assert len({row.split(",")[4] for row in _csv_rows(out)}) == 2


# ---------------------------------------------------------------- evaluate: --limit


@pytest.mark.parametrize("limit", ["-40", "0", "two"])
def test_evaluate_limit_must_be_positive(eval_cli, data_root, tmp_path, limit):
    snap = Snapshot(tmp_path)
    outcome = eval_cli("--dataset", "TNO", "--limit", limit, "--out", tmp_path / "r.csv")
    expect_failure(outcome, 2, "--limit", limit)
    assert "first -40" not in outcome.text
    snap.unchanged()


def test_evaluate_function_limit_must_be_positive(data_root, tmp_path):
    folder = fused_dir(data_root, tmp_path / "fused")
    snap = Snapshot(tmp_path)
    for limit in (-1, 0):
        with pytest.raises(ValueError, match="limit must be a positive number of pairs"):
            evaluate("TNO", fused_dir=folder, out_csv=tmp_path / "r.csv", limit=limit, progress=False)
    snap.unchanged()


# ---------------------------------------------------------------- evaluate: never destroy a file


def test_out_that_is_not_ours_is_refused_unless_forced(eval_cli, data_root, tmp_path):
    foreign = tmp_path / "mine.csv"
    foreign.write_text("city,population\nParis,2100000\n")
    snap = Snapshot(tmp_path)
    expect_failure(
        eval_cli("--dataset", "TNO", "--out", foreign, "--limit", "1"),
        2,
        "not a CSV of evaluation rows",
        "--force",
    )
    snap.unchanged()
    assert eval_cli("--dataset", "TNO", "--out", foreign, "--limit", "1", "--force").code == 0
    assert foreign.read_text().startswith("dataset,name,protocol,readers,model,")


def test_evaluate_function_refuses_a_foreign_csv(data_root, tmp_path):
    folder = fused_dir(data_root, tmp_path / "fused")
    foreign = tmp_path / "notes.csv"
    foreign.write_text("a,b\n1,2\n")
    snap = Snapshot(tmp_path)
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        evaluate("TNO", fused_dir=folder, out_csv=foreign, progress=False)
    snap.unchanged()


def test_summary_that_is_not_ours_is_refused(eval_cli, data_root, tmp_path):
    (tmp_path / "r.json").write_text('{"my": "notes"}')
    snap = Snapshot(tmp_path)
    outcome = eval_cli("--dataset", "TNO", "--out", tmp_path / "r.csv", "--limit", "1")
    expect_failure(outcome, 2, "r.json exists and is not an evaluation summary", "--force")
    snap.unchanged()


@pytest.mark.parametrize("name", ["r.json", "r", "r.txt"])
def test_out_must_name_the_csv(eval_cli, data_root, tmp_path, name):
    write_grey(tmp_path / "keep.png")
    (tmp_path / "r.json").write_text("{}")
    snap = Snapshot(tmp_path)
    expect_failure(eval_cli("--dataset", "TNO", "--out", tmp_path / name), 2, "ending in .csv", ".json")
    snap.unchanged()


def test_limited_run_keeps_the_complete_rows_and_summary(eval_cli, data_root, tmp_path):
    out = tmp_path / "r.csv"
    assert eval_cli("--dataset", "TNO", "--out", out).code == 0
    assert eval_cli("--dataset", "MRI_CT", "--out", out).code == 0
    complete_rows = sorted(_csv_rows(out))
    summary = json.loads(out.with_suffix(".json").read_text())["datasets"]
    outcome = eval_cli("--dataset", "TNO", "--out", out, "--limit", "2")
    assert outcome.code == 0, outcome.text
    assert "first 2 pairs only" in outcome.out
    assert "kept the summary of the complete TNO run" in outcome.out
    assert sorted(_csv_rows(out)) == complete_rows  # same 5 rows: none dropped, none duplicated
    after = json.loads(out.with_suffix(".json").read_text())["datasets"]
    assert after == summary
    assert (after["TNO"]["pairs"], after["TNO"]["complete"], after["MRI_CT"]["pairs"]) == (3, True, 2)


def test_default_outputs_go_under_runs(eval_cli, data_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    outcome = eval_cli("--dataset", "TNO", "--limit", "1")
    assert outcome.code == 0, outcome.text
    assert (tmp_path / "runs" / "eval" / "eval_m_default.csv").is_file()
    assert (tmp_path / "runs" / "eval" / "eval_m_default.json").is_file()
    assert not (tmp_path / "results").exists()


def test_out_in_a_folder_that_cannot_be_created(eval_cli, data_root, tmp_path):
    blocker = write_grey(tmp_path / "file.png")
    snap = Snapshot(tmp_path)
    outcome = eval_cli("--dataset", "TNO", "--out", blocker / "r.csv", "--limit", "1")
    expect_failure(outcome, 2, "output folder", str(blocker), "is an existing file")
    snap.unchanged()


# ---------------------------------------------------------------- evaluate: bad fused images


@pytest.mark.parametrize("damage", ["size", "corrupt"])
def test_bad_fused_image_is_named(eval_cli, data_root, tmp_path, damage):
    folder = fused_dir(data_root, tmp_path / "fused")
    if damage == "size":
        write_grey(folder / "01.png", (10, 12))
    else:
        (folder / "01.png").write_bytes(b"\x89PNG not really")
    out = tmp_path / "r.csv"
    assert eval_cli("--dataset", "MRI_CT", "--out", out).code == 0  # an earlier result in the same file
    snap = Snapshot(tmp_path)
    outcome = eval_cli("--dataset", "TNO", "--fused", folder, "--out", out)
    expect_failure(outcome, 2, str(folder / "01.png"), "is 12x10 but" if damage == "size" else "corrupt")
    snap.unchanged()
