"""Expand the config's hyperparameter grids into parameter points (ParameterGrid semantics)."""

from __future__ import annotations

import itertools
import math
from typing import Any

from .. import ConfigError


def expand_values(spec: Any, *, key: str) -> list:
    """Return the list of values a grid entry stands for.

    ``spec`` is a list of values, an inclusive range ``{from, to, step}`` or evenly spaced
    values ``{from, to, num, scale}``. ``key`` names the entry in error messages.
    """
    if isinstance(spec, list):
        values = list(spec)
    elif isinstance(spec, dict) and "num" in spec:
        values = _spaced(spec["from"], spec["to"], spec["num"], spec.get("scale", "linear"), key=key)
    elif isinstance(spec, dict):
        values = _inclusive_range(spec["from"], spec["to"], spec.get("step", 1))
    else:
        raise ConfigError(f"{key}: expected a list of values or a range mapping, got {spec!r}")
    if not values:
        raise ConfigError(f"{key}: the grid entry {spec!r} gives no values (empty grid)")
    return values


def _inclusive_range(start: float, stop: float, step: float) -> list:
    if all(isinstance(v, int) and not isinstance(v, bool) for v in (start, stop, step)):
        return list(range(start, stop + 1, step))
    count = math.floor((stop - start) / step + 1e-9) + 1
    # Rounding keeps 0.1-steps readable (0.3, not 0.30000000000000004) and hashes stable.
    return [float(f"{start + i * step:.12g}") for i in range(max(count, 0))]


def _spaced(start: float, stop: float, num: int, scale: str, *, key: str) -> list:
    if scale == "log":
        if start <= 0 or stop <= 0:
            raise ConfigError(f"{key}: a log-scale range needs positive from/to, got {start}..{stop}")
        lo, hi = math.log10(start), math.log10(stop)
        points = [lo + (hi - lo) * i / (num - 1) for i in range(num)] if num > 1 else [lo]
        return [float(f"{10**p:.12g}") for p in points]
    points = [start + (stop - start) * i / (num - 1) for i in range(num)] if num > 1 else [start]
    return [float(f"{p:.12g}") for p in points]


def expand_grid(grid: dict | list[dict], *, key: str) -> list[dict]:
    """Return every parameter point of a grid or list of sub-grids (keys in config order), duplicates kept."""
    subgrids = grid if isinstance(grid, list) else [grid]
    points: list[dict] = []
    for i, sub in enumerate(subgrids):
        sub_key = f"{key}[{i}]" if isinstance(grid, list) else key
        if not sub:
            raise ConfigError(f"{sub_key}: empty grid")
        names = sorted(sub)
        columns = [expand_values(sub[name], key=f"{sub_key}.{name}") for name in names]
        # Points run through the parameters in sorted order (reproducible); each point keeps the
        # config's order of parameters, which is how tables and summaries show them.
        for combo in itertools.product(*columns):
            point = dict(zip(names, combo))
            points.append({name: point[name] for name in sub})
    return points


def grid_parameters(spec: dict) -> list[str]:
    """The parameters a family searches on a grid (not drawn at random): the ones whose best value
    at the edge of what was tried says the grid may be too narrow."""
    grid = spec.get("grid") or {}
    return list(dict.fromkeys(name for sub in (grid if isinstance(grid, list) else [grid]) for name in sub))


# Draws of a configuration that repeats an earlier one before the space is taken as exhausted.
MAX_REDRAWS = 100


def sample_points(random: dict, *, key: str) -> list[dict]:
    """``n_iter`` distinct parameter points drawn from the configured distributions, seeded, with
    scikit-learn's semantics (``RandomizedSearchCV``, ``ParameterSampler``, scipy.stats).

    Distributions: {uniform: [low, high]}, {loguniform: [low, high]}, {randint: [low, high]} (the
    integers low <= k < high, as ``scipy.stats.randint``: the upper bound is excluded) and
    {choice: [values]}. A draw that repeats an earlier point is drawn again, so the points are
    distinct; when every distribution is discrete and the space has fewer points than ``n_iter``,
    every point of the space is used once (in grid order), as ``ParameterSampler`` does, and
    :func:`sampling_note` says so. Draw i depends only on (random_state, i) and the draws before it,
    so raising n_iter from 20 to 40 keeps the first 20 points and adds 20 new ones.
    """
    import numpy as np

    names = sorted(random["distributions"])
    check_distributions(random["distributions"], key=f"{key}.distributions")
    size = space_size(random["distributions"])
    if size is not None and size <= random["n_iter"]:
        return _whole_space(random["distributions"])
    points, seen = [], set()
    for i in range(random["n_iter"]):
        for attempt in range(MAX_REDRAWS):
            rng = np.random.default_rng([random.get("random_state", 0), i, *([attempt] if attempt else [])])
            drawn = {name: _draw(random["distributions"][name], rng) for name in names}  # sorted: reproducible
            point = {name: drawn[name] for name in random["distributions"]}
            identity = _identity(point)
            if identity not in seen:
                break
        else:  # a finite space nearly exhausted: the first point not drawn yet, in grid order
            point = next(p for p in _whole_space(random["distributions"]) if _identity(p) not in seen)
            identity = _identity(point)
        seen.add(identity)
        points.append(point)
    return points


def space_size(distributions: dict) -> int | None:
    """How many distinct points a random-search space has; None when some distribution is continuous."""
    size = 1
    for spec in distributions.values():
        (kind, args), = spec.items()
        if kind == "choice":
            size *= len({_identity(v) for v in args})
        elif kind == "randint":
            size *= max(0, args[1] - args[0])
        else:
            return None
    return size


def sampling_note(random: dict, *, key: str) -> str | None:
    """What a user should know about a random search's draws: a space smaller than n_iter."""
    size = space_size(random["distributions"])
    if size is not None and size < random["n_iter"]:
        return (f"{key}: n_iter is {random['n_iter']} but the space has only {size} distinct configurations; "
                f"each of them is used once ({size} configurations)")
    return None


def _whole_space(distributions: dict) -> list[dict]:
    """Every point of a discrete space, in grid order (parameters in the config's order)."""
    values = {}
    for name, spec in distributions.items():
        (kind, args), = spec.items()
        values[name] = list(range(args[0], args[1])) if kind == "randint" else list(
            {_identity(v): v for v in args}.values())
    return [dict(zip(values, combo)) for combo in itertools.product(*values.values())]


def _identity(value) -> str:
    import json

    return json.dumps(value, sort_keys=True)


def check_distributions(distributions: dict, *, key: str, categorical: bool = False) -> None:
    """ConfigError naming the parameter unless each distribution can be drawn from (``categorical``:
    its choices must be plain values, as Optuna's categorical distribution needs)."""
    for name, spec in distributions.items():
        _check_distribution(spec, key=f"{key}.{name}", categorical=categorical)


def _check_distribution(spec: dict, *, key: str, categorical: bool = False) -> None:
    (kind, args), = spec.items()
    if kind == "choice" and categorical and not all(v is None or isinstance(v, (bool, int, float, str)) for v in args):
        raise ConfigError(f"{key}: choice: Bayesian optimisation chooses among plain values (numbers, text, true/false, "
                          f"null), not {next(v for v in args if isinstance(v, (list, dict)))!r}")
    if kind in ("uniform", "loguniform", "randint"):
        low, high = args
        if not low < high or (kind == "loguniform" and low <= 0):
            raise ConfigError(f"{key}: {kind} needs low < high{' and low > 0' if kind == 'loguniform' else ''}, got {args}"
                              + (" (randint's high is excluded, as in scipy.stats.randint)" if kind == "randint" else ""))


def _draw(spec: dict, rng):
    (kind, args), = spec.items()
    if kind == "choice":
        return args[int(rng.integers(len(args)))]
    low, high = args
    if kind == "randint":
        return int(rng.integers(low, high))  # high excluded, as scipy.stats.randint(low, high)
    if kind == "loguniform":
        return float(f"{math.exp(rng.uniform(math.log(low), math.log(high))):.12g}")
    return float(f"{rng.uniform(low, high):.12g}")
