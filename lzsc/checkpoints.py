"""Checkpoints: the authors' released FNet weights, and atomic save / load of lzsc's own files.

The release's state_dict (``docs/conventions.md``) uses the names of its code; lzsc uses the paper's
symbols. :func:`official_to_lzsc` maps one to the other, key by key::

    net_u / net_v / net_z                 -> lzsc_u1 / lzsc_u2 / lzsc_c
    conv_u, conv_v                        -> D_u1, D_u2
    decoder.conv_1, conv_2, conv_3        -> G_u1, G_c, G_u2
    x0_block.conv_in                      -> W_e.0
    x1_block.conv_in                      -> W_e.1
    x1_block.basic_layer.ch_down / ch_up  -> W_d.0 / W_u.0
    IM.j.conv_in                          -> W_e.{j+2}
    IM.j.basic_layer1.ch_down / ch_up     -> W_d.{j+1} / W_u.{j+1}
    IM.j.basic_layer2.ch_down / ch_up     -> W_d_prev.j / W_u_prev.j
    w_ro, b_ro                            -> w_rho, b_rho
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .atomic import atomic_open
from .models import FNet
from .paths import official_checkpoint

__all__ = [
    "CheckpointError",
    "load_fnet",
    "load_official_fnet",
    "load_state_dict_strict",
    "official_to_lzsc",
    "read_checkpoint",
    "save_atomic",
]

_TOP = {
    "net_u": "lzsc_u1",
    "net_v": "lzsc_u2",
    "net_z": "lzsc_c",
    "conv_u.weight": "D_u1",
    "conv_v.weight": "D_u2",
    "decoder.conv_1.weight": "G_u1",
    "decoder.conv_2.weight": "G_c",
    "decoder.conv_3.weight": "G_u2",
}
_BLOCK = [
    (r"x0_block\.conv_in\.weight", lambda m: "W_e.0"),
    (r"x1_block\.conv_in\.weight", lambda m: "W_e.1"),
    (r"x1_block\.basic_layer\.ch_down\.weight", lambda m: "W_d.0"),
    (r"x1_block\.basic_layer\.ch_up\.weight", lambda m: "W_u.0"),
    (r"IM\.(\d+)\.conv_in\.weight", lambda m: f"W_e.{int(m[1]) + 2}"),
    (r"IM\.(\d+)\.basic_layer1\.ch_down\.weight", lambda m: f"W_d.{int(m[1]) + 1}"),
    (r"IM\.(\d+)\.basic_layer1\.ch_up\.weight", lambda m: f"W_u.{int(m[1]) + 1}"),
    (r"IM\.(\d+)\.basic_layer2\.ch_down\.weight", lambda m: f"W_d_prev.{m[1]}"),
    (r"IM\.(\d+)\.basic_layer2\.ch_up\.weight", lambda m: f"W_u_prev.{m[1]}"),
    (r"w_theta", lambda m: "w_theta"),
    (r"b_theta", lambda m: "b_theta"),
    (r"w_ro", lambda m: "w_rho"),
    (r"b_ro", lambda m: "b_rho"),
]


class CheckpointError(RuntimeError):
    """A checkpoint that does not fit the model; the message lists what differs."""


def official_to_lzsc(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Rename the release's state_dict keys to lzsc's (see the module docstring)."""
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        if key in _TOP:
            out[_TOP[key]] = value
            continue
        prefix, _, rest = key.partition(".")
        if prefix not in _TOP:
            raise CheckpointError(f"unexpected key {key!r} in the released checkpoint")
        for pattern, rename in _BLOCK:
            match = re.fullmatch(pattern, rest)
            if match:
                out[f"{_TOP[prefix]}.{rename(match)}"] = value
                break
        else:
            raise CheckpointError(f"unexpected key {key!r} in the released checkpoint")
    return out


def load_state_dict_strict(model: nn.Module, state: Mapping[str, Tensor], source: str = "checkpoint") -> None:
    """``model.load_state_dict`` with an error that names every missing, unexpected or misshapen key."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in sorted(set(own) & set(state))
        if tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or shapes:
        lines = [f"{source} does not fit {type(model).__name__}:"]
        for label, items in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatches", shapes),
        ):
            if items:
                lines.append(f"  {label} ({len(items)}): " + "; ".join(items))
        lines.append("  Build the model with the configuration the checkpoint was trained with.")
        raise CheckpointError("\n".join(lines))
    model.load_state_dict(state)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """``torch.load`` with ``weights_only=True`` on CPU, with a clear error for bad files."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint ({err})") from err


def load_official_fnet(path: str | Path | None = None) -> FNet:
    """FNet with the authors' released weights (``$LZSC_DATA/checkpoints/fnet_official.pth``)."""
    path = Path(path) if path is not None else official_checkpoint()
    model = FNet()
    load_state_dict_strict(model, official_to_lzsc(read_checkpoint(path)), source=str(path))
    return model.eval()


def load_fnet(spec: str | Path) -> FNet:
    """FNet from ``"official"``, a released-format file, or an lzsc checkpoint (``model``/``ema`` entry).

    lzsc training checkpoints hold the FNet configuration; the EMA weights are preferred.
    """
    if str(spec) == "official":
        return load_official_fnet()
    raw = read_checkpoint(spec)
    if "ema" in raw or "model" in raw:
        from .models.fnet import FNetConfig
        from .unrolled import LZSCConfig

        cfg = raw.get("fnet_config")
        config = (
            FNetConfig(block=LZSCConfig(**cfg["block"]), block_kind=cfg["block_kind"])
            if cfg
            else FNetConfig()
        )
        model = FNet(config)
        load_state_dict_strict(model, raw.get("ema") or raw["model"], source=str(spec))
        return model.eval()
    state = official_to_lzsc(raw) if any(k.startswith("net_u.") for k in raw) else raw
    model = FNet()
    load_state_dict_strict(model, state, source=str(spec))
    return model.eval()


def save_atomic(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to a temporary file in the same folder, fsync, then rename over ``path``."""
    with atomic_open(path) as fh:
        torch.save(obj, fh)
    return Path(path)
