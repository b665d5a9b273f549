"""Check an experiment config beyond its JSON schema and turn it into a task table.

The schema (``workflow/schemas/config.schema.yaml``) catches unknown keys and wrong types; the
checks here need Python: estimator paths that must import, grid parameters the estimator must
accept, metrics that must exist, columns that must be in the data. Every error names the key (or
column) and the config file, and is raised before any job runs.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

from . import ConfigError
from .grid import expand_grid
from .score import BASE_COLUMNS
from .tasks import expand_tasks

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "config.schema.yaml"

# Columns every score row (and the results store) has; parameters and metrics may not reuse them.
RESERVED_COLUMNS = frozenset({name for name, _ in BASE_COLUMNS} | {"estimator", "model_file"})


def describe_schema_error(config: dict, *, config_file: str) -> str:
    """Explain why ``config`` fails the schema: the offending key path, the reason and the file."""
    import jsonschema
    import yaml

    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is None:
        return f"{config_file}: config does not match {SCHEMA_PATH.name}"
    key = ".".join(str(p) for p in error.absolute_path) or "<top level>"
    return f"{config_file}: invalid config at key '{key}': {error.message}"


def import_object(path: str, *, key: str, config_file: str) -> Any:
    """Import ``package.module.Name``; a failure names the config key and file."""
    module_name, _, attr = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"{config_file}: {key}: cannot import module '{module_name}' of '{path}' ({exc})") from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"{config_file}: {key}: module '{module_name}' has no attribute '{attr}'") from None


def accepted_params(estimator_cls: type) -> set[str] | None:
    """Names the estimator's ``__init__`` accepts, or None when it takes ``**kwargs``."""
    signature = inspect.signature(estimator_cls.__init__)
    names = set()
    for name, param in signature.parameters.items():
        if name == "self":
            continue
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            return None
        if param.kind is not inspect.Parameter.VAR_POSITIONAL:
            names.add(name)
    return names


def check_config(config: dict, *, config_file: str) -> list[dict]:
    """Check a schema-valid config; return the task table (one record per configuration)."""
    points = {}
    for name, spec in config["models"].items():
        key = f"models.{name}"
        cls = import_object(spec["estimator"], key=f"{key}.estimator", config_file=config_file)
        if not inspect.isclass(cls) or not hasattr(cls, "fit"):
            raise ConfigError(f"{config_file}: {key}.estimator: '{spec['estimator']}' is not an estimator class with fit()")
        points[name] = expand_grid(spec["grid"], key=f"{config_file}: {key}.grid")
        accepted = accepted_params(cls)
        used = {f"{key}.kwargs.{p}": p for p in spec.get("kwargs", {})}
        used.update({f"{key}.grid.{p}": p for point in points[name] for p in point})
        for where, param in used.items():
            if accepted is not None and param not in accepted:
                raise ConfigError(
                    f"{config_file}: {where}: {spec['estimator']} does not accept parameter "
                    f"'{param}' (it accepts: {', '.join(sorted(accepted))})"
                )
            if param in RESERVED_COLUMNS or param in config["metrics"]:
                raise ConfigError(f"{config_file}: {where}: parameter name '{param}' clashes with a score column")
        for param in set(spec.get("kwargs", {})) & {p for point in points[name] for p in point}:
            raise ConfigError(f"{config_file}: {key}.grid.{param}: also fixed in {key}.kwargs; set it in one place")
        _check_metrics(config["metrics"], cls, model=name, config_file=config_file)
    _check_selection(config, config_file=config_file)
    return expand_tasks(config["models"], points)


def _check_metrics(metrics: dict, estimator_cls: type, *, model: str, config_file: str) -> None:
    for name, spec in metrics.items():
        key = f"metrics.{name}"
        if name in RESERVED_COLUMNS:
            raise ConfigError(f"{config_file}: {key}: metric name '{name}' clashes with a score column")
        if "function" in spec:
            func = import_object(spec["function"], key=f"{key}.function", config_file=config_file)
            if not callable(func):
                raise ConfigError(f"{config_file}: {key}.function: '{spec['function']}' is not callable")
        elif not callable(getattr(estimator_cls, spec["method"], None)):
            raise ConfigError(
                f"{config_file}: {key}.method: estimator of model '{model}' has no method '{spec['method']}'"
            )


def _check_selection(config: dict, *, config_file: str) -> None:
    selection = config.get("selection", {})
    metric = selection.get("metric")
    if metric is not None and metric not in config["metrics"]:
        raise ConfigError(
            f"{config_file}: selection.metric: '{metric}' is not one of the metrics ({', '.join(config['metrics'])})"
        )


def selection_metric(config: dict) -> str:
    """The metric configurations are chosen by: selection.metric, else the first metric."""
    return config.get("selection", {}).get("metric") or next(iter(config["metrics"]))


def metric_specs(metrics: dict) -> dict[str, dict]:
    """Metric specs with their defaults filled in ('on', 'response', 'needs_y')."""
    specs = {}
    for name, spec in metrics.items():
        full = {"response": "predict", "needs_y": False, **spec}
        full.setdefault("on", "test" if "function" in spec else "train")
        specs[name] = full
    return specs
