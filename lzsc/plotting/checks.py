"""Every figure the library returns says what its axes are: :func:`missing_labels` and a decorator.

A data axes (one with its axis lines on) needs an x label and a y label; a label set on an axes it
shares that axis with, or the figure's ``supxlabel`` / ``supylabel``, counts. Axes turned off (image
panels, diagrams, tables) need none. A colour bar needs a label along its long side.

:func:`labelled_figure` wraps a plotting function: when the environment variable
``LZSC_CHECK_FIGURES`` is ``1`` (the test suite sets it, and the kernels of the notebooks it executes
inherit it), a returned figure with an unlabelled axes raises ``ValueError`` naming the function, the
axes and the missing label. Otherwise the check costs nothing.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = ["CHECK_ENV", "figure_of", "labelled_figure", "missing_labels"]

CHECK_ENV = "LZSC_CHECK_FIGURES"
F = TypeVar("F", bound=Callable[..., Any])


def _label(ax: Axes, which: str) -> str:
    return (ax.get_xlabel() if which == "x" else ax.get_ylabel()).strip()


def _shared_label(ax: Axes, which: str) -> bool:
    group = ax.get_shared_x_axes() if which == "x" else ax.get_shared_y_axes()
    return any(_label(other, which) for other in group.get_siblings(ax))


def _is_colorbar(ax: Axes) -> bool:
    return ax.get_label() == "<colorbar>"


def _has_data(ax: Axes) -> bool:
    return bool(ax.lines or ax.collections or ax.patches or ax.images or ax.containers)


def missing_labels(fig: Figure) -> list[str]:
    """One line per missing axis label of ``fig`` ('axes 2 "title": no y label'); empty when all are set."""
    sup = {
        "x": fig._supxlabel is not None and bool(fig._supxlabel.get_text().strip()),
        "y": fig._supylabel is not None and bool(fig._supylabel.get_text().strip()),
    }
    problems = []
    for i, ax in enumerate(fig.axes):
        if not ax.axison or not ax.get_visible():
            continue
        name = f'axes {i} "{ax.get_title() or ax.get_label()}"'
        if _is_colorbar(ax):
            if not (_label(ax, "x") or _label(ax, "y")):
                problems.append(f"{name}: colour bar without a label")
            continue
        if not _has_data(ax):
            continue
        for which in ("x", "y"):
            ticks = ax.get_xticks() if which == "x" else ax.get_yticks()
            if len(ticks) == 0:
                continue
            if not (_label(ax, which) or _shared_label(ax, which) or sup[which]):
                problems.append(f"{name}: no {which} label")
    return problems


def figure_of(result: Any) -> Figure | None:
    """The figure inside a plotting function's result: a Figure, an Axes, or the first one of a tuple."""
    if isinstance(result, Figure):
        return result
    if isinstance(result, Axes):
        return result.figure
    if isinstance(result, tuple | list):
        for item in result:
            found = figure_of(item)
            if found is not None:
                return found
    return None


def labelled_figure(func: F) -> F:
    """Check the figure ``func`` returns for axis labels when ``LZSC_CHECK_FIGURES=1`` (see module doc)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = func(*args, **kwargs)
        if os.environ.get(CHECK_ENV) == "1":
            fig = figure_of(result)
            problems = missing_labels(fig) if fig is not None else []
            if problems:
                raise ValueError(
                    f"{func.__module__}.{func.__qualname__} returned a figure with unlabelled axes: "
                    + "; ".join(problems)
                    + ". Label every data axis (set_xlabel / set_ylabel, or turn the axis off)."
                )
        return result

    wrapper.__lzsc_labelled__ = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]
