"""Everything the Snakefile needs to know about an experiment before it builds the DAG.

This runs in a warm worker process (see :mod:`manymodels.engine.pool`): checking estimator paths and
grid parameters imports scikit-learn, and doing that in the worker that will then fit models saves
the Snakemake process a seconds-long import of its own.
"""

from __future__ import annotations

from .. import ConfigError, DataError
from .config import check_config, search_notes, searched_parameters, selected_columns
from .datacheck import check_models_fit_data
from .data import data_columns, fold_names, outer_fold_names, source_columns, source_file
from .suggest import with_hint
from .estimators import dotted_paths, package_version
from .prefixes import data_rows, proposed_prefix, shared_prefixes
from .tasks import estimator_definition


def check_experiment(*, config: dict, config_file: str) -> dict:
    """Check a schema-valid config against its estimators and data; return the task table and more.

    Returns ``tasks`` (one record per configuration), ``folds`` (CV fold names), ``outer_folds``
    (those of nested CV, if any), ``source_file`` (the data file, or None for data made in memory),
    ``features``, ``versions`` (the distribution and version behind each model's estimator),
    ``prefixes`` (per 'model/config_id' that shares its pipeline's prefix, that prefix:
    :mod:`.prefixes`), ``proposed_prefixes`` (per family whose configurations a search proposes as it
    goes, the prefix they all share, if any) and ``notes`` (what the run should say before it starts,
    e.g. a random search asking for more than its space has). Raises ConfigError or DataError naming
    the key, column and file.
    """
    try:
        tasks = check_config(config, config_file=config_file)
        data = config["data"]
        features = data_columns(data, source_columns(data["source"]), config_file=config_file)
        path = source_file(data["source"])
        where = f"data source {data['source']!r}" if isinstance(data["source"], str) else (
            f"data generator {data['source'].get('generator')!r}")
        _check_selected_columns(config, features, where=where, config_file=config_file)
        if not config.get("streaming"):
            check_models_fit_data(config=config, tasks=tasks, features=features, where=where, config_file=config_file)
        folds = fold_names(config["cv"])
        outer_folds = outer_fold_names(config.get("nested"))
        n_rows = data_rows(str(path) if path else data["source"])
        prefixes = shared_prefixes(config, tasks, n_features=len(features), n_rows=n_rows)
        # A family whose configurations a search proposes as it goes (Bayesian optimisation's trials).
        proposed = {model: prefix for model, spec in config["models"].items()
                    if "grid" not in spec and "random" not in spec
                    and (prefix := proposed_prefix(config, model, set(searched_parameters(spec, [])),
                                                   n_features=len(features), n_rows=n_rows))}
    except (ConfigError, DataError) as exc:
        if str(exc).startswith(f"{config_file}: "):
            raise
        raise type(exc)(f"{config_file}: {exc}") from None
    return {
        "tasks": tasks,
        "folds": folds,
        "outer_folds": outer_folds,
        "source_file": None if path is None else str(path),
        "features": features,
        "versions": estimator_versions(config),
        "prefixes": {f"{model}/{config_id}": prefix for (model, config_id), prefix in prefixes.items()},
        "proposed_prefixes": proposed,
        "notes": search_notes(config, config_file=config_file),
    }


def estimator_versions(config: dict) -> dict[str, str]:
    """Each family's :func:`~.estimators.package_version`, asked once per top-level package: each ask
    reads the metadata of every installed distribution (about half a second), and a tournament's
    families mostly come from the same one or two packages."""
    tops = {name: {path.split(".")[0] for _, path in dotted_paths(estimator_definition(spec))}
            for name, spec in config["models"].items()}
    version = {top: package_version(top) for top in set().union(*tops.values())}
    return {name: ", ".join(sorted({version[top] for top in names})) for name, names in tops.items()}


def _check_selected_columns(config: dict, features: list[str], *, where: str, config_file: str) -> None:
    """Columns a column-wise step selects by name must be features."""
    for model, spec in config["models"].items():
        for key, column in selected_columns(spec, f"models.{model}"):
            if column not in features:
                raise DataError(with_hint(f"{config_file}: {key}: column '{column}' is not a feature column of {where}",
                                          column, features))
