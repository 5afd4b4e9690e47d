"""Where the data lives: the ``LZSC_DATA`` root and the layout of the paper's data sets.

``LZSC_DATA`` points at a folder holding ``test/``, ``train/`` and ``checkpoints/``::

    $LZSC_DATA/test/TNO/{ir,vi}            25 pairs      A = ir,  B = vi
    $LZSC_DATA/test/RoadScene/{ir,vi}      50 pairs
    $LZSC_DATA/test/MRI_CT/{MRI,CT}        21 pairs      A = MRI, B = CT
    $LZSC_DATA/test/MRI_PET/{MRI,PET}      42 pairs      A = MRI, B = PET
    $LZSC_DATA/test/MRI_SPECT/{MRI,SPECT}  73 pairs      A = MRI, B = SPECT
    $LZSC_DATA/train/MSRS/{ir,vi}, $LZSC_DATA/train/RoadScene/{ir,vi}
    $LZSC_DATA/checkpoints/fnet_official.pth

A user adds a data set (say KAIST) by creating ``test/KAIST/{ir,vi}`` with pairs of equal file
names and passing its layout to :func:`dataset_dirs` (or the ``--a-dir/--b-dir`` CLI options).
Without ``LZSC_DATA`` the library falls back to synthetic data (``lzsc.data.synthetic``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "TEST_SETS",
    "TRAIN_SETS",
    "DataSet",
    "data_root",
    "dataset_dirs",
    "official_checkpoint",
    "require_data_root",
]

ENV_VAR = "LZSC_DATA"


@dataclass(frozen=True)
class DataSet:
    """A paired data set: folder names of source A (infrared / MRI) and source B, and its colour mode.

    ``color`` says whether the release fused B in colour (YCbCr) mode for the paper's numbers.
    """

    name: str
    split: str
    a_dir: str
    b_dir: str
    color: bool = False


TEST_SETS: dict[str, DataSet] = {
    "TNO": DataSet("TNO", "test", "ir", "vi"),
    "RoadScene": DataSet("RoadScene", "test", "ir", "vi"),
    "MRI_CT": DataSet("MRI_CT", "test", "MRI", "CT", color=True),
    "MRI_PET": DataSet("MRI_PET", "test", "MRI", "PET", color=True),
    "MRI_SPECT": DataSet("MRI_SPECT", "test", "MRI", "SPECT", color=True),
}
TRAIN_SETS: dict[str, DataSet] = {
    "MSRS": DataSet("MSRS", "train", "ir", "vi"),
    "RoadScene": DataSet("RoadScene", "train", "ir", "vi"),
}


def data_root() -> Path | None:
    """The ``LZSC_DATA`` folder, or ``None`` when the variable is unset or names no folder."""
    value = os.environ.get(ENV_VAR)
    if not value:
        return None
    path = Path(value).expanduser()
    return path if path.is_dir() else None


def require_data_root() -> Path:
    """Like :func:`data_root` but raises a message that says how to fix a missing root."""
    root = data_root()
    if root is None:
        value = os.environ.get(ENV_VAR)
        why = f"{ENV_VAR}={value!r} is not a folder" if value else f"{ENV_VAR} is not set"
        raise FileNotFoundError(
            f"{why}. Point it at the data root holding test/, train/ and checkpoints/, "
            f"e.g. `export {ENV_VAR}=/path/to/shared/data`."
        )
    return root


def dataset_dirs(
    name: str, split: str = "test", root: Path | str | None = None
) -> tuple[Path, Path, DataSet]:
    """Folders (A, B) of a named data set under the data root, checked to exist."""
    table = TEST_SETS if split == "test" else TRAIN_SETS
    if name not in table:
        raise KeyError(f"unknown {split} set {name!r}; known: {', '.join(table)}")
    spec = table[name]
    base = (Path(root) if root is not None else require_data_root()) / split / name
    a, b = base / spec.a_dir, base / spec.b_dir
    for folder in (a, b):
        if not folder.is_dir():
            raise FileNotFoundError(
                f"missing folder {folder}: expected {split}/{name}/{{{spec.a_dir},{spec.b_dir}}}"
            )
    return a, b, spec


def official_checkpoint(root: Path | str | None = None) -> Path:
    """Path of the authors' released FNet weights (``checkpoints/fnet_official.pth``)."""
    base = Path(root) if root is not None else require_data_root()
    path = base / "checkpoints" / "fnet_official.pth"
    if not path.is_file():
        raise FileNotFoundError(f"released weights not found at {path}; put fnet_official.pth there")
    return path
