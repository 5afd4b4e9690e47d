"""``lzsc.evaluation`` and ``lzsc evaluate``: caching, resuming, tables next to the paper."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from PIL import Image

import lzsc.evaluation as ev
from lzsc.checkpoints import save_atomic
from lzsc.cli import main
from lzsc.metrics import METRIC_NAMES
from lzsc.models import FNet, FNetConfig
from lzsc.unrolled import LZSCConfig

CFG = FNetConfig(block=LZSCConfig(n_filters=4, kernel_size=3, n_iter=2))


@pytest.fixture
def fake_root(tmp_path, monkeypatch):
    """A data root with a 3-pair TNO-like test set of small random images."""
    rng = np.random.default_rng(0)
    for sub in ("ir", "vi"):
        folder = tmp_path / "data" / "test" / "TNO" / sub
        folder.mkdir(parents=True)
        for i in range(3):
            img = rng.integers(0, 256, (48, 56), dtype=np.uint8)
            Image.fromarray(img).save(folder / f"{i:02d}.png")
    monkeypatch.setenv("LZSC_DATA", str(tmp_path / "data"))
    return tmp_path / "data"


@pytest.fixture
def small_model():
    torch.manual_seed(0)
    return FNet(CFG).eval()


def mean_fused(root, folder, dataset="TNO", a_sub="ir", b_sub="vi"):
    """Write round((A + B) / 2) of every pair of ``dataset`` under ``root`` into ``folder``."""
    folder.mkdir(parents=True)
    for path in sorted((root / "test" / dataset / a_sub).iterdir()):
        a = np.asarray(Image.open(path), dtype=np.float64)
        b = np.asarray(Image.open(root / "test" / dataset / b_sub / path.name).convert("L"), dtype=np.float64)
        Image.fromarray(((a + b) / 2).round().astype(np.uint8)).save(folder / f"{path.stem}.png")
    return folder


def test_evaluate_caches_fused_images_and_resumes(fake_root, small_model, tmp_path, monkeypatch):
    out = tmp_path / "rows.csv"
    cache = tmp_path / "cache"
    first = ev.evaluate("TNO", small_model, out_csv=out, cache_dir=cache, progress=False)
    assert len(first.rows) == 3
    assert all(np.isfinite(first.rows[0][m]) for m in METRIC_NAMES)
    fused = sorted((cache / ev.model_hash(small_model) / "default-standard" / "TNO").iterdir())
    assert [p.name for p in fused] == ["00.png", "01.png", "02.png"]

    def boom(*args, **kwargs):
        raise AssertionError("recomputed")

    # rows already in the CSV are reused: neither fusion nor metrics run again
    monkeypatch.setattr(ev, "fuse_files", boom)
    monkeypatch.setattr(ev, "compute_all", boom)
    again = ev.evaluate("TNO", small_model, out_csv=out, cache_dir=cache, progress=False)
    assert again.means() == pytest.approx(first.means(), abs=1e-6)


def test_interrupted_run_restarts_without_refusing(fake_root, small_model, tmp_path, monkeypatch):
    out = tmp_path / "rows.csv"
    ev.evaluate("TNO", small_model, out_csv=out, cache_dir=tmp_path / "c", limit=2, progress=False)
    with open(out, "a") as fh:
        fh.write("TNO,02.png,default,abc,1.0,2.")  # a row cut short by a crash
    calls = []
    real = ev.compute_all
    monkeypatch.setattr(ev, "compute_all", lambda *a, **k: calls.append(1) or real(*a, **k))
    result = ev.evaluate("TNO", small_model, out_csv=out, cache_dir=tmp_path / "c", progress=False)
    assert len(calls) == 1
    assert [r["name"] for r in result.rows] == ["00.png", "01.png", "02.png"]
    assert len(out.read_text().strip().splitlines()) == 4


def test_fused_folder_and_table(fake_root, tmp_path):
    fused = mean_fused(fake_root, tmp_path / "fused")
    result = ev.evaluate("TNO", fused_dir=fused, protocol="paper", progress=False)
    text = str(result)
    assert "protocol 'paper'" in text
    assert "JPEG outputs for RoadScene" in text
    assert "A = infrared" in text
    assert all(m in text for m in METRIC_NAMES)
    assert "<table>" in result._repr_html_()


def test_fused_dir_holds_the_images_or_one_folder_per_dataset(fake_root, tmp_path):
    direct = ev.evaluate("TNO", fused_dir=mean_fused(fake_root, tmp_path / "mine"), progress=False)
    per_set = ev.evaluate(
        "TNO", fused_dir=mean_fused(fake_root, tmp_path / "all" / "TNO").parent, progress=False
    )
    assert len(direct.rows) == len(per_set.rows) == 3
    assert direct.means() == pytest.approx(per_set.means())
    # keyed by the folder's name and the hash of the images' contents (the same images here)
    assert direct.model.startswith("fused:mine:")
    assert per_set.model.startswith("fused:TNO:")
    assert direct.model.rsplit(":", 1)[1] == per_set.model.rsplit(":", 1)[1]


def test_missing_fused_images_name_the_folder_once(fake_root, tmp_path):
    fused = mean_fused(fake_root, tmp_path / "out" / "TNO")
    (fused / "01.png").unlink()
    for given in (fused, fused.parent):
        with pytest.raises(FileNotFoundError) as err:
            ev.evaluate("TNO", fused_dir=given, progress=False)
        message = str(err.value)
        assert message.startswith(f"no fused image for 01.png in {fused} (looked for 01 with suffix .png/")
        assert "TNO/TNO" not in message
        assert "a folder holding TNO/" in message
    with pytest.raises(FileNotFoundError, match=r"folder of fused images .*nowhere does not exist"):
        ev.evaluate("TNO", fused_dir=tmp_path / "nowhere", progress=False)


def test_paper_protocol_fuses_colour_sets_in_colour_and_keeps_jpeg_names(tmp_path, monkeypatch, small_model):
    from lzsc.datasets import REGISTRY, DataSet
    from lzsc.plotting.reproduction import fused_path

    rng = np.random.default_rng(1)
    root = tmp_path / "data"
    for sub, shape in (("ir", (48, 52)), ("rgb", (48, 52, 3))):
        (root / "test" / "Extra" / sub).mkdir(parents=True)
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(
            root / "test" / "Extra" / sub / "p.jpg"
        )
    REGISTRY.register(DataSet("Extra", "test", "ir", "rgb", color=True))
    try:
        calls = []
        real = ev.fuse_files
        monkeypatch.setattr(ev, "fuse_files", lambda *a, **k: calls.append(k["color"]) or real(*a, **k))
        cache = tmp_path / "cache"
        results = {
            p: ev.evaluate("Extra", small_model, p, cache_dir=cache, root=root, progress=False)
            for p in ("default", "paper")
        }
    finally:
        REGISTRY.unregister("Extra")
    assert calls == [False, True]
    tag = ev.model_hash(small_model)
    assert [p.name for p in (cache / tag / "paper-release" / "Extra").iterdir()] == ["p.jpg"]
    assert Image.open(cache / tag / "paper-release" / "Extra" / "p.jpg").mode == "RGB"
    assert [p.name for p in (cache / tag / "default-standard" / "Extra").iterdir()] == ["p.png"]
    assert fused_path(results["paper"], "p.jpg", cache) == cache / tag / "paper-release" / "Extra" / "p.jpg"
    assert (
        fused_path(results["default"], "p.jpg", cache) == cache / tag / "default-standard" / "Extra" / "p.png"
    )


def test_bad_arguments(fake_root, small_model, tmp_path):
    with pytest.raises(ValueError, match="either a model"):
        ev.evaluate("TNO", small_model, fused_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown protocol"):
        ev.evaluate("TNO", small_model, protocol="best")
    with pytest.raises(FileNotFoundError, match="no fused image"):
        ev.evaluate("TNO", fused_dir=tmp_path, progress=False)


def test_cli(fake_root, small_model, tmp_path, capsys):
    meta = {"block": dataclasses.asdict(CFG.block), "block_kind": "lzsc"}
    ckpt = save_atomic({"model": small_model.state_dict(), "fnet_config": meta}, tmp_path / "m.pt")
    out = tmp_path / "r.csv"
    args = ["evaluate", "--dataset", "TNO", "--checkpoint", str(ckpt), "--out", str(out), "--limit", "2"]
    assert main([*args, "--cache", str(tmp_path / "cache")]) == 0
    printed = capsys.readouterr().out
    assert "TNO: 2 pairs" in printed
    assert "first 2 pairs only" in printed
    info = json.loads(out.with_suffix(".json").read_text())
    assert info["command"].startswith("lzsc ")
    assert info["datasets"]["TNO"]["pairs"] == 2


def test_paper_values_are_shown_when_the_reference_is_present(lzsc_data):
    from lzsc.reference import best_competitor, paper_value, reference_root

    if reference_root() is None:
        pytest.skip("reference tables not found beside LZSC_DATA")
    assert paper_value("TNO", "MI") == pytest.approx(2.57)
    name, value = best_competitor("TNO", "CE")
    assert value == min(v for v in [2.20, 2.14, 3.04, 2.50, 2.63, 2.63, 2.99, 3.29, 5.92, 2.23, 3.23, 3.08])
    assert name.startswith("SwinFusion")


class TestLoadResults:
    @staticmethod
    def rows(dataset: str, model: str, n: int) -> list[dict]:
        base = {"dataset": dataset, "protocol": "default", "readers": "standard/standard", "model": model}
        return [{**base, "name": f"{i}.png", **dict.fromkeys(METRIC_NAMES, float(i))} for i in range(n)]

    def test_round_trip_and_means(self, tmp_path):
        path = ev.write_rows(tmp_path / "e.csv", self.rows("TNO40", "abc", 3) + self.rows("FLIR", "abc", 2))
        results = ev.load_results(path, "csc-ivfn")
        assert sorted(results) == ["FLIR", "TNO40"]
        assert results["TNO40"].means()["MI"] == 1.0
        assert results["TNO40"].method == "csc-ivfn"

    def test_partial_run_says_so(self, tmp_path, monkeypatch):
        monkeypatch.delenv("LZSC_DATA", raising=False)  # the set's size is then unknown
        path = ev.write_rows(tmp_path / "e.csv", self.rows("TNO40", "abc", 3))
        result = ev.load_results(path)["TNO40"]
        assert result.scale.startswith("3 of an unknown")
        assert not result.complete
        run = {"model": "abc", "protocol": "default", "method": "csc-ivfn"}
        path.with_suffix(".json").write_text(json.dumps({"datasets": {"TNO40": {**run, "complete": True}}}))
        assert ev.load_results(path)["TNO40"].complete
        assert ev.load_results(path)["TNO40"].method == "csc-ivfn"  # recorded in the summary
        with pytest.raises(ValueError, match="made by 'csc-ivfn', not 'fnet'"):
            ev.load_results(path, "fnet")
        other = {**run, "model": "zzz"}  # the summary of another run says nothing of these rows
        path.with_suffix(".json").write_text(json.dumps({"datasets": {"TNO40": {**other, "complete": True}}}))
        assert not ev.load_results(path)["TNO40"].complete

    def test_several_runs_need_a_model(self, tmp_path):
        path = ev.write_rows(tmp_path / "e.csv", self.rows("TNO40", "abc", 2) + self.rows("TNO40", "def", 2))
        with pytest.raises(ValueError, match="several runs of TNO40"):
            ev.load_results(path)
        assert ev.load_results(path, model="def")["TNO40"].model == "def"
        assert ev.load_results(path, model="def", protocol="default")["TNO40"].model == "def"

    def test_missing_file(self, tmp_path):
        with pytest.raises(FileNotFoundError, match="lzsc evaluate --out"):
            ev.load_results(tmp_path / "none.csv")
