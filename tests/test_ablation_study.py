"""The multi-seed ablation study: the decision rule on synthetic numbers, the study table, the command."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from lzsc.ablations import (
    AblationStudy,
    cell_verdict,
    chance_separation,
)
from lzsc.cli import main

DATASETS = ("TNO", "RoadScene", "MRI_CT")
METRICS = ("MI", "CE", "VIF")


class TestChanceSeparation:
    def test_is_the_permutation_probability(self) -> None:
        assert chance_separation(3, 3) == pytest.approx(0.1)  # 2 of the 20 splits of 6 values
        assert chance_separation(4, 4) == pytest.approx(2 / 70)
        assert chance_separation(1, 1) == 1.0  # one seed each can never resolve anything
        assert chance_separation(3, 2) == pytest.approx(0.2)

    def test_matches_a_simulation(self) -> None:
        rng = np.random.default_rng(0)
        x = rng.normal(size=(20_000, 6))
        separated = (x[:, :3].max(1) < x[:, 3:].min(1)) | (x[:, :3].min(1) > x[:, 3:].max(1))
        assert separated.mean() == pytest.approx(chance_separation(3, 3), abs=0.01)

    def test_bad_counts(self) -> None:
        with pytest.raises(ValueError, match="at least one seed"):
            chance_separation(0, 3)


class TestCellVerdict:
    def test_separated_cells_take_a_side(self) -> None:
        assert cell_verdict([1.0, 1.1, 1.2], [1.5, 1.6, 1.7], "MI", "better") == ("agree", True, "better")
        assert cell_verdict([1.0, 1.1, 1.2], [1.5, 1.6, 1.7], "MI", "worse") == ("opposite", True, "better")

    def test_overlapping_seeds_are_noise_however_large_the_mean_change(self) -> None:
        verdict, separated, ours = cell_verdict([1.0, 1.1, 2.0], [1.9, 2.5, 3.0], "MI", "better")
        assert (verdict, separated, ours) == ("within noise", False, "better")

    def test_ce_lower_is_better(self) -> None:
        assert cell_verdict([2.0, 2.1, 2.2], [1.0, 1.1, 1.2], "CE", "better") == ("agree", True, "better")

    def test_no_paper_direction(self) -> None:
        assert cell_verdict([1.0, 1.1], [2.0, 2.1], "MI", None)[0] == "no paper direction"
        assert cell_verdict([1.0, 1.1], [2.0, 2.1], "MI", "tie")[0] == "no paper direction"

    def test_bad_values(self) -> None:
        with pytest.raises(ValueError, match="need finite values"):
            cell_verdict([1.0, math.nan], [2.0], "MI", "better")
        with pytest.raises(ValueError, match="need finite values"):
            cell_verdict([], [2.0], "MI", "better")


def synthetic_study(seeds: int = 3, noise: float = 0.02) -> AblationStudy:
    """FNet at 1 +- noise; AE1 better by 30% everywhere; AE2 worse by 30%; AE3 unchanged."""
    rng = np.random.default_rng(1)
    effect = {"FNet": 0.0, "AE1": 0.3, "AE2": -0.3, "AE3": 0.0}
    rows = []
    for config, e in effect.items():
        for seed in range(seeds):
            for d in DATASETS:
                for m in METRICS:
                    sign = -1 if m == "CE" else 1  # "better" lowers CE
                    value = 1.0 + sign * e + noise * rng.standard_normal()
                    rows.append({"config": config, "seed": seed, "dataset": d, "metric": m, "value": value})
    paper = {
        (d, m, ae): {"direction": "better", "aligned": True, "value": 0, "fnet": 0, "delta": 0}
        for d in DATASETS
        for m in METRICS
        for ae in ("AE1", "AE2", "AE3")
    }
    return AblationStudy(rows, "synthetic numbers", paper=paper)


class TestStudy:
    def test_outcomes(self) -> None:
        outcome = {r["ablation"]: r for r in synthetic_study().by_ablation(METRICS)}
        assert outcome["AE1"]["outcome"] == "supports"
        assert (outcome["AE1"]["agree"], outcome["AE1"]["opposite"]) == (9, 0)
        assert outcome["AE2"]["outcome"] == "contradicts"
        assert outcome["AE3"]["outcome"] == "cannot resolve"
        assert outcome["AE3"]["within_noise"] >= 7  # about 10% of 9 cells separate by chance

    def test_one_seed_resolves_nothing(self) -> None:
        rows = synthetic_study(seeds=1).by_ablation(METRICS)
        assert {r["outcome"] for r in rows} == {"cannot resolve"}

    def test_effects_and_noise_floor(self) -> None:
        study = synthetic_study()
        effects = [e for e in study.effects(METRICS) if e["ablation"] == "AE1" and e["metric"] == "MI"]
        assert len(effects) == len(DATASETS)
        for e in effects:
            assert e["effect_pct"] == pytest.approx(30, abs=5)
            assert e["low_pct"] <= e["effect_pct"] <= e["high_pct"]
            assert e["base_low_pct"] <= 0 <= e["base_high_pct"]
        floor = study.noise_floor(METRICS)
        assert len(floor) == len(DATASETS) * len(METRICS)
        assert all(0 < f["range_pct"] < 10 for f in floor)
        assert {f["seeds"] for f in floor} == {3}

    def test_summary_is_computed(self) -> None:
        text = synthetic_study().summary(METRICS)
        assert "Supports the paper: AE1." in text
        assert "Contradicts the paper: AE2." in text
        assert "Cannot resolve at this scale: AE3." in text
        assert "3 seed(s) per configuration" in text

    def test_csv_round_trip(self, tmp_path) -> None:
        study = synthetic_study()
        path = study.write_csv(tmp_path / "s.csv")
        again = AblationStudy.read_csv(path)
        assert again.configs == study.configs
        assert again.seeds == [0, 1, 2]
        np.testing.assert_allclose(
            again.values("AE1", "TNO", "MI"), study.values("AE1", "TNO", "MI"), atol=1e-6
        )
        (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
        with pytest.raises(ValueError, match="not an ablation study CSV"):
            AblationStudy.read_csv(tmp_path / "bad.csv")


def test_command_refuses_bad_arguments(tmp_path, capsys) -> None:
    assert main(["ablations", "--workers", "0"]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err
    assert main(["ablations", "--out", str(tmp_path / "x.json")]) == 2
    assert "ending in .csv" in capsys.readouterr().err


def test_scale_names_match_the_library() -> None:
    from lzsc.ablations import SCALES
    from lzsc.cli.ablations import SCALE_NAMES

    assert tuple(SCALES) == SCALE_NAMES
    assert "K = 12 filters of 5x5" in SCALES["cpu"].describe()
    assert json.loads(json.dumps(SCALES["cpu"].train))["steps"] == 5 * SCALES["ci"].train["steps"]
