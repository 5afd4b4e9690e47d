"""Named data sets and folder layouts: which folders hold A and B, and which pairs are test pairs.

Layouts are configuration (:data:`LAYOUTS`), not code: the official MSRS, RoadScene and medical
(Harvard) folder names, used by :func:`training_dataset` for a folder and by ``data_prep/``. Named
training sets come from :data:`lzsc.paths.TRAIN_SETS`; the pairs of the test set of the same name
(:data:`lzsc.paths.TEST_SETS`, e.g. RoadScene's 50) are excluded automatically. Training data is
introduced in ``notebooks/06_train_stage1.ipynb``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..io import pair_files
from ..paths import TEST_SETS, TRAIN_SETS, data_root, dataset_dirs
from .pairs import PairedImageDataset
from .synthetic import SyntheticMCSC

__all__ = ["LAYOUTS", "PairLayout", "resolve_layout", "test_names", "training_data", "training_dataset"]


@dataclass(frozen=True)
class PairLayout:
    """Folder names of a paired data set layout.

    ``a_dirs`` / ``b_dirs`` are candidate sub-folder names (the first one present is used);
    ``out_a`` / ``out_b`` the folder names ``data_prep`` writes (None: keep the source's name);
    ``test_set`` the :data:`lzsc.paths.TEST_SETS` entry whose pairs must not be trained on.
    """

    a_dirs: tuple[str, ...]
    b_dirs: tuple[str, ...]
    out_a: str | None = None
    out_b: str | None = None
    test_set: str | None = None


#: Known layouts, in the order :func:`resolve_layout` tries them. MSRS (``train/`` or ``test/`` of the
#: official release) holds ``ir`` and ``vi``, as does every set under ``$LZSC_DATA``; the official
#: RoadScene repository ``cropinfrared`` and ``crop_HR_visible``; the Harvard medical sets ``MRI``
#: and one of ``CT``, ``PET``, ``SPECT``.
LAYOUTS: dict[str, PairLayout] = {
    "msrs": PairLayout(("ir",), ("vi",), "ir", "vi"),
    "roadscene": PairLayout(("cropinfrared", "ir"), ("crop_HR_visible", "vi"), "ir", "vi", "RoadScene"),
    "medical": PairLayout(("MRI",), ("CT", "PET", "SPECT")),
}


def resolve_layout(folder: str | Path, layout: str | None = None) -> tuple[Path, Path, PairLayout]:
    """The (A, B) folders of ``folder`` under ``layout`` (a :data:`LAYOUTS` key), or the first that fits."""
    folder = Path(folder)
    if layout is not None and layout not in LAYOUTS:
        raise KeyError(
            f"unknown layout {layout!r}; known: {', '.join(LAYOUTS)} (or give the A and B folders)"
        )
    candidates = [LAYOUTS[layout]] if layout else list(LAYOUTS.values())
    for spec in candidates:
        a = next((folder / d for d in spec.a_dirs if (folder / d).is_dir()), None)
        b = next((folder / d for d in spec.b_dirs if (folder / d).is_dir()), None)
        if a is not None and b is not None:
            return a, b, spec
    wanted = "; ".join(f"{'|'.join(s.a_dirs)} + {'|'.join(s.b_dirs)}" for s in candidates)
    raise FileNotFoundError(
        f"{folder} does not hold the folders of the {layout or 'known'} layout(s) ({wanted}); "
        "name the A and B folders explicitly"
    )


def test_names(name: str = "RoadScene", root: str | Path | None = None) -> list[str]:  # noqa: PT028
    """File names of the pairs of test set ``name`` (a :data:`lzsc.paths.TEST_SETS` key) under the data root.

    Pass them as ``exclude`` so that training never sees a test image (RoadScene's 50 test pairs
    are among its 221 training pairs).
    """
    a_dir, b_dir, _ = dataset_dirs(name, "test", root)
    pairs, _ = pair_files(a_dir, b_dir)
    return [pair_name for pair_name, _, _ in pairs]


test_names.__test__ = False  # a library function, not a pytest test


def training_dataset(
    name: str | Path = "MSRS",
    root: str | Path | None = None,
    patch: int = 128,
    *,
    a_dir: str | None = None,
    b_dir: str | None = None,
    exclude: Iterable[str | Path] = (),
    exclude_test: bool = True,
    **kwargs: Any,
) -> PairedImageDataset:
    """The training pairs of ``name``: a :data:`lzsc.paths.TRAIN_SETS` key under the data root, or a folder.

    A folder's A and B sub-folders are ``a_dir`` / ``b_dir`` when given (e.g. "MRI" and "CT"), else
    the first :data:`LAYOUTS` entry that fits. With ``exclude_test`` the pairs of the test set of
    the same name (the folder's name for a path) are excluded: for RoadScene its 50 test pairs.
    ``root`` is the data root (default ``$LZSC_DATA``); other keyword arguments go to
    :class:`PairedImageDataset`.
    """
    if (a_dir is None) != (b_dir is None):
        raise ValueError(f"give both a_dir and b_dir (got a_dir={a_dir!r}, b_dir={b_dir!r}) or neither")
    if isinstance(name, str) and name in TRAIN_SETS:
        if a_dir is not None:
            raise ValueError(
                f"a_dir / b_dir apply to a folder; {name!r} has fixed folders (lzsc.paths.TRAIN_SETS)"
            )
        set_name = name
        a_path, b_path, _ = dataset_dirs(name, "train", root)
    else:
        folder = Path(name)
        if not folder.is_dir():
            raise FileNotFoundError(
                f"{name!r} is neither a training set ({', '.join(TRAIN_SETS)}) nor a folder of pairs"
            )
        set_name = folder.name
        if a_dir is not None:
            a_path, b_path = folder / a_dir, folder / b_dir
        else:
            a_path, b_path, _ = resolve_layout(folder)
    exclude = list(exclude)
    if exclude_test and set_name in TEST_SETS:
        base = Path(root) if root is not None else data_root()
        spec = TEST_SETS[set_name]
        test_dir = None if base is None else base / "test" / set_name
        if test_dir is None or not ((test_dir / spec.a_dir).is_dir() and (test_dir / spec.b_dir).is_dir()):
            where = test_dir if test_dir is not None else f"$LZSC_DATA/test/{set_name}"
            raise FileNotFoundError(
                f"cannot exclude the {set_name} test pairs from training: "
                f"{where}/{{{spec.a_dir},{spec.b_dir}}} not found; set LZSC_DATA (or root=...), "
                "or pass exclude_test=False knowingly"
            )
        exclude += test_names(set_name, base)
    return PairedImageDataset(a_path, b_path, exclude=exclude, patch=patch, **kwargs)


def training_data(
    name: str | Path = "MSRS", patch: int = 128, root: str | Path | None = None, **kwargs: Any
) -> PairedImageDataset | SyntheticMCSC:
    """Training pairs of ``name`` when a data root is available, else the synthetic image-like MCSC set.

    Both offer ``sample_batch(batch_size, generator)``; the fallback warns. Keyword arguments go to
    :func:`training_dataset`.
    """
    if isinstance(name, str) and name in TRAIN_SETS and root is None and data_root() is None:
        warnings.warn(
            "LZSC_DATA is not set: training on synthetic MCSC pairs (lzsc.data.SyntheticMCSC, kind='image')",
            stacklevel=2,
        )
        return SyntheticMCSC(size=patch, kind="image")
    return training_dataset(name, root=root, patch=patch, **kwargs)
