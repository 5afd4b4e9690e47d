"""lzsc.interpret: traces, schedules, zero counts, ROC-AUC and the synthetic recovery scores."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lzsc.data import SyntheticMCSC
from lzsc.interpret import (
    BLOCKS,
    FNetTrace,
    channel_energy,
    component_scores,
    is_monotone,
    recovery_report,
    recovery_scores,
    roc_auc,
    schedule_report,
    schedules,
    support_auc,
    top_channels,
    trace_fnet,
    zero_fraction,
    zero_increase,
    zero_increase_table,
    zero_report,
)
from lzsc.models import FNet, FNetConfig
from lzsc.unrolled import BlockOutput, LZSCConfig


def small_fnet(block_kind: str = "lzsc", **block) -> FNet:
    torch.manual_seed(0)
    cfg = LZSCConfig(n_filters=4, kernel_size=3, **block)
    return FNet(FNetConfig(block=cfg, block_kind=block_kind)).eval()


@pytest.fixture
def pair() -> tuple[torch.Tensor, torch.Tensor]:
    sample = SyntheticMCSC(size=24, kind="image", seed=3).pair(0)
    return sample.a, sample.b


@pytest.mark.parametrize(
    ("block_kind", "block"),
    [("lzsc", {}), ("lzsc", {"momentum": "qhm"}), ("lzsc", {"n_iter": 2}), ("lcsc", {})],
)
def test_trace_matches_forward(pair, block_kind, block):
    model = small_fnet(block_kind, **block)
    a, b = pair
    trace = trace_fnet(model, a, b)
    with torch.no_grad():
        out = model.set_backend("reference")(a, b, return_parts=True)
    torch.testing.assert_close(trace.fused, out.fused)
    for name in ("u1", "u2", "c", "residual_a", "residual_b", "rec_u1", "rec_u2", "rec_c"):
        torch.testing.assert_close(getattr(trace, name), getattr(out, name))
    n_iter = model.config.block.n_iter
    for name in BLOCKS:
        assert len(trace.blocks[name].iterates) == n_iter + 1
        assert len(trace.blocks[name].pre_activations) == n_iter + 1
        torch.testing.assert_close(trace.blocks[name].iterates[-1], trace.code(name))
    torch.testing.assert_close(trace.unique_a + trace.residual_a, a)
    with pytest.raises(KeyError):
        trace.code("z")


def test_schedules_and_monotone():
    model = small_fnet()
    sched = schedules(model)
    assert set(sched) == set(BLOCKS)
    for values in sched.values():
        assert values["theta"].shape == (5,)
        assert values["rho"].shape == (4,)
        # the release's initial slopes: w_theta = -0.5 < 0, w_rho = 0.5 > 0
        assert is_monotone(values["theta"], "decreasing")
        assert is_monotone(values["rho"], "increasing")
    assert "theta^k decreasing True" in schedule_report({"init": sched})
    assert schedules(small_fnet("lcsc")) == {}
    assert not is_monotone([1.0, 1.0, 0.5], "decreasing")
    assert is_monotone([0.1, 0.2], "increasing")
    with pytest.raises(ValueError, match="direction"):
        is_monotone([1, 2], "up")


def test_zero_fraction_and_increase():
    pre = torch.tensor([0.0, 0.5, 0.0005, -0.002, 2.0])
    post = torch.tensor([0.0, 0.0, 0.0, -0.0005, 2.0])
    assert zero_fraction(pre) == pytest.approx(0.2)
    assert zero_fraction(pre, 1e-3) == pytest.approx(0.4)
    stats = zero_increase(pre, post, 1e-3)
    assert stats["zeros_before"] == pytest.approx(0.4)
    assert stats["zeros_after"] == pytest.approx(0.8)
    assert stats["increase_pct"] == pytest.approx(100.0)
    assert zero_increase(torch.ones(3), torch.zeros(3), 0.0)["increase_pct"] == math.inf
    assert zero_increase(torch.ones(3), torch.ones(3), 0.0)["increase_pct"] == 0.0
    with pytest.raises(ValueError, match="tol"):
        zero_fraction(pre, -1.0)


def test_zero_increase_table(pair):
    trace = trace_fnet(small_fnet(), *pair)
    rows = zero_increase_table(trace, [1e-3, 1e-2])
    assert [(r["block"], r["tol"]) for r in rows] == [(b, t) for b in BLOCKS for t in (1e-3, 1e-2)]
    last = trace.blocks["u1"]
    expected = zero_increase(last.pre_activations[-1], last.iterates[-1], 1e-3)
    assert rows[0] == {"block": "u1", **expected}
    text = zero_report(rows)
    lines = text.splitlines()
    assert lines[1].split()[:2] == ["u1", "1e-03"]
    assert lines[1].split()[-2:] == ["+596.5%", "(u2)"]
    assert lines[3].split()[:2] == ["u2", "1e-03"]
    assert lines[3].split()[-2:] == ["+84.4%", "(u1)"]
    assert text.count("\n") == len(rows)


def test_channel_energy_and_top_channels():
    code = torch.zeros(1, 3, 2, 2)
    code[0, 1] = 2.0
    code[0, 2, 0, 0] = 1.0
    energy = channel_energy(code)
    np.testing.assert_allclose(energy, [[5.0, 4.0], [4.0, 4.0]])
    assert top_channels(code, 2) == [1, 2]
    with pytest.raises(ValueError, match="one code at a time"):
        channel_energy(torch.zeros(2, 3, 2, 2))


def test_roc_auc():
    mask = np.array([0, 0, 1, 1])
    assert roc_auc(np.array([0.1, 0.2, 0.3, 0.4]), mask) == 1.0
    assert roc_auc(np.array([0.4, 0.3, 0.2, 0.1]), mask) == 0.0
    assert roc_auc(np.ones(4), mask) == 0.5  # ties count half
    assert math.isnan(roc_auc(np.ones(4), np.ones(4)))
    rng = np.random.default_rng(0)
    score, labels = rng.normal(size=500), rng.random(500) < 0.3
    score[labels] += 1.0
    pairs = (score[labels][:, None] > score[~labels][None, :]).mean()
    assert roc_auc(score, labels) == pytest.approx(pairs)
    sklearn = pytest.importorskip("sklearn.metrics")
    rounded = np.round(score, 1)  # with ties
    assert roc_auc(rounded, labels) == pytest.approx(sklearn.roc_auc_score(labels, rounded))


def _oracle_trace(sample) -> FNetTrace:
    """A trace whose codes and decomposition are exactly the ground truth (a perfect FNet)."""
    unique_a, unique_b = sample.supports["unique_a"].float(), sample.supports["unique_b"].float()
    common = sample.supports["common"].float()

    def block(u):
        return BlockOutput(u, [u], [u])

    return FNetTrace(
        sample.a,
        sample.b,
        {"u1": block(unique_a), "u2": block(unique_b), "c": block(common)},
        sample.a - sample.unique_a,
        sample.b - sample.unique_b,
        sample.unique_a,
        sample.unique_b,
        sample.common,
    )


def test_scores_of_a_perfect_decomposition():
    samples = SyntheticMCSC(size=32, kind="image", seed=0).pairs(2)
    traces = [_oracle_trace(s) for s in samples]
    aucs = support_auc(traces, samples)
    assert aucs == {"u1 vs c on A": 1.0, "u2 vs c on B": 1.0}
    corr = component_scores(traces, samples)
    for key, value in corr.items():
        assert value == pytest.approx(1.0), key


def test_recovery_scores_of_a_model(pair):
    samples = SyntheticMCSC(size=24, kind="image", seed=1).pairs(2)
    scores = recovery_scores(small_fnet(), samples)
    assert list(scores) == [
        "AUC u1 vs c on A",
        "AUC u2 vs c on B",
        "corr unique_a",
        "corr unique_b",
        "corr common_a",
        "corr common_b",
    ]
    for key, value in scores.items():
        assert (0.0 <= value <= 1.0) if key.startswith("AUC") else (-1.0 <= value <= 1.0), key
    assert "AUC u1 vs c on A" in recovery_report({"small": scores})
