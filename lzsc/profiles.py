"""The one profile vocabulary of the notebooks, ``lzsc train`` and ``lzsc notebooks run``.

A profile scales a whole run:

- ``quick`` (the default): small sizes that run on a 2-core CPU, every notebook in minutes at most;
  training (notebooks 06, 07, 10; ``lzsc train``) uses the small CPU configuration documented in
  :mod:`lzsc.training.profiles`.
- ``paper``: the paper's / the release's full scale: full-size images, every test pair, more trials,
  and training on the release's schedule (K = 64 filters of 9x9, 20,000 steps per stage), which needs
  a CUDA GPU.

Nothing else is accepted: :func:`check_profile` names the allowed profiles. A step that cannot run at
the chosen profile on this machine (``paper`` training without CUDA) calls :func:`require_cuda_for`,
which raises :class:`ProfileUnavailable` with a one-line reason; the notebook runner reports such a
notebook as ``unavailable``, with that reason, not as failed, and goes on.
"""

from __future__ import annotations

from typing import Literal, cast, get_args

__all__ = ["PROFILES", "Profile", "ProfileUnavailable", "check_profile", "require_cuda_for"]

Profile = Literal["quick", "paper"]
PROFILES: tuple[Profile, ...] = get_args(Profile)
"""The allowed profile names, the default (``quick``) first."""


class ProfileUnavailable(RuntimeError):
    """What was asked for cannot run at this profile on this machine; the message says why, in one line."""


def check_profile(name: str) -> Profile:
    """``name`` if it is a profile, else a ValueError naming the allowed ones."""
    if name not in PROFILES:
        choices = " or ".join(repr(p) for p in PROFILES)
        raise ValueError(f"unknown profile {name!r}; choose {choices} (see lzsc.profiles)")
    return cast(Profile, name)


def require_cuda_for(profile: str, what: str) -> None:
    """Raise :class:`ProfileUnavailable` when ``profile`` is ``paper`` and torch sees no CUDA device.

    Call it for steps that need a GPU at the paper's scale (training); ``what`` names the step, e.g.
    ``"stage I training"``. ``quick`` never needs CUDA.
    """
    if check_profile(profile) != "paper":
        return
    import torch

    if not torch.cuda.is_available():
        raise ProfileUnavailable(
            f"{what} at the 'paper' profile needs a CUDA GPU and none is available; run it on a GPU "
            "machine, use profile 'quick', or set device='cpu' to run the paper's scale on the CPU anyway"
        )
