"""The ``lzsc`` command line. Each module in this package adds one sub-command.

A sub-command module defines ``register(subparsers)``, which adds its parser and sets
``func=<callable(args) -> int>`` as the handler; modules are discovered automatically. Registering
must stay cheap: a module imports torch and the heavy parts of the library inside its handler, never
at module level, so that ``lzsc --help`` answers at once (``tests/test_cli.py`` checks it).

A handler's ``ValueError``, ``FileNotFoundError``, ``FileExistsError`` or ``CheckpointError`` is bad
user input: :func:`main` prints it as ``error: <message>`` and returns 2, without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "BACKENDS",
    "READERS",
    "add_backend_option",
    "add_method_options",
    "add_set_option",
    "build_parser",
    "int_at_least",
    "load_model",
    "main",
]

#: ``lzsc.unrolled.backends.BACKENDS``, spelt out so that building the parser does not import torch.
BACKENDS: tuple[str, ...] = ("auto", "reference", "fused", "engine")
#: ``lzsc.io.READERS``, spelt out for the same reason.
READERS: tuple[str, ...] = ("standard", "release")


def int_at_least(minimum: int, unit: str) -> Callable[[str], int]:
    """An argparse ``type``: an integer of at least ``minimum`` (``unit`` names it in the messages)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number of {unit}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum} {unit}, got {value}")
        return value

    return parse


def add_backend_option(parser: argparse.ArgumentParser, default: str | None = "auto") -> None:
    """``--backend``: the models' execution backend (``None`` as default: keep the configuration's)."""
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=default,
        help="execution backend; auto picks the fastest exact one for the device (experts only)",
    )


def add_set_option(parser: argparse.ArgumentParser, help: str) -> None:
    """``--set KEY=VALUE`` (repeatable) into ``args.overrides``: settings of the training configuration."""
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=help
    )


def add_method_options(parser: argparse.ArgumentParser, methods: tuple[str, ...]) -> None:
    """``--method`` (one of ``methods``, default fnet), ``--checkpoint``, ``--device`` and ``--backend``."""
    from ..methods.registry import METHODS

    parser.add_argument(
        "--method",
        choices=methods,
        default="fnet",
        help="fusion method: " + "; ".join(f"{m}: {METHODS[m].summary}" for m in methods),
    )
    parser.add_argument(
        "--checkpoint",
        default="official",
        help="'official' (the method's released weights under $LZSC_DATA/checkpoints) or a path: an FNet "
        "checkpoint; for csc-ivfn a training result or a folder of the release's three .model files; for "
        "csc-mefn / csc-mmfn a best_net.pth or its folder; dae-fuse has no released weights: pass the "
        "dae_fuse.pt of `lzsc train --method dae-fuse`",
    )
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    add_backend_option(parser)


def load_model(args: argparse.Namespace) -> nn.Module:
    """The model of ``args.method`` with ``args.checkpoint`` on ``args.device`` (``add_method_options``)."""
    from ..methods.registry import check_device, load_method

    check_device(args.device, "--device")
    return load_method(args.method, args.checkpoint, args.device, args.backend)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lzsc",
        description="l0 sparse coding, unrolling and FNet/IFNet image fusion (Panda et al., TPAMI).",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except _user_errors() as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _user_errors() -> tuple[type[Exception], ...]:
    """The exceptions that report bad user input. ``CheckpointError`` counts once ``lzsc.checkpoints``
    is loaded (it cannot have been raised before), so that telling errors apart never imports torch."""
    checkpoints = sys.modules.get("lzsc.checkpoints")
    loaded = (checkpoints.CheckpointError,) if checkpoints is not None else ()
    return (ValueError, FileNotFoundError, FileExistsError, *loaded)
