"""Run the notebook suite with papermill, resolve notebook profiles, and normalise notebooks for committing.

The suite lives in ``notebooks/NN_name.ipynb``; :func:`discover` finds whatever numbered notebooks
exist and :func:`run_notebooks` executes them in order (kernel ``python3``, working directory = the
notebooks' folder), writes the executed copies and a summary (``summary.json``, ``summary.csv``)
and stops at the first failure, naming the notebook and the cell; a progress bar on stderr shows the
running notebook's name and its cells done. The CLI front end is ``lzsc notebooks run``
(:mod:`lzsc.cli.notebooks`).

Every notebook has one cell tagged ``parameters``; the names assigned there are its parameters
(:func:`notebook_parameters`). A parameter passed to :func:`run_notebooks` (``-p KEY VALUE``) must be
declared by at least one of the notebooks to run, else nothing runs and a ``ValueError`` names it and
lists the valid ones (one that only some of them declare reaches the others too, where papermill warns
and it has no effect).

Sizes are ``None`` in the parameters cell and come from the notebook's ``PROFILES[profile]``
unless set explicitly; :func:`settings` does that merge::

    profile = "quick"
    n_trials = None
    PROFILES = {"quick": {"n_trials": 10}, "paper": {"n_trials": 200}}
    cfg = settings(PROFILES, profile, n_trials=n_trials)     # cfg.n_trials == 10

:func:`normalise` strips volatile metadata (execution timestamps, papermill's timing and
parameters, widget state, the injected-parameters cell) and sets the kernelspec to ``python3``;
``lzsc notebooks normalise notebooks/*.ipynb`` applies it before committing.
Introduced in ``notebooks/00_overview.ipynb``.
"""

from __future__ import annotations

import ast
import csv
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from .atomic import atomic_open, write_text_atomic
from .profiles import PROFILES, ProfileUnavailable, check_profile

if TYPE_CHECKING:
    from traitlets.config import Config

__all__ = [
    "KERNELSPEC",
    "NotebookRun",
    "RunSummary",
    "check_parameters",
    "discover",
    "normalise",
    "notebook_parameters",
    "notebooks_dir",
    "parse_value",
    "run_notebooks",
    "select",
    "settings",
]

NOTEBOOK_NAME = re.compile(r"^(\d{2})_[\w-]+\.ipynb$")
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
_VOLATILE_CELL_METADATA = ("execution", "papermill", "ExecuteTime", "collapsed", "scrolled")
_VOLATILE_NB_METADATA = ("papermill", "widgets", "toc", "varInspector")
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
_DROP_TAGS = {"injected-parameters", "papermill-error-cell-tag"}
_WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
_BAR_FORMAT = "{desc}: {n_fmt}/{total_fmt} cells |{bar}| {elapsed}"


def notebooks_dir() -> Path:
    """The ``notebooks/`` folder: beside the ``lzsc`` package in a source checkout, else ./notebooks."""
    beside_package = Path(__file__).resolve().parents[1] / "notebooks"
    return beside_package if beside_package.is_dir() else Path.cwd() / "notebooks"


def discover(directory: str | Path | None = None) -> list[Path]:
    """Every ``NN_*.ipynb`` in ``directory`` (default :func:`notebooks_dir`), sorted by number then name."""
    folder = Path(directory) if directory is not None else notebooks_dir()
    if not folder.is_dir():
        raise FileNotFoundError(f"notebook folder {folder} does not exist")
    found = [p for p in folder.iterdir() if p.is_file() and NOTEBOOK_NAME.match(p.name)]
    return sorted(found, key=lambda p: (int(p.name[:2]), p.name))


def select(paths: Sequence[Path], only: Iterable[str] | None) -> list[Path]:
    """Keep the notebooks named in ``only``: numbers ("01", "1") or name stems ("01_l0_vs_l1_sparse_coding").

    Raises ``ValueError`` for a selector that matches nothing, listing what exists.
    """
    if only is None:
        return list(paths)
    wanted = [s.strip() for s in only if s.strip()]
    chosen: list[Path] = []
    for key in wanted:
        hits = [p for p in paths if p.stem == key or (key.isdigit() and int(p.name[:2]) == int(key))]
        if not hits:
            names = ", ".join(p.stem for p in paths) or "none"
            raise ValueError(f"no notebook matches {key!r}; available: {names}")
        chosen += [p for p in hits if p not in chosen]
    return sorted(chosen, key=lambda p: (int(p.name[:2]), p.name))


def parse_value(text: str) -> Any:
    """A command-line value: a Python literal (``3``, ``True``, ``None``, ``[1, 2]``), else a string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _assigned_names(source: str) -> list[str]:
    """Names assigned at the top level of ``source`` (``a = 1``, ``n, m = 1, 2``, ``x: int = 3``)."""
    try:
        body = ast.parse(source).body
    except SyntaxError:  # IPython syntax (magics): one ``NAME[, NAME] =`` per line
        found = (
            re.match(r"\s*([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)\s*=(?!=)", line)
            for line in source.splitlines()
        )
        return list(dict.fromkeys(n.strip() for m in found if m for n in m[1].split(",")))
    targets = [t for node in body if isinstance(node, ast.Assign) for t in node.targets]
    targets += [node.target for node in body if isinstance(node, ast.AnnAssign)]
    names = [n.id for target in targets for n in ast.walk(target) if isinstance(n, ast.Name)]
    return list(dict.fromkeys(names))


def notebook_parameters(path: str | Path) -> list[str]:
    """A notebook's parameters: the names assigned in its cell tagged ``parameters`` (none without one)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            return _assigned_names(cell.source)
    return []


def check_parameters(notebooks: Sequence[Path], parameters: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` for a parameter that none of ``notebooks`` declares (a typo would otherwise
    only make papermill warn, and the run report ``ok`` with the default value)."""
    known = {name for path in notebooks for name in notebook_parameters(path)}
    unknown = sorted(set(parameters) - known)
    if unknown:
        names = ", ".join(p.name for p in notebooks)
        raise ValueError(
            f"unknown notebook parameter(s) {', '.join(map(repr, unknown))}: not in the parameters cell of "
            f"{names}; nothing was run. Valid parameters: {', '.join(sorted(known)) or 'none'}"
        )


def settings(profiles: Mapping[str, Mapping[str, Any]], profile: str, **explicit: Any) -> SimpleNamespace:
    """The sizes of ``profiles[profile]``, with every explicitly given (not ``None``) value taking precedence.

    Every keyword must be a key of the profile (a misspelt parameter fails loudly); the result
    also carries ``profile``.
    """
    check_profile(profile)
    if set(profiles) != set(PROFILES):
        raise ValueError(f"a notebook's profile table must define exactly {PROFILES}, got {tuple(profiles)}")
    values = dict(profiles[profile])
    unknown = sorted(set(explicit) - set(values))
    if unknown:
        raise KeyError(f"{', '.join(unknown)} not in profile {profile!r} (keys: {', '.join(values)})")
    values.update({k: v for k, v in explicit.items() if v is not None})
    return SimpleNamespace(profile=profile, **values)


@dataclass
class NotebookRun:
    """One notebook's outcome: status is ``ok``, ``failed``, ``skipped`` (after an earlier failure) or
    ``unavailable`` (it stopped cleanly at its start because the profile cannot run on this machine,
    :class:`lzsc.profiles.ProfileUnavailable`; ``error`` says why)."""

    notebook: str
    status: str
    seconds: float = 0.0
    output: str = ""
    cell: int | None = None
    execution_count: int | None = None
    error: str = ""

    def describe_failure(self) -> str:
        where = f"cell {self.cell}" if self.cell is not None else "before any cell ran"
        if self.execution_count is not None:
            where += f" (In [{self.execution_count}])"
        return f"{self.notebook} failed at {where}: {self.error}"


@dataclass
class RunSummary:
    """The runs of one invocation, in order, plus what was passed to every notebook."""

    runs: list[NotebookRun]
    parameters: dict[str, Any] = field(default_factory=dict)
    out_dir: str = ""

    @property
    def ok(self) -> bool:
        return all(r.status in ("ok", "unavailable") for r in self.runs)

    @property
    def first_failure(self) -> NotebookRun | None:
        return next((r for r in self.runs if r.status == "failed"), None)

    def table(self) -> str:
        """A plain-text table: notebook, status, seconds."""
        width = max([len("notebook"), *(len(r.notebook) for r in self.runs)])
        sw = max([len("status"), *(len(r.status) for r in self.runs)])
        lines = [f"{'notebook':<{width}}  {'status':<{sw}}  {'seconds':>8}"]
        lines += [f"{r.notebook:<{width}}  {r.status:<{sw}}  {r.seconds:8.1f}" for r in self.runs]
        lines.append(f"{'total':<{width}}  {'':<{sw}}  {sum(r.seconds for r in self.runs):8.1f}")
        return "\n".join(lines)

    def write(self, out_dir: str | Path) -> tuple[Path, Path]:
        """Write ``summary.json`` and ``summary.csv`` into ``out_dir``; returns their paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        rows = [{**asdict(r), "seconds": round(r.seconds, 2)} for r in self.runs]
        json_path, csv_path = out / "summary.json", out / "summary.csv"
        payload = {"ok": self.ok, "parameters": self.parameters, "notebooks": rows}
        write_text_atomic(json_path, json.dumps(payload, indent=2) + "\n")
        with atomic_open(csv_path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["notebook"])
            writer.writeheader()
            writer.writerows(rows)
        return json_path, csv_path


def _failed_cell(output: Path) -> tuple[int | None, int | None]:
    """1-based index (in the source notebook) and execution count of the cell papermill marked failed."""
    import nbformat

    if not output.is_file():
        return None, None
    nb = nbformat.read(output, as_version=4)
    index = 0
    for cell in nb.cells:
        tags = set(cell.metadata.get("tags", []))
        if tags & _DROP_TAGS:
            continue
        index += 1
        if cell.metadata.get("papermill", {}).get("status") == "failed":
            return index, cell.get("execution_count")
    return None, None


def _error_text(err: BaseException) -> str:
    ename, evalue = getattr(err, "ename", None), getattr(err, "evalue", None)
    text = f"{ename}: {evalue}" if ename else f"{type(err).__name__}: {err}"
    return text.strip().splitlines()[0] if text.strip() else type(err).__name__


@contextmanager
def _ticking(bar: Any, every: float = 1.0) -> Iterator[None]:
    """Redraw the tqdm ``bar`` every ``every`` seconds from a thread, so that its clock runs during a
    long cell (``None``: no bar, nothing to do)."""
    if bar is None:
        yield
        return
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(every):
            bar.refresh()

    thread = threading.Thread(target=tick, name="notebook-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@cache
def _engine() -> str:
    """Register papermill's nbclient engine with a ticking cell bar (:func:`_ticking`); returns its name."""
    from papermill.engines import NBClientEngine, papermill_engines

    class TickingEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, **kwargs: Any) -> Any:
            with _ticking(getattr(nb_man, "pbar", None)):
                return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)

    papermill_engines.register("lzsc", TickingEngine)
    return "lzsc"


def _kernel_config() -> Config:
    """Kernel-manager settings: CurveZMQ transport encryption where jupyter_client, pyzmq and the
    kernelspec support it, so that ipykernel >= 7 neither sends code and outputs over TCP in plain
    text nor warns once per notebook that it does ("Kernel is running over TCP without encryption")."""
    import zmq
    from jupyter_client import KernelManager
    from traitlets.config import Config

    if zmq.has("curve") and "transport_encryption" in KernelManager.class_trait_names():
        return Config({"KernelManager": {"transport_encryption": "auto"}})
    return Config()


def run_notebook(
    path: Path,
    output: Path,
    parameters: Mapping[str, Any],
    kernel: str = "python3",
    timeout: int | None = None,
    progress: bool = True,
) -> NotebookRun:
    """Execute one notebook with papermill (cwd = its folder) into ``output``; never raises on cell errors.

    ``progress`` shows a bar on stderr: the notebook's name, cells done / total, time so far.
    """
    from unittest.mock import patch

    import papermill as pm

    output.parent.mkdir(parents=True, exist_ok=True)
    bar = {"desc": path.name, "bar_format": _BAR_FORMAT, "leave": False} if progress else False
    start = time.perf_counter()
    # The kernel inherits the environment: a headless MPLBACKEND=Agg there would drop every figure from
    # the executed notebook, so the kernel always gets the inline backend (which needs no display).
    # Figures of the library are checked for axis labels there (lzsc.plotting.checks).
    try:
        with patch.dict(os.environ, MPLBACKEND=INLINE_BACKEND, LZSC_CHECK_FIGURES="1"):
            pm.execute_notebook(
                str(path),
                str(output),
                parameters=dict(parameters) or None,
                kernel_name=kernel,
                language="python",
                cwd=str(path.parent),
                engine_name=_engine(),
                progress_bar=bar,
                execution_timeout=timeout,
                config=_kernel_config(),
            )
    except Exception as err:
        cell, count = _failed_cell(output)
        if getattr(err, "ename", None) == ProfileUnavailable.__name__:
            seconds = time.perf_counter() - start
            return NotebookRun(path.name, "unavailable", seconds, str(output), cell, count, str(err.evalue))
        return NotebookRun(
            path.name, "failed", time.perf_counter() - start, str(output), cell, count, _error_text(err)
        )
    return NotebookRun(path.name, "ok", time.perf_counter() - start, str(output))


def run_notebooks(
    notebooks: Sequence[Path],
    out_dir: str | Path,
    parameters: Mapping[str, Any] | None = None,
    kernel: str = "python3",
    keep_going: bool = False,
    timeout: int | None = None,
    log: Callable[[str], None] | None = print,
    progress: bool = True,
) -> RunSummary:
    """Execute ``notebooks`` in order into ``out_dir`` and write the summary there.

    ``parameters`` go to every notebook (papermill injects them after its ``parameters`` cell); each
    must be a parameter of at least one of ``notebooks`` (:func:`check_parameters`), checked before
    anything runs.
    After a failure the remaining notebooks are ``skipped`` unless ``keep_going``. ``log``
    receives one line per notebook (``None`` for silence); ``progress`` shows a bar over the cells
    of the running notebook.
    """
    out = Path(out_dir)
    params = dict(parameters or {})
    check_parameters(notebooks, params)
    runs: list[NotebookRun] = []
    failed = False
    for path in notebooks:
        if failed and not keep_going:
            runs.append(NotebookRun(path.name, "skipped", output=""))
            continue
        run = run_notebook(Path(path), out / Path(path).name, params, kernel, timeout, progress)
        runs.append(run)
        failed = failed or run.status == "failed"
        if log is not None:
            reason = f": {run.error}" if run.status == "unavailable" else ""
            log(f"{run.notebook}: {run.status} in {run.seconds:.1f} s{reason}")
    summary = RunSummary(runs, params, str(out))
    summary.write(out)
    return summary


def normalise(path: str | Path) -> bool:
    """Strip volatile metadata from a notebook in place; returns whether the file changed.

    Removes execution timestamps and papermill's cell and notebook metadata, widget state (and
    widget-view outputs, keeping their text fallback), papermill's injected-parameters and error
    cells; sets the kernelspec to ``python3`` and keeps only the language name in language_info.
    """
    import nbformat

    path = Path(path)
    before = path.read_text()
    nb = nbformat.reads(before, as_version=4)
    nb.cells = [c for c in nb.cells if not set(c.metadata.get("tags", [])) & _DROP_TAGS]
    for cell in nb.cells:
        for key in _VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
        if cell.metadata.get("tags") == []:
            cell.metadata.pop("tags")
        for output in cell.get("outputs", []):
            data = output.get("data")
            if data is not None and _WIDGET_MIME in data:
                del data[_WIDGET_MIME]
    for key in _VOLATILE_NB_METADATA:
        nb.metadata.pop(key, None)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    after = nbformat.writes(nb) + "\n"
    if after == before:
        return False
    write_text_atomic(path, after)
    return True
