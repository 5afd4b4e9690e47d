"""Training FLOPs: torch's ``FlopCounterMode`` with two of its miscounts (torch 2.13) corrected.

- The weight gradient of a *grouped* convolution is counted ``groups`` times over: it has
  C_out x C_in / groups x k x k entries, each a sum over N x H_out x W_out products, and torch counts
  C_out x C_in of them (the fix was proposed upstream, pytorch/pytorch PR 183405). Depthwise
  convolutions (Restormer's, DAE-Fuse's) make the uncorrected count of a training step 1.7 to 2.6 times
  too large.
- Attention on the CPU (``_scaled_dot_product_flash_attention_for_cpu`` and its backward) is counted
  as zero; here it counts as the other attention kernels do.

:func:`flop_counter` returns the corrected counter (``tests/test_cost.py`` checks it on hand-counted
cases); ``benchmarks/bench_methods.py`` counts DAE-Fuse's training steps with it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils import flop_counter as fc
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["fixes", "flop_counter"]

aten = torch.ops.aten


def _conv_backward_flop(
    grad_out_shape: list[int],
    x_shape: list[int],
    w_shape: list[int],
    _bias: Any,
    _stride: Any,
    _padding: Any,
    _dilation: Any,
    transposed: bool,
    _output_padding: Any,
    groups: int,
    output_mask: list[bool],
    out_shape: Any = None,
    **kwargs: Any,
) -> int:
    """torch's ``conv_backward_flop`` with the weight gradient divided by ``groups``: a grouped
    convolution's weight gradient has C_out x C_in / groups x k x k entries, each a sum over
    N x H_out x W_out products, but torch's formula (as of 2.13) counts C_out x C_in of them."""

    def t(shape: list[int]) -> list[int]:
        return [shape[1], shape[0], *shape[2:]]

    flops = 0
    if output_mask[0]:
        flops += fc.conv_flop_count(grad_out_shape, w_shape, list(out_shape[0]), not transposed)
    if output_mask[1]:
        gw = list(out_shape[1])
        if transposed:
            flops += fc.conv_flop_count(t(grad_out_shape), t(x_shape), t(gw), transposed=False) // groups
        else:
            flops += fc.conv_flop_count(t(x_shape), t(grad_out_shape), t(gw), transposed=False) // groups
    return flops


def _sdpa_flop(
    query_shape: list[int], key_shape: list[int], value_shape: list[int], *args: Any, **kwargs: Any
) -> int:
    return fc.sdpa_flop_count(query_shape, key_shape, value_shape)


def _sdpa_backward_flop(
    grad_out_shape: list[int],
    query_shape: list[int],
    key_shape: list[int],
    value_shape: list[int],
    *args: Any,
    **kwargs: Any,
) -> int:
    return fc.sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


def fixes() -> dict[Any, Any]:
    """The formulas :func:`flop_counter` puts over torch's (its ``custom_mapping``, given shapes);
    CPU attention only where torch has no formula of its own."""
    fixes: dict[Any, Any] = {aten.convolution_backward: _conv_backward_flop}
    for op, formula in (
        ("_scaled_dot_product_flash_attention_for_cpu", _sdpa_flop),
        ("_scaled_dot_product_flash_attention_for_cpu_backward", _sdpa_backward_flop),
    ):
        packet = getattr(aten, op, None)
        if packet is not None and packet not in fc.flop_registry:
            fixes[packet] = formula
    return fixes


def flop_counter() -> FlopCounterMode:
    """FlopCounterMode (``display=False``) with grouped-convolution backward and CPU attention corrected."""
    return FlopCounterMode(display=False, custom_mapping=fixes())
