"""The fusion methods of lzsc behind one interface: a name, what it fuses, how to load it.

Every method the command line and the notebooks run is a :class:`Method` of :data:`METHODS`:

======== ============= ============================================================ ==========
name     inputs        model                                                        paper rows
======== ============= ============================================================ ==========
fnet     pair          FNet (Panda et al.), ``lzsc.checkpoints.load_fnet``          Table I
csc-ivfn pair          CSC-IVFN (Xu, Zhao et al.), ``lzsc.methods.csc_ivfn``        Table II
dae-fuse pair          DAE-Fuse (Guo et al.), ``lzsc.methods.dae_fuse``; no         DAE-Fuse
                       released weights: ``lzsc train --method dae-fuse``           Table I
mean     pair          F = (A + B) / 2, ``lzsc.baselines.MeanFusion``               --
csc-mefn exposures     CSC-MEFN, one scene's exposure stack -> one RGB image        --
csc-mmfn multispectral CSC-MMFN, low-resolution cube + RGB guide -> x2 cube         --
======== ============= ============================================================ ==========

A *pair* method loads as an ``nn.Module`` called as ``model(A, B) -> F`` on (N, 1, H, W) tensors in
[0, 1], so :mod:`lzsc.fusion` (files, folders, tiles) and :mod:`lzsc.evaluation` (test sets, cached
fused images, resumable CSV rows, protocols) run every pair method alike; the other two kinds have
their own inputs (:mod:`lzsc.methods.scenes`). ``labels`` names the method's rows in the papers'
tables (:mod:`lzsc.reference`), so results are printed next to the paper's value of the same method.

Importing this module does not import torch (the command line builds its parser from it); loading a
method does. Introduced in ``notebooks/11_csc_networks.ipynb``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = [
    "INPUTS",
    "METHODS",
    "PAIR_METHODS",
    "InputKind",
    "Method",
    "MethodName",
    "check_device",
    "get_method",
    "load_method",
]

MethodName = Literal["fnet", "csc-ivfn", "dae-fuse", "mean", "csc-mefn", "csc-mmfn"]
InputKind = Literal["pair", "exposures", "multispectral"]
INPUTS: tuple[InputKind, ...] = ("pair", "exposures", "multispectral")


@dataclass(frozen=True)
class Method:
    """One fusion method: ``name``, the ``inputs`` it fuses, a one-line ``summary``, whether it takes
    weights (``checkpoint``: 'official' or a path; DAE-Fuse has no released weights, so only a path) and
    an execution ``backend``, and its ``labels``: paper ("FNet" / "CSC" / "DAE", as in
    :data:`lzsc.datasets.Paper`) -> the method's row name in that paper's table.
    """

    name: str
    inputs: InputKind
    summary: str
    checkpoint: bool = True
    backend: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.inputs not in INPUTS:
            raise ValueError(f"method {self.name!r}: inputs must be one of {INPUTS}, got {self.inputs!r}")

    def label(self, paper: str | None) -> str | None:
        """The method's row name in ``paper``'s table, or None when that paper does not report it."""
        return self.labels.get(paper) if paper else None


METHODS: Mapping[str, Method] = MappingProxyType(
    {
        m.name: m
        for m in (
            Method("fnet", "pair", "FNet, l0 sparse-coding fusion (Panda et al.)", backend=True,
                   labels={"FNet": "FNet (Ours)"}),
            Method("csc-ivfn", "pair", "CSC-IVFN, l1 sparse-coding infrared-visible fusion (Xu, Zhao et al.)",
                   labels={"CSC": "CSC-IVFN"}),
            Method("dae-fuse", "pair", "DAE-Fuse, adversarial autoencoder fusion (Guo et al.), lzsc-trained",
                   labels={"DAE": "DAE-Fuse"}),
            Method("mean", "pair", "the mean of the two sources, a baseline", checkpoint=False),
            Method("csc-mefn", "exposures", "CSC-MEFN, multi-exposure fusion of one scene's exposures"),
            Method("csc-mmfn", "multispectral", "CSC-MMFN, RGB-guided x2 multispectral super-resolution"),
        )
    }
)  # fmt: skip
#: The methods that fuse a pair of grey images (what ``lzsc evaluate`` runs).
PAIR_METHODS: tuple[str, ...] = tuple(name for name, m in METHODS.items() if m.inputs == "pair")


def get_method(name: str) -> Method:
    """The method called ``name``; ValueError naming the choices otherwise."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    return METHODS[name]


def _weights(name: str, checkpoint: str | Path) -> nn.Module:
    if name == "fnet":
        from ..checkpoints import load_fnet

        return load_fnet(checkpoint)
    if name == "csc-ivfn":
        from .csc_ivfn import CSCIVFNFusion, load_csc_ivfn

        return CSCIVFNFusion(load_csc_ivfn(checkpoint))
    if name == "dae-fuse":
        from .dae_fuse import load_dae_fuse

        return load_dae_fuse(checkpoint)
    if name == "csc-mefn":
        from .csc_mefn import load_csc_mefn

        return load_csc_mefn(checkpoint)
    from .csc_mmfn import load_csc_mmfn

    return load_csc_mmfn(checkpoint)


def check_device(device: str, what: str = "device") -> torch.device:
    """``device`` as a torch device; ValueError (naming it as ``what``) for a name torch does not know
    or CUDA on a machine without it."""
    import torch

    try:
        target = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"{what} {device}: not a torch device ({err})") from None
    if target.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{what} {device}: CUDA is not available on this machine; use the CPU (cpu)")
    return target


def load_method(
    name: str, checkpoint: str | Path | None = "official", device: str = "cpu", backend: str = "auto"
) -> nn.Module:
    """Method ``name`` in eval mode on ``device``, with the weights ``checkpoint`` ('official' for the
    released ones, or a path). A method without weights (``mean``) refuses a checkpoint other than
    None / 'official'; ``backend`` is FNet's execution backend (``lzsc.unrolled.backends``)."""

    method = get_method(name)
    target = check_device(device)
    if not method.checkpoint:
        if checkpoint not in (None, "official"):
            raise ValueError(f"method {name!r} has no weights; leave out the checkpoint (got {checkpoint!r})")
        from ..baselines import MeanFusion

        return MeanFusion().to(target)
    model = _weights(name, "official" if checkpoint is None else checkpoint).to(target).eval()
    return model.set_backend(backend) if method.backend else model
