"""Data preparation jobs: the rows used, the held-out test set and the CV folds, computed once."""

from __future__ import annotations

import numpy as np

from .. import DataError
from ..experiment.data import (
    TEST,
    TRAIN,
    UNUSED,
    as_model_input,
    inner_fold_name,
    load_source,
    make_splitter,
    source_file,
)
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
    folds = pd.DataFrame(_fold_codes(cv, kept, y, g, len(frame)))
    write_parquet(folds, out_folds)
    return _describe_folds(folds)


def _fold_codes(cv: dict, rows, y, groups, n_rows: int, names=None) -> dict:
    """One int8 column of TRAIN/TEST/UNUSED codes per split of ``rows`` (indices into the data),
    named '0', '1', ... or by ``names(i)``."""
    codes = {}
    for i, (train, test) in enumerate(make_splitter(cv).split(np.zeros((len(rows), 1)), y, groups)):
        column = np.full(n_rows, UNUSED, dtype=np.int8)
        column[rows[train]] = TRAIN
        column[rows[test]] = TEST
        codes[names(i) if names else str(i)] = column
    return codes


def _describe_folds(folds) -> str:
    return "\n".join(
        f"fold {name}: {(column == TRAIN).sum()} train rows, {(column == TEST).sum()} test rows"
        for name, column in folds.items()
    )


def assign_outer_fold(*, data: str, holdout: str, cv: dict, outer: dict, index: int, label: str | None,
                      groups: str | None = None, out_folds: str) -> str:
    """Nested CV: outer fold ``index`` of the rows not held out (column 'o<index>': its training
    rows and test rows) and the CV folds of its training rows (columns 'o<index>-0', 'o<index>-1',
    ...), one file per outer fold so that adding outer folds leaves the others as they are."""
    import pandas as pd

    frame = pd.read_parquet(data)
    kept = np.flatnonzero(~pd.read_parquet(holdout)["holdout"].to_numpy())
    y = frame[label].to_numpy() if label else None
    g = frame[groups].to_numpy() if groups else None
    name = f"o{index}"
    for i, (train, test) in enumerate(make_splitter(outer).split(np.zeros((len(kept), 1)), _at(y, kept), _at(g, kept))):
        if i == index:
            break
    else:
        raise ValueError(f"nested.outer: the splitter made {i + 1} splits, not {index + 1}")
    outer_column = np.full(len(frame), UNUSED, dtype=np.int8)
    outer_column[kept[train]] = TRAIN
    outer_column[kept[test]] = TEST
    rows = kept[train]
    inner = _fold_codes(cv, rows, _at(y, rows), _at(g, rows), len(frame), names=lambda k: inner_fold_name(name, str(k)))
    folds = pd.DataFrame({name: outer_column, **inner})
    write_parquet(folds, out_folds)
    return _describe_folds(folds)


def _at(values, rows):
    return None if values is None else values[rows]
