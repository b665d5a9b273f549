"""Fit one configuration on one fold, recording a failing fit as data instead of crashing."""

from __future__ import annotations

import time
import traceback
import warnings
from datetime import datetime, timezone

import numpy as np

from ..experiment.estimators import build_estimator
from ..experiment.tasks import derive_seed, resource_of
from .io import load_split, write_checked_json, write_joblib

# Errors of the machine, not of the model: these fail the job loudly instead of becoming a row.
INFRASTRUCTURE_ERRORS = (MemoryError, OSError)


def fit_task(
    *,
    model: str,
    config_id: str,
    fold: str,
    estimator: str | list,
    kwargs: dict,
    params: dict,
    fit_kwargs: dict | None = None,
    features: list[str],
    label: str | None,
    data: str,
    folds: str | None,
    out_model: str,
    out_meta: str,
) -> dict:
    """Fit and save the model of one (configuration, fold); return its status and log text.

    The metadata (status, error, seconds, warnings, convergence) go to ``out_meta`` as JSON and the
    fitted estimator to ``out_model`` (None when the fit failed), so scoring never refits.
    """
    X_train, y_train, _, _ = load_split(data=data, folds=folds, fold=fold, features=features, label=label)
    if "~" in fold:  # a rung of successive halving: part of the training rows, or less of a parameter
        X_train, y_train, kwargs = _with_resource(fold, X_train, y_train, kwargs)
    est = build_estimator(estimator, kwargs, params, config_id=config_id)
    meta = {
        "model": model,
        "config_id": config_id,
        "fold": fold,
        "status": "ok",
        "error_type": None,
        "error": None,
        "n_train": int(len(X_train)),
        "seed": _seed(est),
        "fitted_at": datetime.now(timezone.utc).isoformat(),
    }
    tb = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        try:
            est.fit(X_train, y_train, **(fit_kwargs or {}))
        except INFRASTRUCTURE_ERRORS:
            raise
        except Exception as exc:  # a failing fit is a result: recorded, not raised
            meta.update(status="failed", error_type=type(exc).__name__, error=str(exc))
            tb = traceback.format_exc()
            est = None
        meta["fit_seconds"] = time.perf_counter() - start
    meta["n_warnings"] = len(caught)
    meta["first_warning"] = f"{caught[0].category.__name__}: {caught[0].message}" if caught else None
    meta["converged"] = _as_bool(getattr(est, "converged_", None))
    meta["n_iter"] = _as_int(getattr(est, "n_iter_", None))
    meta.update(write_joblib(est, out_model))
    write_checked_json(meta, out_meta)
    lines = [f"{model} {config_id} fold {fold}: {meta['status']}, fit in {meta['fit_seconds']:.3f} s"]
    lines += [f"warning: {w.category.__name__}: {w.message}" for w in caught]
    return {"status": meta["status"], "log": "\n".join(lines + ([tb] if tb else []))}


def record_failed_fit(*, model: str, config_id: str, fold: str, error_type: str, error: str, out_model: str,
                      out_meta: str) -> dict:
    """Record a fit that its process could not finish (its worker crashed, or it ran past its time or
    memory limit: ``error_type`` WorkerCrash, TimeLimit or MemoryLimit) as a failed row, as a fit
    that raised is: its model file holds None and its metadata says what happened."""
    meta = {"model": model, "config_id": config_id, "fold": fold, "status": "failed", "error_type": error_type,
            "error": error, "n_train": None, "seed": None, "fitted_at": datetime.now(timezone.utc).isoformat(),
            "fit_seconds": None, "n_warnings": 0, "first_warning": None, "converged": None, "n_iter": None}
    meta.update(write_joblib(None, out_model))
    write_checked_json(meta, out_meta)
    return {"status": "failed", "log": f"{model} {config_id} fold {fold}: failed, {error_type}: {error}"}


def _with_resource(fold: str, X, y, kwargs: dict):
    """The training rows and kwargs of a halving rung's fit: a subsample of the rows drawn from the
    (fold, fraction) alone, so every configuration of a rung sees the same rows; or the resource
    parameter set to the rung's value."""
    name, value = resource_of(fold.partition("~")[2])
    if name != "n_samples":
        return X, y, {**kwargs, name: value}
    n = max(1, round(value * len(X)))
    rows = np.sort(np.random.default_rng(derive_seed(f"halving/{fold}")).choice(len(X), size=n, replace=False))
    return X.iloc[rows], (y[rows] if y is not None else None), kwargs


def _seed(est):
    """The estimator's random_state (or its last step's, for a pipeline), if it is a number."""
    params = est.get_params(deep=True)
    seeds = [v for k, v in params.items() if (k == "random_state" or k.endswith("__random_state")) and isinstance(v, int)]
    return seeds[-1] if seeds else None


def _as_bool(value):
    return None if value is None else bool(value)


def _as_int(value):
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):  # e.g. per-class arrays of iteration counts
        return None
