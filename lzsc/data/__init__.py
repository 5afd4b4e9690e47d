"""Training data: paired image folders, augmentations, synthetic MCSC pairs and data preparation.

- :mod:`lzsc.data.pairs`: :class:`PairedImageDataset`, random patches of registered pairs
  (introduced in ``notebooks/06_train_stage1.ipynb``);
- :mod:`lzsc.data.sets`: :func:`training_dataset` and :func:`test_names`, from the data-set registry
  :mod:`lzsc.datasets` (whose download layouts, :data:`LAYOUTS` / :func:`resolve_layout`, are
  re-exported here for ``data_prep/``);
- :mod:`lzsc.data.device`: :class:`DevicePairs`, the same crops cut on the accelerator from pairs
  decoded once onto it (the ``paper`` profile's loader);
- :mod:`lzsc.data.transforms`: shared random crops, the 8 dihedral transforms, kornia luma;
- :mod:`lzsc.data.synthetic`: :class:`SyntheticMCSC`, pairs with ground truth for the paper's
  eq. 7 (``notebooks/05_fnet_ifnet.ipynb``), the fallback when ``LZSC_DATA`` is not set;
- :mod:`lzsc.data.prep`: conversion to 8-bit PNGs with a checksummed manifest (``data_prep/``).

Training calls ``data.sample_batch(batch_size, generator)`` on either kind of data set.
"""

from ..datasets import LAYOUTS, PairLayout, resolve_layout
from .device import DeviceBatches, DevicePairs
from .pairs import LUMA_MODES, PairedImageDataset, load_pair_u8, match_pairs, split_excluded
from .prep import PrepReport, check_manifest, prepare_pairs, read_manifest, sha256_file
from .sets import test_names, training_data, training_dataset
from .synthetic import SYNTHETIC_KINDS, SyntheticMCSC, SyntheticPair, synthetic_pair
from .transforms import (
    DIHEDRAL_NAMES,
    derive_seed,
    dihedral,
    dihedral_compose,
    dihedral_inverse,
    random_crop_pair,
    random_window,
    seeded_generator,
    to_luma,
)

__all__ = [
    "DIHEDRAL_NAMES",
    "LAYOUTS",
    "LUMA_MODES",
    "SYNTHETIC_KINDS",
    "DeviceBatches",
    "DevicePairs",
    "PairLayout",
    "PairedImageDataset",
    "PrepReport",
    "SyntheticMCSC",
    "SyntheticPair",
    "check_manifest",
    "derive_seed",
    "dihedral",
    "dihedral_compose",
    "dihedral_inverse",
    "load_pair_u8",
    "match_pairs",
    "prepare_pairs",
    "random_crop_pair",
    "random_window",
    "read_manifest",
    "resolve_layout",
    "seeded_generator",
    "sha256_file",
    "split_excluded",
    "synthetic_pair",
    "test_names",
    "to_luma",
    "training_data",
    "training_dataset",
]
