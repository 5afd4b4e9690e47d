"""lzsc.ablations: every Table III ablation is a configuration that builds, differs from the baseline in
exactly its intended field, and trains; the direction comparison with the paper counts correctly."""

from __future__ import annotations

import json
import math

import pytest
import torch

from lzsc.ablations import (
    ABLATIONS,
    BASELINE,
    SCALES,
    AblationScale,
    AblationStudy,
    ablation_config,
    binomial_tail,
    model_diff,
    overview,
    paper_directions,
    run_ablation,
    run_folder,
    run_study,
    train_diff,
)
from lzsc.models import FNet, IFNet
from lzsc.training import TrainConfig, profile, train_both

TINY = {
    "n_filters": 4,
    "kernel_size": 3,
    "patch": 16,
    "batch_size": 2,
    "steps": 1,
    "data": "synthetic",
    "device": "cpu",
    "log_every": 1,
    "checkpoint_every": 1000,
    "threads": 1,
}


def test_table_iii_is_complete():
    assert list(ABLATIONS) == [f"AE{i}" for i in range(1, 16)]
    for ablation in ABLATIONS.values():
        assert ablation.description
        assert ablation.overrides
        assert bool(ablation.model_fields) != bool(ablation.train_fields), ablation.name


@pytest.mark.parametrize("name", list(ABLATIONS))
def test_ablation_differs_in_exactly_its_field(name):
    base = profile("paper")
    config = ablation_config(name, base)
    ablation = ABLATIONS[name]
    assert model_diff(config, base) == sorted(ablation.model_fields)
    assert train_diff(config, base) == sorted(ablation.train_fields)
    mine, theirs = config.to_dict(), base.to_dict()
    assert [k for k in mine if mine[k] != theirs[k]] == list(ablation.overrides)


@pytest.mark.parametrize("name", list(ABLATIONS))
def test_ablation_builds(name):
    config = ablation_config(name, profile("paper", **TINY))
    fnet, ifnet = FNet(config.fnet_config()), IFNet(config.ifnet_config())
    x = torch.rand(1, 1, 12, 12)
    with torch.no_grad():
        fused = fnet(x, x)
        rec = ifnet(fused)
    assert fused.shape == x.shape
    assert rec[0].shape == x.shape
    if name == "AE1":
        assert type(fnet.lzsc_u1).__name__ == "LCSCBlock"
    if name == "AE12":
        assert fnet.config.block.threshold == "sigmoidal"
        assert ifnet.config.block.threshold == "soft"


@pytest.mark.parametrize("name", [BASELINE, *ABLATIONS])
def test_one_tiny_training_step(name, tmp_path):
    config = ablation_config(name, profile("paper", **TINY))
    first, second = train_both(config, out_dir=tmp_path, progress=False)
    assert (first is None) == (name == "AE11")
    assert second.step == 1
    assert math.isfinite(second.last["loss"])
    if name == "AE13":
        assert second.last["int"] >= 0  # the term is still logged, with weight 0


@pytest.mark.parametrize("name", [BASELINE, *ABLATIONS])
def test_ablation_config_is_recorded_flat_and_read_back(name):
    """run_ablation hashes ``to_dict()`` for the run folder and check_runs reads it back from JSON."""
    config = ablation_config(name, SCALES["ci"].config())
    text = json.dumps(config.to_dict(), sort_keys=True)
    assert text == json.dumps(ablation_config(name, SCALES["ci"].config()).to_dict(), sort_keys=True)
    assert TrainConfig.from_dict(json.loads(text)) == config
    overrides = ABLATIONS[name].overrides if name != BASELINE else {}
    assert {k: config.to_dict()[k] for k in overrides} == dict(overrides)


def test_baseline_and_unknown():
    base = profile("paper")
    assert ablation_config(BASELINE, base) is base
    with pytest.raises(KeyError, match="AE16"):
        ablation_config("AE16", base)


def test_ablation_needs_the_papers_base():
    two = profile("paper", n_iter=2)
    with pytest.raises(ValueError, match="n_iter"):
        ablation_config("AE9", two)
    assert ablation_config("AE13", two).w_int == 0.0  # fields it does not override may differ
    with pytest.raises(ValueError, match="w_ssim"):
        ablation_config("AE15", profile("paper", w_ssim=5.0))


def test_scales():
    ci = SCALES["ci"]
    assert ci.config().steps == ci.train["steps"]
    assert f"{ci.train['steps']} steps per stage" in ci.describe()
    changed = ci.with_(steps=7, pairs_per_set=3)
    assert changed.config().steps == 7
    assert changed.pairs_per_set == 3
    assert ci.config().steps != 7  # the original is unchanged
    assert SCALES["paper"].config().steps == 20_000
    assert "synthetic" in ci.describe(synthetic=True)
    assert "data MSRS" in ci.describe()
    assert "MSRS" not in ci.describe(synthetic=True)  # trained on synthetic pairs then, not MSRS
    assert "K = 8 filters of 5x5, 4 iterations" in ci.describe()
    three = ci.with_(n_iter=3, threshold="soft")  # model settings go into the training overrides too
    assert (three.config().model.block.n_iter, three.config().model.block.threshold) == (3, "soft")


ROWS = [
    {"task_dataset": "VIS-IR (TNO)", "metric": "MI", "experiment": "AE1", "value": "2.35", "note": ""},
    {"task_dataset": "VIS-IR (TNO)", "metric": "MI", "experiment": "AE2", "value": "2.57", "note": ""},
    {"task_dataset": "VIS-IR (TNO)", "metric": "MI", "experiment": "FNet(Ours)", "value": "2.57", "note": ""},
    {"task_dataset": "VIS-IR (TNO)", "metric": "CE", "experiment": "AE1", "value": "2.58", "note": ""},
    {
        "task_dataset": "VIS-IR (TNO)",
        "metric": "CE",
        "experiment": "AE2",
        "value": "2.10",
        "note": "uncertain",
    },
    {"task_dataset": "VIS-IR (TNO)", "metric": "CE", "experiment": "FNet(Ours)", "value": "2.20", "note": ""},
]


def test_paper_directions():
    paper = paper_directions(ROWS)
    assert paper[("TNO", "MI", "AE1")]["direction"] == "worse"
    assert paper[("TNO", "MI", "AE2")]["direction"] == "tie"
    assert paper[("TNO", "CE", "AE1")]["direction"] == "worse"  # CE up = worse
    assert paper[("TNO", "CE", "AE2")]["direction"] == "better"
    assert not paper[("TNO", "CE", "AE2")]["aligned"]
    assert paper[("TNO", "MI", "AE1")]["delta"] == pytest.approx(-0.22)


def _study(values: dict[str, tuple[list[float], list[float]]], dataset: str = "TNO") -> AblationStudy:
    """A study from {config: (MI values over seeds, CE values over seeds)}."""
    rows = [
        {"config": name, "seed": seed, "dataset": dataset, "metric": metric, "value": v}
        for name, (mi, ce) in values.items()
        for metric, series in (("MI", mi), ("CE", ce))
        for seed, v in enumerate(series)
    ]
    return AblationStudy(rows, "unit test")


def test_study_uses_the_papers_aligned_directions():
    study = _study(
        {
            BASELINE: ([2.0, 2.1, 2.2], [2.0, 2.1, 2.2]),
            "AE1": ([1.5, 1.6, 1.7], [2.5, 2.6, 2.7]),  # MI and CE worse: the paper's direction (agree)
            "AE2": ([2.0, 2.1, 2.3], [1.0, 1.1, 1.2]),  # MI: paper tie; CE: paper row not aligned
        }
    )
    study.paper = paper_directions(ROWS)
    effects = {(e["ablation"], e["metric"]): e for e in study.effects(("MI", "CE"))}
    assert effects[("AE1", "MI")]["verdict"] == "agree"
    assert effects[("AE1", "CE")]["verdict"] == "agree"
    assert effects[("AE1", "MI")]["effect_pct"] == pytest.approx(-100 * 0.5 / 2.1)
    assert effects[("AE2", "MI")]["verdict"] == "no paper direction"  # the paper shows a tie
    assert effects[("AE2", "CE")]["verdict"] == "no paper direction"  # its row's alignment is uncertain
    by = {r["ablation"]: r for r in study.by_ablation(("MI", "CE"))}
    assert (by["AE1"]["agree"], by["AE1"]["cells"]) == (2, 2)
    assert by["AE2"]["cells"] == 0
    assert by["AE2"]["outcome"] == "cannot resolve"


def test_binomial_tail():
    assert binomial_tail(0, 5) == pytest.approx(1.0)
    assert binomial_tail(5, 5) == pytest.approx(1 / 32)
    assert binomial_tail(3, 4) == pytest.approx(5 / 16)
    assert math.isnan(binomial_tail(0, 0))


def test_overview_lists_every_ablation():
    text = overview(profile("paper"))
    for name, ablation in ABLATIONS.items():
        assert name in text
        for field in (*ablation.model_fields, *ablation.train_fields):
            assert field in text


def test_synthetic_direction_is_the_papers_majority():
    rows = [
        *ROWS,
        {"task_dataset": "VIS-IR (KAIST)", "metric": "MI", "experiment": "AE1", "value": "2.0", "note": ""},
        {
            "task_dataset": "VIS-IR (KAIST)",
            "metric": "MI",
            "experiment": "FNet(Ours)",
            "value": "2.9",
            "note": "",
        },
    ]
    study = _study({BASELINE: ([1.0, 1.1], [1.0, 1.0]), "AE1": ([0.5, 0.6], [1.0, 1.0])}, "synthetic")
    study.paper = paper_directions(rows)
    (effect,) = (e for e in study.effects(("MI",)) if e["ablation"] == "AE1")
    assert effect["paper"] == "worse"
    assert effect["verdict"] == "agree"


def test_run_ablation_synthetic(tmp_path, monkeypatch):
    monkeypatch.delenv("LZSC_DATA", raising=False)
    scale = AblationScale("unit", "paper", {**TINY, "steps": 2}, synthetic_pairs=1, synthetic_size=48)
    run = run_ablation("AE4", scale, out_dir=tmp_path, threads=1)
    assert run.name == "AE4"
    assert run.config["momentum"] == "none"
    assert run.config["data"] == "synthetic"
    assert list(run.metrics) == ["synthetic"]
    assert set(run.metrics["synthetic"]) >= {"MI", "CE", "VIF", "Qabf", "Qcb", "SSIM"}
    (folder,) = (tmp_path / "unit").glob("AE4-*")
    assert run_folder("AE4", scale, tmp_path) == folder  # where later notebooks find the trained FNet
    assert (folder / "stage2" / "stage2.pt").is_file()
    assert run_folder("AE4", scale, tmp_path, seed=1) != folder
    saved = json.loads((folder / "result.json").read_text())
    assert saved["run"]["metrics"] == json.loads(json.dumps(run.metrics))
    again = run_ablation("AE4", scale, out_dir=tmp_path)  # reused, not retrained
    assert again.train_seconds == run.train_seconds
    other = run_ablation("AE4", scale, out_dir=tmp_path, threads=1, seed=1)  # own folder, no clash
    assert other.config["seed"] == 1
    assert len(list((tmp_path / "unit").glob("AE4-*"))) == 2
    assert run_ablation("AE4", scale, out_dir=tmp_path).train_seconds == run.train_seconds
    stale = folder / "stale.txt"
    stale.write_text("left by the first run")
    redone = run_ablation("AE4", scale, out_dir=tmp_path, threads=1, reuse=False)
    assert not stale.exists()  # the folder was cleared: trained and evaluated from scratch
    assert redone.train_seconds != run.train_seconds
    assert redone.metrics == run.metrics  # same seed, same data: the same result


def test_run_study_trains_every_seed(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("LZSC_DATA", raising=False)
    scale = AblationScale("unit", "paper", {**TINY, "steps": 2}, synthetic_pairs=1, synthetic_size=48)
    study = run_study(["AE4"], scale, seeds=(0, 1), out_dir=tmp_path, threads=1, log=None)
    assert study.configs == ["FNet", "AE4"]
    assert study.seeds == [0, 1]
    assert {r["dataset"] for r in study.rows} == {"synthetic"}
    assert len(list((tmp_path / "unit").glob("*-*"))) == 4  # two configurations x two seeds
    assert "seeds 0, 1," in study.scale
    with pytest.raises(ValueError, match="at least one seed"):
        run_study(["AE4"], scale, seeds=(), out_dir=tmp_path)


@pytest.mark.parametrize("scale", ["ci", "cpu"])
def test_cpu_scales_train_in_float32_on_the_host_path(scale):
    """The paper profile's GPU settings (bf16 autocast, device loader, deferred checks) stay off on CPU."""
    config = SCALES[scale].config()
    assert (config.device, config.bf16, config.loader, config.host_sync) == ("cpu", False, "host", "step")
    assert SCALES["paper"].config().bf16, "the paper scale keeps the profile's GPU path"
    assert SCALES[scale].config(bf16=True).bf16, "an explicit override still wins"
