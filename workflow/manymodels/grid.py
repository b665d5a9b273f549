"""Expand the config's hyperparameter grids into parameter points (ParameterGrid semantics)."""

from __future__ import annotations

import itertools
import math
from typing import Any

from . import ConfigError


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
    """Return every parameter point of a grid or list of sub-grids, keys sorted, duplicates kept."""
    subgrids = grid if isinstance(grid, list) else [grid]
    points: list[dict] = []
    for i, sub in enumerate(subgrids):
        sub_key = f"{key}[{i}]" if isinstance(grid, list) else key
        if not sub:
            raise ConfigError(f"{sub_key}: empty grid")
        names = sorted(sub)
        columns = [expand_values(sub[name], key=f"{sub_key}.{name}") for name in names]
        points.extend(dict(zip(names, combo)) for combo in itertools.product(*columns))
    return points
