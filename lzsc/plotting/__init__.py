"""Plotting helpers for the notebooks: each topic module returns matplotlib Figures / Axes.

- :mod:`lzsc.plotting.images`: rows of grey images (``00_overview``);
- :mod:`lzsc.plotting.diagrams`: the MCSC model of eq. 7 (``00_overview``), the LZSC block (``04``),
  FNet and IFNet (``05``) as diagrams drawn from their configurations;
- :mod:`lzsc.plotting.sparse`: codes, errors, convergence, recovery rates, the phase diagram and the
  step-size explorer (``01``, ``02``);
- :mod:`lzsc.plotting.thresholds`: H, S and T and their derivatives (``03_thresholds``);
- :mod:`lzsc.plotting.unrolling`: depth-vs-error and the eq. 21 schedules (``04_unrolling``);
- :mod:`lzsc.plotting.training`: loss logs, image grids (``06``, ``07``);
- :mod:`lzsc.plotting.reproduction`: Table I comparisons and the fused-image gallery (``08``; the
  cost row, parameters, MACs and time, is :mod:`lzsc.cost`);
- :mod:`lzsc.plotting.interpretability`, :mod:`lzsc.plotting.ablations`: codes, schedules, recovery
  scores (``09``), ablation effects and verdicts (``10``);
- :mod:`lzsc.plotting.csc`, :mod:`lzsc.plotting.methods`: CSC codes and training logs (``11``), the
  methods' ranks (``12``).

Every function that returns a figure is checked for axis labels (:mod:`lzsc.plotting.checks`).
This file only re-exports; add new topics as new modules.
"""

from .diagrams import fnet_diagram, ifnet_diagram, lzsc_block_diagram, mcsc_diagram
from .images import as_image, show_images
from .sparse import (
    plot_code_errors,
    plot_codes,
    plot_curves_per_iteration,
    plot_magnitude_errors,
    plot_phase_diagram,
    plot_race,
    plot_recovery,
    plot_step_paths,
    step_explorer,
)
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
    "fnet_diagram",
    "ifnet_diagram",
    "lzsc_block_diagram",
    "mcsc_diagram",
    "plot_code_errors",
    "plot_codes",
    "plot_curves",
    "plot_curves_per_iteration",
    "plot_depth_vs_error",
    "plot_derivatives",
    "plot_limits",
    "plot_loss_components",
    "plot_magnitude_errors",
    "plot_phase_diagram",
    "plot_race",
    "plot_recovery",
    "plot_schedules",
    "plot_step_paths",
    "plot_theta_landscape",
    "plot_thresholds",
    "plot_training_losses",
    "show_image_grid",
    "show_images",
    "step_explorer",
    "threshold_explorer",
    "threshold_grid",
    "window_means",
]

# Reproduction of Table I (08), interpretability (09), ablations (10), the CSC networks (11) and every
# method side by side (12).
from .ablations import plot_effects, plot_verdict_grid, plot_verdicts
from .csc import plot_csc_codes, plot_training_log
from .interpretability import (
    iterate_viewer,
    plot_activation_histograms,
    plot_feature_maps,
    plot_iterates,
    plot_learned_schedules,
    plot_reconstruction_parts,
    plot_recovery_scores,
    plot_zero_increase_vs_tol,
)
from .methods import MethodsTable, plot_ranks
from .reproduction import ComparisonTable, gallery_rows, plot_ours_vs_paper, show_gallery

__all__ += [
    "ComparisonTable",
    "MethodsTable",
    "gallery_rows",
    "iterate_viewer",
    "plot_activation_histograms",
    "plot_csc_codes",
    "plot_effects",
    "plot_feature_maps",
    "plot_iterates",
    "plot_learned_schedules",
    "plot_ours_vs_paper",
    "plot_ranks",
    "plot_reconstruction_parts",
    "plot_recovery_scores",
    "plot_training_log",
    "plot_verdict_grid",
    "plot_verdicts",
    "plot_zero_increase_vs_tol",
    "show_gallery",
]
