"""``lzsc.cost``: MACs, timing on a backend without touching the caller's model, and the baseline."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from lzsc.baselines import MeanFusion
from lzsc.cost import count_macs, model_cost
from lzsc.evaluation import model_hash
from lzsc.fusion import module_device
from lzsc.models import FNet, FNetConfig, IFNet, IFNetConfig
from lzsc.unrolled import LZSCConfig

pytestmark = pytest.mark.usefixtures("one_thread")


class Recorder(nn.Module):
    """A model with backends that records which backend ran."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, 1, 3, 3))
        self.backend = "auto"
        self.ran: list[str] = []

    def set_backend(self, backend: str) -> Recorder:
        self.backend = backend
        return self

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        self.ran.append(self.backend)
        return nn.functional.conv2d(a + b, self.weight, padding=1)


def test_macs_are_weights_times_pixels() -> None:
    net = FNet(FNetConfig(block=LZSCConfig(n_filters=4, kernel_size=3, n_iter=2)))
    weights = sum(p.numel() for p in net.parameters() if p.dim() == 4)
    assert count_macs(net, 16) == weights * 16 * 16


def test_macs_of_a_one_input_model() -> None:
    """IFNet takes the fused image alone: ``inputs=1``; its convolutions count once per pixel too."""
    net = IFNet(IFNetConfig(block=LZSCConfig(n_filters=4, kernel_size=3, n_iter=2)))
    weights = sum(p.numel() for p in net.parameters() if p.dim() == 4)
    assert count_macs(net, 16, inputs=1) == weights * 16 * 16


def test_model_cost_times_a_copy_on_the_backend() -> None:
    model = Recorder()
    cost = model_cost(model, size=8, repeats=2, warmup=1, backend="reference")
    assert cost["backend"] == "reference"
    assert cost["macs"] == 9 * 8 * 8
    assert cost["params"] == 9
    assert len(cost["times"]) == 2
    assert cost["seconds"] > 0
    assert (model.backend, model.ran) == ("auto", [])  # the caller's model is untouched


def test_model_cost_keeps_an_fnets_backend() -> None:
    net = FNet(FNetConfig(block=LZSCConfig(n_filters=4, kernel_size=3, n_iter=2))).eval()
    cost = model_cost(net, size=16, repeats=1, warmup=0, backend="reference")
    assert cost["seconds"] > 0
    assert net.backend == "auto"


def test_models_without_backends_take_only_auto() -> None:
    cost = model_cost(MeanFusion(), size=8, repeats=1, warmup=0)
    assert (cost["params"], cost["macs"]) == (0, 0)
    with pytest.raises(ValueError, match="MeanFusion has a single implementation"):
        model_cost(MeanFusion(), size=8, repeats=1, backend="engine")
    assert math.isnan(model_cost(MeanFusion(), size=8, repeats=0)["seconds"])


def test_mean_fusion_has_no_parameters_but_a_device() -> None:
    mean = MeanFusion()
    assert list(mean.parameters()) == []
    assert module_device(mean) == torch.device("cpu")
    assert module_device(mean.to("meta")) == torch.device("meta")
    assert model_hash(MeanFusion()) == "79bfb0e2ba76"  # the cache key of its fused images stays put
    a, b = torch.zeros(1, 1, 4, 4), torch.ones(1, 1, 4, 4)
    assert torch.equal(MeanFusion()(a, b), torch.full((1, 1, 4, 4), 0.5))


class ReadsValues(nn.Module):
    """A pair model whose forward needs values (as CSC-IVFN's histograms): it cannot run on ``meta``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 5, padding=2, bias=False)

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        scale = float(a.max())  # Tensor.item(): no value on the meta device
        return self.conv(torch.cat((a, b), dim=1)) * scale


def test_macs_of_a_model_that_reads_values_are_counted_on_the_cpu() -> None:
    assert count_macs(ReadsValues(), size=16) == 3 * 2 * 5 * 5 * 16 * 16


def test_training_flop_counter_corrects_grouped_convolutions_and_cpu_attention() -> None:
    """A depthwise 3 x 3 convolution: forward F, input gradient F, weight gradient F (torch 2.13 counts
    the last ``groups`` times over). CPU attention: the forward's two batched products, and 7/2 of
    them with the backward (torch's formula for the flash backward)."""
    import torch.nn.functional as F

    from lzsc.flops import flop_counter

    x = torch.rand(2, 8, 6, 6, requires_grad=True)
    conv = nn.Conv2d(8, 8, 3, padding=1, groups=8)
    forward = 2 * 2 * 8 * 9 * 36
    with flop_counter() as counter:
        conv(x).sum().backward()
    assert counter.get_total_flops() == 3 * forward
    q, k, v = (torch.rand(1, 2, 16, 8, requires_grad=True) for _ in range(3))
    products = 2 * (2 * 1 * 2 * 16 * 16 * 8)
    with flop_counter() as only_forward:
        F.scaled_dot_product_attention(q, k, v)
    with flop_counter() as both:
        F.scaled_dot_product_attention(q, k, v).sum().backward()
    assert (only_forward.get_total_flops(), both.get_total_flops()) == (products, 7 * products // 2)
