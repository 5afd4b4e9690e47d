"""The evaluation protocols: how a test set is fused, saved and measured (``docs/conventions.md``).

Two named protocols, :data:`PROTOCOLS`:

- ``default``: grey fusion everywhere, sources read by the ``standard`` reader, lossless PNG
  outputs, SSIM with data_range 255, CE as VIFB's mean (CE(A,F) + CE(B,F)) / 2;
- ``paper``: the settings under which the paper's Table I reproduces: colour (studio-swing YCbCr)
  fusion for the sets whose B the release fused in colour (:attr:`lzsc.datasets.DataSet.color`: the
  medical sets), sources fused as the release's test code reads them (the ``release`` reader:
  OpenCV's grey-mode decode), fused images saved under the source's file name as the release does
  (RoadScene's ``.jpg`` sources give JPEG outputs), SSIM with the legacy data_range 2 of CDDFuse's
  evaluator, CE as the sum CE(A,F) + CE(B,F).

Both protocols compute the metrics on what the ``standard`` reader (the reference evaluator's
``imread`` + ``cvtColor``) reads from the saved fused image and the sources. The readers are
:data:`lzsc.io.READERS`. Both :mod:`lzsc.evaluation` and the gallery of
:mod:`lzsc.plotting.reproduction` read these facts here, as does the cache layout of fused images:
``<cache>/<model tag>/<protocol>-<fusion reader>/<dataset>/``.
Importing this module does not import torch (the command line builds its parser from it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .datasets import REGISTRY, DataSet

__all__ = ["CONVENTIONS", "PROTOCOLS", "EvalProtocol", "ProtocolName", "get_protocol"]

ProtocolName = Literal["default", "paper"]
CEReduction = Literal["mean", "sum"]
ReaderName = Literal["standard", "release"]

CONVENTIONS = (
    "A = infrared (TNO, RoadScene) or MRI; B = visible / CT / PET / SPECT; sources and fused images "
    "read as 8-bit grey by the protocol's readers; metrics on the saved 8-bit fused image; "
    "MI, VIF, SSIM summed over the two sources; per-dataset mean over pairs."
)
"""The conventions every results table states, whatever the protocol."""

_CE_TEXT: dict[str, str] = {
    "mean": "CE as VIFB's mean (CE(A,F) + CE(B,F)) / 2",
    "sum": "CE as the sum CE(A,F) + CE(B,F)",
}


@dataclass(frozen=True)
class EvalProtocol:
    """One protocol: fusion mode, output naming, the metrics' settings and the cache layout.

    ``color_fusion``: fuse in colour mode the sets whose B the release fused in colour;
    ``release_names``: save each fused image under its source's file name, as the release does (so
    JPEG sources give JPEG outputs), instead of a lossless ``<stem>.png``;
    ``ssim_data_range`` / ``ce_reduction``: the settings :func:`lzsc.metrics.compute_all` uses under
    this protocol's name; ``fusion_reader`` / ``metric_reader``: the readers (``lzsc.io.READERS``)
    of the sources fed to the model and of the images the metrics see.
    """

    name: ProtocolName
    color_fusion: bool
    release_names: bool
    ssim_data_range: float
    ce_reduction: CEReduction
    fusion_reader: ReaderName = "standard"
    metric_reader: ReaderName = "standard"

    @property
    def readers(self) -> str:
        """``fusion reader/metric reader``: part of the key of every cached image and CSV row."""
        return f"{self.fusion_reader}/{self.metric_reader}"

    def color(self, spec: DataSet) -> bool:
        """Whether the pairs of ``spec`` are fused in colour mode."""
        return self.color_fusion and spec.color

    def fused_name(self, source_name: str) -> str:
        """File name of the fused image of the pair whose sources are called ``source_name``."""
        from .fusion import output_name

        return output_name(source_name, self.release_names)

    def cache_folder(self, cache_dir: str | Path, model_tag: str, dataset: str) -> Path:
        """Where fused images of ``dataset`` made by the model ``model_tag`` are cached."""
        return Path(cache_dir) / model_tag / f"{self.name}-{self.fusion_reader}" / dataset

    def find_fused(self, folder: str | Path, source_name: str) -> Path | None:
        """The fused image of pair ``source_name`` in ``folder``: the protocol's file name, else any
        image file with the pair's stem; None when there is none."""
        from .io import IMAGE_SUFFIXES

        folder, stem = Path(folder), Path(source_name).stem
        candidates = [folder / self.fused_name(source_name), *(folder / f"{stem}{s}" for s in IMAGE_SUFFIXES)]
        return next((p for p in candidates if p.is_file()), None)

    def fusion_text(self) -> str:
        """How this protocol fuses and saves, in words."""
        colour_sets = [s.name for s in REGISTRY if s.split == "test" and s.color]
        mode = (
            f"colour (studio-swing YCbCr) fusion for {'/'.join(colour_sets)}, grey fusion otherwise"
            if self.color_fusion
            else "grey fusion"
        )
        saved = (
            "fused images saved under the source's name as the release does (JPEG outputs for RoadScene)"
            if self.release_names
            else "lossless PNG outputs"
        )
        return f"{mode}, sources read by the {self.fusion_reader} reader, {saved}"

    def metrics_text(self) -> str:
        """The metrics' settings of this protocol, in words."""
        legacy = " (the legacy value of CDDFuse's evaluator)" if self.ssim_data_range != 255 else ""
        return (
            f"metrics on images read by the {self.metric_reader} reader, SSIM with data_range "
            f"{self.ssim_data_range:g}{legacy}, {_CE_TEXT[self.ce_reduction]}"
        )

    def describe(self) -> str:
        """Fusion and metric settings in one line, for table headers."""
        return f"{self.fusion_text()}; {self.metrics_text()}"


PROTOCOLS: dict[str, EvalProtocol] = {
    "default": EvalProtocol(
        "default", color_fusion=False, release_names=False, ssim_data_range=255.0, ce_reduction="mean"
    ),
    "paper": EvalProtocol(
        "paper",
        color_fusion=True,
        release_names=True,
        ssim_data_range=2.0,
        ce_reduction="sum",
        fusion_reader="release",
    ),
}


def get_protocol(name: str) -> EvalProtocol:
    """The protocol called ``name``; ValueError naming the choices otherwise."""
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}; choose one of {tuple(PROTOCOLS)}")
    return PROTOCOLS[name]
