"""Build estimators from their definitions: a dotted class path, or a list of pipeline steps."""

from __future__ import annotations

import importlib

from .tasks import derive_seed


def import_object(path: str):
    """``package.module.Name`` imported (ImportError or AttributeError when it does not exist)."""
    module_name, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(module_name), attr)


def make_estimator(definition: str | list[dict], options: dict | None = None):
    """An unfitted estimator: the class at ``definition`` or a Pipeline of its steps.

    ``options`` are parameters in scikit-learn's ``set_params`` form (``step__param`` for nested
    ones); top-level ones also go to the constructor, for classes with required arguments.
    """
    options = dict(options or {})
    if isinstance(definition, str):
        top = {k: v for k, v in options.items() if "__" not in k}
        est = import_object(definition)(**top)
        nested = {k: v for k, v in options.items() if "__" in k}
    else:
        from sklearn.pipeline import Pipeline

        est = Pipeline([(step["name"], make_estimator(step["estimator"], step.get("kwargs"))) for step in definition])
        nested = options
    if nested:
        est.set_params(**nested)
    return est


def build_estimator(definition, kwargs: dict, params: dict, *, config_id: str):
    """The estimator of one configuration; every ``random_state`` left unset derives from its id."""
    options = {**kwargs, **params}
    est = make_estimator(definition, options)
    seeds = {name: derive_seed(config_id) for name, value in est.get_params(deep=True).items()
             if (name == "random_state" or name.endswith("__random_state")) and value is None and name not in options}
    if seeds:
        est.set_params(**seeds)
    return est


def class_name(definition) -> str:
    """A readable name of an estimator definition, for messages."""
    return definition if isinstance(definition, str) else "Pipeline(" + ", ".join(s["name"] for s in definition) + ")"


def estimator_modules(definition) -> list[str]:
    """The modules an estimator definition imports (to warm workers up)."""
    paths = [definition] if isinstance(definition, str) else [s["estimator"] for s in definition]
    return sorted({p.rpartition(".")[0] for p in paths} | ({"sklearn.pipeline"} if not isinstance(definition, str) else set()))


def package_version(definition) -> str:
    """Version(s) of the distribution(s) behind an estimator definition (a dotted path or steps)."""
    if not isinstance(definition, str):
        return ", ".join(sorted({package_version(step["estimator"]) for step in definition}))
    top = definition.split(".")[0]
    from importlib import metadata

    try:
        dists = metadata.packages_distributions().get(top, [top])
        return f"{dists[0]}=={metadata.version(dists[0])}"
    except metadata.PackageNotFoundError:
        return f"{top}==unknown"
