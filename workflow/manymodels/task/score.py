"""Score one fitted (configuration, fold): out-of-sample and in-sample metrics plus fit metadata."""

from __future__ import annotations

import math
import time
from datetime import datetime, timezone

from ..experiment.estimators import final_step, import_object
from ..experiment.tasks import SCORE_COLUMNS
from .io import load_split, read_checked_json, task_identity, write_parquet
from .model_files import load_checked_model


def score_schema(metric_names: list[str]):
    """Arrow schema of a score row, so files written apart read back as one table."""
    import pyarrow as pa

    fields = [pa.field(name, pa.type_for_alias(kind)) for name, kind in SCORE_COLUMNS]
    fields += [pa.field(name, pa.float64()) for name in metric_names]
    return pa.schema(fields)


def response_method(spec: dict, est):
    """The estimator method a function metric compares to the label: the first one it has."""
    wanted = spec["response"] if isinstance(spec["response"], list) else [spec["response"]]
    for name in wanted:
        if hasattr(est, name):
            return getattr(est, name)
    raise AttributeError(f"{type(final_step(est)).__name__} has none of {', '.join(wanted)}")


def response_values(spec: dict, est, X):
    """What a function metric scores: the response method's output on ``X``. A clusterer without
    predict (AgglomerativeClustering, DBSCAN, ...) has labels only for the rows it was fitted on:
    those serve in-sample metrics (``on: train``); out-of-sample ones cannot be computed."""
    wanted = spec["response"] if isinstance(spec["response"], list) else [spec["response"]]
    learner = final_step(est)
    if wanted == ["predict"] and not hasattr(est, "predict") and hasattr(learner, "labels_"):
        if spec["on"] == "train":
            return learner.labels_
        raise AttributeError(f"{type(learner).__name__} has no predict, so it cannot label rows it was not fitted on: "
                             "out-of-sample metrics need predict (in-sample ones, on: train, use its fit's labels)")
    return response_method(spec, est)(X)


def model_space(est, X):
    """The rows as the final step of a pipeline sees them (after its transformers)."""
    if hasattr(est, "steps") and len(est.steps) > 1:
        return est[:-1].transform(X)
    return X


def compute_metric(spec: dict, est, X, y) -> float:
    """One metric on the given rows; NaN when there are no rows (e.g. no held-out test set).

    A function metric is f(y_true, response), or f(X, response) when it is ``against: features``
    (silhouette, Calinski-Harabasz, ...: X as the final step sees it)."""
    if len(X) == 0:
        return math.nan
    if "function" in spec:
        response = response_values(spec, est, X)
        options = {"labels": est.classes_} if spec.get("labels") and hasattr(est, "classes_") else {}
        first = model_space(est, X) if spec.get("against") == "features" else y
        return float(import_object(spec["function"])(first, response, **options))
    method = getattr(est, spec["method"])
    return float(method(X, y) if spec.get("needs_y") else method(X))


# A count-like parameter (components, clusters) this close to the number of training rows leaves
# about two rows or fewer per component: a fit that memorises rows rather than finding structure.
ROWS_PER_COMPONENT = 2
# A mixture component's variance this close to its regularisation floor has collapsed onto a point.
COLLAPSED_VARIANCE = 10


def diagnose(est, n_train: int) -> str | None:
    """Why a fit that succeeded is degenerate, in words, or None: more free parameters than training
    rows, about one component (or cluster) per row or two, a mixture component holding less than
    one row or collapsed onto a point (its variance at the regularisation floor). Selection criteria
    such as BIC can reward exactly these fits (a collapsed component has unbounded likelihood), so
    the report warns when a pick is one of them."""
    import numpy as np

    learner = final_step(est)
    found = []
    n_parameters = getattr(learner, "_n_parameters", None)
    if callable(n_parameters):
        try:
            k = int(n_parameters())
        except Exception:  # a private helper: never let it fail a score
            k = None
        if k is not None and k >= n_train:
            found.append(f"more free parameters ({k}) than training rows ({n_train})")
    for name in ("n_components", "n_clusters"):
        value = getattr(learner, name, None)
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value * ROWS_PER_COMPONENT >= n_train:
            found.append(f"{name}={int(value)} for {n_train} training rows (about {n_train / value:.1f} rows each)")
    weights = getattr(learner, "weights_", None)
    if weights is not None and np.size(weights) and float(np.min(weights)) * n_train < 1:
        found.append(f"a component holds less than one row (weight {float(np.min(weights)):.2g})")
    floor = getattr(learner, "reg_covar", None)
    covariances = getattr(learner, "covariances_", None)
    kind = getattr(learner, "covariance_type", None)
    if floor and covariances is not None and _smallest_variance(covariances, kind) <= COLLAPSED_VARIANCE * floor:
        found.append("a component collapsed onto a point (its variance at reg_covar)")
    if getattr(learner, "converged_", True) is False:
        found.append("did not converge")
    return "; ".join(found) or None


def _smallest_variance(covariances, covariance_type: str | None) -> float:
    """The smallest variance of a mixture's covariances: the smallest eigenvalue of full or tied
    covariance matrices, the smallest entry of diagonal or spherical ones."""
    import numpy as np

    c = np.asarray(covariances, dtype=float)
    if covariance_type in ("full", "tied") and c.ndim >= 2:
        return float(np.min(np.linalg.eigvalsh(c)))
    return float(np.min(c))


def score_task(
    *,
    metrics: dict[str, dict],
    features: list[str],
    label: str | None,
    data: str,
    folds: str | None,
    fit_model: str,
    fit_meta: str,
    out_scores: str,
) -> dict:
    """Compute every metric for one fitted task and write a one-row Parquet file; return the row.

    A failed fit gives NaN metrics; a metric that raises gives NaN and its reason in
    ``score_error``. Unreadable inputs raise.
    """
    meta = read_checked_json(fit_meta, **task_identity(fit_meta))
    start = time.perf_counter()
    values = {name: math.nan for name in metrics}
    problems, degenerate = [], None
    ok = meta["status"] == "ok"
    if "progressive" in meta:  # a streaming fit scored itself while it learnt
        n_test = 0
        if ok:
            values.update({name: meta["progressive"][spec["progressive"]] for name, spec in metrics.items()})
    else:
        X_train, y_train, X_test, y_test = load_split(
            data=data, folds=folds, fold=meta["fold"], features=features, label=label
        )
        n_test = len(X_test)
        if ok:
            est = load_checked_model(fit_model, expected=meta["model_sha256"])
            degenerate = diagnose(est, len(X_train))
            for name, spec in metrics.items():
                X, y = (X_test, y_test) if spec["on"] == "test" else (X_train, y_train)
                try:
                    values[name] = compute_metric(spec, est, X, y)
                except Exception as exc:  # a metric that cannot be computed is recorded, not fatal
                    problems.append(f"{name}: {type(exc).__name__}: {exc}")
    row = {name: meta.get(name) for name, _ in SCORE_COLUMNS}
    row.update(
        n_test=int(n_test),
        score_seconds=time.perf_counter() - start,
        scored_at=datetime.now(timezone.utc).isoformat(),
        score_error="; ".join(problems) or None,
        degenerate=degenerate,
        **values,
    )
    write_row(row, metrics, out_scores)
    return row


def write_row(row: dict, metrics: dict, path: str) -> None:
    import pyarrow as pa

    schema = score_schema(list(metrics))
    table = pa.Table.from_pylist([{name: row.get(name) for name in schema.names}], schema=schema)
    write_parquet(table, path)
