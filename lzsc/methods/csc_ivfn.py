"""CSC-IVFN, the infrared-visible network of the CSC fusion paper, as released (with its weights).

Xu, Zhao et al., "Deep convolutional sparse coding networks for image fusion", release folder ``CSC-IVF``.
An image x (B, 1, H, W) in [0, 1] is split into a base layer x_b = box_11(x) (11 x 11 box mean, kornia,
``reflect`` border, normalised) and a detail layer x_d = x - x_b; two encoders of eq. 3 DCUs
(:class:`lzsc.unrolled.DCUStack`, 64 channels, 3 x 3, a first unit and 7 later ones) code them:

    z_b = E_b(x; x_b)   PReLU units,            z_d = E_d(x; x_d)   SST units (theta initialised 1e-2)

and one decoder R (Conv 64->32, BN, Conv 32->16, BN, Conv 16->1, BN; 3 x 3, reflection padding, no
bias, no activation) shared by the two branches gives x_hat = sigmoid(R(z_b) + R(z_d)). Training makes
it an autoencoder; at test time the codes of A (infrared) and B (visible) are fused by hand-made rules
(:mod:`lzsc.methods.csc_rules`) and decoded: F = sigmoid(R(2 Sal(z_b^A, z_b^B)) + R(2 L1(z_d^A, z_d^B))).

The release's quirks, reproduced because the weights were trained with them:

- only the FIRST unit of each encoder sees the base / detail layer; the 7 later units take the RAW
  image as their data term x (``DCUStack(x, first_input=x_b)``), whatever the paper's text suggests;
- 8 DCUs per branch (1 + ``ista_iters`` = 7);
- the SST thresholds are unconstrained and some released ones are negative (see :mod:`lzsc.unrolled.dcu`);
- the 8-bit output is ``(255 * F).astype(uint8)``: truncated, not rounded (:func:`to_uint8_release`
  offers rounding as an option; the default is the release's).

Reproduction: with the released weights, :func:`fuse_csc_ivfn_u8` equals the release's own ``Test.py``
within 1 grey level (7 pixels of 3.55 million differ by 1, on the first 5 pairs each of TNO40, FLIR and
NIR_Country; float outputs within 3.6e-7), ``benchmarks/compare_csc_release.py``. Images are fused whole
(no tiles): the saliency rule normalises each code channel by its min and max over the whole image.

Released weights (``$LZSC_DATA/checkpoints/csc_ivfn``): three legacy (pre-1.6) torch files of
state_dicts, read with ``torch.load(weights_only=True)`` (its restricted unpickler accepts the legacy
format and executes no pickled code) and renamed key by key (:func:`official_to_lzsc_csc`).
Introduced in ``notebooks/11_csc_networks.ipynb``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal

import kornia
import numpy as np
import torch
from torch import Tensor, nn

from ..checkpoints import (
    CheckpointError,
    check_finite,
    describe_checkpoint,
    load_state_dict_strict,
    read_checkpoint,
)
from ..fusion import check_sources, module_device
from ..io import single_image
from ..paths import require_data_root
from ..unrolled.dcu import DCUConfig, DCUStack
from .csc_rules import l1_norm_rule, saliency_rule

__all__ = [
    "CSCIVFN",
    "OFFICIAL_FILES",
    "TRAINED_FORMAT",
    "CSCIVFNConfig",
    "CSCIVFNFusion",
    "Rounding",
    "fuse_csc_ivfn",
    "fuse_csc_ivfn_u8",
    "load_csc_ivfn",
    "load_csc_ivfn_trained",
    "official_to_lzsc_csc",
    "to_uint8_release",
]

Rounding = Literal["truncate", "round"]
#: The release's file per part of the network, and the prefix of that part in :class:`CSCIVFN`.
OFFICIAL_FILES = {
    "encoder_base": "LISTA_Base_Train.model",
    "encoder_detail": "LISTA_Detail_Train.model",
    "decoder": "LISTA_Decoder.model",
}


@dataclass(frozen=True)
class CSCIVFNConfig:
    """Sizes of CSC-IVFN; the defaults are the release's (``Arguments.py``)."""

    n_filters: int = 64
    kernel_size: int = 3
    n_iter: int = 7
    blur_size: int = 11

    def encoder(self, branch: Literal["base", "detail"]) -> DCUConfig:
        """The DCU configuration of one encoder: PReLU for the base branch, SST for the detail branch."""
        return DCUConfig(
            in_channels=1,
            n_filters=self.n_filters,
            kernel_size=self.kernel_size,
            activation="prelu" if branch == "base" else "sst",
            n_iter=self.n_iter,
        )


def _decoder(channels: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for c_in, c_out in ((channels, channels // 2), (channels // 2, channels // 4), (channels // 4, 1)):
        conv = nn.Conv2d(c_in, c_out, 3, padding=1, padding_mode="reflect", bias=False)
        layers += [conv, nn.BatchNorm2d(c_out)]
    return nn.Sequential(*layers)


class CSCIVFN(nn.Module):
    """The network of the module docstring: ``encoder_base``, ``encoder_detail`` (DCU stacks), ``decoder``."""

    def __init__(self, config: CSCIVFNConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or CSCIVFNConfig()
        self.encoder_base = DCUStack(cfg.encoder("base"))
        self.encoder_detail = DCUStack(cfg.encoder("detail"))
        self.decoder = _decoder(cfg.n_filters)

    def split(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(x_b, x_d): the 11 x 11 box mean (reflect border) and the rest, x_d = x - x_b."""
        size = self.config.blur_size
        if x.ndim != 4 or x.shape[1] != 1 or min(x.shape[-2:]) <= size // 2:
            raise ValueError(
                f"CSC-IVFN expects grey images (B, 1, H, W) with H and W > {size // 2} (the reflect "
                f"border of its {size} x {size} box blur), got shape {tuple(x.shape)}"
            )
        base = kornia.filters.box_blur(x, (size, size), border_type="reflect")
        return base, x - base

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(z_b, z_d): the first unit of each encoder codes x_b or x_d, the later ones see x itself."""
        base, detail = self.split(x)
        return self.encoder_base(x, first_input=base), self.encoder_detail(x, first_input=detail)

    def decode(self, z_base: Tensor, z_detail: Tensor) -> Tensor:
        """sigmoid(R(z_b) + R(z_d)) with the shared decoder R."""
        return torch.sigmoid(self.decoder(z_base) + self.decoder(z_detail))

    def forward(self, x: Tensor) -> Tensor:
        """The autoencoder trained by the release: x -> sigmoid(R(z_b) + R(z_d))."""
        return self.decode(*self.encode(x))


def fuse_csc_ivfn(
    model: CSCIVFN, a: Tensor, b: Tensor, alpha: float = 2.0, radius: int = 45, eps: float = 0.01
) -> Tensor:
    """The release's test-time fusion of A (infrared) and B (visible), (N, 1, H, W) in [0, 1] -> F in [0, 1].

    F = sigmoid(R(alpha Sal(z_b^A, z_b^B)) + R(alpha L1(z_d^A, z_d^B))), the rules of
    :mod:`lzsc.methods.csc_rules` (guided filter ``radius``, ``eps``). Runs without autograd, in the
    model's current mode (the release fuses in eval mode: :func:`load_csc_ivfn` returns it so), on the
    model's device; returns a CPU float32 tensor.
    """
    check_sources(a, b)
    device = module_device(model)
    with torch.inference_mode():
        base_a, detail_a = model.encode(a.to(device))
        base_b, detail_b = model.encode(b.to(device))
        base = alpha * saliency_rule(base_a, base_b, radius, eps)
        detail = alpha * l1_norm_rule(detail_a, detail_b)
        return model.decode(base, detail).float().cpu()


def to_uint8_release(f: Tensor, rounding: Rounding = "truncate") -> np.ndarray:
    """One fused image (..., H, W) in [0, 1] -> uint8 (H, W): the release's ``(255 * F).astype(uint8)``.

    "truncate" is the release's cast (float32 product, then towards zero); "round" rounds half to even
    instead. Values are clipped to [0, 255] first (the sigmoid keeps F inside already); NaN becomes 0.
    """
    if rounding not in ("truncate", "round"):
        raise ValueError(f"rounding must be 'truncate' (the release's) or 'round', got {rounding!r}")
    scaled = 255 * single_image(f).detach().float().cpu().numpy()
    scaled = np.nan_to_num(np.round(scaled) if rounding == "round" else scaled, nan=0.0)
    return np.clip(scaled, 0, 255).astype(np.uint8)


def fuse_csc_ivfn_u8(
    model: CSCIVFN, a_u8: np.ndarray, b_u8: np.ndarray, rounding: Rounding = "truncate"
) -> np.ndarray:
    """Fuse two 8-bit grey images (H, W) as the release's ``Test.py``: /255 in float32, fuse, to uint8."""
    for name, img in (("A", a_u8), ("B", b_u8)):
        if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 2:
            got = f"{img.dtype} {img.shape}" if isinstance(img, np.ndarray) else type(img).__name__
            raise ValueError(f"source {name} must be a uint8 (H, W) grey image, got {got}")
    a, b = (torch.from_numpy(img.astype(np.float32) / 255)[None, None] for img in (a_u8, b_u8))
    return to_uint8_release(fuse_csc_ivfn(model, a, b), rounding)


_UNIT = [
    (r"conv\.conv_encoder\.en_conv0\.conv2d\.weight", "conv1.weight"),
    (r"conv\.conv_decoder\.de_conv0\.conv2d\.weight", "conv0.weight"),
    (r"norm\.(weight|bias|running_mean|running_var|num_batches_tracked)", r"bn.\1"),
    (r"activation\.weight", "prelu.weight"),
    (r"activation\.theta", "theta"),
]
_DECODER = {"1": "0", "2": "1", "4": "2", "5": "3", "7": "4", "8": "5"}
#: The first unit's Conv0 acts on z^(0) = 0: the release stores it, it never changes an output.
_UNUSED = "convLayer0.conv.conv_decoder.de_conv0.conv2d.weight"


def _rename(part: str, key: str) -> str | None:
    """The lzsc name of a release key of one part, "" for the unused key, None for an unknown one."""
    if part == "decoder":
        m = re.fullmatch(r"decode_last\.(\d+)\.(.+)", key)
        return f"decoder.{_DECODER[m[1]]}.{m[2]}" if m and m[1] in _DECODER else None
    if key == _UNUSED:
        return ""
    m = re.fullmatch(r"convLayer(?:0|\.(\d+))\.(.+)", key)
    if not m:
        return None
    unit = "first" if m[1] is None else f"units.{m[1]}"
    for pattern, name in _UNIT:
        if re.fullmatch(pattern, m[2]):
            return f"{part}.{unit}.{re.sub(pattern, name, m[2])}"
    return None


def official_to_lzsc_csc(parts: Mapping[str, Mapping[str, Tensor]]) -> dict[str, Tensor]:
    """One lzsc state_dict from the release's three, keyed by part (``OFFICIAL_FILES``)::

        convLayer0.conv.conv_encoder.en_conv0.conv2d.weight     -> <part>.first.conv1.weight
        convLayer.j.conv.conv_decoder.de_conv0.conv2d.weight    -> <part>.units.j.conv0.weight
        convLayer.j.conv.conv_encoder.en_conv0.conv2d.weight    -> <part>.units.j.conv1.weight
        convLayer*.norm.*                                       -> <part>.<unit>.bn.*
        convLayer*.activation.weight / .theta (1, K, 1, 1)      -> <part>.<unit>.prelu.weight / .theta (K,)
        decode_last.{1,2,4,5,7,8}.*                             -> decoder.{0..5}.*

    The first unit's ``conv_decoder`` weight is dropped (it multiplies z^(0) = 0). Keys that fit no
    rule raise :class:`CheckpointError` naming them.
    """
    out: dict[str, Tensor] = {}
    unknown = []
    for part, state in parts.items():
        for key, value in state.items():
            name = _rename(part, key) if isinstance(value, Tensor) else None
            if name is None:
                unknown.append(f"{OFFICIAL_FILES.get(part, part)}: {key}")
            elif name:
                out[name] = value.reshape(-1) if name.endswith(".theta") and value.ndim == 4 else value
    if unknown:
        raise CheckpointError(
            f"unexpected keys in the released CSC-IVFN weights ({len(unknown)}): " + "; ".join(unknown)
        )
    return out


#: The ``format`` entry of the files lzsc's CSC-IVFN training writes (:mod:`lzsc.training.csc_ivfn`).
TRAINED_FORMAT = "lzsc-csc-ivfn-train-v1"


def load_csc_ivfn_trained(path: str | Path) -> CSCIVFN:
    """CSC-IVFN in eval mode from a file of lzsc's training (:func:`lzsc.training.csc_ivfn.train_csc_ivfn`):
    its result ``csc_ivfn.pt`` or a training ``checkpoint.pt``, both ``{"format", "model_config",
    "model", ...}``; the network is built with the stored sizes. Another file, non-finite weights or
    weights that do not fit raise :class:`CheckpointError` saying so."""
    raw = read_checkpoint(path)
    if not isinstance(raw, Mapping) or raw.get("format") != TRAINED_FORMAT:
        raise CheckpointError(
            f"{path} holds {describe_checkpoint(raw)}, not a CSC-IVFN file of lzsc's training "
            f"(format {TRAINED_FORMAT!r}); for the released weights pass their folder or 'official'"
        )
    names = {f.name for f in fields(CSCIVFNConfig)}
    stored = raw.get("model_config")
    if (
        not isinstance(stored, Mapping)
        or not set(stored) <= names
        or not isinstance(raw.get("model"), Mapping)
    ):
        raise CheckpointError(f"{path} lacks a readable model_config / model entry; the file is damaged")
    check_finite(raw["model"], str(path))
    model = CSCIVFN(CSCIVFNConfig(**stored))
    load_state_dict_strict(model, raw["model"], source=str(path))
    return model.eval()


def load_csc_ivfn(spec: str | Path = "official") -> CSCIVFN:
    """CSC-IVFN in eval mode with the weights of a folder holding the release's three files, or of a
    file written by lzsc's training (:func:`load_csc_ivfn_trained`).

    ``"official"`` is ``$LZSC_DATA/checkpoints/csc_ivfn``. A file that is missing, not a torch
    checkpoint, holds NaN or Inf weights, or does not fit (missing, unexpected or misshapen keys)
    raises a clear error.
    """
    if str(spec) != "official" and Path(spec).is_file():
        return load_csc_ivfn_trained(spec)
    if str(spec) != "official" and Path(spec).suffix and not Path(spec).exists():
        raise FileNotFoundError(f"checkpoint {spec} does not exist")
    folder = require_data_root() / "checkpoints" / "csc_ivfn" if str(spec) == "official" else Path(spec)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder holding {', '.join(OFFICIAL_FILES.values())}")
    parts = {}
    for part, name in OFFICIAL_FILES.items():
        state = read_checkpoint(folder / name)
        if not isinstance(state, Mapping):
            raise CheckpointError(f"{folder / name} holds a {type(state).__name__}, not a state_dict")
        parts[part] = state
    state = official_to_lzsc_csc(parts)
    check_finite(state, str(folder))
    model = CSCIVFN()
    load_state_dict_strict(model, state, source=str(folder))
    return model.eval()


class CSCIVFNFusion(nn.Module):
    """CSC-IVFN as a fusion model ``(A, B) -> F`` for :mod:`lzsc.fusion` and :mod:`lzsc.evaluation`.

    ``forward(a, b)`` is :func:`fuse_csc_ivfn` with the rules' settings (``alpha``, ``radius``,
    ``eps``). With ``rounding="truncate"`` (the release's) the output is put on the release's 8-bit
    levels, trunc(255 F) / 255, so that lzsc's writers (clip, x 255, round) save exactly the release's
    ``(255 * F).astype(uint8)``; ``"round"`` leaves F as the network gives it (rounded when saved).
    ``whole_image``: the saliency rule normalises each code channel over the whole image, so
    :func:`lzsc.fusion.fuse` never fuses it in tiles. ``fusion_settings`` enter the evaluation's
    cache key with the weights (:func:`lzsc.evaluation.model_hash`).
    """

    whole_image = True

    def __init__(
        self,
        net: CSCIVFN,
        alpha: float = 2.0,
        radius: int = 45,
        eps: float = 0.01,
        rounding: Rounding = "truncate",
    ) -> None:
        super().__init__()
        if rounding not in ("truncate", "round"):
            raise ValueError(f"rounding must be 'truncate' (the release's) or 'round', got {rounding!r}")
        self.net = net
        self.fusion_settings = {"alpha": alpha, "radius": radius, "eps": eps, "rounding": rounding}

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        s = self.fusion_settings
        fused = fuse_csc_ivfn(self.net, a, b, s["alpha"], s["radius"], s["eps"])
        return torch.floor(255 * fused) / 255 if s["rounding"] == "truncate" else fused
