"""Smoke run of ``benchmarks/bench_fnet.py --quick`` (not timed: checks that it runs and writes its CSV)."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_fnet.py"
CASES = {"fuse_320", "fuse_640x480", "batch16", "train_stage1", "train_stage2"}


def test_bench_fnet_quick(tmp_path: Path) -> None:
    out = tmp_path / "fnet.csv"
    cmd = [
        sys.executable,
        str(BENCH),
        "--quick",
        "--device",
        "cpu",
        "--threads",
        "1",
        "--repeats",
        "1",
        "--csv",
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {(r["case"], r["path"]) for r in rows} == {(c, p) for c in CASES for p in ("ref", "fast")}
    for row in rows:
        assert float(row["median_s"]) > 0
        assert float(row["ratio"]) > 0
        assert float(row["gmacs"]) > 0
        assert row["device"] == "cpu"
        if row["path"] == "fast" and not row["case"].startswith("train"):
            assert float(row["u8_max_diff"]) <= 1
    assert "appended 10 rows" in proc.stdout
