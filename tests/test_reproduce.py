"""``lzsc reproduce``: both stages, the paper protocol's evaluation of the trained and released weights,
the comparison table; resuming; bad input; the torchrun command line (built, never run here)."""

from __future__ import annotations

import csv
import itertools
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import lzsc.reproduce as rep
from lzsc.checkpoints import read_checkpoint
from lzsc.cli import main
from lzsc.datasets import FNET_TEST_SETS
from lzsc.reference import PAPER_METRICS, paper_value
from lzsc.reproduce import ReproduceError, default_results_dir, reproduce, torchrun_command
from lzsc.training import profile, read_log, train

STEPS = 6
TINY = (f"steps={STEPS}", "batch_size=2")
COMMITTED = Path(__file__).resolve().parents[1] / "results" / "eval_official_paper.csv"


def rows_of(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def write_rows(path: Path, rows: list[dict[str, str]]) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture(scope="module")
def first(lzsc_data: Path, tmp_path_factory: pytest.TempPathFactory) -> rep.ReproduceResult:
    """A tiny run (1 pair per set) that finds stage I interrupted at step 3 of 6."""
    out = tmp_path_factory.mktemp("reproduce")
    train(profile("quick", steps=3, batch_size=2), out_dir=out / "train" / "stage1", progress=False)
    return reproduce("quick", out=out, pairs=1, overrides=TINY, progress=False)


def test_training_continues_both_stages_to_the_requested_steps(first: rep.ReproduceResult) -> None:
    assert first.trained_now
    for stage in (1, 2):
        folder = first.out / "train" / f"stage{stage}"
        assert read_checkpoint(folder / "checkpoint.pt")["step"] == STEPS
        assert len(read_log(folder / "log.csv")) == STEPS
    assert first.weights == first.out / "train" / "stage2" / "stage2.pt"


def test_the_table_holds_paper_released_and_trained(first: rep.ReproduceResult) -> None:
    assert first.table_csv == first.out / "reproduce_quick.csv", "a quick run keeps its table in out"
    table = rows_of(first.table_csv)
    assert [(r["dataset"], r["metric"]) for r in table] == list(
        itertools.product(FNET_TEST_SETS, PAPER_METRICS)
    )
    for row in table:
        assert row["pairs"] == "1"
        assert float(row["paper"]) == pytest.approx(paper_value(row["dataset"], row["metric"]), abs=1e-6)
        trained, released = float(row["trained"]), float(row["released"])
        assert math.isfinite(trained)
        assert float(row["trained_minus_released"]) == pytest.approx(trained - released, abs=2e-6)
        assert float(row["trained_minus_paper"]) == pytest.approx(trained - float(row["paper"]), abs=2e-6)
    tno_mi = next(r for r in table if (r["dataset"], r["metric"]) == ("TNO", "MI"))
    assert float(tno_mi["paper"]) == 2.57, "FNet's Table I, TNO, MI"
    committed = next(r for r in rows_of(COMMITTED) if (r["dataset"], r["name"]) == ("TNO", "01.png"))
    assert float(tno_mi["released"]) == pytest.approx(float(committed["MI"]), abs=1e-4), "protocol paper"
    text = first.table_md.read_text()
    for fragment in (f"{STEPS} steps per stage", "first 1 pair(s) of each test set", "device cpu", "`quick`"):
        assert fragment in text
    assert (
        f"| TNO (1) | MI | 2.57 | {float(tno_mi['released']):.3f} | {float(tno_mi['trained']):.3f} |" in text
    )


def test_each_weights_rows_are_in_their_own_csv(first: rep.ReproduceResult) -> None:
    tags = set()
    for which in ("trained", "released"):
        rows = rows_of(first.out / f"eval_{which}_paper.csv")
        assert [r["dataset"] for r in rows] == list(FNET_TEST_SETS), "one pair per set"
        assert {r["protocol"] for r in rows} == {"paper"}
        tags |= {r["model"] for r in rows}
    assert len(tags) == 2, "the trained and the released weights"


def test_a_second_call_trains_nothing_and_reuses_the_rows(
    first: rep.ReproduceResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "again"
    shutil.copytree(first.out, out)  # keeps the modification times
    stamps = {p: p.stat().st_mtime_ns for p in (out / "train").rglob("*.pt")}
    trained_csv, released_csv = out / "eval_trained_paper.csv", out / "eval_released_paper.csv"
    rows = rows_of(trained_csv)
    rows[0]["MI"] = "123.000000"  # a reused row keeps this value
    write_rows(trained_csv, rows)
    released = rows_of(released_csv)
    write_rows(released_csv, [r for r in released if r["dataset"] != "RoadScene"])  # as if interrupted

    sets = [f"--set={item}" for item in TINY]
    assert main(["reproduce", "--out", str(out), "--pairs", "1", *sets, "--no-progress"]) == 0

    printed = capsys.readouterr().out
    assert "already trained, not run again" in printed
    assert "| TNO (1) | MI | 2.57 |" in printed
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps, "no checkpoint or result was rewritten"
    table = {(r["dataset"], r["metric"]): r for r in rows_of(out / "reproduce_quick.csv")}
    assert float(table["TNO", "MI"]["trained"]) == 123.0
    before = {(r["dataset"], r["metric"]): r for r in rows_of(first.table_csv)}
    assert table["RoadScene", "MI"]["released"] == before["RoadScene", "MI"]["released"], (
        "row filled in again"
    )
    assert len(rows_of(released_csv)) == len(FNET_TEST_SETS)


def test_results_go_to_the_repository_only_at_the_paper_scale(tmp_path: Path) -> None:
    repository = Path(rep.__file__).resolve().parents[1] / "results"
    assert default_results_dir("paper", tmp_path, full_scale=True) == repository
    assert default_results_dir("paper", tmp_path, full_scale=False) == tmp_path
    assert default_results_dir("quick", tmp_path, full_scale=True) == tmp_path


def test_the_torchrun_command_line() -> None:
    command = torchrun_command(
        "paper", Path("runs/paper/train"), 4, ["lr=1e-5", "bf16=false"], progress=False
    )
    assert command == [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "4",
        "-m", "lzsc", "train", "--stage", "both", "--profile", "paper", "--out", "runs/paper/train",
        "--resume", "--set", "lr=1e-5", "--set", "bf16=false", "--no-progress",
    ]  # fmt: skip
    assert torchrun_command("quick", Path("t"), 2)[-3:] == ["--out", "t", "--resume"]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"nproc": 0}, "nproc must be at least 1"),
        ({"pairs": 0}, "pairs must be at least 1"),
        ({"profile_name": "huge"}, "unknown profile 'huge'"),
        ({"overrides": ["speed=11"]}, "unknown training setting 'speed'"),
        ({"overrides": ["steps=ten"]}, "bad value for steps"),
        ({"nproc": 2, "overrides": ["batch_size=3"]}, "cannot be split over 2 processes"),
    ],
)
def test_bad_input_is_refused_before_anything_runs(tmp_path: Path, kwargs: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        reproduce(**{"profile_name": "quick", "out": tmp_path / "out", **kwargs})
    assert not (tmp_path / "out").exists()


def test_without_data_it_says_how_to_set_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LZSC_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="export LZSC_DATA="):
        reproduce("quick", out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_several_processes_need_torchrun(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(rep, "find_spec", lambda name: None)
    with pytest.raises(ReproduceError, match="torchrun"):
        reproduce("quick", out=tmp_path, nproc=2)


def test_a_failed_torchrun_training_is_an_error(
    lzsc_data: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    launched = []

    def fail(command: list[str], check: bool) -> subprocess.CompletedProcess:
        launched.append(command)
        return subprocess.CompletedProcess(command, 3)

    monkeypatch.setattr(rep.subprocess, "run", fail)
    assert main(["reproduce", "--out", str(tmp_path), "--nproc", "2", "--no-progress"]) == 1
    assert launched == [torchrun_command("quick", tmp_path / "train", 2, [], progress=False)]
    assert "training under torchrun failed (exit status 3" in capsys.readouterr().err
    assert not (tmp_path / "reproduce_quick.csv").exists()


def test_the_command_line_refuses_zero_processes() -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["reproduce", "--nproc", "0"])
    assert exit_info.value.code == 2


def test_the_quick_profile_as_a_user_runs_it(lzsc_data: Path, tmp_path: Path) -> None:
    """The issue's CI run: ``lzsc reproduce --profile quick``, nothing overridden (a few CPU minutes)."""
    command = [sys.executable, "-m", "lzsc", "reproduce", "--profile", "quick", "--out", str(tmp_path)]
    command.append("--no-progress")
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    table = {(r["dataset"], r["metric"]): r for r in rows_of(tmp_path / "reproduce_quick.csv")}
    assert len(table) == len(PAPER_METRICS) * len(FNET_TEST_SETS)
    assert "270 steps per stage" in done.stdout
    assert "the first 2 pair(s) of each test set" in done.stdout
    assert float(table["TNO", "MI"]["trained"]) > 1.0, "the quick FNet fuses (an untrained one scores ~0.1)"
