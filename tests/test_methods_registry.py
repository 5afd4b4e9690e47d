"""The method registry (``lzsc.methods.registry``), its scenes, its CLI and the papers' tables per method."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from lzsc import reference
from lzsc.baselines import MeanFusion
from lzsc.cli import main
from lzsc.evaluation import EvalResult, model_hash
from lzsc.fusion import fuse, fuse_files
from lzsc.io import to_uint8
from lzsc.methods.csc_ivfn import CSCIVFN, CSCIVFNConfig, CSCIVFNFusion, fuse_csc_ivfn_u8, to_uint8_release
from lzsc.methods.csc_mefn import CSCMEFN, CSCMEFNConfig
from lzsc.methods.csc_mmfn import CSCMMFN, CSCMMFNConfig
from lzsc.methods.registry import METHODS, PAIR_METHODS, Method, get_method, load_method
from lzsc.methods.scenes import find_scenes, fuse_scenes, is_scene
from lzsc.metrics import METRIC_NAMES


def small_csc(seed: int = 0) -> CSCIVFN:
    torch.manual_seed(seed)
    net = CSCIVFN(CSCIVFNConfig(n_filters=8, n_iter=1)).eval()
    with torch.no_grad():  # non-trivial batch-norm statistics, so that eval mode matters
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return net


def grey_pair(seed: int = 0, shape: tuple[int, int] = (40, 52)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return tuple(rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(2))


class TestRegistry:
    def test_names_and_kinds(self):
        assert set(METHODS) == {"fnet", "csc-ivfn", "dae-fuse", "mean", "csc-mefn", "csc-mmfn"}
        assert PAIR_METHODS == ("fnet", "csc-ivfn", "dae-fuse", "mean")
        assert get_method("csc-mefn").inputs == "exposures"
        assert get_method("csc-mmfn").inputs == "multispectral"

    def test_labels_name_the_papers_rows(self):
        assert get_method("fnet").label("FNet") == reference.FNET
        assert get_method("csc-ivfn").label("CSC") == reference.CSC_IVFN
        assert get_method("dae-fuse").label("DAE") == reference.DAE_FUSE
        assert get_method("fnet").label("CSC") is None
        assert get_method("mean").label(None) is None

    def test_unknown_method(self):
        with pytest.raises(ValueError, match=r"unknown method 'densefuse'.*fnet"):
            get_method("densefuse")

    def test_bad_input_kind(self):
        with pytest.raises(ValueError, match="inputs must be one of"):
            Method("x", "triples", "nothing")

    def test_mean_has_no_weights(self):
        assert isinstance(load_method("mean"), MeanFusion)
        assert isinstance(load_method("mean", None), MeanFusion)
        with pytest.raises(ValueError, match="has no weights"):
            load_method("mean", "weights.pt")

    def test_bad_device(self):
        with pytest.raises(ValueError, match="not a torch device"):
            load_method("mean", device="gpu0")

    def test_importing_the_registry_does_not_import_torch(self):
        import subprocess
        import sys

        code = "import sys, lzsc.methods.registry; print('torch' in sys.modules)"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert out.stdout.strip() == "False"


class TestCSCIVFNFusion:
    def test_truncate_equals_the_release_cast(self):
        net, (a, b) = small_csc(), grey_pair()
        fused = to_uint8(
            CSCIVFNFusion(net)(*(torch.from_numpy(x / np.float32(255))[None, None] for x in (a, b)))
        )
        np.testing.assert_array_equal(fused, fuse_csc_ivfn_u8(net, a, b))

    def test_round_equals_rounding(self):
        net, (a, b) = small_csc(), grey_pair(1)
        ta, tb = (torch.from_numpy(x / np.float32(255))[None, None] for x in (a, b))
        model = CSCIVFNFusion(net, rounding="round")
        np.testing.assert_array_equal(to_uint8(model(ta, tb)), to_uint8_release(model(ta, tb), "round"))
        truncated = to_uint8(CSCIVFNFusion(net)(ta, tb)).astype(int)
        assert (to_uint8(model(ta, tb)).astype(int) - truncated).max() == 1  # the cast does matter here

    def test_missing_checkpoint_file(self, tmp_path):
        from lzsc.methods.csc_ivfn import load_csc_ivfn

        with pytest.raises(FileNotFoundError, match=r"checkpoint .*csc_ivfn\.pt does not exist"):
            load_csc_ivfn(tmp_path / "csc_ivfn.pt")

    def test_bad_rounding(self):
        with pytest.raises(ValueError, match="rounding must be"):
            CSCIVFNFusion(small_csc(), rounding="floor")

    def test_never_tiled(self):
        net, (a, b) = small_csc(), grey_pair(2, (150, 140))
        ta, tb = (torch.from_numpy(x / np.float32(255))[None, None] for x in (a, b))
        model = CSCIVFNFusion(net)
        whole = fuse(model, ta, tb, tile=None)
        assert torch.equal(fuse(model, ta, tb, tile=128, margin=32), whole)

    def test_settings_enter_the_cache_key(self):
        net = small_csc()
        keys = {model_hash(CSCIVFNFusion(net, **kw)) for kw in ({}, {"rounding": "round"}, {"alpha": 1.0})}
        assert len(keys) == 3
        assert model_hash(CSCIVFNFusion(net)) == model_hash(CSCIVFNFusion(small_csc()))

    def test_fuse_files_writes_the_release_bytes(self, tmp_path):
        net, (a, b) = small_csc(), grey_pair(3)
        for name, img in (("a.png", a), ("b.png", b)):
            Image.fromarray(img).save(tmp_path / name)
        fused = fuse_files(CSCIVFNFusion(net), tmp_path / "a.png", tmp_path / "b.png")
        np.testing.assert_array_equal(fused, fuse_csc_ivfn_u8(net, a, b))


class TestPapersTables:
    @pytest.fixture(autouse=True)
    def _reference(self, lzsc_data):
        if reference.reference_root() is None:
            pytest.skip("the papers' tables (reference CSVs) are not beside the data")

    def test_table2_values(self):
        assert reference.paper_value("TNO40", "MI") == pytest.approx(2.50 * np.log(2))  # bits -> nats
        assert reference.paper_value("TNO40", "EN") == 6.91
        assert reference.paper_value("FLIR", "SD", "DenseFuse") == 37.32
        assert reference.paper_value("TNO40", "Qabf") is None
        assert reference.paper_metrics("NIR_Country") == reference.TABLE2_METRICS
        assert reference.paper_metrics("TNO") == reference.PAPER_METRICS

    def test_dae_table_on_request(self):
        assert reference.paper_value("TNO", "MI", paper="DAE") == 2.21  # FNet's Table I scale, unconverted
        assert reference.paper_value("MRI_CT", "Qabf", "CDDFuse", paper="DAE") == 0.56
        assert reference.paper_value("TNO", "MI") == 2.57  # the set's own paper stays FNet's Table I
        assert reference.paper_metrics("TNO", "DAE") == reference.DAE_METRICS
        assert reference.best_competitor("TNO", "MI", paper="DAE") == ("TarDAL", 2.17)
        assert reference.reports("MRI_CT", "DAE")
        assert not reference.reports("RoadScene", "DAE")
        with pytest.raises(ValueError, match="unknown paper 'X'"):
            reference.paper_value("TNO", "MI", paper="X")

    def test_summary_of_dae_fuse_uses_its_own_table(self):
        row = dict.fromkeys(METRIC_NAMES, 1.0)
        result = EvalResult("TNO", "default", "x", [row], method="dae-fuse")
        assert result.paper == "DAE"
        assert result.paper_label == "DAE-Fuse"
        summary = {r["metric"]: r for r in result.summary()}
        assert summary["VIF"]["paper"] == 0.75
        assert summary["CE"]["paper"] is None
        assert summary["CE"]["best_other"] is None
        assert EvalResult("RoadScene", "default", "x", [row], method="dae-fuse").paper == "FNet"

    def test_best_competitor_exclusions(self):
        assert reference.best_competitor("TNO40", "EN") == ("DeepFuse", 6.86)
        assert reference.best_competitor("TNO40", "EN", exclude=None) == ("CSC-IVFN", 6.91)
        assert reference.best_competitor("TNO", "CE")[1] <= reference.paper_value(
            "TNO", "CE", "SwinFusion [1]"
        )

    def test_summary_uses_the_methods_own_row(self):
        row = dict.fromkeys(METRIC_NAMES, 1.0)
        csc = {
            r["metric"]: r for r in EvalResult("TNO40", "default", "x", [row], method="csc-ivfn").summary()
        }
        assert csc["EN"]["paper"] == 6.91
        assert csc["Qabf"]["paper"] is None
        assert csc["EN"]["best_other"] == ("DeepFuse", 6.86)
        fnet = {r["metric"]: r for r in EvalResult("TNO40", "default", "x", [row], method="fnet").summary()}
        assert fnet["EN"]["paper"] is None
        assert fnet["EN"]["best_other"] == ("CSC-IVFN", 6.91)
        assert EvalResult("TNO", "default", "x", [row]).summary()[4]["paper"] == reference.paper_value(
            "TNO", "MI"
        )


def exposure_folder(root, name: str, levels=(60, 120, 200), shape=(24, 28)) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    rng = np.random.default_rng(len(name))
    texture = rng.integers(-20, 20, (*shape, 3))
    for i, level in enumerate(levels, 1):
        Image.fromarray(np.clip(level + texture, 0, 255).astype(np.uint8)).save(folder / f"{i}.png")


def multispectral_file(path, channels: int = 31, size: int = 16) -> None:
    rng = np.random.default_rng(0)
    np.savez(
        path,
        lr_ms=rng.random((channels, size, size), dtype=np.float32),
        rgb=rng.random((3, 2 * size, 2 * size), dtype=np.float32),
    )


class TestScenes:
    def test_one_exposure_scene_and_a_folder_of_them(self, tmp_path):
        exposure_folder(tmp_path / "scenes", "s1")
        exposure_folder(tmp_path / "scenes", "s2")
        model = CSCMEFN(CSCMEFNConfig()).eval()
        assert is_scene("exposures", tmp_path / "scenes" / "s1")
        assert not is_scene("exposures", tmp_path / "scenes")
        report = fuse_scenes(
            model, "exposures", tmp_path / "scenes" / "s1", tmp_path / "one.png", progress=False
        )
        assert report.written == [tmp_path / "one.png"]
        assert np.asarray(Image.open(tmp_path / "one.png")).shape == (24, 28, 3)
        report = fuse_scenes(model, "exposures", tmp_path / "scenes", tmp_path / "out", progress=False)
        assert sorted(p.name for p in report.written) == ["s1.png", "s2.png"]
        assert report.ok
        assert report.summary().startswith("fused 2 scene(s)")

    def test_a_failing_scene_does_not_stop_the_others(self, tmp_path):
        exposure_folder(tmp_path / "scenes", "good")
        bad = tmp_path / "scenes" / "bad"
        bad.mkdir()
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(bad / "1.png")  # one exposure only
        report = fuse_scenes(
            CSCMEFN().eval(), "exposures", tmp_path / "scenes", tmp_path / "out", progress=False
        )
        assert [p.name for p in report.written] == ["good.png"]
        assert list(report.failed) == ["bad"]

    def test_scene_folder_names_keep_their_dots(self, tmp_path):
        exposure_folder(tmp_path / "scenes", "day.1")
        exposure_folder(tmp_path / "scenes", "day.2")
        report = fuse_scenes(
            CSCMEFN().eval(), "exposures", tmp_path / "scenes", tmp_path / "out", progress=False
        )
        assert sorted(p.name for p in report.written) == ["day.1.png", "day.2.png"]

    def test_two_scenes_one_output_name_are_refused(self, tmp_path):
        (tmp_path / "in").mkdir()
        multispectral_file(tmp_path / "c.npz", channels=4)
        (tmp_path / "c.npz").rename(tmp_path / "in" / "c.NPZ")
        multispectral_file(tmp_path / "in" / "c.npz", channels=4)
        model = CSCMMFN(CSCMMFNConfig(ms_channels=4, n_filters=8)).eval()
        with pytest.raises(ValueError, match=r"same output name\(s\) \['c.npy'\]"):
            fuse_scenes(model, "multispectral", tmp_path / "in", tmp_path / "out")
        assert not (tmp_path / "out").exists()

    def test_multispectral_file_and_folder(self, tmp_path):
        (tmp_path / "in").mkdir()
        multispectral_file(tmp_path / "in" / "c.npz", channels=4)
        model = CSCMMFN(CSCMMFNConfig(ms_channels=4, n_filters=8)).eval()
        fuse_scenes(model, "multispectral", tmp_path / "in" / "c.npz", tmp_path / "c.npy", progress=False)
        assert np.load(tmp_path / "c.npy").shape == (4, 32, 32)
        assert find_scenes("multispectral", tmp_path / "in") == [tmp_path / "in" / "c.npz"]
        report = fuse_scenes(model, "multispectral", tmp_path / "in", tmp_path / "out", progress=False)
        assert [p.name for p in report.written] == ["c.npy"]

    def test_bad_outputs_and_sources(self, tmp_path):
        multispectral_file(tmp_path / "c.npz", channels=4)
        model = CSCMMFN(CSCMMFNConfig(ms_channels=4, n_filters=8)).eval()
        with pytest.raises(ValueError, match=r"written as a \.npy file"):
            fuse_scenes(model, "multispectral", tmp_path / "c.npz", tmp_path / "c.png")
        exposure_folder(tmp_path, "scene")
        with pytest.raises(ValueError, match="one of the sources"):
            fuse_scenes(CSCMEFN().eval(), "exposures", tmp_path / "scene", tmp_path / "scene" / "2.png")
        with pytest.raises(FileNotFoundError, match="does not exist"):
            fuse_scenes(model, "multispectral", tmp_path / "none.npz", tmp_path / "x.npy")
        (tmp_path / "empty").mkdir()
        with pytest.raises(FileNotFoundError, match="neither"):
            fuse_scenes(model, "exposures", tmp_path / "empty", tmp_path / "out")


class TestCommandLine:
    def test_mean_pair(self, tmp_path):
        a, b = grey_pair(4)
        for name, img in (("a.png", a), ("b.png", b)):
            Image.fromarray(img).save(tmp_path / name)
        assert main(["fuse", "--method", "mean", str(tmp_path / "a.png"), str(tmp_path / "b.png"),
                     "-o", str(tmp_path / "f.png")]) == 0  # fmt: skip
        want = np.round((a.astype(np.float32) / 255 + b.astype(np.float32) / 255) / 2 * 255)
        np.testing.assert_allclose(np.asarray(Image.open(tmp_path / "f.png")), want, atol=1)

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--method", "mean", "a.png"], "give the two sources A and B"),
            (["--method", "csc-mefn", "scene", "b.png"], "does not take: second source (b.png)"),
            (["--method", "csc-mmfn", "c.npz", "--color"], "does not take: --color"),
            (["--method", "mean", "a.png", "b.png", "--checkpoint", "w.pt"], "has no weights"),
        ],
    )
    def test_refused(self, tmp_path, capsys, args, message):
        assert main(["fuse", *args, "-o", str(tmp_path / "out.png")]) == 2
        assert message in capsys.readouterr().err

    def test_evaluate_lists_the_csc_sets_and_pair_methods_only(self, capsys):
        with pytest.raises(SystemExit):
            main(["evaluate", "--dataset", "csc", "--method", "csc-mefn"])
        err = capsys.readouterr().err
        assert "invalid choice: 'csc-mefn'" in err
        assert "csc-ivfn" in err


class TestMethodsTable:
    @staticmethod
    def result(dataset: str, value: float, protocol: str = "default", n: int = 2) -> EvalResult:
        row = {"name": "x", **dict.fromkeys(METRIC_NAMES, value)}
        return EvalResult(dataset, protocol, "tag", [row] * n, pairs_in_set=n)

    def test_best_and_wins(self):
        from lzsc.plotting.methods import MethodsTable

        two = {"TNO": self.result("TNO", 2.0), "FLIR": self.result("FLIR", 3.0)}
        table = MethodsTable({"one": {"TNO": self.result("TNO", 1.0)}, "two": two}, metrics=("MI", "CE"))
        assert table.best("TNO", "MI") == "two"
        assert table.best("TNO", "CE") == "one"  # lower CE is better
        assert table.best("FLIR", "MI") is None  # only one method ran on FLIR
        assert table.wins() == {"one": 1, "two": 1}
        assert "*2.000" in str(table)
        assert "<b>1.000</b>" in table._repr_html_()

    def test_refuses_mixed_protocols_and_partial_runs(self):
        from lzsc.plotting.methods import MethodsTable

        paper = {"TNO": self.result("TNO", 1.0, "paper")}
        with pytest.raises(ValueError, match="no results to compare"):
            MethodsTable({})
        with pytest.raises(ValueError, match="under one"):
            MethodsTable({"a": {"TNO": self.result("TNO", 1.0)}, "b": paper})
        partial = self.result("TNO", 1.0)
        partial.pairs_in_set = 5
        with pytest.raises(ValueError, match="covers 2 pairs only"):
            MethodsTable({"a": {"TNO": partial}})

    @staticmethod
    def rows(names, **values) -> list[dict]:
        return [{"name": n, **dict.fromkeys(METRIC_NAMES, 0.0), **values} for n in names]

    def test_partial_runs_on_the_same_pairs_ranks_and_per_set_table(self):
        import matplotlib

        matplotlib.use("Agg")
        from lzsc.plotting.methods import MethodsTable, plot_ranks

        def result(names, **values):
            return EvalResult("TNO", "default", "t", self.rows(names, **values), pairs_in_set=25)

        table = MethodsTable(
            {
                "a": {"TNO": result(["01", "02"], MI=3.0, CE=1.0)},
                "b": {"TNO": result(["02", "01"], MI=2.0, CE=1.0)},
                "c": {"TNO": result(["01", "02"], MI=1.0, CE=0.5)},
            },
            metrics=("MI", "CE"),
            partial=True,
        )
        assert table.ranks("TNO") == {
            "a": {"MI": 1, "CE": 2.5},
            "b": {"MI": 2, "CE": 2.5},
            "c": {"MI": 3, "CE": 1},
        }
        assert table.mean_ranks() == {"TNO": {"a": 1.75, "b": 2.25, "c": 2.0}}
        undefined = MethodsTable(
            {"a": {"TNO": result(["01"], MI=1.0)}, "b": {"TNO": result(["01"], MI=math.nan)}},
            metrics=("MI",),
            partial=True,
        )
        assert undefined.ranks("TNO") == {"a": {"MI": 1.0}, "b": {"MI": 2.0}}  # NaN ranks last
        view = table.dataset("TNO")
        assert "TNO: 2 pairs" in str(view)
        assert "| *3.000 | 1.000 | 1.8" in str(view)
        assert "<b>0.500</b>" in view._repr_html_()
        assert len(plot_ranks(table).axes) == 2  # the map and its colour bar
        with pytest.raises(ValueError, match="no results on FLIR"):
            table.dataset("FLIR")
        with pytest.raises(ValueError, match="different pairs of TNO"):
            MethodsTable({"a": {"TNO": result(["01"])}, "b": {"TNO": result(["02"])}}, partial=True)


class TestPlotCSCCodes:
    def test_three_rows_of_five_panels(self):
        import matplotlib

        matplotlib.use("Agg")
        from lzsc.plotting.csc import code_energy, plot_csc_codes

        a, b = (torch.from_numpy(x / np.float32(255))[None, None] for x in grey_pair(5, (40, 44)))
        fig = plot_csc_codes(small_csc(), a, b, title="t")
        assert len(fig.axes) == 15
        energy = code_energy(torch.randn(1, 4, 6, 7))
        assert energy.shape == (6, 7)
        assert energy.max() == 1.0

    def test_bad_sources(self):
        from lzsc.plotting.csc import plot_csc_codes

        with pytest.raises(ValueError, match="values in"):
            plot_csc_codes(small_csc(), torch.full((1, 1, 40, 40), 200.0), torch.rand(1, 1, 40, 40))
