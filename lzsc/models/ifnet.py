"""IFNet (paper eq. 24): the inverse of fusion, used as a training aid in stage I.

The inverse-fusion MCSC model writes each source as a sparse code of the fused image F
through its own dictionary: x_1 = D_x1 z1, x_2 = D_x2 z2 with z_i = LZSC_i(F). IFNet therefore
estimates both sources from F alone, which forces F to keep what each source contains.

The paper has separate D_x1 and D_x2; the release decodes both estimates with D_x1 (its D_x2
is created but never used). ``shared_decoder=True`` reproduces that defect, for experiments only.
Introduced in ``notebooks/05_fnet_ifnet.ipynb``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..unrolled.backends import Executable, run_blocks
from .fnet import FNetConfig, _dictionary, make_block

__all__ = ["IFNet", "IFNetConfig"]


@dataclass(frozen=True)
class IFNetConfig(FNetConfig):
    """IFNet hyper-parameters: the FNet block configuration plus the release-defect switch."""

    shared_decoder: bool = False


class IFNet(Executable, nn.Module):
    """``forward(f)`` returns the source estimates (I1', I2') = (D_x1 LZSC_x1(F), D_x2 LZSC_x2(F)).

    Both blocks run as one stack on the backend chosen by :meth:`set_backend` (default "auto").
    """

    def __init__(self, config: IFNetConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or IFNetConfig()
        self.lzsc_x1 = make_block(cfg, 1)
        self.lzsc_x2 = make_block(cfg, 1)
        self.D_x1 = _dictionary(1, cfg.n_filters, cfg.kernel_size)
        self.D_x2 = _dictionary(1, cfg.n_filters, cfg.kernel_size)

    def forward(self, f: Tensor) -> tuple[Tensor, Tensor]:
        if f.ndim != 4 or f.shape[1] != 1:
            raise ValueError(f"IFNet expects a (N, 1, H, W) fused image, got shape {tuple(f.shape)}")
        decoder_2 = self.D_x1 if self.config.shared_decoder else self.D_x2
        x = f.unsqueeze(1).expand(-1, 2, -1, -1, -1)
        out = run_blocks([self.lzsc_x1, self.lzsc_x2], x, torch.stack((self.D_x1, decoder_2)), self.execution)
        self.last_backend = out.backend
        return out.out[:, 0], out.out[:, 1]
