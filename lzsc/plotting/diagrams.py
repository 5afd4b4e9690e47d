"""Diagrams drawn with matplotlib: the multi-modal CSC model (paper eq. 7), the LZSC block (eq. 20) and
FNet / IFNet (eqs. 22-24, the paper's Figs. 2-3), each drawn from the model's configuration.

:func:`mcsc_diagram` is introduced in ``notebooks/00_overview.ipynb``, :func:`lzsc_block_diagram` in
``notebooks/04_unrolling.ipynb``, :func:`fnet_diagram` and :func:`ifnet_diagram` in
``notebooks/05_fnet_ifnet.ipynb``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .checks import labelled_figure
from .images import as_image

if TYPE_CHECKING:
    from torch import Tensor

    from ..models import FNetConfig, IFNetConfig
    from ..unrolled import LZSCBlock, LZSCConfig

__all__ = ["fnet_diagram", "ifnet_diagram", "lzsc_block_diagram", "mcsc_diagram"]

_CODE_COLOR = {"u1": "#f4c7a1", "c": "#c9dcf0", "u2": "#cfe8c4"}


def _canvas(
    size: tuple[float, float], xlim: tuple[float, float], ylim: tuple[float, float]
) -> tuple[Figure, Axes]:
    """A figure with one axes turned off, in diagram coordinates: every diagram draws on one."""
    fig, ax = plt.subplots(figsize=size)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_axis_off()
    return fig, ax


def _box(
    ax: Axes, x: float, y: float, text: str, color: str, width: float = 1.9, height: float = 0.9
) -> None:
    ax.add_patch(
        plt.Rectangle(
            (x - width / 2, y - height / 2), width, height, facecolor=color, edgecolor="0.3", lw=1.2
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=11)


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], label: str, color: str) -> None:
    ax.annotate("", xy=end, xytext=start, arrowprops={"arrowstyle": "-|>", "color": color, "lw": 1.6})
    mx, my = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2
    ax.text(
        mx,
        my + 0.12,
        label,
        ha="center",
        va="bottom",
        fontsize=11,
        color=color,
        bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5},
    )


def _thumbnail(
    fig: Figure, ax: Axes, image: torch.Tensor | np.ndarray, x: float, y: float, size: float
) -> None:
    """Draw ``image`` centred at data point (x, y) of ``ax`` with width ``size`` in data units."""
    (x0, y0), (x1, y1) = (
        ax.transData.transform((x - size / 2, y - size / 2)),
        ax.transData.transform((x + size / 2, y + size / 2)),
    )
    inv = fig.transFigure.inverted()
    (fx0, fy0), (fx1, fy1) = inv.transform((x0, y0)), inv.transform((x1, y1))
    inset = fig.add_axes((fx0, fy0, fx1 - fx0, fy1 - fy0))
    arr = as_image(image)
    inset.imshow(arr, cmap="gray", vmin=min(0.0, arr.min()), vmax=max(1.0, arr.max()))
    inset.set_axis_off()


@labelled_figure
def mcsc_diagram(images: Mapping[str, torch.Tensor | np.ndarray] | None = None) -> Figure:
    """MCSC model (eq. 7) x_A = D_u1 u1 + D_c1 c, x_B = D_u2 u2 + D_c2 c, and F = G_u1 u1 + G_c c + G_u2 u2.

    Codes sit in the middle, the sources they synthesise through the dictionaries D on the left,
    the fused image FNet synthesises through its decoders G on the right. ``images`` may hold
    thumbnails for "x_A", "x_B" and "F" (grey images in [0, 1]), drawn next to their boxes.
    """
    fig, ax = _canvas((11, 5.2), (-0.6, 11.6), (-0.3, 5.3))
    codes = {"u1": (5.5, 4.2), "c": (5.5, 2.5), "u2": (5.5, 0.8)}
    labels = {"u1": "$u_1$\nunique to A", "c": "$c$\ncommon", "u2": "$u_2$\nunique to B"}
    for name, (x, y) in codes.items():
        _box(ax, x, y, labels[name], _CODE_COLOR[name], height=1.1)
    sources = {"x_A": (2.0, 3.6), "x_B": (2.0, 1.4)}
    _box(ax, *sources["x_A"], "$x_A$ (infrared)", "0.92")
    _box(ax, *sources["x_B"], "$x_B$ (visible)", "0.92")
    _box(ax, 9.0, 2.5, "$F$ (fused)", "#fff2b3")
    left = 5.5 - 0.95
    _arrow(ax, (left, 4.2), (2.95, 3.75), r"$D_{u_1}$", "#b35806")
    _arrow(ax, (left, 2.6), (2.95, 3.45), r"$D_{c_1}$", "#2166ac")
    _arrow(ax, (left, 2.4), (2.95, 1.55), r"$D_{c_2}$", "#2166ac")
    _arrow(ax, (left, 0.8), (2.95, 1.25), r"$D_{u_2}$", "#1b7837")
    right = 5.5 + 0.95
    _arrow(ax, (right, 4.2), (8.05, 2.75), r"$G_{u_1}$", "#b35806")
    _arrow(ax, (right, 2.5), (8.05, 2.5), r"$G_c$", "#2166ac")
    _arrow(ax, (right, 0.8), (8.05, 2.25), r"$G_{u_2}$", "#1b7837")
    ax.text(
        2.0,
        5.0,
        "model of the sources (eq. 7)\n$x_A = D_{u_1}u_1 + D_{c_1}c$,  $x_B = D_{u_2}u_2 + D_{c_2}c$",
        ha="center",
        va="center",
        fontsize=10,
    )
    ax.text(
        9.0,
        5.0,
        "fusion (eq. 23)\n$F = G_{u_1}u_1 + G_c c + G_{u_2}u_2$",
        ha="center",
        va="center",
        fontsize=10,
    )
    ax.text(5.5, 5.05, r"sparse codes ($\ell_0$)", ha="center", va="center", fontsize=10, style="italic")
    fig.tight_layout()
    if images:
        spots = {"x_A": (0.2, 3.6), "x_B": (0.2, 1.4), "F": (10.8, 2.5)}
        for name, (x, y) in spots.items():
            if name in images:
                _thumbnail(fig, ax, images[name], x, y, 1.4)
    return fig


# --- Block diagrams of the networks (notebooks 04 and 05) -----------------------------------------

_MAX_DRAWN_ITERATIONS = 12
_STAGE_COLOR = "#e8e0f4"
_BLOCK_COLOR = "#e8e0f4"
_CONV_COLOR = "0.93"


def _block_config(block: object, what: str) -> tuple[LZSCConfig, Tensor | None, Tensor | None]:
    """(config, theta^k, rho^k) of an LZSCConfig (no values) or of an LZSCBlock (its learned schedules)."""
    from ..unrolled import LZSCBlock, LZSCConfig

    if isinstance(block, LZSCBlock):
        with torch.no_grad():
            return block.config, block.thetas().detach().cpu(), block.rhos().detach().cpu()
    if isinstance(block, LZSCConfig):
        return block, None, None
    raise TypeError(f"{what} takes an LZSCConfig or an LZSCBlock, got {type(block).__name__}")


def _check_drawable(n_iter: int) -> None:
    if n_iter > _MAX_DRAWN_ITERATIONS:
        raise ValueError(
            f"n_iter = {n_iter}: a diagram draws every iteration and stays readable up to "
            f"n_iter = {_MAX_DRAWN_ITERATIONS}; draw a smaller configuration"
        )


def _stage_text(cfg: LZSCConfig, k: int) -> str:
    """The update of iteration k of eq. 20 (or of the ablation's momentum) in mathtext, one term a line."""
    s = "" if cfg.shared_weights else f"^{{{k}}}"
    rho = rf"\rho^{{{k}}}"
    grad = rf"(u^{{{k - 1}}} - W_u{s} W_d{s} u^{{{k - 1}}})"
    lines = {
        "nesterov": [rf"$(1+{rho})\,{grad}$"]
        + ([rf"$-\,{rho}\,(u^{{{k - 2}}} - W_u'{s} W_d'{s} u^{{{k - 2}}})$"] if k >= 2 else []),
        "polyak": [rf"${grad}$"] + ([rf"$+\,{rho}\,(u^{{{k - 1}}} - u^{{{k - 2}}})$"] if k >= 2 else []),
        "none": [rf"${grad}$"],
        "qhm": [
            rf"$u^{{{k - 1}}} - (1-\nu)\,g^{{{k}}} - \nu\, m^{{{k}}}$",
            rf"$m^{{{k}}} = {rho} m^{{{k - 1}}} + (1-{rho})\, g^{{{k}}}$",
        ],
    }[cfg.momentum]
    if cfg.momentum != "qhm":
        lines.append(rf"$+\,W_e{s}\,x$")
    return "\n".join(lines)


def _threshold_name(cfg: LZSCConfig, k: int) -> str:
    symbol = {"sigmoidal": "T", "soft": "S", "hard": "H"}[cfg.threshold]
    return rf"${symbol}_{{\theta^{{{k}}}}}$"


@labelled_figure
def lzsc_block_diagram(block: LZSCConfig | LZSCBlock | None = None) -> Figure:
    """The LZSC block (eq. 20) drawn from its configuration: one column per iteration k = 0..N.

    Each column holds the pre-activation of iteration k (its convolutions W_e^k, W_d^k, W_u^k, the
    momentum terms with rho^k, as set by ``momentum``) and the threshold with cut-off theta^k; arrows
    carry u^{k-1} (and u^{k-2} where the momentum kind uses it) from column to column, and the input
    x to every column. ``shared_weights`` drops the superscript k of the convolutions. Given an
    :class:`~lzsc.unrolled.LZSCBlock` instead of a config, the columns also print its theta^k and
    rho^k. The iteration columns carry ``gid="stage"``, the u^{k-2} arrows ``gid="skip"``.
    Introduced in ``notebooks/04_unrolling.ipynb``; raises TypeError for anything but a config or
    block and ValueError past 12 iterations (a diagram of more is unreadable).
    """
    from ..unrolled import LZSCBlock, LZSCConfig

    if block is None:
        block = LZSCConfig()
    cfg, thetas, rhos = _block_config(block, "lzsc_block_diagram")
    _check_drawable(cfg.n_iter)
    n = cfg.n_iter
    width, col_w, box_h = 3.1, 2.75, 1.55
    fig, ax = _canvas((max(8.0, 1.2 + 2.35 * (n + 1)), 4.8), (-1.5, width * n + 1.7), (-1.55, 3.7))
    ax.annotate("", xy=(width * n + 1.2, 3.1), xytext=(-1.4, 3.1), arrowprops={"arrowstyle": "-", "lw": 1.4})
    ax.text(-1.4, 3.3, "input $x$", ha="left", va="bottom", fontsize=10)
    skip = cfg.momentum in ("nesterov", "polyak")
    for k in range(n + 1):
        x0 = width * k
        top = 1.95
        ax.add_patch(
            plt.Rectangle(
                (x0 - col_w / 2, top - box_h),
                col_w,
                box_h,
                facecolor=_STAGE_COLOR,
                edgecolor="0.3",
                lw=1.2,
                gid="stage",
            )
        )
        body = rf"$W_e{'' if cfg.shared_weights else f'^{{{k}}}'}\,x$" if k == 0 else _stage_text(cfg, k)
        ax.text(x0, top - 0.08, f"iteration $k = {k}$", ha="center", va="top", fontsize=9, weight="bold")
        ax.text(x0, top - 0.8, body, ha="center", va="center", fontsize=9)
        ax.annotate("", xy=(x0, top), xytext=(x0, 3.1), arrowprops={"arrowstyle": "-|>", "lw": 1.0})
        _box(ax, x0, -0.05, _threshold_name(cfg, k), "#fff2b3", width=1.0, height=0.5)
        ax.annotate("", xy=(x0, 0.2), xytext=(x0, top - box_h), arrowprops={"arrowstyle": "-|>", "lw": 1.0})
        values = []
        if thetas is not None:
            values.append(rf"$\theta^{{{k}}}$ = {thetas[k].item():.3g}")
        if rhos is not None and k >= 1 and cfg.momentum != "none":
            values.append(rf"$\rho^{{{k}}}$ = {rhos[k - 1].item():.3g}")
        label = rf"$u^{{{k}}}$" + ("   " + ",  ".join(values) if values else "")
        ax.text(x0, -0.42, label, ha="center", va="top", fontsize=9)
        if k >= 1:
            ax.annotate(
                "",
                xy=(x0 - col_w / 2, top - box_h / 2),
                xytext=(width * (k - 1) + 0.5, -0.05),
                arrowprops={"arrowstyle": "-|>", "lw": 1.2, "color": "#2166ac"},
            )
        if k >= 2 and skip:
            ax.annotate(
                "",
                xy=(x0 - col_w / 2 + 0.25, top - box_h),
                xytext=(width * (k - 2), -0.75),
                arrowprops={
                    "arrowstyle": "-|>",
                    "lw": 1.0,
                    "color": "#b35806",
                    "ls": "--",
                    "connectionstyle": "arc3,rad=0.25",
                },
                gid="skip",
            )
    ax.text(width * n + 0.9, -0.05, rf"$\to$ $u^{{{n}}}$", ha="left", va="center", fontsize=11)
    params = sum(p.numel() for p in LZSCBlock(cfg).parameters())
    momentum = {"nesterov": "Nesterov (eq. 20)", "polyak": "Polyak", "none": "none (AE4)", "qhm": "QHM"}
    ax.set_title(
        f"LZSC block (eq. 20): C = {cfg.in_channels} input channel(s), K = {cfg.n_filters} filters of "
        f"{cfg.kernel_size}x{cfg.kernel_size}, N = {n} ({n + 1} thresholdings)\nmomentum "
        f"{momentum[cfg.momentum]}, {cfg.threshold} threshold"
        + (", weights shared over k" if cfg.shared_weights else "")
        + f"; {params:,} parameters",
        fontsize=10,
    )
    ax.text(
        -1.4,
        -1.45,
        "blue: $u^{k-1}$ into iteration k;  dashed: $u^{k-2}$ (momentum);  "
        r"$W_e$: C$\to$K,  $W_d$: K$\to$C,  $W_u$: C$\to$K convolutions",
        ha="left",
        va="bottom",
        fontsize=8.5,
        color="0.3",
    )
    fig.tight_layout()
    return fig


def _network_block(
    ax: Axes, x: float, y: float, name: str, problem: str, cfg: LZSCConfig, channels: int, kind: str
) -> None:
    """A sparse-coding block: its name, the problem it unrolls, and one small square per iteration."""
    w, h = 3.0, 1.45
    ax.add_patch(
        plt.Rectangle(
            (x - w / 2, y - h / 2), w, h, facecolor=_BLOCK_COLOR, edgecolor="0.3", lw=1.2, gid="block"
        )
    )
    block = "LZSC" if kind == "lzsc" else "LCSC"
    ax.text(x, y + h / 2 - 0.1, rf"{block}$_{{{name}}}$ (C = {channels})", ha="center", va="top", fontsize=10)
    ax.text(x, y + 0.05, problem, ha="center", va="center", fontsize=8.5)
    n = cfg.n_iter + 1
    size = min(0.22, 2.6 / (1.4 * n))
    start = x - (n - 1) * size * 1.4 / 2
    for k in range(n):
        ax.add_patch(
            plt.Rectangle(
                (start + k * size * 1.4 - size / 2, y - h / 2 + 0.12),
                size,
                size,
                facecolor="#fff2b3",
                edgecolor="0.4",
                lw=0.8,
                gid="stage",
            )
        )


def _network_config(config: object, expected: type, what: str) -> None:
    if not isinstance(config, expected):
        raise TypeError(f"{what} takes an {expected.__name__}, got {type(config).__name__}")


def _config_line(cfg: LZSCConfig, kind: str, params: int) -> str:
    block = "LZSC" if kind == "lzsc" else "LCSC (AE1)"
    return (
        f"{block} blocks: K = {cfg.n_filters} filters of {cfg.kernel_size}x{cfg.kernel_size}, "
        f"N = {cfg.n_iter} (squares: the {cfg.n_iter + 1} thresholdings), momentum {cfg.momentum}, "
        f"{cfg.threshold} threshold;\nall convolutions {cfg.kernel_size}x{cfg.kernel_size}, bias-free; "
        f"{params:,} parameters"
    )


@labelled_figure
def fnet_diagram(config: FNetConfig | None = None) -> Figure:
    """FNet (eqs. 22-23, the paper's Fig. 2) drawn from its configuration.

    Three sparse-coding blocks, each labelled with the problem it unrolls: u1 from x_A and u2 from
    x_B with the common code fixed at c = 0, then c from the two residuals r_A = x_A - D_u1 u1,
    r_B = x_B - D_u2 u2 through the two-channel operator L_c = [D_c1; D_c2]; the decoders G sum to F.
    Each block shows one small square per thresholding (N + 1, ``gid="stage"``; the blocks themselves
    ``gid="block"``), and the title line gives K, the kernel size, N, the momentum, the block kind
    and the parameter count of ``FNet(config)``. Introduced in ``notebooks/05_fnet_ifnet.ipynb``;
    TypeError for anything but an FNetConfig, ValueError past 12 iterations.
    """
    from ..models import FNet, FNetConfig

    config = FNetConfig() if config is None else config
    _network_config(config, FNetConfig, "fnet_diagram")
    cfg, kind = config.block, config.block_kind
    _check_drawable(cfg.n_iter)
    fig, ax = _canvas((13.5, 6.0), (-0.4, 14.2), (-1.3, 5.6))
    _box(ax, 0.6, 4.5, "$x_A$", "0.92", width=1.0, height=0.7)
    _box(ax, 0.6, 0.2, "$x_B$", "0.92", width=1.0, height=0.7)
    u1_problem = "$\\min_{u_1}\\ \\frac{1}{2}\\|x_A - D_{u_1}u_1\\|^2 + \\lambda\\|u_1\\|_0$\n(with $c = 0$)"
    u2_problem = "$\\min_{u_2}\\ \\frac{1}{2}\\|x_B - D_{u_2}u_2\\|^2 + \\lambda\\|u_2\\|_0$\n(with $c = 0$)"
    c_problem = (
        "$\\min_c\\ \\frac{1}{2}\\|[r_A; r_B] - L_c c\\|^2 + \\lambda\\|c\\|_0$\n"
        "$L_c c = [D_{c_1}c;\\ D_{c_2}c]$"
    )
    _network_block(ax, 3.3, 4.5, "u_1", u1_problem, cfg, 1, kind)
    _network_block(ax, 3.3, 0.2, "u_2", u2_problem, cfg, 1, kind)
    _network_block(ax, 8.6, 2.35, "c", c_problem, cfg, 2, kind)
    for y, code in ((4.5, "u_1"), (0.2, "u_2")):
        _arrow(ax, (1.1, y), (1.8, y), "", "0.3")
        _box(ax, 6.0, y, f"${code}$", _CODE_COLOR[code.replace("_", "")], width=0.8, height=0.6)
        _arrow(ax, (4.8, y), (5.6, y), "", "0.3")
    _box(ax, 6.0, 3.05, "$r_A = x_A - D_{u_1}u_1$", _CONV_COLOR, width=2.1, height=0.55)
    _box(ax, 6.0, 1.65, "$r_B = x_B - D_{u_2}u_2$", _CONV_COLOR, width=2.1, height=0.55)
    _arrow(ax, (6.0, 4.2), (6.0, 3.33), "", "#b35806")
    ax.text(6.08, 3.75, "$D_{u_1}$", color="#b35806", fontsize=10, va="center")
    _arrow(ax, (6.0, 0.5), (6.0, 1.37), "", "#1b7837")
    ax.text(6.08, 0.95, "$D_{u_2}$", color="#1b7837", fontsize=10, va="center")
    _arrow(ax, (0.6, 4.15), (4.95, 3.05), "", "0.6")
    _arrow(ax, (0.6, 0.55), (4.95, 1.65), "", "0.6")
    _arrow(ax, (7.05, 3.05), (7.1, 2.6), "", "0.3")
    _arrow(ax, (7.05, 1.65), (7.1, 2.1), "", "0.3")
    _box(ax, 11.0, 2.35, "$c$", _CODE_COLOR["c"], width=0.8, height=0.6)
    _arrow(ax, (10.1, 2.35), (10.6, 2.35), "", "0.3")
    _box(ax, 13.3, 2.35, "$F$", "#fff2b3", width=0.9, height=0.7)
    _arrow(ax, (6.4, 4.5), (12.85, 2.6), "$G_{u_1}$", "#b35806")
    _arrow(ax, (11.4, 2.35), (12.85, 2.35), "$G_c$", "#2166ac")
    _arrow(ax, (6.4, 0.2), (12.85, 2.1), "$G_{u_2}$", "#1b7837")
    ax.text(13.3, 3.0, "eq. 23\n$F = G_{u_1}u_1 + G_c c + G_{u_2}u_2$", ha="center", va="bottom", fontsize=9)
    params = sum(p.numel() for p in FNet(config).parameters())
    ax.set_title("FNet (eqs. 22-23): " + _config_line(cfg, kind, params), fontsize=9.5)
    ax.text(
        -0.3,
        -1.2,
        "Minimising the MCSC objective block-wise: u1, u2 first with c = 0 (the problem splits per source), "
        "then c for fixed u1, u2 on what they leave unexplained. $D_{c_1}, D_{c_2}$ live inside LZSC$_c$.",
        ha="left",
        va="bottom",
        fontsize=8.5,
        color="0.3",
    )
    fig.tight_layout()
    return fig


@labelled_figure
def ifnet_diagram(config: IFNetConfig | None = None) -> Figure:
    """IFNet (eq. 24, the paper's Fig. 3) drawn from its configuration.

    F is coded twice, each block labelled with the problem it unrolls (the inverse-fusion model
    F = G_x1 x1 + G_x2 x2 with the other code fixed at 0), and each code is decoded by its source's
    dictionary: I1' = D_x1 x1, I2' = D_x2 x2. With ``shared_decoder=True`` (the release's defect) the
    second arrow is drawn in red as D_x1. Blocks carry ``gid="block"``, their N + 1 thresholdings
    ``gid="stage"``. Introduced in ``notebooks/05_fnet_ifnet.ipynb``; TypeError for anything but an
    IFNetConfig, ValueError past 12 iterations.
    """
    from ..models import IFNet, IFNetConfig

    config = IFNetConfig() if config is None else config
    _network_config(config, IFNetConfig, "ifnet_diagram")
    cfg, kind = config.block, config.block_kind
    _check_drawable(cfg.n_iter)
    fig, ax = _canvas((11.0, 4.8), (-0.4, 11.0), (-1.0, 4.7))
    _box(ax, 0.6, 1.9, "$F$", "#fff2b3", width=0.9, height=0.7)
    rows = {"x_1": (3.4, "I_1'", "#b35806", "D_{x_1}"), "x_2": (0.4, "I_2'", "#1b7837", "D_{x_2}")}
    for code, (y, out, color, decoder) in rows.items():
        other = "x_2" if code == "x_1" else "x_1"
        problem = (
            f"$\\min_{{{code}}}\\ \\frac{{1}}{{2}}\\|F - G_{{{code}}}{code}\\|^2 + \\lambda\\|{code}\\|_0$\n"
            f"(with ${other} = 0$)"
        )
        _network_block(ax, 3.6, y, code, problem, cfg, 1, kind)
        _arrow(ax, (1.05, 1.9), (2.1, y), "", "0.3")
        _box(ax, 6.3, y, f"${code}$", "#e0e0e0", width=0.8, height=0.6)
        _arrow(ax, (5.1, y), (5.9, y), "", "0.3")
        shared = config.shared_decoder and code == "x_2"
        label = "$D_{x_1}$ (release defect)" if shared else f"${decoder}$"
        _arrow(ax, (6.7, y), (8.7, y), label, "#d7191c" if shared else color)
        _box(ax, 9.5, y, f"${out}$", "0.92", width=1.4, height=0.7)
    params = sum(p.numel() for p in IFNet(config).parameters())
    ax.set_title(
        "IFNet (eq. 24): "
        + _config_line(cfg, kind, params)
        + ("; shared decoder" if config.shared_decoder else ""),
        fontsize=9,
    )
    ax.text(
        -0.3,
        -0.95,
        "Inverse fusion: $I_1' = D_{x_1}x_1$, $I_2' = D_{x_2}x_2$; "
        "$G_{x_1}, G_{x_2}$ live inside the blocks.",
        ha="left",
        va="bottom",
        fontsize=8.5,
        color="0.3",
    )
    fig.tight_layout()
    return fig
