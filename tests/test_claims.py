"""The claims ledger (lzsc.claims): statuses by rule, built from committed files, never stale."""

from __future__ import annotations

import csv
import math
import shutil
from pathlib import Path

import pytest

from lzsc.claims import (
    EXPLAINED,
    STATUSES,
    build_claims,
    claims_csv,
    measure_fig10,
    read_claims,
    results_dir,
    tolerance,
)
from lzsc.claims import _judge as judge


class TestTolerance:
    def test_two_decimals_below_one_percent_above(self) -> None:
        assert tolerance(0.57) == 0.01
        assert tolerance(-0.2) == 0.01
        assert tolerance(55.94) == pytest.approx(0.5594)

    def test_judge(self) -> None:
        assert judge("FNet", "TNO", "MI", 2.57, 2.565) == ("reproduced", "")
        assert judge("FNet", "TNO", "MI", 2.57, 2.50) == ("not reproduced", "")
        status, reason = judge("CSC", "FLIR", "SD", 55.94, 61.50)
        assert status == "deviation explained"
        assert reason == EXPLAINED["CSC", "FLIR", "SD"]


@pytest.fixture
def results_copy(lzsc_data: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "results"
    shutil.copytree(results_dir(), folder)
    return folder


@pytest.mark.data
class TestLedger:
    def test_committed_ledger_is_current(self, lzsc_data: Path) -> None:
        fresh = claims_csv(build_claims())
        committed = read_claims(results_dir() / "claims.csv")
        assert fresh == committed, "results/claims.csv is stale: a results file changed; run `lzsc claims`"

    def test_a_changed_result_makes_the_ledger_stale(self, results_copy: Path) -> None:
        path = results_copy / "eval_official_paper.csv"
        rows = list(csv.DictReader(path.open()))
        rows[0]["MI"] = str(float(rows[0]["MI"]) + 25.0)  # one TNO pair: the set's mean moves by 1
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        claims = build_claims(results_copy)
        assert claims_csv(claims) != read_claims(results_dir() / "claims.csv")
        (mi,) = [
            c
            for c in claims
            if c.paper == "FNet" and c.where == "Table I" and c.dataset == "TNO" and c.quantity == "MI"
        ]
        assert mi.status == "not reproduced"
        assert mi.difference == pytest.approx(1.0, abs=0.02)

    def test_every_claim_has_a_status_and_a_source_or_a_reason(self, lzsc_data: Path) -> None:
        claims = build_claims()
        assert {c.status for c in claims} <= set(STATUSES)
        for c in claims:
            assert c.source or c.status == "not reproducible here", c
            assert c.reason or c.status in ("reproduced", "not reproduced"), c
        table1 = [c for c in claims if c.paper == "FNet" and c.where == "Table I"]
        assert len(table1) == 30  # 5 test sets x 6 metrics
        assert len([c for c in claims if c.paper == "CSC"]) == 21  # 3 sets x 7 metrics
        assert all(c.status == "not reproducible here" for c in claims if c.paper == "DAE-Fuse")
        assert {c.quantity.split(",")[0] for c in claims if c.where == "Fig. 10"} == {
            "near-zero increase (%)"
        }

    def test_table1_values_are_the_means_of_the_committed_rows(self, lzsc_data: Path) -> None:
        rows = [
            r
            for r in csv.DictReader((results_dir() / "eval_official_paper.csv").open())
            if r["dataset"] == "TNO"
        ]
        (vif,) = [
            c
            for c in build_claims()
            if c.paper == "FNet" and c.where == "Table I" and c.dataset == "TNO" and c.quantity == "VIF"
        ]
        assert vif.lzsc_value == pytest.approx(math.fsum(float(r["VIF"]) for r in rows) / len(rows))
        assert vif.scale.endswith(f"{len(rows)} pairs")

    def test_tno_ce_is_explained_only_by_a_colour_run_that_bears_it_out(self, results_copy: Path) -> None:
        def tno_ce() -> object:
            claims = build_claims(results_copy)
            return next(c for c in claims if c.paper == "FNet" and c.dataset == "TNO" and c.quantity == "CE")

        explained = tno_ce()
        assert explained.status == "deviation explained"
        assert "colour mode" in explained.reason
        path = results_copy / "eval_official_tno_colour.csv"
        rows = list(csv.DictReader(path.open()))
        for row in rows:
            row["CE"] = str(float(row["CE"]) + 0.3)
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        assert tno_ce().status == "not reproduced"
        path.unlink()
        assert tno_ce().status == "not reproduced"

    def test_a_missing_results_file_is_named(self, results_copy: Path) -> None:
        (results_copy / "fig10_official.csv").unlink()
        with pytest.raises(FileNotFoundError, match=r"fig10_official\.csv is missing"):
            build_claims(results_copy)

    def test_command_writes_the_ledger(self, results_copy: Path, capsys: pytest.CaptureFixture) -> None:
        from lzsc.cli import main

        (results_copy / "claims.csv").unlink()
        assert main(["claims", "--results", str(results_copy)]) == 0
        assert (results_copy / "claims.csv").read_text() == read_claims(results_dir() / "claims.csv")
        assert "claims;" in capsys.readouterr().out


@pytest.mark.data
@pytest.mark.slow
def test_committed_fig10_matches_a_fresh_measurement(official_path: Path) -> None:
    committed = list(csv.DictReader((results_dir() / "fig10_official.csv").open()))
    fresh = measure_fig10()
    assert len(fresh) == len(committed)
    for old, new in zip(committed, fresh, strict=True):
        assert (old["block"], float(old["tol"])) == (new["block"], new["tol"])
        assert float(old["increase_pct"]) == pytest.approx(new["increase_pct"], rel=1e-4)
