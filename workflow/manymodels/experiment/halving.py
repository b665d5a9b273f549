"""Successive halving's rungs, known from the config alone: how many, and what each gives a fit.

Rung r of R + 1 fits the configurations still in the search with 1 / factor^(R - r) of the full
resource on every CV fold, and keeps the best 1 / factor of each family for the next rung; the last
rung is the full resource, whose fits are the very fits of the full grid (fold '<k>'). A rung's
fits are folds '<k>~1of9' (a ninth of fold k's training rows) or '<k>~max_iter=10' (an estimator
parameter), so a rung's files name what they hold and are reused by any plan that asks for the
same resource (another factor, more configurations, halving switched off).
"""

from __future__ import annotations

import math

from .. import ConfigError
from .tasks import resource_of

HALVING_DEFAULTS = {"resource": "n_samples", "factor": 3}
# The smallest share of the training rows a rung fits on when min_resources does not say (3%: at
# most four rungs with factor 3, 1/27 to all of the rows).
MIN_FRACTION = 0.03


def halving_settings(config: dict) -> dict | None:
    """The config's halving settings with their defaults, or None without successive halving."""
    return None if not config.get("halving") else HALVING_DEFAULTS | config["halving"]


def n_rungs(halving: dict, family_sizes: list[int], models: dict, *, config_file: str = "config") -> int:
    """How many rungs: as many as halving the largest family leaves more than one configuration
    (scikit-learn's n_required_iterations), and no more than the resource allows (from
    ``min_resources``: a fraction of the training rows for n_samples, a parameter value otherwise)."""
    factor = halving["factor"]
    rungs = 1 + max(0, math.floor(math.log(max(family_sizes), factor) + 1e-9))
    minimum = halving.get("min_resources")
    if halving["resource"] == "n_samples":
        if minimum is not None and not 0 < minimum < 1:
            raise ConfigError(f"{config_file}: halving.min_resources: with resource n_samples it is the first rung's "
                              f"fraction of the training rows, between 0 and 1 (not {minimum})")
        return min(rungs, 1 + math.floor(math.log(1 / (minimum or MIN_FRACTION), factor) + 1e-9))
    for model in models:
        full = parameter_maximum(halving, models, model, config_file=config_file)
        if minimum is not None:
            rungs = min(rungs, 1 + math.floor(math.log(full / minimum, factor) + 1e-9))
        rungs = min(rungs, 1 + math.floor(math.log(full, factor) + 1e-9))  # every rung gets at least 1
    return rungs


def parameter_maximum(halving: dict, models: dict, model: str, *, config_file: str = "config") -> int:
    """The full resource of a parameter resource: the family's fixed value of it (its kwargs)."""
    name = halving["resource"]
    value = models[model].get("kwargs", {}).get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{config_file}: halving.resource: '{name}' must be a fixed positive integer of every "
                          f"family (models.{model}.kwargs.{name}), the resource of the last rung")
    return value


def rung_fold(fold: str, rung: int, rungs: int, halving: dict, models: dict, model: str) -> str:
    """The fold name of a fit of CV fold ``fold`` at ``rung`` (of ``rungs``)."""
    steps = rungs - 1 - rung
    if steps == 0:
        return fold
    divisor = halving["factor"] ** steps
    if halving["resource"] == "n_samples":
        return f"{fold}~1of{divisor}"
    return f"{fold}~{halving['resource']}={max(1, parameter_maximum(halving, models, model) // divisor)}"


def split_fold(fold: str) -> tuple[str, str | None]:
    """('3', '1of9') for '3~1of9'; ('3', None) for a plain fold."""
    base, _, resource = fold.partition("~")
    return base, resource or None


def describe_resource(resource: str | None) -> str:
    if resource is None:
        return "the full resource"
    name, value = resource_of(resource)
    return f"{resource.replace('of', '/')} of the training rows" if name == "n_samples" else f"{name}={value}"
