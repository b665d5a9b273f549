"""Data preparation jobs: the rows used, the held-out test set and the CV folds, computed once."""

from __future__ import annotations

import numpy as np

from .. import DataError
from ..experiment.data import TEST, TRAIN, UNUSED, as_model_input, load_source, make_splitter, source_file
from .io import write_json, write_parquet


def prepare_data(
    *, source, features: list[str], label: str | None, groups: str | None = None, out_data: str, out_summary: str
) -> str:
    """Write the rows used (complete cases of features, label and groups) to Parquet; return log text."""
    columns = list(dict.fromkeys(features + [c for c in (label, groups) if c]))
    frame = load_source(source, columns)
    complete = frame.notna().all(axis=1)
    used = as_model_input(frame[complete].reset_index(drop=True), features)
    if used.empty:
        raise DataError(f"data source {source!r}: no row has all of the columns {columns}")
    summary = {
        "source": str(source_file(source) or source),
        "n_source_rows": int(len(frame)),
        "n_dropped_missing": int((~complete).sum()),
        "n_rows": int(len(used)),
        "features": features,
        "label": label,
        "label_counts": _label_counts(used[label]) if label else {},
    }
    write_parquet(used, out_data)
    write_json(summary, out_summary)
    return (
        f"{summary['source']}: {summary['n_source_rows']} rows, {summary['n_dropped_missing']} dropped for missing "
        f"values in {columns}, {summary['n_rows']} used"
    )


def _label_counts(label) -> dict:
    import pandas as pd

    if pd.api.types.is_float_dtype(label):
        return {}  # a continuous target has no classes to count
    return {str(k): int(v) for k, v in label.value_counts().sort_index().items()}


def split_holdout(*, data: str, holdout: dict | None, label: str | None, out: str) -> str:
    """Set rows aside as a held-out test set that no CV fold sees (all False without ``holdout``)."""
    import pandas as pd

    frame = pd.read_parquet(data)
    mask = np.zeros(len(frame), dtype=bool)
    if holdout:
        from sklearn.model_selection import train_test_split

        stratify = frame[label].to_numpy() if holdout.get("stratify", True) and label else None
        _, test = train_test_split(np.arange(len(frame)), test_size=holdout["size"],
                                   random_state=holdout.get("random_state", 0), stratify=stratify)
        mask[test] = True
    write_parquet(pd.DataFrame({"holdout": mask}), out)
    return f"{int(mask.sum())} of {len(mask)} rows held out for the final test"


def assign_folds(*, data: str, holdout: str, cv: dict, label: str | None, groups: str | None = None, out_folds: str) -> str:
    """Compute the CV folds once, over the rows not held out; one int8 column per fold."""
    import pandas as pd

    frame = pd.read_parquet(data)
    kept = np.flatnonzero(~pd.read_parquet(holdout)["holdout"].to_numpy())
    y = frame[label].to_numpy()[kept] if label else None
    g = frame[groups].to_numpy()[kept] if groups else None
    codes = {}
    for i, (train, test) in enumerate(make_splitter(cv).split(np.zeros((len(kept), 1)), y, g)):
        column = np.full(len(frame), UNUSED, dtype=np.int8)
        column[kept[train]] = TRAIN
        column[kept[test]] = TEST
        codes[str(i)] = column
    folds = pd.DataFrame(codes)
    write_parquet(folds, out_folds)
    return "\n".join(
        f"fold {name}: {(column == TRAIN).sum()} train rows, {(column == TEST).sum()} test rows"
        for name, column in folds.items()
    )
