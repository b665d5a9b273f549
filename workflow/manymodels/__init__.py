"""manymodels: fit a whole hyperparameter grid x cross-validation folds with Snakemake.

The Snakemake rules in ``workflow/rules`` are thin; the logic they call lives here so that it can
be imported and unit-tested: config checking and grid expansion (:mod:`.config`), task identity
(:mod:`.tasks`), data preparation and folds (:mod:`.data`), fitting (:mod:`.fit`), scoring
(:mod:`.score`), aggregation and selection (:mod:`.aggregate`), plots and the report.
"""

__version__ = "0.1.0"


class ConfigError(ValueError):
    """The experiment configuration is invalid; the message names the key and the file."""


class DataError(ValueError):
    """The input data cannot be used as configured; the message names the file and column."""
