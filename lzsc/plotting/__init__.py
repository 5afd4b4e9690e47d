"""Plotting helpers for the notebooks: each topic module returns matplotlib Figures / Axes.

- :mod:`lzsc.plotting.images`: rows of grey images (``00_overview``);
- :mod:`lzsc.plotting.diagrams`: the MCSC model of eq. 7 as a diagram (``00_overview``);
- :mod:`lzsc.plotting.sparse`: codes, convergence, recovery rates (``01``, ``02``);
- :mod:`lzsc.plotting.thresholds`: H, S and T and their derivatives (``03_thresholds``);
- :mod:`lzsc.plotting.unrolling`: depth-vs-error and the eq. 21 schedules (``04_unrolling``);
- :mod:`lzsc.plotting.training`: loss logs, image grids (``06``, ``07``);
- :mod:`lzsc.plotting.reproduction`: Table I comparisons and the fused-image gallery (``08``);
  the cost row (parameters, MACs, time) is :mod:`lzsc.cost`.

This file only re-exports; add new topics as new modules.
"""

from .diagrams import mcsc_diagram
from .images import as_image, show_images
from .sparse import plot_codes, plot_curves_per_iteration, plot_magnitude_errors, plot_recovery
from .thresholds import (
    plot_curves,
    plot_derivatives,
    plot_limits,
    plot_theta_landscape,
    plot_thresholds,
    threshold_explorer,
    threshold_grid,
)
from .training import plot_loss_components, show_image_grid, window_means
from .unrolling import plot_depth_vs_error, plot_schedules, plot_training_losses

__all__ = [
    "as_image",
    "mcsc_diagram",
    "plot_codes",
    "plot_curves",
    "plot_curves_per_iteration",
    "plot_depth_vs_error",
    "plot_derivatives",
    "plot_limits",
    "plot_loss_components",
    "plot_magnitude_errors",
    "plot_recovery",
    "plot_schedules",
    "plot_theta_landscape",
    "plot_thresholds",
    "plot_training_losses",
    "show_image_grid",
    "show_images",
    "threshold_explorer",
    "threshold_grid",
    "window_means",
]

# Reproduction of Table I (08), interpretability (09) and ablations (10).
from .ablations import plot_effects, plot_verdicts
from .interpretability import (
    iterate_viewer,
    plot_activation_histograms,
    plot_feature_maps,
    plot_iterates,
    plot_learned_schedules,
    plot_reconstruction_parts,
    plot_recovery_scores,
)
from .reproduction import ComparisonTable, gallery_rows, plot_ours_vs_paper, show_gallery

__all__ += [
    "ComparisonTable",
    "gallery_rows",
    "iterate_viewer",
    "plot_activation_histograms",
    "plot_effects",
    "plot_feature_maps",
    "plot_iterates",
    "plot_learned_schedules",
    "plot_ours_vs_paper",
    "plot_reconstruction_parts",
    "plot_recovery_scores",
    "plot_verdicts",
    "show_gallery",
]
