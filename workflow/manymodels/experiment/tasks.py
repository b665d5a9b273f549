"""Task identity: config ids, derived seeds, the table of configurations and the columns of a score row."""

from __future__ import annotations

import hashlib
import json
from typing import Any

CONFIG_ID_LENGTH = 10


def canonical_json(value: Any) -> str:
    """JSON text that does not depend on key order or on the process that writes it."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def config_id(estimator: str | list, kwargs: dict, params: dict, fit_kwargs: dict | None = None) -> str:
    """Short stable hash of a configuration: estimator (path or pipeline steps), fixed kwargs,
    grid point and, when there are any, fit kwargs."""
    definition = {"estimator": estimator, "kwargs": kwargs, "params": params}
    if fit_kwargs:
        definition["fit_kwargs"] = fit_kwargs
    text = canonical_json(definition)
    return hashlib.sha256(text.encode()).hexdigest()[:CONFIG_ID_LENGTH]


def derive_seed(identity: str) -> int:
    """Seed derived from a task's identity, so it does not depend on run order."""
    return int(hashlib.sha256(identity.encode()).hexdigest()[:8], 16) % (2**31 - 1)


def estimator_definition(spec: dict) -> str | list[dict]:
    """A family's estimator: its dotted path, or its pipeline steps with their kwargs (see
    :mod:`manymodels.experiment.estimators`)."""
    if "pipeline" in spec:
        return _steps(spec["pipeline"])
    return spec["estimator"]


def _steps(steps: list[dict]) -> list[dict]:
    return [_column_step(s) if "columns" in s else {"name": s["name"], "estimator": s["estimator"],
                                                   "kwargs": s.get("kwargs", {})} for s in steps]


def _column_step(step: dict) -> dict:
    parts = []
    for part in step["columns"]:
        if "pipeline" in part:
            parts.append({"name": part["name"], "select": part["select"], "pipeline": _steps(part["pipeline"])})
        else:
            parts.append({"name": part["name"], "select": part["select"], "estimator": part["estimator"],
                          "kwargs": part.get("kwargs", {})})
    return {"name": step["name"], "columns": parts, "remainder": step.get("remainder", "drop"),
            "kwargs": step.get("kwargs", {})}


def expand_tasks(models: dict[str, dict], points: dict[str, list[dict]]) -> list[dict]:
    """One record per (model, configuration): model, config_id, estimator, kwargs, fit_kwargs, params.

    ``points`` maps each model name to its expanded grid points. A point listed twice (e.g. by
    two overlapping sub-grids) is one configuration.
    """
    records: list[dict] = []
    for name, spec in models.items():
        seen: set[str] = set()
        estimator = estimator_definition(spec)
        for params in points[name]:
            cid = config_id(estimator, spec.get("kwargs", {}), params, spec.get("fit_kwargs"))
            if cid in seen:
                continue
            seen.add(cid)
            records.append(
                {
                    "model": name,
                    "config_id": cid,
                    "estimator": estimator,
                    "kwargs": dict(spec.get("kwargs", {})),
                    "fit_kwargs": dict(spec.get("fit_kwargs", {})),
                    "params": params,
                }
            )
    return records


# Columns of every score row, in order, with their Arrow types; metric columns (float64) follow.
SCORE_COLUMNS = [
    ("model", "string"),
    ("config_id", "string"),
    ("fold", "string"),
    ("status", "string"),
    ("error_type", "string"),
    ("error", "string"),
    ("fit_seconds", "float64"),
    ("score_seconds", "float64"),
    ("converged", "bool"),
    ("n_iter", "int64"),
    ("n_warnings", "int64"),
    ("first_warning", "string"),
    ("seed", "int64"),
    ("n_train", "int64"),
    ("n_test", "int64"),
    ("fitted_at", "string"),
    ("scored_at", "string"),
    ("score_error", "string"),
    ("model_bytes", "int64"),
    ("model_sha256", "string"),
    ("degenerate", "string"),
]


# A fit of successive halving's lower rungs names its resource after its CV fold: '3~1of9' (a ninth
# of fold 3's training rows) or '3~max_iter=10' (see manymodels.experiment.halving).
def resource_of(resource: str) -> tuple[str, float | int]:
    """('n_samples', 1/9) for '1of9'; ('max_iter', 10) for 'max_iter=10'."""
    if "=" in resource:
        name, value = resource.split("=", 1)
        return name, int(value)
    numerator, denominator = resource.split("of")
    return "n_samples", int(numerator) / int(denominator)
