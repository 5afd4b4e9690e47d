"""The paper's ablations (Table III) as configurations of the library, run at a stated scale.

Every ablation AE1-AE15 is a set of :class:`lzsc.training.TrainConfig` overrides applied to the
same base configuration as the full FNet: no code fork. The package has one module per job:

- :mod:`~lzsc.ablations.configs`: :data:`ABLATIONS` lists the ablations with what they change,
  :func:`ablation_config` builds one, :func:`model_diff` / :func:`train_diff` say which model or
  training fields differ from the baseline, :func:`overview` tabulates them.
- :mod:`~lzsc.ablations.scales`: :class:`AblationScale` and the named :data:`SCALES` (``"ci"``: a few
  CPU minutes for all 16 models; ``"paper"``: the release's schedule on every test pair); both keep
  the paper's model except for its size.
- :mod:`~lzsc.ablations.runs`: :func:`run_ablation` trains one configuration through both stages
  (stage II only for AE11) and evaluates it with :func:`lzsc.evaluation.evaluate` on the first
  ``pairs_per_set`` test pairs of each set; :func:`run_ablations` does the baseline and every named
  ablation (optionally in worker processes); :func:`check_runs` and :func:`baseline_report` check and
  report them. Every configuration of one scale trains from the same seed and the same data stream.
  Without ``LZSC_DATA`` training and evaluation use synthetic MCSC pairs.
- :mod:`~lzsc.ablations.study`: :func:`run_study` trains every configuration under several seeds;
  :class:`AblationStudy` takes the baseline's seed spread as the noise floor and gives each cell the
  verdict agree / opposite / within noise (:func:`cell_verdict`, one stated rule) and each ablation one
  outcome (supports / contradicts / cannot resolve). This replaces counting single-seed directions.
- :mod:`~lzsc.ablations.directions`: :func:`paper_directions` reads the paper's direction of change
  (ablation vs full FNet) from Table III (``paper_table3_ablation.csv``; rows whose alignment in the
  source is uncertain are flagged).

Introduced in ``notebooks/10_ablations.ipynb``.
"""

from .configs import (
    ABLATIONS,
    BASELINE,
    Ablation,
    ablation_config,
    model_diff,
    overview,
    train_diff,
)
from .configs import PAPER_BASELINE as PAPER_BASELINE  # importable, not in __all__ (as before)
from .directions import binomial_tail, paper_directions
from .runs import AblationRun, baseline_report, check_runs, run_ablation, run_ablations, run_folder
from .scales import SCALES, AblationScale
from .study import AblationStudy, cell_verdict, chance_separation, holm, run_study

__all__ = [
    "ABLATIONS",
    "BASELINE",
    "SCALES",
    "Ablation",
    "AblationRun",
    "AblationScale",
    "AblationStudy",
    "ablation_config",
    "baseline_report",
    "binomial_tail",
    "cell_verdict",
    "chance_separation",
    "check_runs",
    "holm",
    "model_diff",
    "overview",
    "paper_directions",
    "run_ablation",
    "run_ablations",
    "run_folder",
    "run_study",
    "train_diff",
]
