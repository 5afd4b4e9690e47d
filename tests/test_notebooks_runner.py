"""The notebook runner: discovery, selection, parameters, normalisation, and real papermill runs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import nbformat
import pytest

from lzsc import notebooks as nbr
from lzsc.cli import build_parser, main

REPO_NOTEBOOKS = nbr.notebooks_dir()


def _notebook(cells: list[tuple[str, str, list[str]]]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(nbr.KERNELSPEC)
    for kind, source, tags in cells:
        cell = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    return nb


def _write(path: Path, nb: nbformat.NotebookNode) -> Path:
    nbformat.write(nb, path)
    return path


def test_discover_sorts_numbered_notebooks_and_ignores_others(tmp_path):
    for name in ("10_last.ipynb", "02_b.ipynb", "01_a.ipynb", "README.ipynb", "1_short.ipynb", "03_x.txt"):
        (tmp_path / name).write_text("{}")
    assert [p.name for p in nbr.discover(tmp_path)] == ["01_a.ipynb", "02_b.ipynb", "10_last.ipynb"]
    with pytest.raises(FileNotFoundError):
        nbr.discover(tmp_path / "missing")


def test_repository_notebooks_are_discovered_in_order():
    names = [p.name for p in nbr.discover()]
    assert names[:5] == [
        "00_overview.ipynb",
        "01_l0_vs_l1_sparse_coding.ipynb",
        "02_niht_and_momentum.ipynb",
        "03_thresholds.ipynb",
        "04_unrolling.ipynb",
    ]


def test_select_by_number_or_name(tmp_path):
    paths = [tmp_path / n for n in ("00_a.ipynb", "01_b.ipynb", "02_c.ipynb")]
    assert nbr.select(paths, None) == paths
    assert nbr.select(paths, ["2", "00"]) == [paths[0], paths[2]]
    assert nbr.select(paths, ["01_b"]) == [paths[1]]
    with pytest.raises(ValueError, match="no notebook matches '07'"):
        nbr.select(paths, ["07"])


def test_parse_value():
    assert nbr.parse_value("3") == 3
    assert nbr.parse_value("0.5") == 0.5
    assert nbr.parse_value("True") is True
    assert nbr.parse_value("None") is None
    assert nbr.parse_value("[1, 2]") == [1, 2]
    assert nbr.parse_value("full") == "full"
    assert nbr.parse_value("/tmp/data") == "/tmp/data"


def test_settings_merges_profile_and_explicit_values():
    profiles = {"quick": {"n": 10, "steps": 5}, "paper": {"n": 100, "steps": 50}}
    cfg = nbr.settings(profiles, "paper", n=None, steps=7)
    assert (cfg.profile, cfg.n, cfg.steps) == ("paper", 100, 7)
    with pytest.raises(ValueError, match="unknown profile 'full'"):
        nbr.settings(profiles, "full")
    with pytest.raises(ValueError, match="exactly"):
        nbr.settings({"quick": {"n": 1}}, "quick")
    with pytest.raises(ValueError, match="unknown profile 'huge'"):
        nbr.settings(profiles, "huge")
    with pytest.raises(KeyError, match="stepz"):
        nbr.settings(profiles, "quick", stepz=3)


def test_normalise_strips_volatile_metadata(tmp_path):
    nb = _notebook(
        [
            ("code", "a = 1", ["parameters"]),
            ("code", "# Parameters\na = 2", ["injected-parameters"]),
            ("code", "print(a)", []),
        ]
    )
    nb.metadata["kernelspec"] = {"name": "lzsc-venv", "display_name": "my env", "language": "python"}
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.7"}
    nb.metadata["papermill"] = {"duration": 1.0, "parameters": {"a": 2}}
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    cell = nb.cells[2]
    cell.metadata["execution"] = {"iopub.status.busy": "2026-01-01T00:00:00Z"}
    cell.metadata["papermill"] = {"duration": 0.1, "status": "completed"}
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={"text/plain": "slider", "application/vnd.jupyter.widget-view+json": {"model_id": "x"}},
        )
    ]
    path = _write(tmp_path / "00_x.ipynb", nb)

    assert nbr.normalise(path) is True
    out = nbformat.read(path, as_version=4)
    assert out.metadata["kernelspec"] == nbr.KERNELSPEC
    assert out.metadata["language_info"] == {"name": "python"}
    assert "papermill" not in out.metadata
    assert "widgets" not in out.metadata
    assert [c.source for c in out.cells] == ["a = 1", "print(a)"]
    assert dict(out.cells[1].metadata) == {}
    assert out.cells[1].outputs[0]["data"] == {"text/plain": "slider"}
    assert nbr.normalise(path) is False


def test_normalise_command(tmp_path, capsys):
    nb = _notebook([("code", "1", [])])
    nb.metadata["papermill"] = {"duration": 1.0}
    path = _write(tmp_path / "00_x.ipynb", nb)
    assert main(["notebooks", "normalise", str(path)]) == 0
    assert "normalised" in capsys.readouterr().out
    assert "papermill" not in nbformat.read(path, as_version=4).metadata


def test_cli_registers_notebooks_run():
    args = build_parser().parse_args(
        ["notebooks", "run", "--profile", "paper", "-p", "seed", "3", "-p", "name", "x", "--only", "01,02"]
    )
    assert args.profile == "paper"
    assert args.parameter == [["seed", "3"], ["name", "x"]]
    assert args.only == "01,02"
    assert args.no_progress is False
    assert callable(args.func)


def test_cli_unknown_notebook_is_an_error(tmp_path, capsys):
    _write(tmp_path / "00_a.ipynb", _notebook([("code", "1", [])]))
    assert (
        main(["notebooks", "run", "--dir", str(tmp_path), "--only", "05", "--out", str(tmp_path / "o")]) == 2
    )
    assert "no notebook matches '05'" in capsys.readouterr().err


@pytest.mark.slow
def test_failing_notebook_exits_nonzero_naming_notebook_and_cell(tmp_path, capsys):
    folder = tmp_path / "nbs"
    folder.mkdir()
    _write(folder / "00_ok.ipynb", _notebook([("code", "x = 1", ["parameters"]), ("code", "print(x)", [])]))
    _write(
        folder / "01_broken.ipynb",
        _notebook(
            [
                ("markdown", "# broken", []),
                ("code", "x = 1", ["parameters"]),
                ("code", "y = x + 1", []),
                ("code", "raise RuntimeError('claim not supported')", []),
                ("code", "print('never')", []),
            ]
        ),
    )
    _write(folder / "02_after.ipynb", _notebook([("code", "print(2)", [])]))
    out = tmp_path / "run"

    rc = main(["notebooks", "run", "--dir", str(folder), "--out", str(out), "-p", "x", "5"])

    assert rc == 1
    err = capsys.readouterr().err
    assert "01_broken.ipynb failed at cell 4 (In [" in err
    assert "RuntimeError: claim not supported" in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ok"] is False
    assert summary["parameters"] == {"x": 5}
    assert [(r["notebook"], r["status"]) for r in summary["notebooks"]] == [
        ("00_ok.ipynb", "ok"),
        ("01_broken.ipynb", "failed"),
        ("02_after.ipynb", "skipped"),
    ]
    assert summary["notebooks"][1]["cell"] == 4
    assert (out / "summary.csv").read_text().startswith("notebook,status,seconds")
    assert (out / "01_broken.ipynb").is_file()
    executed = nbformat.read(out / "00_ok.ipynb", as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)


@pytest.mark.slow
def test_unavailable_profile_stops_a_notebook_cleanly(tmp_path, capsys):
    """A notebook that cannot honour its profile here raises ProfileUnavailable at its start: the run
    reports it as unavailable with the one-line reason, goes on, and exits 0."""
    folder = tmp_path / "nbs"
    folder.mkdir()
    raise_it = "from lzsc.profiles import ProfileUnavailable\nraise ProfileUnavailable('needs a GPU here')"
    _write(
        folder / "00_gpu.ipynb",
        _notebook([("code", "profile = 'quick'", ["parameters"]), ("code", raise_it, [])]),
    )
    _write(folder / "01_after.ipynb", _notebook([("code", "print(1)", [])]))
    out = tmp_path / "run"
    assert main(["notebooks", "run", "--dir", str(folder), "--out", str(out), "--no-progress"]) == 0
    assert "00_gpu.ipynb: unavailable" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ok"] is True
    assert [(r["notebook"], r["status"]) for r in summary["notebooks"]] == [
        ("00_gpu.ipynb", "unavailable"),
        ("01_after.ipynb", "ok"),
    ]
    assert summary["notebooks"][0]["error"] == "needs a GPU here"


def test_figures_kept_under_a_headless_backend(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    folder = tmp_path / "nbs"
    folder.mkdir()
    plot = "import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0]);"
    _write(folder / "00_plot.ipynb", _notebook([("code", plot, [])]))
    out = tmp_path / "run"

    assert main(["notebooks", "run", "--dir", str(folder), "--out", str(out)]) == 0

    executed = nbformat.read(out / "00_plot.ipynb", as_version=4)
    assert any("image/png" in o.get("data", {}) for o in executed.cells[0].outputs)
    assert nbr.os.environ["MPLBACKEND"] == "Agg"


@pytest.mark.slow
def test_progress_bar_names_the_notebook_and_counts_cells_without_kernel_warnings(tmp_path, capfd):
    folder = tmp_path / "nbs"
    folder.mkdir()
    _write(folder / "00_two.ipynb", _notebook([("code", "x = 1", []), ("code", "print(x + 1)", [])]))

    summary = nbr.run_notebooks(nbr.discover(folder), tmp_path / "run", log=None)

    assert summary.ok
    err = capfd.readouterr().err
    assert "00_two.ipynb: 0/2 cells" in err  # later counts are drawn at most every 0.1 s
    assert "without encryption" not in err  # the kernel's plain-TCP warning, once per notebook


def test_progress_bar_clock_runs_during_a_long_cell():
    class Bar:
        refreshes = 0

        def refresh(self):
            self.refreshes += 1

    bar = Bar()
    with nbr._ticking(bar, every=0.01):
        time.sleep(0.2)
    assert bar.refreshes >= 2
    seen = bar.refreshes
    time.sleep(0.05)
    assert bar.refreshes == seen  # stopped with the notebook
    with nbr._ticking(None):
        pass


@pytest.mark.slow
def test_notebook_03_runs_with_non_default_parameters(tmp_path):
    out = tmp_path / "run03"
    argv = ["notebooks", "run", "--only", "03", "--out", str(out), "--profile", "quick"]
    argv += ["-p", "alpha", "0.5", "-p", "gamma", "20.0", "-p", "n_signal", "1000"]

    assert main(argv) == 0

    summary = json.loads((out / "summary.json").read_text())
    assert summary["ok"] is True
    assert summary["parameters"] == {"alpha": 0.5, "gamma": 20.0, "n_signal": 1000, "profile": "quick"}
    executed = nbformat.read(out / "03_thresholds.ipynb", as_version=4)
    printed = "".join(
        o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    assert "profile quick: theta = 1.0, alpha = 0.5, gamma = 20.0" in printed
