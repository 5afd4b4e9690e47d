"""Where the data lives: the ``LZSC_DATA`` root and the released FNet weights inside it.

``LZSC_DATA`` points at a folder holding ``test/``, ``train/`` and ``checkpoints/``; which sets live
under ``test/`` and ``train/``, and their A / B folders, is the registry :mod:`lzsc.datasets`. The
released weights are ``checkpoints/fnet_official.pth``. Without ``LZSC_DATA`` the library falls back
to synthetic data (``lzsc.data.synthetic``).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ENV_VAR", "data_root", "official_checkpoint", "require_data_root"]

ENV_VAR = "LZSC_DATA"


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


def official_checkpoint(root: Path | str | None = None) -> Path:
    """Path of the authors' released FNet weights (``checkpoints/fnet_official.pth``)."""
    base = Path(root) if root is not None else require_data_root()
    path = base / "checkpoints" / "fnet_official.pth"
    if not path.is_file():
        raise FileNotFoundError(f"released weights not found at {path}; put fnet_official.pth there")
    return path
