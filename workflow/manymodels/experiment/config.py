"""Check an experiment config beyond its JSON schema and turn it into a task table.

The schema (``workflow/schemas/config.schema.yaml``) catches unknown keys and wrong types; the
checks here need Python: estimator paths that must import, grid parameters the estimator must
accept, metrics that must exist, columns that must be in the data. Every error names the key (or
column) and the config file, and is raised before any job runs.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from .. import ConfigError
from .data import fold_names
from .estimators import class_name, dotted_paths, factory_parameters, make_estimator
from .grid import check_distributions, expand_grid, sample_points, sampling_note
from .halving import halving_settings, n_rungs
from .metrics import BUILTIN_METRICS
from .schema import load_schema
from .suggest import with_hint
from .tasks import SCORE_COLUMNS, canonical_json, estimator_definition, expand_tasks

# Columns every score row (and the results store) has; parameters and metrics may not reuse them.
RESERVED_COLUMNS = frozenset({name for name, _ in SCORE_COLUMNS} | {"estimator", "model_file"})


def import_object(path: str, *, key: str, config_file: str) -> Any:
    """Import ``package.module.Name``; a failure names the config key and file."""
    module_name, _, attr = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        message = f"{config_file}: {key}: cannot import module '{module_name}' of '{path}' ({exc})"
        parent, _, last = module_name.rpartition(".")
        raise ConfigError(with_hint(message, last, _submodules(parent)) if parent else message) from None
    try:
        return getattr(module, attr)
    except AttributeError:
        names = [n for n in dir(module) if not n.startswith("_")]
        raise ConfigError(with_hint(f"{config_file}: {key}: module '{module_name}' has no attribute '{attr}'",
                                    attr, names)) from None


def _submodules(package: str) -> list[str]:
    """The modules of an importable package (for hints on a misspelt module path)."""
    import pkgutil

    try:
        return [m.name for m in pkgutil.iter_modules(importlib.import_module(package).__path__)]
    except (ImportError, AttributeError):
        return []


def _prototype(spec: dict, *, key: str, config_file: str):
    """An unfitted instance of a family's estimator (with its fixed kwargs), to check names against."""
    definition = estimator_definition(spec)
    for where, path in dotted_paths(definition, key):
        maker = import_object(path, key=where, config_file=config_file)
        estimator_class = inspect.isclass(maker) and hasattr(maker, "fit")
        factory = callable(maker) and not inspect.isclass(maker)
        if not (estimator_class or factory):
            raise ConfigError(f"{config_file}: {where}: '{path}' is neither an estimator class with fit() nor a "
                              "function that returns an estimator")
    try:
        est = make_estimator(definition)
    except TypeError:  # a class with required arguments: they must be among the fixed kwargs
        est = None
    if est is None:
        try:
            est = make_estimator(definition, {k: v for k, v in spec.get("kwargs", {}).items() if "__" not in k})
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{config_file}: {key}: cannot build {class_name(definition)} with its kwargs: {exc}") from exc
    if not hasattr(est, "fit"):
        raise ConfigError(f"{config_file}: {key}.estimator: '{definition}' returned {type(est).__name__}, not an "
                          "estimator with fit()")
    return est


def accepted_parameters(spec: dict, est) -> set[str]:
    """The parameter names a family's kwargs and grid may set: the estimator's (nested ones as
    step__param), and a factory's own arguments."""
    accepted = set(est.get_params(deep=True))
    definition = estimator_definition(spec)
    if isinstance(definition, str):
        from .estimators import import_object as load

        maker = load(definition)
        if not inspect.isclass(maker):
            accepted |= factory_parameters(maker) or set()
    return accepted


def selected_columns(spec: dict, key: str) -> list[tuple[str, str]]:
    """(config key, column) for every column a family's column-wise steps select by name."""
    named = []

    def walk(steps, key):
        for i, step in enumerate(steps):
            for j, part in enumerate(step.get("columns", [])):
                where = f"{key}.pipeline[{i}].columns[{j}]"
                if isinstance(part["select"], list):
                    named.extend((f"{where}.select", column) for column in part["select"])
                if "pipeline" in part:
                    walk(part["pipeline"], where)

    walk(spec.get("pipeline", []), key)
    return named


def family_points(spec: dict, *, key: str) -> list[dict]:
    """The parameter points of a family known before it runs: its grid, or its random-search draws
    (none for a staged search that proposes them, such as Bayesian optimisation: :mod:`manymodels.search`)."""
    if "grid" in spec:
        return expand_grid(spec["grid"], key=f"{key}.grid")
    if "random" in spec:
        return sample_points(spec["random"], key=f"{key}.random")
    proposer = search_key(spec)
    check_distributions(spec[proposer]["distributions"], key=f"{key}.{proposer}.distributions", categorical=True)
    return []


def search_key(spec: dict) -> str:
    """The key that gives a family its configurations: grid, random, or a search of its own that
    proposes them (the schema's one-of-these keys of a family)."""
    rules = load_schema()["properties"]["models"]["additionalProperties"]["allOf"]
    keys = [group["required"][0] for rule in rules for group in rule["oneOf"]]
    return next(key for key in keys if key in spec and key not in ("estimator", "pipeline"))


def searched_parameters(spec: dict, points: list[dict]) -> list[str]:
    """The parameters a family searches: those of its points, or the distributions of the search
    that proposes them."""
    if "grid" in spec or "random" in spec:
        return list(dict.fromkeys(p for point in points for p in point))
    return list(spec[search_key(spec)]["distributions"])


def search_notes(config: dict, *, config_file: str) -> list[str]:
    """What the run should say about its search spaces before it starts (a random search asking for
    more configurations than its space has)."""
    notes = []
    for name, spec in config["models"].items():
        if "random" in spec and (note := sampling_note(spec["random"], key=f"models.{name}.random")):
            notes.append(f"{config_file}: {note}")
    return notes


def check_config(config: dict, *, config_file: str) -> list[dict]:
    """Check a schema-valid config; return the task table (one record per configuration)."""
    points, prototypes = {}, {}
    metrics = metric_specs(config["metrics"], config_file=config_file)
    for name, spec in config["models"].items():
        key = f"models.{name}"
        est = prototypes[name] = _prototype(spec, key=key, config_file=config_file)
        points[name] = family_points(spec, key=f"{config_file}: {key}")
        accepted = accepted_parameters(spec, est)
        search = "grid" if "grid" in spec else f"{search_key(spec)}.distributions"
        used = {f"{key}.kwargs.{p}": p for p in spec.get("kwargs", {})}
        used.update({f"{key}.{search}.{p}": p for p in searched_parameters(spec, points[name])})
        for where, param in used.items():
            if param not in accepted:
                raise ConfigError(with_hint(
                    f"{config_file}: {where}: {class_name(estimator_definition(spec))} does not accept parameter "
                    f"'{param}'", param, accepted))
            if param in RESERVED_COLUMNS or param in config["metrics"]:
                raise ConfigError(f"{config_file}: {where}: parameter name '{param}' clashes with a score column")
        fixed = set(spec.get("kwargs", {})) & set(searched_parameters(spec, points[name]))
        if fixed:
            param = sorted(fixed)[0]
            raise ConfigError(f"{config_file}: {key}.{search}.{param}: also fixed in {key}.kwargs; set it in one place")
        _check_metrics(metrics, est, model=name, config_file=config_file)
    _check_selection(config, points, config_file=config_file)
    if halving := halving_settings(config):
        sizes = [len({canonical_json(p) for p in family}) for family in points.values()]
        if n_rungs(halving, sizes, config["models"], config_file=config_file) < 2:
            raise ConfigError(f"{config_file}: halving: one rung only (each family has fewer than factor "
                              f"{halving['factor']} configurations, or min_resources leaves no room): nothing to halve")
    _check_streaming(config, metrics, prototypes, config_file=config_file)
    return expand_tasks(config["models"], points)


def streaming_settings(config: dict) -> dict | None:
    """The config's streaming section with its defaults filled in; None for batch learning."""
    if not config.get("streaming"):
        return None
    return {"drop_fraction": 0.7, "loss": "log_loss", "classes": [0, 1], **config["streaming"]}


def _check_streaming(config: dict, metrics: dict, prototypes: dict, *, config_file: str) -> None:
    """Streaming runs score by progressive validation only, and need partial_fit and a label."""
    streaming = bool(config.get("streaming"))
    for name, spec in metrics.items():
        if streaming != ("progressive" in spec):
            raise ConfigError(
                f"{config_file}: metrics.{name}: " + ("a streaming experiment scores by progressive validation only "
                "(progressive_loss, null_loss, relative_score)" if streaming else "progressive metrics need a 'streaming' section")
            )
    if streaming:
        for key, bad in (("holdout", config.get("holdout")), ("keep_models", config.get("keep_models") == "best")):
            if bad:
                raise ConfigError(f"{config_file}: {key}: not available for a streaming experiment "
                                  "(progressive validation scores every batch before learning from it)")
        if not config["data"].get("label"):
            raise ConfigError(f"{config_file}: data.label: a streaming experiment needs a label")
        for name, est in prototypes.items():
            learner = est.steps[-1][1] if hasattr(est, "steps") else est
            if not hasattr(learner, "partial_fit"):
                raise ConfigError(f"{config_file}: models.{name}: {type(learner).__name__} has no partial_fit, "
                                  "which streaming needs")


def _check_metrics(metrics: dict, est, *, model: str, config_file: str) -> None:
    for name, spec in metrics.items():
        key = f"metrics.{name}"
        if name in RESERVED_COLUMNS:
            raise ConfigError(f"{config_file}: {key}: metric name '{name}' clashes with a score column")
        if "progressive" in spec:
            continue
        if "function" in spec:
            func = import_object(spec["function"], key=f"{key}.function", config_file=config_file)
            if not callable(func):
                raise ConfigError(f"{config_file}: {key}.function: '{spec['function']}' is not callable")
        elif not callable(getattr(est, spec["method"], None)):
            raise ConfigError(
                f"{config_file}: {key}.method: estimator of model '{model}' has no method '{spec['method']}'"
            )


def _check_selection(config: dict, points: dict[str, list[dict]], *, config_file: str) -> None:
    """The selection metric is a configured metric; the one-standard-error and plot parameters are
    grid parameters."""
    selection = config.get("selection", {})
    metric = selection.get("metric")
    if metric is not None and metric not in config["metrics"]:
        raise ConfigError(with_hint(f"{config_file}: selection.metric: '{metric}' is not one of the metrics",
                                    metric, config["metrics"]))
    chosen_by = metric or next(iter(config["metrics"]))
    for key in ("nested", "racing", "halving"):
        if config.get(key) and config.get("streaming"):
            raise ConfigError(f"{config_file}: {key}: a streaming experiment learns each configuration once from the "
                              "whole stream; it has no folds")
        if config.get(key) and metric_specs({chosen_by: config["metrics"][chosen_by]},
                                            config_file=config_file)[chosen_by]["on"] == "train":
            raise ConfigError(f"{config_file}: {key}: the selection metric '{chosen_by}' is in-sample; {key} compares "
                              "scores on held-out folds (set selection.metric to an out-of-sample metric)")
    searches = [key for key in ("racing", "halving", "nested") if config.get(key)]
    if len(searches) > 1:
        raise ConfigError(f"{config_file}: {searches[1]}: {' and '.join(searches)} together are not supported; "
                          "use one of them")
    if (racing := racing_settings(config)) and racing["burn_in"] >= _n_folds(config):
        raise ConfigError(f"{config_file}: racing.burn_in: {racing['burn_in']} is not fewer than the "
                          f"{_n_folds(config)} CV folds; nothing would be raced")
    searched = {p for model, family in points.items()
                for p in searched_parameters(config["models"][model], family)}
    for name in selection.get("simplest", []):
        if name not in searched:
            raise ConfigError(with_hint(f"{config_file}: selection.simplest: '{name}' is not a searched parameter of "
                                        "any model", name, searched))
    for model, spec in config["models"].items():
        x = spec.get("plot", {}).get("x")
        own = set(searched_parameters(spec, points[model]))
        if x is not None and x not in own:
            raise ConfigError(with_hint(f"{config_file}: models.{model}.plot.x: '{x}' is not a searched parameter "
                                        f"of model '{model}'", x, own))


# Fold racing's settings when the config leaves them out.
RACING_DEFAULTS = {"burn_in": 2, "alpha": 0.05}


def racing_settings(config: dict) -> dict | None:
    """The config's racing settings with their defaults, or None without fold racing."""
    return None if not config.get("racing") else RACING_DEFAULTS | config["racing"]


def _n_folds(config: dict) -> int:
    return len(fold_names(config["cv"]))


def selection_metric(config: dict) -> str:
    """The metric configurations are chosen by: selection.metric, else the first metric."""
    return config.get("selection", {}).get("metric") or next(iter(config["metrics"]))


def metric_specs(metrics: dict, *, config_file: str = "config") -> dict[str, dict]:
    """Metric specs with defaults filled in; a string names a built-in metric (see :mod:`.metrics`)."""
    specs = {}
    for name, spec in metrics.items():
        if isinstance(spec, str):
            if spec not in BUILTIN_METRICS:
                raise ConfigError(with_hint(f"{config_file}: metrics.{name}: '{spec}' is not a built-in metric", spec,
                                            BUILTIN_METRICS))
            spec = BUILTIN_METRICS[spec]
        full = {"response": "predict", "needs_y": False, **spec}
        full.setdefault("on", "train" if "method" in spec else "test")
        specs[name] = full
    return specs
