"""Build estimators from their definitions.

A definition is what a model family's config says, with the kwargs of each step in place (see
:func:`manymodels.experiment.tasks.estimator_definition`):

- a dotted path: an estimator class, or a factory (a function returning an estimator);
- a list of pipeline steps, each ``{name, estimator, kwargs}`` or a column-wise step
  ``{name, columns: [...], remainder}`` (a ``ColumnTransformer``), whose parts are
  ``{name, select, estimator, kwargs}`` or ``{name, select, pipeline: [...]}``. ``select`` is a list
  of column names, ``numeric`` or ``categorical`` (the columns that are not numbers; the prepared
  data holds them as pandas categoricals). A part's estimator may be ``passthrough`` or ``drop``.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Iterator

from .tasks import derive_seed

# What a column-wise step's ``select`` may name instead of columns: pandas dtypes to include.
DTYPE_SELECTORS = {"numeric": ["number"], "categorical": ["category", "object", "string"]}
PASS_OR_DROP = ("passthrough", "drop")


def import_object(path: str):
    """``package.module.Name`` imported (ImportError or AttributeError when it does not exist)."""
    module_name, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(module_name), attr)


def make_estimator(definition: str | list[dict], options: dict | None = None):
    """An unfitted estimator: the class (or factory) at ``definition``, or a Pipeline of its steps.

    ``options`` are parameters in scikit-learn's ``set_params`` form (``step__param`` for nested
    ones); top-level ones also go to the constructor (or the factory), for classes with required
    arguments.
    """
    options = dict(options or {})
    if isinstance(definition, str):
        maker = import_object(definition)
        top = {k: v for k, v in options.items() if "__" not in k}
        if not inspect.isclass(maker):  # a factory takes the options its signature names
            accepted = factory_parameters(maker)
            top = top if accepted is None else {k: v for k, v in top.items() if k in accepted}
        est = maker(**top)
        nested = {k: v for k, v in options.items() if k not in top}
    else:
        from sklearn.pipeline import Pipeline

        est = Pipeline([(step["name"], _make_step(step)) for step in definition])
        nested = options
    if nested:
        est.set_params(**nested)
    return est


def factory_parameters(factory) -> set[str] | None:
    """The keyword arguments a factory function accepts (None: any, it takes ``**kwargs``)."""
    parameters = inspect.signature(factory).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _make_step(step: dict):
    if "columns" not in step:
        return make_estimator(step["estimator"], step.get("kwargs"))
    from sklearn.compose import ColumnTransformer

    parts = [(part["name"], _make_part(part), column_selector(part["select"])) for part in step["columns"]]
    return ColumnTransformer(parts, remainder=step.get("remainder", "drop"), **step.get("kwargs", {}))


def _make_part(part: dict):
    if "pipeline" in part:
        return make_estimator(part["pipeline"])
    if part["estimator"] in PASS_OR_DROP:
        return part["estimator"]
    return make_estimator(part["estimator"], part.get("kwargs"))


def column_selector(select: str | list[str]):
    """Columns by name, or a selector of the numeric or the categorical columns."""
    if isinstance(select, list):
        return list(select)
    from sklearn.compose import make_column_selector

    return make_column_selector(dtype_include=DTYPE_SELECTORS[select])


def build_estimator(definition, kwargs: dict, params: dict, *, config_id: str):
    """The estimator of one configuration; every ``random_state`` left unset derives from its id."""
    options = {**kwargs, **params}
    est = make_estimator(definition, options)
    seeds = {name: derive_seed(config_id) for name, value in est.get_params(deep=True).items()
             if (name == "random_state" or name.endswith("__random_state")) and value is None and name not in options}
    if seeds:
        est.set_params(**seeds)
    return est


def final_step(est):
    """The last step of a pipeline (the estimator itself otherwise)."""
    return est.steps[-1][1] if hasattr(est, "steps") else est


def class_name(definition) -> str:
    """A readable name of an estimator definition, for messages."""
    if isinstance(definition, str):
        return definition
    return "Pipeline(" + ", ".join(s["name"] for s in definition) + ")"


def dotted_paths(definition, key: str = "") -> Iterator[tuple[str, str]]:
    """Every (config key, dotted path) an estimator definition imports, in order. ``key`` is the
    definition's place in the config (``models.<name>``)."""
    if isinstance(definition, str):
        yield f"{key}.estimator", definition
        return
    for i, step in enumerate(definition):
        where = f"{key}.pipeline[{i}]"
        if "columns" not in step:
            yield f"{where}.estimator", step["estimator"]
            continue
        for j, part in enumerate(step["columns"]):
            if "pipeline" in part:
                yield from dotted_paths(part["pipeline"], f"{where}.columns[{j}]")
            elif part["estimator"] not in PASS_OR_DROP:
                yield f"{where}.columns[{j}].estimator", part["estimator"]


def estimator_modules(definition) -> list[str]:
    """The modules an estimator definition imports (to warm workers up)."""
    modules = {path.rpartition(".")[0] for _, path in dotted_paths(definition)}
    if not isinstance(definition, str):
        modules.add("sklearn.pipeline")
        if any("columns" in step for step in definition):
            modules.add("sklearn.compose")
    return sorted(modules)


def estimator_modules_of(config) -> list[str]:
    """The modules every family of a config imports, read leniently (the config is not checked yet:
    a family that is not well formed is skipped; its check says what is wrong with it)."""
    from .tasks import estimator_definition

    modules: set[str] = set()
    models = config.get("models") if isinstance(config, dict) else None
    for spec in (models or {}).values():
        try:
            modules.update(estimator_modules(estimator_definition(spec)))
        except (KeyError, TypeError, AttributeError, ValueError):
            continue
    return sorted(modules)


def package_version(definition) -> str:
    """Version(s) of the distribution(s) behind an estimator definition (a dotted path or steps)."""
    if not isinstance(definition, str):
        return ", ".join(sorted({package_version(path) for _, path in dotted_paths(definition)}))
    top = definition.split(".")[0]
    from importlib import metadata

    try:
        dists = metadata.packages_distributions().get(top, [top])
        return f"{dists[0]}=={metadata.version(dists[0])}"
    except metadata.PackageNotFoundError:
        return f"{top}==unknown"
