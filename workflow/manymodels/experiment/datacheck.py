"""Before any job: does each model family suit the data? The label's kind against the kind of
estimator, and feature columns that are not numbers against estimators that need numbers.

A mismatch found here would otherwise make every fit of a family fail at run time, one row at a
time. The checks read the first rows of the data (:data:`CHECK_ROWS`), not the whole file.
"""

from __future__ import annotations

import warnings

from .. import DataError
from .data import as_model_input, non_numeric, sample_source
from .estimators import build_estimator, class_name, final_step

CHECK_ROWS = 100_000
# Rows a probe fit uses (to see whether an estimator takes the non-numeric columns as they are).
PROBE_ROWS = 200
# A numeric label with more distinct values than this, and under ten rows per value on average,
# is a measurement, not classes (sklearn's type_of_target calls integer-valued floats classes).
MAX_CLASSES_OF_FEW_ROWS = 20


def check_models_fit_data(*, config: dict, tasks: list[dict], features: list[str], where: str,
                          config_file: str) -> None:
    """Raise DataError naming the column, the family and the file when a family cannot learn
    from the data as configured. ``tasks`` is the task table; ``where`` names the data source."""
    data = config["data"]
    label = data.get("label")
    columns = list(dict.fromkeys(features + [c for c in (label, data.get("groups")) if c]))
    raw = sample_source(data["source"], columns, CHECK_ROWS)
    if raw.empty:
        raise DataError(f"{config_file}: data.source: {where} has no rows")
    if label and raw[label].isna().all():
        raise DataError(f"{config_file}: data.label: column '{label}' of {where} is empty in every row")
    frame = raw.dropna()
    if frame.empty:
        return  # prepare_data says that no row is complete, naming the columns
    as_model_input(frame, features)
    first = {}
    for task in tasks:
        first.setdefault(task["model"], task)
    for model, task in first.items():
        est = build_estimator(task["estimator"], task["kwargs"], task["params"], config_id=task["config_id"])
        name = f"models.{model} ({class_name(task['estimator']).rpartition('.')[2]})"
        if label:
            _check_label(frame[label], est, label=label, family=name, where=where, config_file=config_file,
                         whole_file=len(raw) < CHECK_ROWS)
        _check_features(frame, features, label, task, est, family=name, where=where, config_file=config_file)
    values = raw[label].dropna().unique() if label else []
    if len(values) == 1 and len(raw) < CHECK_ROWS:  # the whole file was read: one value throughout (a
        # longer file's first rows may share one value, as in a table sorted by its label)
        raise DataError(f"{config_file}: data.label: column '{label}' of {where} has one value in every row "
                        f"({values[0]!r}): no metric can compare predictions with it")


def _check_label(y, est, *, label: str, family: str, where: str, config_file: str, whole_file: bool) -> None:
    from pandas.api.types import is_numeric_dtype
    from sklearn.base import is_classifier, is_regressor
    from sklearn.utils.multiclass import type_of_target

    prefix = f"{config_file}: data.label: column '{label}' of {where}"
    if is_classifier(est):
        if is_numeric_dtype(y) and type_of_target(y.to_numpy()) == "continuous":
            example = next(v for v in y if float(v) != int(v))
            raise DataError(f"{prefix} is continuous (e.g. {example}), but {family} is a classifier; use a regressor, "
                            "or a label of classes")
        n_values = y.nunique()
        if is_numeric_dtype(y) and n_values > MAX_CLASSES_OF_FEW_ROWS and n_values > len(y) / 10:
            raise DataError(f"{prefix} looks continuous ({n_values} distinct numbers in {len(y)} rows), but {family} "
                            "is a classifier, which would make each value a class; use a regressor, or a label of "
                            "classes")
        classes = y.unique()
        if len(classes) < 2 and whole_file:
            raise DataError(f"{prefix} has a single class ({classes[0]!r}), but {family} is a classifier and needs "
                            "two or more")
    elif is_regressor(est) and not is_numeric_dtype(y):
        raise DataError(f"{prefix} is not numeric (e.g. {y.iloc[0]!r}), but {family} is a regressor; use a "
                        "classifier, or a numeric label")


def _check_features(frame, features, label, task, est, *, family: str, where: str, config_file: str) -> None:
    """Non-numeric feature columns: fit the family's first configuration on a few rows as they are
    and with those columns as integer codes. Only if the codes fit and the columns as they are do
    not, the columns are the problem (any other failure is the fits' to report)."""
    import pandas as pd

    columns = non_numeric(frame, features)
    if not columns:
        return
    strays = {c: stray for c in columns if (stray := _text_among_numbers(frame[c])) is not None}
    sample = frame.sample(n=min(PROBE_ROWS, len(frame)), random_state=0)
    # The first stray word of each column of numbers is in the sample, as it will be in some fold.
    sample = pd.concat([sample, frame.loc[[row - 1 for row, _ in strays.values() if row - 1 not in sample.index]]])
    y = sample[label].to_numpy() if label else None

    def fits(coded: list[str]) -> Exception | None:
        X = sample[features].copy()
        for column in coded:
            X[column] = X[column].cat.codes
        probe = build_estimator(task["estimator"], task["kwargs"], task["params"], config_id=task["config_id"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                probe.fit(X, y)
            except Exception as exc:  # any failure is evidence; which one is decided below
                return exc
        return None

    failure = fits([])
    if failure is None or fits(columns) is not None:
        return
    culprit = next((c for c in columns if fits([o for o in columns if o != c]) is not None), columns[0])
    example = sample[culprit].iloc[0]
    learner = type(final_step(est)).__name__
    if culprit in strays:
        row, value = strays[culprit]
        raise DataError(f"{config_file}: {family}: feature column '{culprit}' of {where} holds text among its numbers "
                        f"(data row {row}: {value!r}), and {learner} needs numbers; correct the value, or leave the "
                        "cell empty (rows with a missing value are dropped)")
    raise DataError(
        f"{config_file}: {family}: feature column '{culprit}' of {where} is not numeric (e.g. {example!r}) and "
        f"{learner} cannot use it as it is ({type(failure).__name__}: {_first_line(failure)}); put a column-wise "
        "step in front of it (pipeline: [{name: prep, columns: [{name: cat, select: categorical, estimator: "
        "sklearn.preprocessing.OneHotEncoder}], remainder: passthrough}, ...]), or leave it out of data.features"
    )


def _text_among_numbers(column) -> tuple[int, str] | None:
    """(data row, value) of the first value that is not a number in a column of mostly numbers."""
    import pandas as pd

    values = column.astype(str)
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.notna().mean() < 0.5 or numbers.notna().all():
        return None  # a column of text, not numbers with a stray word
    first = numbers.isna().idxmax()
    return int(first) + 1, values[first]


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:160] if text else ""
