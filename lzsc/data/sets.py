"""Training data from the registry: named training sets or folders, minus the test pairs they hold.

Which folders hold A and B is the registry's (:mod:`lzsc.datasets`): named training sets, and for a
folder the layouts of the original downloads (:data:`lzsc.datasets.LAYOUTS`). The pairs of the test
set a training set holds (:meth:`lzsc.datasets.Registry.test_set_inside`, e.g. RoadScene's 50) are
excluded automatically. Training data is introduced in ``notebooks/06_train_stage1.ipynb``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..datasets import REGISTRY, dataset_dirs, resolve_layout
from ..io import pair_files
from ..paths import data_root
from .pairs import PairedImageDataset
from .synthetic import SyntheticMCSC

__all__ = ["test_names", "training_data", "training_dataset"]


def test_names(name: str = "RoadScene", root: str | Path | None = None) -> list[str]:  # noqa: PT028
    """File names of the pairs of test set ``name`` (registered in :mod:`lzsc.datasets`) under the data root.

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
    """The training pairs of ``name``: a registered training set under the data root, or a folder.

    A folder's A and B sub-folders are ``a_dir`` / ``b_dir`` when given (e.g. "MRI" and "CT"), else
    the first :data:`lzsc.datasets.LAYOUTS` entry that fits. With ``exclude_test`` the pairs of the
    test set the data holds are excluded (:meth:`lzsc.datasets.Registry.test_set_inside`, by the
    folder's name for a path): for RoadScene its 50 test pairs.
    ``root`` is the data root (default ``$LZSC_DATA``); other keyword arguments go to
    :class:`PairedImageDataset`.
    """
    if (a_dir is None) != (b_dir is None):
        raise ValueError(f"give both a_dir and b_dir (got a_dir={a_dir!r}, b_dir={b_dir!r}) or neither")
    if isinstance(name, str) and REGISTRY.find(name, "train") is not None:
        if a_dir is not None:
            raise ValueError(
                f"a_dir / b_dir apply to a folder; {name!r} has fixed folders (lzsc.datasets.REGISTRY)"
            )
        set_name = name
        a_path, b_path, _ = dataset_dirs(name, "train", root)
    else:
        folder = Path(name)
        if not folder.is_dir():
            raise FileNotFoundError(
                f"{name!r} is neither a training set ({', '.join(REGISTRY.names('train'))}) "
                "nor a folder of pairs"
            )
        set_name = folder.name
        if a_dir is not None:
            a_path, b_path = folder / a_dir, folder / b_dir
        else:
            a_path, b_path, _ = resolve_layout(folder)
    exclude = list(exclude)
    test_set = REGISTRY.test_set_inside(set_name) if exclude_test else None
    if test_set is not None:
        base = Path(root) if root is not None else data_root()
        if base is None or not test_set.present(base):
            where = test_set.folder(base) if base is not None else f"$LZSC_DATA/test/{test_set.name}"
            raise FileNotFoundError(
                f"cannot exclude the {test_set.name} test pairs from training: "
                f"{where}/{{{test_set.a_dir},{test_set.b_dir}}} not found; set LZSC_DATA (or root=...), "
                "or pass exclude_test=False knowingly"
            )
        exclude += test_names(test_set.name, base)
    return PairedImageDataset(a_path, b_path, exclude=exclude, patch=patch, **kwargs)


def training_data(
    name: str | Path = "MSRS", patch: int = 128, root: str | Path | None = None, **kwargs: Any
) -> PairedImageDataset | SyntheticMCSC:
    """Training pairs of ``name`` when a data root is available, else the synthetic image-like MCSC set.

    Both offer ``sample_batch(batch_size, generator)``; the fallback warns. Keyword arguments go to
    :func:`training_dataset`.
    """
    if (
        isinstance(name, str)
        and REGISTRY.find(name, "train") is not None
        and root is None
        and data_root() is None
    ):
        warnings.warn(
            "LZSC_DATA is not set: training on synthetic MCSC pairs (lzsc.data.SyntheticMCSC, kind='image')",
            stacklevel=2,
        )
        return SyntheticMCSC(size=patch, kind="image")
    return training_dataset(name, root=root, patch=patch, **kwargs)
