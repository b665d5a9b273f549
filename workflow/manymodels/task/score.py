"""Score one fitted (configuration, fold): out-of-sample and in-sample metrics plus fit metadata."""

from __future__ import annotations

import math
import time
from datetime import datetime, timezone

from ..experiment.estimators import import_object
from ..experiment.tasks import SCORE_COLUMNS
from .io import load_split, read_json, write_parquet



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
    raise AttributeError(f"{type(est).__name__} has none of {', '.join(wanted)}")


def compute_metric(spec: dict, est, X, y) -> float:
    """One metric on the given rows; NaN when there are no rows (e.g. no held-out test set)."""
    if len(X) == 0:
        return math.nan
    if "function" in spec:
        response = response_method(spec, est)(X)
        options = {"labels": est.classes_} if spec.get("labels") and hasattr(est, "classes_") else {}
        return float(import_object(spec["function"])(y, response, **options))
    method = getattr(est, spec["method"])
    return float(method(X, y) if spec.get("needs_y") else method(X))


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
    import joblib

    meta = read_json(fit_meta)
    start = time.perf_counter()
    values = {name: math.nan for name in metrics}
    problems = []
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
            est = joblib.load(fit_model)
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
        **values,
    )
    write_row(row, metrics, out_scores)
    return row


def write_row(row: dict, metrics: dict, path: str) -> None:
    import pyarrow as pa

    schema = score_schema(list(metrics))
    table = pa.Table.from_pylist([{name: row.get(name) for name in schema.names}], schema=schema)
    write_parquet(table, path)
