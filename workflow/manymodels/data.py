"""Input data: resolve the source, check its columns, prepare the rows used and assign folds."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np

from . import ConfigError, DataError
from .io import write_json, write_parquet

BUILTIN_SOURCES = ("penguins",)

# Codes in results/data/folds.parquet: one int8 column per fold, one row per prepared data row.
UNUSED, TRAIN, TEST = 0, 1, 2


def resolve_source(source: str) -> Path:
    """Path of the file behind a data source: a built-in name or a .csv/.parquet path."""
    if source == "penguins":
        import importlib.resources

        return Path(str(importlib.resources.files("palmerpenguins").joinpath("data/penguins.csv")))
    path = Path(source)
    if path.suffix.lower() not in (".csv", ".parquet", ".pq"):
        raise ConfigError(f"data.source: '{source}' is neither a built-in dataset {BUILTIN_SOURCES} nor a .csv/.parquet file")
    if not path.is_file():
        raise DataError(f"data.source: data file '{source}' does not exist")
    return path


def source_columns(path: Path) -> list[str]:
    """Column names of a CSV or Parquet file, read without loading the rows."""
    try:
        if path.suffix.lower() == ".csv":
            import pandas as pd

            return list(pd.read_csv(path, nrows=0).columns)
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    except Exception as exc:  # any parser failure means the file is unusable as configured
        raise DataError(f"data file '{path}' cannot be read: {type(exc).__name__}: {exc}") from exc


def check_columns(path: Path, *, features: list[str], label: str | None, config_file: str) -> None:
    """Raise when a configured feature or label column is missing from the data file."""
    columns = source_columns(path)
    for key, column in [("data.features", c) for c in features] + [("data.label", label)]:
        if column is not None and column not in columns:
            raise DataError(
                f"{config_file}: {key}: column '{column}' is not in data file '{path}' "
                f"(columns: {', '.join(columns)})"
            )


def read_source(path: Path, columns: list[str]):
    """The configured columns of a CSV or Parquet file as a DataFrame."""
    import pandas as pd

    if path.suffix.lower() == ".csv":
        return pd.read_csv(path, usecols=columns)[columns]
    return pd.read_parquet(path, columns=columns)


def prepare_data(
    *, source: Path, features: list[str], label: str | None, out_data: str, out_summary: str
) -> str:
    """Write the rows used (complete cases of features and label) to Parquet; return log text."""
    import pandas as pd

    columns = features + ([label] if label else [])
    frame = read_source(Path(source), columns)
    complete = frame.notna().all(axis=1)
    used = frame[complete].reset_index(drop=True)
    if used.empty:
        raise DataError(f"data file '{source}': no row has all of the columns {columns}")
    for column in features:
        if not pd.api.types.is_numeric_dtype(used[column]) or pd.api.types.is_bool_dtype(used[column]):
            raise DataError(f"data file '{source}': feature column '{column}' is not numeric ({used[column].dtype})")
    summary = {
        "source": str(source),
        "n_source_rows": int(len(frame)),
        "n_dropped_missing": int((~complete).sum()),
        "n_rows": int(len(used)),
        "features": features,
        "label": label,
        "label_counts": used[label].value_counts().sort_index().astype(int).to_dict() if label else {},
    }
    write_parquet(used, out_data)
    write_json(summary, out_summary)
    return (
        f"{source}: {summary['n_source_rows']} rows, {summary['n_dropped_missing']} dropped for missing "
        f"values in {columns}, {summary['n_rows']} used"
    )


def make_splitter(cv: dict):
    """The scikit-learn splitter named in the config, with the options it accepts."""
    import sklearn.model_selection as ms

    cls = getattr(ms, cv["splitter"], None)
    if cls is None or not hasattr(cls, "split"):
        raise ConfigError(f"cv.splitter: '{cv['splitter']}' is not a splitter in sklearn.model_selection")
    accepted = inspect.signature(cls).parameters
    options = {k: cv[k] for k in ("n_splits", "shuffle") if k in accepted and k in cv}
    if "random_state" in accepted and (cv.get("shuffle", True) or "shuffle" not in accepted):
        options["random_state"] = cv.get("random_state")
    return cls(**options)


def fold_names(cv: dict) -> list[str]:
    """Names of the CV folds ('0', '1', ...), known from the config alone."""
    return [str(i) for i in range(make_splitter(cv).get_n_splits())]


def assign_folds(*, data: str, cv: dict, label: str | None, out_folds: str) -> str:
    """Compute the folds once and store them: one int8 column per fold (train/test/unused)."""
    import pandas as pd

    frame = pd.read_parquet(data)
    y = frame[label].to_numpy() if label else None
    splitter = make_splitter(cv)
    codes = {}
    for i, (train, test) in enumerate(splitter.split(np.zeros((len(frame), 1)), y)):
        column = np.full(len(frame), UNUSED, dtype=np.int8)
        column[train] = TRAIN
        column[test] = TEST
        codes[str(i)] = column
    folds = pd.DataFrame(codes)
    write_parquet(folds, out_folds)
    return "\n".join(
        f"fold {name}: {(column == TRAIN).sum()} train rows, {(column == TEST).sum()} test rows"
        for name, column in folds.items()
    )
