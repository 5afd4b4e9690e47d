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

Every load checks what a file holds before using it: a bare tensor, a list, a dict without weights
or an unknown FNet configuration is a :class:`CheckpointError` saying what the file is
(:func:`describe_checkpoint`) and what was expected, and so is a floating tensor holding NaN or Inf
(:func:`check_finite`), which would otherwise fuse to a black or white image. Files are read with
``torch.load(weights_only=True)``, which never runs code from the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .atomic import atomic_open
from .models import FNet, FNetConfig
from .paths import official_checkpoint

__all__ = [
    "CheckpointError",
    "check_finite",
    "describe_checkpoint",
    "find_nonfinite",
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
    """A checkpoint that cannot be used (unreadable, wrong content, non-finite weights, does not fit the
    model); the message says what is wrong and what to do."""


_LISTED = 10  # at most this many offending keys are named in a message


def _walk_tensors(obj: Any, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
    """(dotted key, tensor) for every tensor in nested dicts / lists / tuples."""
    if isinstance(obj, Tensor):
        yield prefix or "<tensor>", obj
    elif isinstance(obj, Mapping):
        for key, value in obj.items():
            yield from _walk_tensors(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(obj, list | tuple):
        for index, value in enumerate(obj):
            yield from _walk_tensors(value, f"{prefix}[{index}]")


def find_nonfinite(obj: Any) -> list[str]:
    """``"key (N NaN, M Inf of T)"`` for every floating tensor in ``obj`` (nested dicts / lists) holding
    NaN or Inf; empty when every value is finite."""
    bad = []
    for key, tensor in _walk_tensors(obj):
        if (tensor.is_floating_point() or tensor.is_complex()) and not bool(torch.isfinite(tensor).all()):
            nan, inf = int(torch.isnan(tensor).sum()), int(torch.isinf(tensor).sum())
            bad.append(f"{key} ({nan} NaN, {inf} Inf of {tensor.numel()})")
    return bad


def check_finite(obj: Any, source: str = "checkpoint") -> None:
    """Raise :class:`CheckpointError` when a floating tensor anywhere in ``obj`` holds NaN or Inf.

    The message names every such tensor (up to 10, :func:`find_nonfinite`) with its count of NaN and Inf.
    """
    bad = find_nonfinite(obj)
    if bad:
        more = f"; and {len(bad) - _LISTED} more" if len(bad) > _LISTED else ""
        raise CheckpointError(
            f"{source} holds non-finite weights in {len(bad)} tensor(s): {'; '.join(bad[:_LISTED])}{more}. "
            "A model with them computes NaN (a black fused image). The file is corrupt or comes from a "
            "diverged run: use an earlier checkpoint, download the released weights again, or retrain "
            "with a lower learning rate (--set lr=VALUE)."
        )


def describe_checkpoint(obj: Any) -> str:
    """What a loaded checkpoint file holds, in words (for error messages)."""
    if isinstance(obj, Tensor):
        return f"a bare tensor of shape {tuple(obj.shape)}"
    if not isinstance(obj, Mapping):
        size = f" of {len(obj)} items" if isinstance(obj, list | tuple) else ""
        return f"a {type(obj).__name__}{size}"
    if str(obj.get("format", "")).startswith("lzsc-train"):
        where = f"stage {obj.get('stage')}, step {obj.get('step')}"
        if "optimizer" in obj:
            return f"an lzsc training checkpoint ({where})"
        return f"an lzsc stage-{obj.get('stage')} result ({where}; what --init and --checkpoint read)"
    if any(isinstance(k, str) and k.startswith("net_u.") for k in obj):
        return "FNet weights in the release's format (such as the authors' fnet_official.pth)"
    if "model" in obj or "ema" in obj:
        return "an lzsc FNet checkpoint (model / ema weights)"
    if obj and all(isinstance(v, Tensor) for v in obj.values()):
        return f"a state_dict of {len(obj)} tensors"
    keys = ", ".join(repr(k) for k in list(obj)[:_LISTED]) + (", ..." if len(obj) > _LISTED else "")
    return f"a dict with keys {keys or '(none)'}"


_EXPECTED = (
    "expected FNet weights: the released fnet_official.pth, or an lzsc result (stage1.pt / stage2.pt) "
    "or training checkpoint (checkpoint.pt)"
)


def _state_dict(obj: Any, source: str) -> dict[str, Tensor]:
    """``obj`` as a state_dict (str keys, tensor values), else a :class:`CheckpointError` saying so."""
    if not isinstance(obj, Mapping) or not all(
        isinstance(k, str) and isinstance(v, Tensor) for k, v in obj.items()
    ):
        raise CheckpointError(f"{source} holds {describe_checkpoint(obj)}, not a state_dict; {_EXPECTED}")
    return dict(obj)


def _fnet_config(cfg: Any, source: str) -> FNetConfig:
    """The FNet configuration stored in an lzsc checkpoint (``None``: the default FNet)."""
    from .unrolled import LZSCConfig

    if cfg is None:
        return FNetConfig()
    try:
        return FNetConfig(block=LZSCConfig(**cfg["block"]), block_kind=cfg["block_kind"])
    except (TypeError, KeyError, ValueError) as err:
        raise CheckpointError(
            f"{source} holds an FNet configuration this version of lzsc cannot build ({err!r} in "
            f"{cfg!r}); the file was written by another version or edited: retrain, or use a "
            "checkpoint written by this version"
        ) from None


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
    state = official_to_lzsc(_state_dict(read_checkpoint(path), str(path)))
    check_finite(state, str(path))
    model = FNet()
    load_state_dict_strict(model, state, source=str(path))
    return model.eval()


def load_fnet(spec: str | Path) -> FNet:
    """FNet from ``"official"``, a released-format file, or an lzsc checkpoint (``model``/``ema`` entry).

    lzsc training checkpoints hold the FNet configuration; the EMA weights are preferred. A file that
    holds anything else, or non-finite weights, is a :class:`CheckpointError`.
    """
    if str(spec) == "official":
        return load_official_fnet()
    raw = read_checkpoint(spec)
    source = str(spec)
    if not isinstance(raw, Mapping):
        raise CheckpointError(f"{source} holds {describe_checkpoint(raw)}; {_EXPECTED}")
    if "ema" in raw or "model" in raw:
        config = _fnet_config(raw.get("fnet_config"), source)
        ema = raw.get("ema")
        state = _state_dict(ema if isinstance(ema, Mapping) and ema else raw.get("model"), source)
    else:
        config = FNetConfig()
        state = _state_dict(raw, source)
        if any(k.startswith("net_u.") for k in state):
            state = official_to_lzsc(state)
    check_finite(state, source)
    try:
        model = FNet(config)
    except ValueError as err:
        raise CheckpointError(f"{source} holds an FNet configuration that cannot be built: {err}") from None
    load_state_dict_strict(model, state, source=source)
    return model.eval()


def save_atomic(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to a temporary file in the same folder, fsync, then rename over ``path``."""
    with atomic_open(path) as fh:
        torch.save(obj, fh)
    return Path(path)
