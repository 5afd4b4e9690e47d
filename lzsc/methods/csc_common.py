"""What CSC-MEFN and CSC-MMFN share: reading a release's ``best_net.pth`` and renaming its DCU keys.

Both releases store one state_dict (``torch.save(net.state_dict())``) per network; their DCUs
(``DictConv2dBlock``) have the key layout of CSC-IVFN's, renamed by the rules of
:data:`lzsc.methods.csc_ivfn._UNIT` (``conv.conv_decoder.de_conv0.conv2d.weight`` -> ``conv0.weight``,
``conv.conv_encoder.en_conv0.conv2d.weight`` -> ``conv1.weight``, ``norm.*`` -> ``bn.*``,
``activation.theta`` -> ``theta``). Thetas are stored (1, K, 1, 1) and become (K,).
Introduced in ``notebooks/11_csc_networks.ipynb``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path

from torch import Tensor, nn

from ..checkpoints import CheckpointError, check_finite, load_state_dict_strict, read_checkpoint
from ..paths import require_data_root
from .csc_ivfn import _UNIT

__all__ = ["RELEASE_FILE", "load_release_weights", "release_unit_key", "rename_release_state"]

RELEASE_FILE = "best_net.pth"


def release_unit_key(rest: str) -> str | None:
    """The lzsc name, inside one :class:`lzsc.unrolled.DCU`, of a release DCU key; None if unknown."""
    for pattern, name in _UNIT:
        if re.fullmatch(pattern, rest):
            return re.sub(pattern, name, rest)
    return None


def rename_release_state(
    state: Mapping[str, Tensor], rename: Callable[[str], str | None], network: str
) -> dict[str, Tensor]:
    """``{rename(key): value}`` with thetas reshaped to (K,); unknown keys raise :class:`CheckpointError`.

    ``rename`` returns the lzsc name of a release key, or None for a key it does not know; the error
    names every such key (and every value that is not a tensor).
    """
    out: dict[str, Tensor] = {}
    unknown = []
    for key, value in state.items():
        name = rename(key) if isinstance(key, str) and isinstance(value, Tensor) else None
        if name is None:
            unknown.append(str(key))
        else:
            out[name] = value.reshape(-1) if name.endswith("theta") else value
    if unknown:
        raise CheckpointError(
            f"unexpected keys in the released {network} weights ({len(unknown)}): {'; '.join(unknown)}; "
            f"expected the release's {RELEASE_FILE} of {network}"
        )
    return out


def load_release_weights(
    model: nn.Module,
    spec: str | Path,
    folder: str,
    to_lzsc: Callable[[Mapping[str, Tensor]], dict[str, Tensor]],
) -> nn.Module:
    """``model`` in eval mode with the release's weights: ``spec`` "official" is
    ``$LZSC_DATA/checkpoints/<folder>/best_net.pth``, else the path of such a file (or of a folder
    holding one). Missing files, non-state_dicts, non-finite values, unknown, missing or misshapen
    keys raise a clear error."""
    path = (
        require_data_root() / "checkpoints" / folder / RELEASE_FILE if str(spec) == "official" else Path(spec)
    )
    if path.is_dir():
        path = path / RELEASE_FILE
    state = read_checkpoint(path)
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{path} holds a {type(state).__name__}, not a state_dict")
    renamed = to_lzsc(state)
    check_finite(renamed, str(path))
    load_state_dict_strict(model, renamed, source=str(path))
    return model.eval()
