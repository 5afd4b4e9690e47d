"""The ``lzsc`` command line as a whole: a fast parser, ``--backend``, and clean errors for bad input."""

from __future__ import annotations

import subprocess
import sys

import pytest

import lzsc
from lzsc import cli
from lzsc.cli import build_parser, main
from lzsc.cli import train as train_cli

HEAVY = ("torch", "kornia", "numpy", "papermill", "nbformat", "matplotlib")

# Every --help of the command line, then `import lzsc`, in a fresh interpreter; prints the heavy
# modules that got imported.
_HELP_WITHOUT_TORCH = f"""
import runpy, sys
for argv in ([], ["fuse"], ["evaluate"], ["train"], ["notebooks"], ["notebooks", "run"]):
    sys.argv = ["lzsc", *argv, "--help"]
    try:
        runpy.run_module("lzsc", run_name="__main__", alter_sys=True)
    except SystemExit as exit:
        assert exit.code == 0, (argv, exit.code)
import lzsc
print(sorted(m for m in {HEAVY!r} if m in sys.modules))
"""


def test_help_and_import_lzsc_do_not_import_torch():
    done = subprocess.run(
        [sys.executable, "-c", _HELP_WITHOUT_TORCH], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "execution backend; auto picks the fastest exact one" in done.stdout
    assert done.stdout.splitlines()[-1] == "[]"


def test_lazy_package_keeps_its_public_names():
    from lzsc.models import FNet
    from lzsc.thresholds import soft_threshold

    assert lzsc.FNet is FNet
    assert lzsc.soft_threshold is soft_threshold
    assert all(hasattr(lzsc, name) for name in lzsc.__all__)
    assert set(lzsc.__all__) <= set(dir(lzsc))
    with pytest.raises(AttributeError, match="has no attribute 'FNett'"):
        lzsc.FNett  # noqa: B018


def test_spelt_out_choices_match_the_library():
    from lzsc.io import READERS
    from lzsc.protocols import PROTOCOLS
    from lzsc.unrolled.backends import BACKENDS

    assert cli.BACKENDS == BACKENDS
    assert cli.READERS == READERS
    parser = build_parser()
    assert parser.parse_args(["evaluate", "--dataset", "TNO", "--protocol", "paper"]).protocol == "paper"
    assert set(PROTOCOLS) == {"default", "paper"}


@pytest.mark.parametrize("command", [["fuse", "a", "b", "-o", "f"], ["evaluate", "--dataset", "TNO"]])
def test_backend_option(command, capsys):
    assert build_parser().parse_args(command).backend == "auto"
    assert build_parser().parse_args([*command, "--backend", "engine"]).backend == "engine"
    with pytest.raises(SystemExit):
        build_parser().parse_args([*command, "--backend", "fast"])
    assert "invalid choice: 'fast'" in capsys.readouterr().err


def test_train_backend_goes_into_the_config(monkeypatch):
    monkeypatch.setenv("LZSC_DATA", "")
    parse = build_parser().parse_args
    assert train_cli._config(parse(["train", "--backend", "reference"])).backend == "reference"
    assert train_cli._config(parse(["train"])).backend == "auto"
    assert train_cli._config(parse(["train", "--set", "backend=engine"])).backend == "engine"


def test_train_init_outside_stage_two_is_an_error(tmp_path, capsys):
    argv = ["train", "--stage", "1", "--data", "synthetic", "--out", str(tmp_path), "--init", "x.pt"]
    assert main(argv) == 2
    assert "error: --init is the stage-I result" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_user_errors_are_one_line_not_a_traceback(tmp_path, capsys):
    assert main(["notebooks", "normalise", str(tmp_path / "missing.ipynb")]) == 2
    assert capsys.readouterr().err.startswith("error: ")
