"""manymodels: fit a whole hyperparameter grid x cross-validation folds with Snakemake.

The Snakemake rules in ``workflow/rules`` are thin; the logic they call lives here, in five rooms
whose imports point one way (``task`` uses ``experiment``; ``results`` uses both; ``search`` uses
those three; ``engine`` uses ``experiment``, ``task`` and ``search``; never the reverse):

- :mod:`.experiment`: what defines an experiment: config checks, grids and search spaces, task
  identity, estimators, metrics, data sources and folds.
- :mod:`.task`: what one job does: prepare the data, fit, score, learn from a stream, and the
  transformers of our own; artifacts are written atomically (:mod:`.task.io`).
- :mod:`.results`: what reads results: aggregation, selection, the store and its command line,
  plots, the report and the run summary.
- :mod:`.search`: the staged searches around the one fit-and-score task (fold racing, successive
  halving, Bayesian optimisation), one module each: their stages and their verdicts.
- :mod:`.engine`: what makes Snakemake run tasks well: the plan of every rule's files, the warm
  worker pool, scheduling settings, cluster adaptation, lock recovery, the nothing-to-do shortcut,
  code provenance and the console.
"""

__version__ = "0.1.0"


class ConfigError(ValueError):
    """The experiment configuration is invalid; the message names the key and the file."""


class DataError(ValueError):
    """The input data cannot be used as configured; the message names the file and column."""
