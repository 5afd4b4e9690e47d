"""DAE-Fuse (Guo et al., "DAE-Fuse: an adaptive discriminative autoencoder for multi-modality image
fusion", arXiv 2409.10080), built from its paper: no code or weights are public.

For a grey source x (N, 1, H, W) in [0, 1] (alpha: infrared / MRI, beta: visible / CT)::

    s      = SE(x)                      shallow encoder: 3 x 3 embedding + Restormer block(s)
    Phi(x) = [H(s), L(s)]               concat of the high-frequency CNN branch H and the
                                        low-frequency transformer branch L (2C channels)
    Phase I (autoencoder):  x~ = D(R Phi(x))                 R: 1 x 1 conv 2C -> C
    Phase II (fusion):      Phi^a = X(Phi(a), Phi(b)),  Phi^b = X(Phi(b), Phi(a))    (Q from the first
                            F = D(R M [Phi^a, Phi^b])        argument, K = V from the second)

with D the decoder ("the same architecture as SE": Restormer block(s), then CDDFuse's output head
conv3-LeakyReLU-conv3 and a sigmoid), X the cross-attention block (Restormer's channel attention with
Q from one source) and M a 1 x 1 conv 4C -> 2C. Two discriminators DM1 (infrared) and DM2 (visible),
:class:`~lzsc.methods.dae_fuse_blocks.Discriminator`, judge reconstructions (Phase I) and F (Phase II).
Losses and training: :mod:`lzsc.training.dae_fuse_losses`, :mod:`lzsc.training.dae_fuse`.

What the paper leaves open and lzsc's default (``DAEFuseConfig``), each with its reason:

================== ================================ ===================================================
open choice        lzsc default                     why
================== ================================ ===================================================
width C, heads     64 channels, 8 heads             CDDFuse's Restormer blocks (the paper builds on it)
Restormer depth    1 block in SE, 1 in D            the paper: SE is "one Restormer block", D is "the
                                                    same architecture as SE"
GDFN expansion     2                                CDDFuse
high branch        8 basic blocks, stride 1         ResNet-18 has 8 basic blocks; kept at full
                                                    resolution (no strides, no upsampling) so that the
                                                    detail stays pixel-aligned at any image size
high branch norm   none (ReLU, reflect padding)     batch statistics of 128 x 128 crops would not hold
                                                    on whole test images; SE already layer-normalises
low branch         ViT on 8 x 8 patches, depth 2,   tokens are patches, so attention over all of them
                   8 heads, MLP ratio 4, conv       is affordable; low frequencies survive the patch
                   position encoding, bilinear      grid, and bilinear upsampling adds no blocking;
                   upsampling back to H x W         the convolutional position code fits any size
cross-attention    channel (transposed) attention,  linear in the pixels (a pixel-token attention of a
                   Restormer-block form, two        640 x 480 image would need a 307,200^2 matrix);
                   untied blocks (``tie_cross``)    two blocks as the paper draws both directions
concat -> decoder  M: 1 x 1 conv 4C -> 2C,          the decoder of Phase I takes 2C channels; with M
                   initialised to (Phi^a + Phi^b)/2 starting as the average Phase II starts from a
                                                    decoder that already works
decoder skip       none                             CDDFuse adds the input image to its decoder's
                                                    output; for an autoencoder that is a shortcut
                                                    around the codes Phase I should learn
discriminators     widths 16-32-64-128, stride 2,   "Conv2d-LeakyReLU-BatchNorm stacks and one fully
                   4 x 4 average pooling, one       connected layer"; the pooling lets any crop size
                   linear layer; real and fake      in; one batch, because a batch-norm last makes
                   judged in one batch              the mean logit of a batch judged alone constant
colour             grey (Y) in, grey out            as FNet and CSC-IVFN in lzsc (lzsc.fusion recolours)
================== ================================ ===================================================

The network returns F in [0, 1] for any H, W >= 2 (odd sizes included). Its channel attention and
ViT normalise over the whole image, so :func:`lzsc.fusion.fuse` fuses it whole (``whole_image``).
Introduced in ``notebooks/12_methods_side_by_side.ipynb``.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from ..checkpoints import (
    CheckpointError,
    check_finite,
    describe_checkpoint,
    load_state_dict_strict,
    read_checkpoint,
)
from ..fusion import check_sources
from .dae_fuse_blocks import CrossAttentionBlock, Discriminator, PatchViT, ResidualCNN, RestormerBlock

__all__ = [
    "OPEN_CHOICES",
    "TRAINED_FORMAT",
    "DAEFuse",
    "DAEFuseConfig",
    "DAEFuseDiscriminators",
    "load_dae_fuse",
]

TRAINED_FORMAT = "lzsc-dae-fuse-v1"

#: (what, the paper says, lzsc uses, why) for every choice the paper leaves open, network and training
#: (the table of ``notebooks/12_methods_side_by_side.ipynb``; the reasons as in the docstrings here and in
#: :mod:`lzsc.training.dae_fuse_config`).
OPEN_CHOICES: tuple[tuple[str, str, str, str], ...] = (
    ("width, heads", "not given", "64 channels, 8 heads", "CDDFuse's Restormer blocks"),
    ("Restormer depth", "SE: one block; D: as SE", "1 block in SE, 1 in D", "as written"),
    ("high-frequency branch", "ResNet18-style CNN", "8 basic blocks, stride 1, no batch-norm",
     "ResNet-18's 8 blocks kept at full resolution: pixel-aligned detail, any size, no train/test BN gap"),
    ("low-frequency branch", "ViT-style transformer", "ViT on 8x8 patches, depth 2, conv position code",
     "attention over all patches is affordable; bilinear return adds no blocking; any image size"),
    ("cross-attention", "Q from one source, K = V from the other", "channel (transposed) attention, untied",
     "linear in the pixels; pixel tokens would need a 307,200^2 matrix at 640x480"),
    ("concat -> decoder", "F = D(concat(Phi^a, Phi^b))", "1x1 conv 4C -> 2C, initialised to the average",
     "Phase II starts from Phase I's working decoder"),
    ("decoder input skip", "not given", "none", "CDDFuse's skip would let Phase I bypass the codes"),
    ("L_content scale", "||x - x~||_2^2 + (1 - SSIM)", "mean squared error (per pixel), both sources summed",
     "the norm divided by N H W, as L_text and L_int are (the paper writes 1/HW only there)"),
    ("discriminators", "Conv-LeakyReLU-BN stacks + one FC", "widths 16-32-64-128, 4x4 pooling",
     "any crop size; real and fake judged in one batch (BN last)"),
    ("eq. 14 sign", "minimised, drives D(F) to 0", "-log D(F) (non-saturating)",
     "as printed it trains F to look fake"),
    ("optimiser, lr", "not given", "Adam 1e-4 (G and D), halved every 2,000 steps", "CDDFuse"),
    ("batch, patch", "not given", "8 x 128 x 128 MSRS crops, dihedral augmentation",
     "CDDFuse; FNet's pipeline"),
    ("phase lengths", "not given", "4,000 + 8,000 steps",
     "CDDFuse's 40 : 80 epochs, sized for 10 GPU minutes"),
    ("lambda, sigma", "not given", "0.1, 2/3", "adversarial term a regulariser; CDDFuse's 2 : 1 weights"),
    ("gradient clipping", "not given", "norm 0.01", "CDDFuse"),
    ("Phase II weights", "1, 1, 1", "1, 1, 1", "as written"),
    ("colour", "not given", "grey (Y) in and out", "as FNet and CSC-IVFN in lzsc"),
)  # fmt: skip


@dataclass(frozen=True)
class DAEFuseConfig:
    """Sizes of DAE-Fuse; every default is a choice the paper leaves open (module docstring)."""

    channels: int = 64
    heads: int = 8
    expansion: float = 2.0
    encoder_blocks: int = 1
    decoder_blocks: int = 1
    high_blocks: int = 8
    vit_patch: int = 8
    vit_depth: int = 2
    vit_heads: int = 8
    vit_mlp_ratio: float = 4.0
    tie_cross: bool = False
    disc_widths: tuple[int, ...] = (16, 32, 64, 128)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value, kind = getattr(self, f.name), type(f.default)
            ok = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
            if kind is float:
                ok = isinstance(value, int | float) and not isinstance(value, bool)
            if kind is tuple:
                ok = isinstance(value, tuple) and all(
                    isinstance(w, int) and not isinstance(w, bool) for w in value
                )
            if not ok:
                raise TypeError(f"DAE-Fuse setting {f.name} must be of type {kind.__name__}, got {value!r}")
        if self.channels < 2 or self.channels % 2:
            raise ValueError(f"channels must be even and >= 2 (the head halves it), got {self.channels}")
        if self.heads < 1 or self.channels % self.heads:
            raise ValueError(f"heads must divide channels ({self.channels}), got {self.heads}")
        if self.vit_heads < 1 or self.channels % self.vit_heads:
            raise ValueError(f"vit_heads must divide channels ({self.channels}), got {self.vit_heads}")
        for name in ("encoder_blocks", "decoder_blocks", "high_blocks", "vit_depth"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.vit_patch < 1 or self.expansion <= 0 or self.vit_mlp_ratio <= 0:
            raise ValueError(
                f"need vit_patch >= 1 and positive expansion / vit_mlp_ratio, got {self.vit_patch}, "
                f"{self.expansion}, {self.vit_mlp_ratio}"
            )
        if not self.disc_widths or min(self.disc_widths) < 1:
            raise ValueError(f"disc_widths must be a non-empty tuple of widths >= 1, got {self.disc_widths}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping) -> DAEFuseConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown DAE-Fuse setting(s) {unknown}; known: {sorted(names)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


class DAEFuse(nn.Module):
    """The generator of DAE-Fuse (module docstring): ``model(a, b) -> F`` fuses (Phase II),
    :meth:`reconstruct` is Phase I's autoencoder, :meth:`embed` returns (high, low) of one source."""

    whole_image = True

    def __init__(self, config: DAEFuseConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or DAEFuseConfig()
        c = cfg.channels
        self.embedding = nn.Conv2d(1, c, 3, padding=1, padding_mode="reflect")
        self.shallow = nn.Sequential(
            *(RestormerBlock(c, cfg.heads, cfg.expansion) for _ in range(cfg.encoder_blocks))
        )
        self.high = ResidualCNN(c, cfg.high_blocks)
        self.low = PatchViT(c, cfg.vit_patch, cfg.vit_depth, cfg.vit_heads, cfg.vit_mlp_ratio)
        self.cross_a = CrossAttentionBlock(2 * c, cfg.heads, cfg.expansion)
        self.cross_b = self.cross_a if cfg.tie_cross else CrossAttentionBlock(2 * c, cfg.heads, cfg.expansion)
        self.merge = nn.Conv2d(4 * c, 2 * c, 1, bias=False)
        with torch.no_grad():
            eye = torch.eye(2 * c).view(2 * c, 2 * c, 1, 1) / 2
            self.merge.weight.copy_(torch.cat((eye, eye), dim=1))
        self.reduce = nn.Conv2d(2 * c, c, 1, bias=False)
        self.decoder = nn.Sequential(
            *(RestormerBlock(c, cfg.heads, cfg.expansion) for _ in range(cfg.decoder_blocks))
        )
        self.head = nn.Sequential(
            nn.Conv2d(c, c // 2, 3, padding=1, padding_mode="reflect"),
            nn.LeakyReLU(0.2),
            nn.Conv2d(c // 2, 1, 3, padding=1, padding_mode="reflect"),
        )

    def _check(self, x: Tensor, name: str) -> None:
        if not isinstance(x, Tensor) or x.ndim != 4 or x.shape[1] != 1 or min(x.shape[-2:]) < 2:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(
                f"DAE-Fuse expects {name} as grey images (N, 1, H, W) with H, W >= 2, got {shape}"
            )
        if not torch.is_floating_point(x):
            raise ValueError(f"DAE-Fuse expects {name} as floating point in [0, 1], got {x.dtype}")

    def embed(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(high, low): the two branches' features of one source, each (N, C, H, W); Phi = their concat."""
        self._check(x, "x")
        s = self.shallow(self.embedding(x))
        return self.high(s), self.low(s)

    def decode(self, phi: Tensor) -> Tensor:
        """D(R phi): a 2C-channel embedding to an image in [0, 1]."""
        return torch.sigmoid(self.head(self.decoder(self.reduce(phi))))

    def reconstruct(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Phase I: (x~, high, low) for one source."""
        high, low = self.embed(x)
        return self.decode(torch.cat((high, low), dim=1)), high, low

    def reconstruct_pair(self, a: Tensor, b: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Phase I on both sources in one pass: ([A~; B~] stacked along the batch, features)."""
        n = a.shape[0]
        rec, high, low = self.reconstruct(torch.cat((a, b)))
        return rec, _split_features(high, low, n)

    def cross(self, phi_a: Tensor, phi_b: Tensor) -> tuple[Tensor, Tensor]:
        """(Phi^a, Phi^b): each embedding attends to the other (Q from itself, K = V from the other)."""
        return self.cross_a(phi_a, phi_b), self.cross_b(phi_b, phi_a)

    def fuse(self, a: Tensor, b: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Phase II: (F, features) with the branches' features of both sources (for the losses)."""
        self._check(a, "a")
        self._check(b, "b")
        if a.shape != b.shape:
            raise ValueError(f"a and b must have equal shapes, got {tuple(a.shape)} and {tuple(b.shape)}")
        n = a.shape[0]
        high, low = self.embed(torch.cat((a, b)))
        phi = torch.cat((high, low), dim=1)
        hat_a, hat_b = self.cross(phi[:n], phi[n:])
        fused = self.decode(self.merge(torch.cat((hat_a, hat_b), dim=1)))
        return fused, _split_features(high, low, n)

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        check_sources(a, b)
        return self.fuse(a, b)[0]


def _split_features(high: Tensor, low: Tensor, n: int) -> dict[str, Tensor]:
    """The branches' features of a batch [A; B] (first ``n`` from A) by source, for the losses."""
    return {"high_a": high[:n], "high_b": high[n:], "low_a": low[:n], "low_b": low[n:]}


class DAEFuseDiscriminators(nn.Module):
    """DM1 (``infrared``: judges against source A) and DM2 (``visible``: against source B)."""

    def __init__(self, config: DAEFuseConfig | None = None) -> None:
        super().__init__()
        widths = (config or DAEFuseConfig()).disc_widths
        self.infrared = Discriminator(widths)
        self.visible = Discriminator(widths)


def load_dae_fuse(spec: str | Path) -> DAEFuse:
    """DAE-Fuse in eval mode from a file of lzsc's training (``dae_fuse.pt`` or a ``checkpoint.pt``,
    both ``{"format", "model_config", "model", ...}``). DAE-Fuse has no released weights, so
    ``"official"`` is refused with what to do; a damaged file, non-finite weights or weights that do
    not fit raise :class:`~lzsc.checkpoints.CheckpointError`."""
    if str(spec) == "official":
        raise ValueError(
            "DAE-Fuse has no released weights (the authors published neither code nor weights): train "
            "them with `lzsc train --method dae-fuse --profile quick` and pass --checkpoint "
            "runs/dae-fuse-quick/dae_fuse.pt"
        )
    path = Path(spec)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    raw = read_checkpoint(path)
    if not isinstance(raw, Mapping) or raw.get("format") != TRAINED_FORMAT:
        raise CheckpointError(
            f"{path} holds {describe_checkpoint(raw)}, not a DAE-Fuse file of lzsc's training "
            f"(format {TRAINED_FORMAT!r})"
        )
    try:
        config = DAEFuseConfig.from_dict(raw.get("model_config", {}))
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path} holds a model_config this version cannot read ({err})") from None
    if not isinstance(raw.get("model"), Mapping):
        raise CheckpointError(f"{path} lacks its model weights; the file is damaged")
    check_finite(raw["model"], str(path))
    try:
        model = DAEFuse(config)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path} holds a model_config that builds no network ({err})") from None
    state = raw["model"]
    if config.tie_cross:
        differ = [k for k in state if k.startswith("cross_a.") and not _same(state, k, "cross_b." + k[8:])]
        if differ:
            raise CheckpointError(
                f"{path}: tie_cross is set but cross_a and cross_b hold different weights ({differ[0]}); "
                "the file is damaged"
            )
    load_state_dict_strict(model, state, source=str(path))
    trained = raw.get("config", {})
    step = raw.get("step")
    if isinstance(trained, Mapping) and isinstance(step, int) and step <= int(trained.get("phase1_steps", 0)):
        warnings.warn(
            f"{path} ends at step {step}, within Phase I (the autoencoder): its fusion layers "
            "(cross-attention, merge) are untrained, so its fused images mean little",
            stacklevel=2,
        )
    return model.eval()


def _same(state: Mapping, key: str, other: str) -> bool:
    return (
        other in state and state[key].shape == state[other].shape and bool((state[key] == state[other]).all())
    )
