"""Everything the Snakefile needs to know about an experiment before it builds the DAG.

This runs in a warm worker process (see :mod:`manymodels.engine.pool`): checking estimator paths and
grid parameters imports scikit-learn, and doing that in the worker that will then fit models saves
the Snakemake process a seconds-long import of its own.
"""

from __future__ import annotations

from .. import ConfigError, DataError
from .config import check_config
from .data import data_columns, fold_names, source_columns, source_file
from .estimators import package_version
from .tasks import estimator_definition


def check_experiment(*, config: dict, config_file: str) -> dict:
    """Check a schema-valid config against its estimators and data; return the task table and more.

    Returns ``tasks`` (one record per configuration), ``folds`` (CV fold names), ``source_file``
    (the data file, or None for data made in memory), ``features`` and ``versions`` (the
    distribution and version behind each model's estimator). Raises ConfigError or DataError
    naming the key, column and file.
    """
    try:
        tasks = check_config(config, config_file=config_file)
        data = config["data"]
        features = data_columns(data, source_columns(data["source"]), config_file=config_file)
        path = source_file(data["source"])
        folds = fold_names(config["cv"])
    except (ConfigError, DataError) as exc:
        if str(exc).startswith(f"{config_file}: "):
            raise
        raise type(exc)(f"{config_file}: {exc}") from None
    return {
        "tasks": tasks,
        "folds": folds,
        "source_file": None if path is None else str(path),
        "features": features,
        "versions": {name: package_version(estimator_definition(spec)) for name, spec in config["models"].items()},
    }
