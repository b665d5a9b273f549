"""Shared pipeline prefixes: fit a pipeline's steps before the last once per (prefix, fold), and fit
each configuration's final step on what they output.

A prefix job fits the steps before the final estimator on a fold's training rows exactly as
``Pipeline.fit`` does (``fit_transform`` of each step in turn) and writes the fitted steps (joblib)
and their output for the fold's training and test rows (Parquet, page checksums, and the SHA-256 of
every file in its metadata). A final-step fit reads them, fits its last step alone, and keeps the
whole fitted Pipeline (the fitted prefix steps and its own), so its model file, metadata and scores
are those of a Pipeline fitted in one go. Its score job gives the final step the prefix's stored
output for the fold's rows, so no configuration transforms them again (the prefix's transform of
them is the one the kept Pipeline computes). A prefix that raised fails each of its configurations
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
from ..experiment.tasks import SCORE_COLUMNS
from .fit import INFRASTRUCTURE_ERRORS, _as_bool, _as_int, _seed
from .io import (JOBLIB_COMPRESS, atomic_path, check_checksum, load_checked_model, load_split, read_checked_json,
                 read_checked_table, sha256_file, task_identity, write_checked_json, write_parquet)
from .model_files import load_checked_model as load_checked_fit
from .score import compute_metric, diagnose, score_task, write_row


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
    meta.update(write_model(prefix, out_model))
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
    meta.update(write_model(None, out_model))
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
    meta.update(write_model(est, out_model))
    meta.update(prefix_id=shared["prefix_id"], prefix_seconds=shared["fit_seconds"])
    write_checked_json(meta, out_meta)
    lines = [f"{model} {config_id} fold {fold}: {meta['status']}, final step fit in {meta['fit_seconds'] or 0:.3f} s "
             f"on prefix {shared['prefix_id']}"]
    lines += [f"warning: {w}" for w in found]
    return {"status": meta["status"], "log": "\n".join(lines + ([tb] if tb else []))}


def score_final_task(*, metrics: dict[str, dict], features: list[str], label: str | None, data: str,
                     folds: str | None, fit_model: str, fit_meta: str, out_scores: str, prefix_train: str,
                     prefix_test: str, prefix_meta: str) -> dict:
    """Score a configuration fitted on a shared prefix, as :func:`manymodels.task.score.score_task`
    does, on its prefix's stored output: the final step of the kept Pipeline gets the rows the prefix
    made of the fold's test (and training) rows, which are those the Pipeline's own prefix would
    compute, and scores them as the Pipeline's methods do. A failed fit, or a prefix whose transform
    of the test rows failed, is scored by score_task itself (which records what happened)."""
    task = dict(metrics=metrics, features=features, label=label, data=data, folds=folds, fit_model=fit_model,
                fit_meta=fit_meta, out_scores=out_scores)
    meta = read_checked_json(fit_meta, **task_identity(fit_meta))
    shared = read_checked_json(prefix_meta, model=meta["model"], fold=meta["fold"], prefix_id=meta.get("prefix_id"))
    if meta["status"] != "ok" or shared["test"]["kind"] == "none" or "error" in shared["test"]:
        return score_task(**task)
    from sklearn.pipeline import Pipeline

    start = time.perf_counter()
    X_train, y_train, X_test, y_test = load_split(data=data, folds=folds, fold=meta["fold"], features=features,
                                                  label=label)
    est = load_checked_fit(fit_model, expected=meta["model_sha256"])
    # The Pipeline's methods on rows its prefix has transformed already: the same final step behind a
    # passthrough, so the same methods exist (or not) and the same errors are raised.
    on_output = Pipeline([(est.steps[0][0], "passthrough"), est.steps[-1]])
    rows = {"test": (read_output(prefix_test, shared["test"]), y_test)}
    if any(spec["on"] == "train" for spec in metrics.values()):
        rows["train"] = (read_output(prefix_train, shared["train"]), y_train)
    values, problems = {}, []
    for name, spec in metrics.items():
        try:
            values[name] = compute_metric(spec, on_output, *rows[spec["on"]])
        except Exception as exc:  # as score_task: recorded, not fatal
            values[name] = float("nan")
            problems.append(f"{name}: {type(exc).__name__}: {exc}")
    row = {name: meta.get(name) for name, _ in SCORE_COLUMNS}
    row.update(n_test=len(X_test), score_seconds=time.perf_counter() - start,
               scored_at=datetime.now(timezone.utc).isoformat(), score_error="; ".join(problems) or None,
               degenerate=diagnose(est, len(X_train)), **values)
    write_row(row, metrics, out_scores)
    return row


def write_model(value, path: str) -> dict:
    """Dump ``value`` with joblib, compressed as every fit's model is unless that saves little: a
    prefix and the Pipelines holding it are mostly the fold's rows and dense float arrays (kernel
    PCA's training rows and eigenvectors), which zlib shrinks by a few percent at about 60 ms a
    megabyte to write and 10 ms to read. Return the file's size and SHA-256."""
    import zlib

    import joblib

    with atomic_path(path) as tmp:
        joblib.dump(value, tmp, compress=0)
        with open(tmp, "rb") as handle:
            sample = handle.read(SAMPLE_BYTES)
        if len(zlib.compress(sample, JOBLIB_COMPRESS)) < WORTH_COMPRESSING * len(sample):
            joblib.dump(value, tmp, compress=JOBLIB_COMPRESS)
        digest, size = sha256_file(tmp), os.path.getsize(tmp)
    return {"model_bytes": size, "model_sha256": digest}


# write_model compresses when zlib shrinks the first SAMPLE_BYTES of the uncompressed file below
# WORTH_COMPRESSING of their size (small fitted models: 35-64% smaller).
SAMPLE_BYTES = 1 << 16
WORTH_COMPRESSING = 0.8


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
