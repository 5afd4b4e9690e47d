"""The building blocks of DAE-Fuse (:mod:`lzsc.methods.dae_fuse`): Restormer blocks, the two encoder
branches, channel cross-attention and the discriminator.

Restormer (Zamir et al., CVPR 2022) as CDDFuse uses it, on (N, C, H, W) feature maps::

    X' = X + W_p MDTA(LN(X)),        MDTA: Q, K, V = DW_3(W_1 LN(X)) split in three,
    Y  = X' + GDFN(LN(X')),          per head h: A_h = softmax(tau_h Q_h^ K_h^T),  out = A_h V_h,
                                     Q^, K^: rows (channels) l2-normalised over the H W pixels;
    GDFN(X) = W_o (GELU(DW_3 W_i1 X) * DW_3 W_i2 X)   (gated feed-forward, hidden width e C)

LN normalises each pixel over its C channels. The attention matrix is C/h x C/h ("transposed",
across channels), so its cost is linear in the number of pixels: any image size, no tiling.
:class:`CrossAttentionBlock` is the same block with Q from one source and K, V from the other
(DAE-Fuse's Phase-II fusion, paper Sec. II-B). :class:`ResidualCNN` is the high-frequency branch
(ResNet-18's basic blocks at full resolution), :class:`PatchViT` the low-frequency branch (a ViT on
p x p patches, returned to full resolution by bilinear interpolation), :class:`Discriminator` the
Conv-LeakyReLU-BatchNorm stack with one linear layer on a 4 x 4 pooled grid. Why each choice:
:mod:`lzsc.methods.dae_fuse`.
Introduced in ``notebooks/12_methods_side_by_side.ipynb``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "ChannelAttention",
    "ChannelLayerNorm",
    "CrossAttentionBlock",
    "Discriminator",
    "GatedFeedForward",
    "PatchViT",
    "ResidualCNN",
    "RestormerBlock",
]


class ChannelLayerNorm(nn.Module):
    """LayerNorm of each pixel over its channels (Restormer's, with bias), on (N, C, H, W)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ChannelAttention(nn.Module):
    """Multi-head "transposed" attention across channels (Restormer's MDTA), queries from ``x`` and
    keys / values from ``context`` (``context=None``: self-attention)."""

    def __init__(self, channels: int, heads: int) -> None:
        super().__init__()
        if channels % heads:
            raise ValueError(f"channels ({channels}) must be a multiple of heads ({heads})")
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.q = nn.Sequential(
            nn.Conv2d(channels, channels, 1, bias=False),
            nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
        )
        self.kv = nn.Sequential(
            nn.Conv2d(channels, 2 * channels, 1, bias=False),
            nn.Conv2d(2 * channels, 2 * channels, 3, padding=1, groups=2 * channels, bias=False),
        )
        self.project = nn.Conv2d(channels, channels, 1, bias=False)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        n, c, h, w = x.shape
        q = self.q(x)
        k, v = self.kv(x if context is None else context).chunk(2, dim=1)
        q, k, v = (t.reshape(n, self.heads, c // self.heads, h * w) for t in (q, k, v))
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        attn = (q @ k.transpose(-2, -1) * self.temperature).softmax(dim=-1)
        return self.project((attn @ v).reshape(n, c, h, w))


class GatedFeedForward(nn.Module):
    """Restormer's gated-dconv feed-forward network, hidden width ``round(expansion * channels)``."""

    def __init__(self, channels: int, expansion: float) -> None:
        super().__init__()
        hidden = max(1, round(expansion * channels))
        self.inp = nn.Conv2d(channels, 2 * hidden, 1, bias=False)
        self.dw = nn.Conv2d(2 * hidden, 2 * hidden, 3, padding=1, groups=2 * hidden, bias=False)
        self.out = nn.Conv2d(hidden, channels, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        gate, value = self.dw(self.inp(x)).chunk(2, dim=1)
        return self.out(F.gelu(gate) * value)


class RestormerBlock(nn.Module):
    """One Restormer transformer block: X + MDTA(LN X), then + GDFN(LN .)."""

    def __init__(self, channels: int, heads: int, expansion: float) -> None:
        super().__init__()
        self.norm1, self.norm2 = ChannelLayerNorm(channels), ChannelLayerNorm(channels)
        self.attn = ChannelAttention(channels, heads)
        self.ffn = GatedFeedForward(channels, expansion)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class CrossAttentionBlock(nn.Module):
    """Phase II's fusion block: ``query`` attends to ``context`` (both (N, C, H, W) embeddings).

    Phi^(alpha) = X + MDTA(LN_q X, LN_k Y) with X = Phi(alpha), Y = Phi(beta), then + GDFN(LN .): the
    paper's Q = Phi(alpha), K = V = Phi(beta), in the Restormer block's residual form.
    """

    def __init__(self, channels: int, heads: int, expansion: float) -> None:
        super().__init__()
        self.norm_q, self.norm_kv = ChannelLayerNorm(channels), ChannelLayerNorm(channels)
        self.norm_ffn = ChannelLayerNorm(channels)
        self.attn = ChannelAttention(channels, heads)
        self.ffn = GatedFeedForward(channels, expansion)

    def forward(self, query: Tensor, context: Tensor) -> Tensor:
        x = query + self.attn(self.norm_q(query), self.norm_kv(context))
        return x + self.ffn(self.norm_ffn(x))


class _BasicBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect")
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect")

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x + self.conv2(F.relu(self.conv1(x))))


class ResidualCNN(nn.Module):
    """The high-frequency branch: ``blocks`` ResNet basic blocks (conv3-ReLU-conv3 + identity, ReLU)
    at full resolution (stride 1, reflection padding, no batch-norm), ``channels`` wide."""

    def __init__(self, channels: int, blocks: int) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*(_BasicBlock(channels) for _ in range(blocks)))

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(x)


class _ViTLayer(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"channels ({dim}) must be a multiple of vit_heads ({heads})")
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        hidden = max(1, round(mlp_ratio * dim))
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, tokens: Tensor) -> Tensor:
        n, t, d = tokens.shape
        qkv = self.qkv(self.norm1(tokens)).reshape(n, t, 3, self.heads, d // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n, t, d)
        tokens = tokens + self.proj(out)
        return tokens + self.mlp(self.norm2(tokens))


class PatchViT(nn.Module):
    """The low-frequency branch: a ViT over ``patch`` x ``patch`` tokens of a (N, C, H, W) map.

    The map is reflect-padded to multiples of ``patch``, embedded by a strided ``patch`` x ``patch``
    convolution, given a convolutional position encoding (a depthwise 3 x 3 convolution of the token
    grid, added: any image size, no fixed table), passed through ``depth`` pre-norm transformer layers
    (multi-head self-attention over all tokens + MLP), projected back by a 1 x 1 convolution, returned to
    full resolution by bilinear interpolation and cropped to H x W.
    """

    def __init__(self, channels: int, patch: int, depth: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.patch = patch
        self.embed = nn.Conv2d(channels, channels, patch, stride=patch)
        self.position = nn.Conv2d(channels, channels, 3, padding=1, groups=channels)
        self.layers = nn.ModuleList(_ViTLayer(channels, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(channels)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        p = self.patch
        pad_h, pad_w = -h % p, -w % p
        if pad_h or pad_w:
            mode = "reflect" if pad_h < h and pad_w < w else "replicate"
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        grid = self.embed(x)
        grid = grid + self.position(grid)
        n, c, gh, gw = grid.shape
        tokens = grid.flatten(2).transpose(1, 2)
        for layer in self.layers:
            tokens = layer(tokens)
        grid = self.out(self.norm(tokens).transpose(1, 2).reshape(n, c, gh, gw))
        full = F.interpolate(grid, scale_factor=p, mode="bilinear", align_corners=False)
        return full[..., :h, :w]


class Discriminator(nn.Module):
    """DM1 / DM2: Conv2d(3 x 3, stride 2)-LeakyReLU(0.2)-BatchNorm per width of ``widths``, average
    pooling to a ``pool`` x ``pool`` grid (any crop size; the grid keeps a coarse layout) and one
    linear layer; one logit per image, (N,) (sigmoid = P(real)).

    The last operation before the pooling and the linear layer is a batch-norm, so in train mode the
    batch's mean logit hardly depends on its content: judge real and fake images in ONE batch (as
    :mod:`lzsc.training.dae_fuse` does), never in two.
    """

    def __init__(self, widths: tuple[int, ...], pool: int = 4) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        previous = 1
        for width in widths:
            conv = nn.Conv2d(previous, width, 3, stride=2, padding=1)
            layers += [conv, nn.LeakyReLU(0.2), nn.BatchNorm2d(width)]
            previous = width
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(pool))
        self.fc = nn.Linear(previous * pool * pool, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x).flatten(1)).squeeze(-1)
