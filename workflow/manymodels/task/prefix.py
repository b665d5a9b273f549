"""Shared pipeline prefixes: fit a pipeline's steps before the last once per (prefix, fold), and fit
each configuration's final step on what they output.

A prefix job fits the steps before the final estimator on a fold's training rows exactly as
``Pipeline.fit`` does (``fit_transform`` of each step in turn) and writes the fitted steps (joblib)
and their output for the fold's training and test rows (Parquet, page checksums, and the SHA-256 of
every file in its metadata). A final-step fit reads them, fits its last step alone, and keeps the
whole fitted Pipeline (the fitted prefix steps and its own), so its model file, metadata and scores
are those of a Pipeline fitted in one go. A prefix that raised fails each of its configurations
with its error, and is fitted once. Which configurations share a prefix is
:mod:`manymodels.experiment.prefixes`'.
"""

from __future__ import annotations

import os
import time
import traceback
import warnings
from datetime import datetime, timezone

from ..experiment.estimators import build_estimator, make_estimator
from .fit import INFRASTRUCTURE_ERRORS, _as_bool, _as_int, _seed
from .io import (check_checksum, load_checked_model, load_split, read_checked_json, read_checked_table,
                 sha256_file, write_checked_json, write_joblib, write_parquet)


def fit_prefix_task(*, model: str, prefix_id: str, fold: str, steps: list[dict], options: dict,
                    features: list[str], label: str | None, data: str, folds: str | None, out_model: str,
                    out_train: str, out_test: str, out_meta: str) -> dict:
    """Fit a prefix (a Pipeline of ``steps`` set with ``options``) on a fold's training rows; write it,
    its output for the training and the test rows, and its metadata (status, error, warnings, seconds)."""
    X_train, y_train, X_test, _ = load_split(data=data, folds=folds, fold=fold, features=features, label=label)
    prefix = make_estimator(steps, options)
    meta = {"model": model, "prefix_id": prefix_id, "fold": fold, "status": "ok", "error_type": None,
            "error": None, "n_train": int(len(X_train)), "fitted_at": datetime.now(timezone.utc).isoformat()}
    tb, Xt_train, Xt_test = None, None, None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        try:  # as Pipeline.fit fits the steps before its last: fit_transform, step by step
            Xt_train = prefix.fit_transform(X_train, y_train)
        except INFRASTRUCTURE_ERRORS:
            raise
        except Exception as exc:  # every configuration of this prefix fails with it: recorded, not raised
            meta.update(status="failed", error_type=type(exc).__name__, error=str(exc))
            tb = traceback.format_exc()
            prefix = None
        meta["fit_seconds"] = time.perf_counter() - start
    meta["warnings"] = [f"{w.category.__name__}: {w.message}" for w in caught]
    test_error = None
    if prefix is not None and len(X_test):
        # The score job transforms the test rows with the kept Pipeline itself; a failure here is its
        # to report, not the fit's.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                Xt_test = prefix.transform(X_test)
            except INFRASTRUCTURE_ERRORS:
                raise
            except Exception as exc:
                test_error = f"{type(exc).__name__}: {exc}"
    meta["train"] = write_output(Xt_train, out_train)
    meta["test"] = write_output(Xt_test, out_test) | ({"error": test_error} if test_error else {})
    meta.update(write_joblib(prefix, out_model))
    write_checked_json(meta, out_meta)
    lines = [f"{model} prefix {prefix_id} fold {fold}: {meta['status']}, fit in {meta['fit_seconds']:.3f} s"]
    lines += [f"warning: {w}" for w in meta["warnings"]]
    return {"status": meta["status"], "log": "\n".join(lines + ([tb] if tb else []))}


def record_failed_prefix(*, model: str, prefix_id: str, fold: str, error_type: str, error: str, out_model: str,
                         out_train: str, out_test: str, out_meta: str) -> dict:
    """Record a prefix whose process could not finish it (worker crash, time or memory limit) as
    failed: each of its configurations' fits then fails with this error."""
    meta = {"model": model, "prefix_id": prefix_id, "fold": fold, "status": "failed", "error_type": error_type,
            "error": error, "n_train": None, "fitted_at": datetime.now(timezone.utc).isoformat(),
            "fit_seconds": None, "warnings": [], "train": write_output(None, out_train),
            "test": write_output(None, out_test)}
    meta.update(write_joblib(None, out_model))
    write_checked_json(meta, out_meta)
    return {"status": "failed", "log": f"{model} prefix {prefix_id} fold {fold}: failed, {error_type}: {error}"}


def fit_final_task(*, model: str, config_id: str, fold: str, estimator: list, kwargs: dict, params: dict,
                   fit_kwargs: dict | None = None, features: list[str], label: str | None, data: str,
                   folds: str | None, out_model: str, out_meta: str, prefix_model: str, prefix_train: str,
                   prefix_meta: str) -> dict:
    """Fit the final step of one (configuration, fold) on its shared prefix's output and keep the
    whole fitted Pipeline; the metadata are those :func:`manymodels.task.fit.fit_task` writes (the
    prefix's warnings counted in), plus ``prefix_id`` and ``prefix_seconds``."""
    if fit_kwargs:
        raise ValueError(f"{model}/{config_id}: a configuration with fit_kwargs does not share its prefix")
    shared = read_checked_json(prefix_meta, model=model, fold=fold)
    _, y_train, _, _ = load_split(data=data, folds=folds, fold=fold, features=features, label=label)
    est = build_estimator(estimator, kwargs, params, config_id=config_id)
    meta = {"model": model, "config_id": config_id, "fold": fold, "status": "ok", "error_type": None, "error": None,
            "n_train": int(len(y_train)) if y_train is not None else shared["n_train"], "seed": _seed(est),
            "fitted_at": datetime.now(timezone.utc).isoformat()}
    tb, caught = None, []
    if shared["status"] != "ok":  # the prefix raised: this configuration fails as its one-go fit would
        meta.update(status="failed", error_type=shared["error_type"], error=shared["error"],
                    n_train=shared["n_train"] if shared["n_train"] is not None else meta["n_train"])
        meta["fit_seconds"] = shared["fit_seconds"]
        est = None
    else:
        prefix = load_checked_model(prefix_model, expected=shared["model_sha256"])
        Xt = read_output(prefix_train, shared["train"])
        name, final = est.steps[-1]
        est.steps = list(prefix.steps) + [(name, final)]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            start = time.perf_counter()
            try:
                if final is not None and final != "passthrough":
                    final.fit(Xt, y_train)
            except INFRASTRUCTURE_ERRORS:
                raise
            except Exception as exc:  # a failing fit is a result: recorded, not raised
                meta.update(status="failed", error_type=type(exc).__name__, error=str(exc))
                tb = traceback.format_exc()
                est = None
            meta["fit_seconds"] = time.perf_counter() - start
    found = list(shared["warnings"]) + [f"{w.category.__name__}: {w.message}" for w in caught]
    meta["n_warnings"] = len(found)
    meta["first_warning"] = found[0] if found else None
    meta["converged"] = _as_bool(getattr(est, "converged_", None))
    meta["n_iter"] = _as_int(getattr(est, "n_iter_", None))
    meta.update(write_joblib(est, out_model))
    meta.update(prefix_id=shared["prefix_id"], prefix_seconds=shared["fit_seconds"])
    write_checked_json(meta, out_meta)
    lines = [f"{model} {config_id} fold {fold}: {meta['status']}, final step fit in {meta['fit_seconds'] or 0:.3f} s "
             f"on prefix {shared['prefix_id']}"]
    lines += [f"warning: {w}" for w in found]
    return {"status": meta["status"], "log": "\n".join(lines + ([tb] if tb else []))}


# A prefix's output, kept as Parquet: a numeric array as one fixed-size-list column (one row per data
# row, its dtype kept), a DataFrame as itself, a sparse matrix as its (row, col, value) triplets.


def write_output(Xt, path: str) -> dict:
    """Write a prefix's output (None: none) to ``path``; return how to read it back, its size and SHA-256."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    if Xt is None:
        info, table = {"kind": "none"}, pa.table({})
    elif hasattr(Xt, "tocoo"):  # scipy.sparse
        coo = Xt.tocoo()
        table = pa.table({"row": coo.row.astype("int64"), "col": coo.col.astype("int64"), "value": coo.data})
        info = {"kind": "sparse", "shape": list(Xt.shape), "format": Xt.format}
    elif isinstance(Xt, pd.DataFrame):
        table, info = pa.Table.from_pandas(Xt, preserve_index=True), {"kind": "frame"}
    else:
        array = np.ascontiguousarray(Xt)
        if array.ndim != 2 or array.dtype.kind not in "biuf":
            raise TypeError(f"a prefix's output must be a 2-d numeric array, a DataFrame or a sparse matrix, "
                            f"not {array.dtype} of shape {array.shape}")
        values = pa.array(array.ravel())
        table = pa.table({"rows": pa.FixedSizeListArray.from_arrays(values, array.shape[1])})
        info = {"kind": "array", "shape": list(array.shape), "dtype": array.dtype.str}
    write_parquet(table, path)
    return info | {"bytes": os.path.getsize(path), "sha256": sha256_file(path)}


def read_output(path: str, info: dict):
    """A prefix's output as :func:`write_output` wrote it, after its SHA-256 matched."""
    import numpy as np

    check_checksum(path, info["sha256"])
    table = read_checked_table(path)
    if info["kind"] == "none":
        return None
    if info["kind"] == "frame":
        return table.to_pandas()
    if info["kind"] == "sparse":
        import scipy.sparse as sp

        coo = sp.coo_matrix((table["value"].to_numpy(), (table["row"].to_numpy(), table["col"].to_numpy())),
                            shape=tuple(info["shape"]))
        return coo.asformat(info["format"])
    column = table["rows"].combine_chunks()
    values = column.flatten().to_numpy(zero_copy_only=False)
    return np.asarray(values, dtype=np.dtype(info["dtype"])).reshape(info["shape"])
