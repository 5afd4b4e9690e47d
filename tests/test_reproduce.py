"""``lzsc reproduce``: train both stages, evaluate them and the released weights, write the comparison."""

from __future__ import annotations

import csv
import math
import subprocess
import sys
from pathlib import Path

import pytest

import lzsc.evaluation
from lzsc.checkpoints import read_checkpoint
from lzsc.cli import main
from lzsc.datasets import FNET_TEST_SETS
from lzsc.reference import paper_value
from lzsc.reproduce import comparison_rows, reproduce, torchrun_command
from lzsc.training import profile, train

TINY = ["steps=4", "batch_size=2"]


def rows_of(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def first_run(lzsc_data: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("reproduce")
    code = main(["reproduce", "--profile", "quick", "--out", str(out), "--pairs", "1", "--no-progress",
                 *[x for item in TINY for x in ("--set", item)]])  # fmt: skip
    assert code == 0
    return out


def test_the_pipeline_trains_evaluates_and_compares(first_run: Path) -> None:
    for stage in (1, 2):
        assert read_checkpoint(first_run / "train" / f"stage{stage}" / "checkpoint.pt")["step"] == 4
    table = rows_of(first_run / "reproduce_quick.csv")
    assert [(r["dataset"], r["metric"]) for r in table][:2] == [("TNO", "MI"), ("TNO", "CE")]
    assert {r["dataset"] for r in table} == set(FNET_TEST_SETS)
    assert len(table) == 6 * len(FNET_TEST_SETS)
    for row in table:
        assert float(row["paper"]) == paper_value(row["dataset"], row["metric"], paper="FNet")
        trained, released = float(row["trained"]), float(row["released"])
        assert math.isfinite(trained)
        assert math.isfinite(released)
        assert float(row["trained_minus_released"]) == pytest.approx(trained - released)
    for tag in ("trained", "released"):
        evaluated = rows_of(first_run / f"eval_{tag}.csv")
        assert len(evaluated) == len(FNET_TEST_SETS), "one pair per set"
        assert {r["protocol"] for r in evaluated} == {"paper"}
    tno = {r["metric"]: float(r["released"]) for r in table if r["dataset"] == "TNO"}
    assert tno["MI"] > 1.5, "the released weights fuse (TNO's first pair)"
    text = (first_run / "reproduce_quick.md").read_text()
    assert "4 steps per stage" in text
    assert "the first 1 pair(s) of each set (reduced scale)" in text


def test_a_second_run_neither_trains_nor_fuses_again(first_run: Path, monkeypatch, capsys) -> None:
    before = (first_run / "train" / "stage2" / "checkpoint.pt").stat().st_mtime_ns

    def no_fusion(*args, **kwargs):
        raise AssertionError("a pair was fused again")

    monkeypatch.setattr(lzsc.evaluation, "fuse_files", no_fusion)
    result = reproduce("quick", out=first_run, pairs=1, overrides=TINY, progress=False)
    assert "not run again" in capsys.readouterr().out
    assert (first_run / "train" / "stage2" / "checkpoint.pt").stat().st_mtime_ns == before
    assert rows_of(result.table_csv) == rows_of(first_run / "reproduce_quick.csv")


def test_an_interrupted_training_is_continued(lzsc_data: Path, tmp_path: Path) -> None:
    config = profile("quick", steps=2, batch_size=2)
    train(config, out_dir=tmp_path / "train" / "stage1", progress=False)  # as if stopped at step 2 of 4
    reproduce("quick", out=tmp_path, pairs=1, overrides=TINY, progress=False, datasets=("MRI_CT",))
    log = (tmp_path / "train" / "stage1" / "log.csv").read_text().splitlines()
    assert len(log) == 1 + 4, "steps 1-2 kept, 3-4 added"
    assert read_checkpoint(tmp_path / "train" / "stage2" / "checkpoint.pt")["step"] == 4
    assert [r["dataset"] for r in rows_of(tmp_path / "reproduce_quick.csv")] == ["MRI_CT"] * 6


def test_torchrun_command() -> None:
    command = torchrun_command("paper", Path("runs/paper/train"), 4, ["lr=1e-5"])
    assert command[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert command[command.index("--nproc_per_node") + 1] == "4"
    tail = command[command.index("-m", 3) :]
    assert tail == ["-m", "lzsc", "train", "--stage", "both", "--profile", "paper", "--out",
                    "runs/paper/train", "--resume", "--set", "lr=1e-5"]  # fmt: skip


def test_comparison_rows_without_a_released_value() -> None:
    rows = comparison_rows({"TNO": {"MI": 2.0, "CE": 1.0}}, {})
    assert [r["metric"] for r in rows] == ["MI", "CE", "VIF", "Qabf", "Qcb", "SSIM"]
    assert rows[0]["paper"] == 2.57
    assert math.isnan(rows[0]["trained_minus_released"])
    assert rows[0]["trained_minus_paper"] == pytest.approx(2.0 - 2.57)
    assert math.isnan(rows[2]["trained"]), "a metric the run lacks is NaN, not dropped"


@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        ({"nproc": 0}, ValueError, "nproc must be a whole number of processes >= 1"),
        ({"pairs": 0}, ValueError, "pairs must be >= 1"),
        ({"profile": "huge"}, ValueError, "unknown profile 'huge'"),
        ({"overrides": ["speed=11"]}, ValueError, "unknown training setting 'speed'"),
    ],
)
def test_bad_input(lzsc_data: Path, tmp_path: Path, kwargs: dict, error: type, fragment: str) -> None:
    with pytest.raises(error, match=fragment):
        reproduce(**{"out": tmp_path, **kwargs})
    assert not (tmp_path / "train").exists(), "nothing was trained"


def test_without_data_it_says_what_to_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LZSC_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="set LZSC_DATA"):
        reproduce("quick", out=tmp_path)


def test_the_quick_profile_as_a_user_runs_it(lzsc_data: Path, tmp_path: Path) -> None:
    """The issue's CI run: ``lzsc reproduce --profile quick``, nothing overridden (a few CPU minutes)."""
    command = [sys.executable, "-m", "lzsc", "reproduce", "--profile", "quick", "--out", str(tmp_path)]
    command.append("--no-progress")
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    table = {(r["dataset"], r["metric"]): r for r in rows_of(tmp_path / "reproduce_quick.csv")}
    assert len(table) == 6 * len(FNET_TEST_SETS)
    assert "270 steps per stage" in done.stdout
    assert "the first 2 pair(s) of each set" in done.stdout
    assert float(table["TNO", "MI"]["trained"]) > 1.0, "the quick FNet fuses (an untrained one scores ~0.1)"
