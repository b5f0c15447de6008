"""Weights through training: snapshots, histograms, checkpoint comparison.

* :class:`WeightHistory` - snapshots of one architecture's weights, built
  from models (:meth:`~WeightHistory.from_models`), checkpoint files
  (:meth:`~WeightHistory.from_checkpoints`) or recorded during ``fit`` by
  :class:`SnapshotCallback`. ``history.show()`` opens the interactive view.
* :func:`compare_weights` - per-layer change between two models or snapshots.
* :func:`histogram` / :func:`summary_stats` - the numbers behind the plots.

Pure numpy/Keras: views are reached through :func:`nbinterp.display.show`, so
nothing here imports ipywidgets until one is asked for.
"""

from .callback import SnapshotBudgetWarning, SnapshotCallback
from .checkpoints import CheckpointError
from .compare import WeightChange, WeightComparison, compare_weights
from .histograms import DEFAULT_NEAR_ZERO_EPS, Histogram, SummaryStats, histogram, summary_stats
from .history import WeightHistory
from .snapshots import WeightSnapshot
from .variables import WeightVariable, weight_variables_of

__all__ = [
    "CheckpointError",
    "DEFAULT_NEAR_ZERO_EPS",
    "Histogram",
    "SnapshotBudgetWarning",
    "SnapshotCallback",
    "SummaryStats",
    "WeightChange",
    "WeightComparison",
    "WeightHistory",
    "WeightSnapshot",
    "WeightVariable",
    "compare_weights",
    "histogram",
    "summary_stats",
    "weight_variables_of",
]
