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
    AblationRun,
    AblationScale,
    DirectionTable,
    ablation_config,
    binomial_tail,
    compare_directions,
    model_diff,
    overview,
    paper_directions,
    run_ablation,
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


def _run(name, mi, ce):
    return AblationRun(name, "", {}, {"TNO": {"MI": mi, "CE": ce}}, {"TNO": 1}, "paper", "test", 0.0, 0.0)


def test_compare_directions_counts():
    runs = {
        BASELINE: _run(BASELINE, 2.0, 2.0),
        "AE1": _run("AE1", 1.5, 2.5),  # MI worse (paper worse: agree), CE worse (paper worse: agree)
        "AE2": _run("AE2", 2.001, 1.0),  # MI tie (paper tie: not counted), CE better (unaligned: not counted)
    }
    table = compare_directions(runs, metrics=("MI", "CE"), paper=paper_directions(ROWS), scale="unit test")
    assert isinstance(table, DirectionTable)
    assert len(table.rows) == 4
    total = table.agreement()
    assert {k: total[k] for k in ("cells", "agree", "disagree", "ours_tie", "rate")} == {
        "cells": 2,
        "agree": 2,
        "disagree": 0,
        "ours_tie": 0,
        "rate": 1.0,
    }
    assert total["p_chance"] == pytest.approx(0.25)
    summary = table.summary()
    assert "2 of 2 counted cells (100%)" in summary
    assert "more than 50% of their cells: AE1." in summary
    assert "No counted cell" in summary
    by = {r["ablation"]: r for r in table.by_ablation()}
    assert by["AE1"]["agree"] == 2
    assert by["AE2"]["cells"] == 0
    assert math.isnan(by["AE2"]["rate"])
    row = next(r for r in table.rows if r["ablation"] == "AE1" and r["metric"] == "MI")
    assert row["rel_pct"] == pytest.approx(-25.0)
    assert "2/2" in str(table)
    assert "unit test" in table._repr_html_()
    runs["AE1"] = _run("AE1", 2.5, 1.5)  # both opposite to the paper
    table = compare_directions(runs, metrics=("MI", "CE"), paper=paper_directions(ROWS))
    assert table.agreement()["disagree"] == 2
    with pytest.raises(KeyError, match=BASELINE):
        compare_directions({"AE1": runs["AE1"]}, paper={})
    unknown = compare_directions(runs, metrics=("MI", "CE"), paper={})  # Table III not found
    assert unknown.agreement()["cells"] == 0
    assert "paper_table3_ablation.csv" in unknown.summary()
    assert "LZSC_REFERENCE" in unknown.summary()


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
    runs = {
        BASELINE: AblationRun(BASELINE, "", {}, {"synthetic": {"MI": 1.0}}, {}, "default", "t", 0, 0),
        "AE1": AblationRun("AE1", "", {}, {"synthetic": {"MI": 0.5}}, {}, "default", "t", 0, 0),
    }
    table = compare_directions(runs, metrics=("MI",), paper=paper_directions(rows))
    assert table.rows[0]["paper"] == "worse"
    assert table.agreement()["agree"] == 1


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
