"""Is a person looking? Detect a live Jupyter front end, so explorers need no flag.

The interactive explorers (:func:`lzsc.plotting.threshold_explorer`,
:func:`lzsc.plotting.iterate_viewer`, :func:`lzsc.plotting.step_explorer`) return ipywidgets in a live
kernel and a static figure when a notebook is executed headless (papermill, nbval, ``lzsc notebooks
run``). The signal is the one the Jupyter messaging protocol carries with every cell: a front end
that can answer ``input()`` (JupyterLab, Notebook 7, VS Code) sends ``allow_stdin = True`` with its
execute request; the headless executors send ``False`` (nbclient sets it on its kernel client, nbval
passes it explicitly). Outside an IPython kernel (plain Python, pytest) there is no front end either.

Introduced in ``notebooks/03_thresholds.ipynb``.
"""

from __future__ import annotations

__all__ = ["live_frontend"]


def live_frontend() -> bool:
    """True when the running cell came from a front end a person uses; False headless or outside Jupyter."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    kernel = getattr(shell, "kernel", None)
    return bool(getattr(kernel, "_allow_stdin", False))
