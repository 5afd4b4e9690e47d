"""The suite as a course (notebooks/CONVENTIONS.md): structure of every notebook, labelled figures,
explorers that switch themselves.

The notebooks' contents run under nbval (``pytest notebooks``); these tests check what nbval cannot:
that every notebook has its parameters cell, navigation, "What you learned", exercises whose solutions
were executed, references; that every plotting function of the library is checked for axis labels and
that the check fails on an unlabelled figure; that ``live_frontend`` tells a person's front end from a
headless executor.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import re
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

import lzsc.plotting
from lzsc.interactive import live_frontend
from lzsc.notebooks import discover
from lzsc.plotting.checks import labelled_figure, missing_labels

NOTEBOOKS = discover()
_IDS = [p.stem for p in NOTEBOOKS]


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def _tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def _heading_index(cells: list[dict], heading: str) -> int:
    for i, cell in enumerate(cells):
        if cell["cell_type"] == "markdown" and re.search(rf"^## {heading}\s*$", _source(cell), re.M):
            return i
    raise AssertionError(f'no markdown cell with the heading "## {heading}"')


def _links(text: str) -> set[str]:
    return set(re.findall(r"\]\(([0-9]{2}_[\w-]+\.ipynb)\)", text))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_IDS)
class TestNotebookStructure:
    def test_title_and_navigation(self, path: Path) -> None:
        cells = _cells(path)
        first, last = _source(cells[0]), _source(cells[-1])
        assert first.startswith(f"# {path.name[:2]} · "), "the first cell starts with '# NN · Title'"
        names = [p.name for p in NOTEBOOKS]
        i = names.index(path.name)
        expected = {names[j] for j in (i - 1, i + 1) if 0 <= j < len(names)}
        for where, text in (("first", first), ("last", last)):
            missing = expected - _links(text)
            assert not missing, f"the {where} cell does not link to {sorted(missing)}"

    def test_one_parameters_cell_with_profile_first(self, path: Path) -> None:
        tagged = [c for c in _cells(path) if "parameters" in _tags(c)]
        assert len(tagged) == 1, f"{len(tagged)} cells tagged 'parameters' (want 1)"
        assert _source(tagged[0]).lstrip().startswith("profile ="), "the parameters cell starts with profile"

    def test_what_you_learned_is_computed(self, path: Path) -> None:
        cells = _cells(path)
        i = _heading_index(cells, "What you learned")
        cell = cells[i + 1]
        assert cell["cell_type"] == "code", "'What you learned' is followed by a code cell"
        assert "Markdown" in _source(cell), "the bullets are displayed from computed values (Markdown)"
        bullets = [line for o in cell.get("outputs", []) for line in _output_text(o).splitlines()]
        n = sum(1 for line in bullets if line.lstrip().startswith(("- ", "* ")))
        assert 3 <= n <= 5, f"{n} bullets in the executed output of 'What you learned' (want 3-5)"

    def test_exercises_with_executed_solutions(self, path: Path) -> None:
        cells = _cells(path)
        start = _heading_index(cells, "Exercises")
        end = _heading_index(cells, "References")
        assert start < end, "'Exercises' comes before 'References'"
        stated = re.findall(
            r"\*\*Exercise (\d+)\*\* \((★{1,3})\)", "".join(_source(c) for c in cells[start:end])
        )
        assert 2 <= len(stated) <= 4, f"{len(stated)} exercises stated as '**Exercise N** (★..)' (want 2-4)"
        assert len({stars for _, stars in stated}) >= 2, "the exercises have graded difficulty"
        solutions = [c for c in cells[start:end] if "solution" in _tags(c)]
        numbers = sorted(int(n) for n, _ in stated)
        found = sorted(
            int(m.group(1)) for c in solutions if (m := re.match(r"# Solution to exercise (\d+)", _source(c)))
        )
        assert found == numbers, f"solutions for exercises {found}, stated {numbers}"
        for cell in solutions:
            assert cell["cell_type"] == "code"
            assert "hide-input" in _tags(cell), "a solution cell is tagged hide-input"
            assert cell["metadata"].get("jupyter", {}).get("source_hidden") is True, "collapsed in JupyterLab"
            assert "assert" in _source(cell), "a solution asserts its answer"
            assert cell.get("execution_count") is not None, "the committed notebook executed the solution"
            assert not [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]

    def test_references(self, path: Path) -> None:
        cells = _cells(path)
        text = _source(cells[_heading_index(cells, "References")])
        assert re.search(r"^1\. ", text, re.M), "the references are a numbered list"

    def test_errata_use_the_one_style(self, path: Path) -> None:
        for cell in _cells(path):
            text = _source(cell)
            for line in text.splitlines():
                if (
                    re.search(r"erratum", line, re.I)
                    and "Paper erratum" in line
                    and "**Paper erratum" in line
                ):
                    assert line.startswith("> **Paper erratum ("), (
                        f"erratum not in the callout style: {line!r}"
                    )


def _output_text(output: dict) -> str:
    if "text" in output:
        return "".join(output["text"])
    data = output.get("data", {})
    return "".join(data.get("text/markdown", data.get("text/plain", "")))


def test_the_suite_states_errata() -> None:
    boxes = sum(
        _source(c).count("> **Paper erratum (")
        for p in NOTEBOOKS
        for c in _cells(p)
        if c["cell_type"] == "markdown"
    )
    assert boxes >= 8, f"{boxes} paper-erratum boxes in the suite (the issue lists 8 places)"


def _plotting_functions() -> list[tuple[str, object]]:
    found = []
    for info in pkgutil.iter_modules(lzsc.plotting.__path__):
        if info.name == "checks":  # the checker itself
            continue
        module = importlib.import_module(f"lzsc.plotting.{info.name}")
        for name, obj in vars(module).items():
            if name.startswith("_") or not inspect.isfunction(obj) or obj.__module__ != module.__name__:
                continue
            returns = inspect.signature(obj).return_annotation
            text = returns if isinstance(returns, str) else getattr(returns, "__name__", str(returns))
            if re.search(r"\b(Figure|Axes)\b", str(text)):
                found.append((f"{module.__name__}.{name}", obj))
    return found


@pytest.mark.parametrize(("name", "func"), _plotting_functions(), ids=[n for n, _ in _plotting_functions()])
def test_every_plotting_function_checks_its_labels(name: str, func: object) -> None:
    assert getattr(func, "__lzsc_labelled__", False), f"{name} returns a figure but is not @labelled_figure"


class TestLabelCheck:
    def test_unlabelled_axes_are_named(self) -> None:
        fig, ax = plt.subplots()
        ax.plot([0, 1], [1, 0])
        ax.set_title("curve")
        assert missing_labels(fig) == ['axes 0 "curve": no x label', 'axes 0 "curve": no y label']
        plt.close(fig)

    def test_shared_and_super_labels_count_and_images_need_none(self) -> None:
        fig, axes = plt.subplots(2, 2, sharex=True, sharey="row")
        for ax in axes.flat:
            ax.plot([0, 1], [0, 1])
        axes[1, 0].set_xlabel("x")
        axes[1, 1].set_xlabel("x")
        fig.supylabel("y")
        image = fig.add_axes((0.0, 0.0, 0.1, 0.1))
        image.imshow([[0, 1]])
        image.axis("off")
        assert missing_labels(fig) == []
        plt.close(fig)

    def test_colour_bar_needs_a_label(self) -> None:
        fig, ax = plt.subplots()
        ax.axis("off")
        bar = fig.colorbar(ax.imshow([[0, 1]]), ax=ax)
        assert missing_labels(fig) == ['axes 1 "<colorbar>": colour bar without a label']
        bar.set_label("value")
        assert missing_labels(fig) == []
        plt.close(fig)

    def test_decorator_raises_only_when_asked(self, monkeypatch: pytest.MonkeyPatch) -> None:
        @labelled_figure
        def bare() -> Figure:
            fig, ax = plt.subplots()
            ax.plot([0, 1])
            return fig

        monkeypatch.setenv("LZSC_CHECK_FIGURES", "0")
        plt.close(bare())
        monkeypatch.setenv("LZSC_CHECK_FIGURES", "1")
        with pytest.raises(ValueError, match=r"bare returned a figure with unlabelled axes: .*no x label"):
            bare()
        plt.close("all")

    def test_axes_results_are_checked(self, monkeypatch: pytest.MonkeyPatch) -> None:
        @labelled_figure
        def axes_only() -> Axes:
            return plt.subplots()[1]

        monkeypatch.setenv("LZSC_CHECK_FIGURES", "1")
        plt.close(axes_only().figure)  # no data: nothing to label


class TestLiveFrontend:
    def test_false_outside_a_kernel(self) -> None:
        assert live_frontend() is False

    @pytest.mark.slow
    @pytest.mark.parametrize("allow_stdin", [True, False])
    def test_follows_the_execute_request(self, allow_stdin: bool) -> None:
        from jupyter_client.manager import start_new_kernel

        manager, client = start_new_kernel(kernel_name="python3")
        try:
            code = "from lzsc.interactive import live_frontend; print(live_frontend())"
            msg_id = client.execute(code, allow_stdin=allow_stdin)
            printed = ""
            while True:
                msg = client.get_iopub_msg(timeout=60)
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                if msg["msg_type"] == "stream":
                    printed += msg["content"]["text"]
                if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                    break
            assert printed.strip() == str(allow_stdin)
        finally:
            client.stop_channels()
            manager.shutdown_kernel(now=True)
