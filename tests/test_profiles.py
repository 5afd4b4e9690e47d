"""lzsc.profiles: one profile vocabulary for the notebooks and training, and the notebooks that use it.

The notebook checks read the notebooks' sources only (nothing is executed): every parameters cell
starts with ``profile = "quick"``, every size table is keyed by exactly the vocabulary, the training
notebooks stop cleanly (ProfileUnavailable) for ``paper`` without CUDA, and no notebook uses the removed
``lzsc.fast`` or builds the released weights' path by hand.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import torch

from lzsc.profiles import PROFILES, ProfileUnavailable, check_profile, require_cuda_for
from lzsc.training import PROFILES as TRAIN_PROFILES

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
TRAINING = ("06", "07", "10")  # the notebooks that train at the profile's scale


def test_vocabulary():
    assert PROFILES == ("quick", "paper")
    assert tuple(TRAIN_PROFILES) == PROFILES
    assert [check_profile(p) for p in PROFILES] == list(PROFILES)
    for bad in ("full", "Quick", "ci", ""):
        with pytest.raises(ValueError, match=f"unknown profile {bad!r}; choose 'quick' or 'paper'"):
            check_profile(bad)


def test_require_cuda_for(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    require_cuda_for("quick", "stage I training")  # quick never needs CUDA
    with pytest.raises(ProfileUnavailable) as info:
        require_cuda_for("paper", "stage I training")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("stage I training at the 'paper' profile needs a CUDA GPU")
    assert "profile 'quick'" in message
    with pytest.raises(ValueError, match="unknown profile 'full'"):
        require_cuda_for("full", "stage I training")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    require_cuda_for("paper", "stage I training")


def _code_cells(path: Path) -> list[tuple[list[str], str]]:
    cells = json.loads(path.read_text())["cells"]
    return [(c["metadata"].get("tags", []), "".join(c["source"])) for c in cells if c["cell_type"] == "code"]


def _parameters(path: Path) -> dict[str, ast.expr]:
    """The assignments of the notebook's parameters cell: name -> value expression."""
    (source,) = [src for tags, src in _code_cells(path) if "parameters" in tags]
    body = ast.parse(source).body
    assigns = [n for n in body if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name)]
    return {n.targets[0].id: n.value for n in assigns}


def test_the_suite_is_there():
    assert [p.name[:2] for p in NOTEBOOKS] == [f"{i:02d}" for i in range(13)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_notebook_uses_the_vocabulary(path):
    params = _parameters(path)
    assert ast.literal_eval(params["profile"]) == "quick"
    if "PROFILES" in params:  # the notebook's size table: one entry per profile, no other
        assert tuple(ast.literal_eval(k) for k in params["PROFILES"].keys) == PROFILES
    code = "\n".join(src for _, src in _code_cells(path))
    assert '"full"' not in code
    assert "'full'" not in code


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_notebook_uses_the_current_api(path):
    code = "\n".join(src for _, src in _code_cells(path))
    assert "lzsc.fast" not in code
    assert "fast_fnet" not in code
    assert "fnet_official.pth" not in code  # lzsc.paths.official_checkpoint finds the released weights
    assert "runner=" not in code  # lzsc.cost.model_cost takes backend=


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.name[:2] in TRAINING], ids=lambda p: p.name[:2])
def test_training_notebooks_need_cuda_for_paper(path):
    assert (
        ast.literal_eval(_parameters(path)["device"]) is None
    )  # the profile's device, CUDA for paper: checked before any work
    setup = next(src for tags, src in _code_cells(path) if "parameters" not in tags)
    assert "require_cuda_for(profile, " in setup
