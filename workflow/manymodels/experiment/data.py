"""Input data: resolve the source, read it, check its columns; the splitter and the fold codes."""

from __future__ import annotations

import inspect
import os
from pathlib import Path


from .. import ConfigError, DataError
from .suggest import with_hint

SKLEARN_DATASETS = {"iris": "load_iris", "wine": "load_wine", "breast_cancer": "load_breast_cancer",
                    "diabetes": "load_diabetes"}
GENERATORS = ("make_classification", "make_regression", "logistic_interactions")
SOURCES_HELP = (
    "'penguins', 'sklearn:<iris|wine|breast_cancer|diabetes>', a .csv/.parquet path, "
    "or {generator: make_classification|make_regression, kwargs: {...}}"
)

# Codes in results/data/folds.parquet: one int8 column per fold, one row per prepared data row.
UNUSED, TRAIN, TEST = 0, 1, 2


FILE_SUFFIXES = (".csv", ".parquet", ".pq")


def resolve_data_path(config, *, config_file: str) -> None:
    """Point ``data.source``, a data file's path, at the file, in place: a relative path is looked up
    beside the config file first (as modules of your own are), then in the working directory. A file
    in neither place is a DataError naming every place looked. Anything else is left for the checks
    that follow."""
    data = config.get("data") if isinstance(config, dict) else None
    source = data.get("source") if isinstance(data, dict) else None
    if not isinstance(source, str) or Path(source).suffix.lower() not in FILE_SUFFIXES:
        return
    path = Path(source)
    places = [path] if path.is_absolute() else list(dict.fromkeys(
        [Path(os.path.normpath(Path(config_file).parent / path)), path]))
    found = next((p for p in places if p.is_file()), None)
    if found is None:
        looked = " and ".join(f"'{p}'" for p in places)
        raise DataError(f"{config_file}: data.source: data file '{source}' not found (looked for {looked}"
                        + (", beside the config file first, then in the working directory" if len(places) > 1 else "")
                        + ")")
    data["source"] = str(found)


def source_file(source) -> Path | None:
    """The file behind a data source (a Snakemake input, so editing it reruns what depends on it).

    None for data made in memory (scikit-learn's bundled datasets, generators): their definition
    is a rule parameter instead.
    """
    if isinstance(source, dict) or source.startswith("sklearn:"):
        return None
    if source == "penguins":
        import importlib.resources

        return Path(str(importlib.resources.files("palmerpenguins").joinpath("data/penguins.csv")))
    path = Path(source)
    if path.suffix.lower() not in FILE_SUFFIXES:
        raise ConfigError(f"data.source: '{source}' is not a known source; use {SOURCES_HELP}")
    if not path.is_file():
        raise DataError(f"data.source: data file '{source}' does not exist")
    return path


def resolve_source(source) -> Path:
    """The file behind a file-backed source (see :func:`source_file`)."""
    path = source_file(source)
    if path is None:
        raise ConfigError(f"data.source: {source!r} is not backed by a file")
    return path


def load_source(source, columns: list[str] | None = None):
    """The data of any source as a DataFrame (only ``columns``, when given)."""
    import pandas as pd

    path = source_file(source)
    if path is not None:
        try:
            if path.suffix.lower() == ".csv":
                frame = pd.read_csv(path, usecols=columns)
            else:
                frame = pd.read_parquet(path, columns=columns)
        except Exception as exc:  # any parser failure means the file is unusable as configured
            raise DataError(f"data file '{path}' cannot be read: {type(exc).__name__}: {exc}") from exc
    elif isinstance(source, dict):
        frame = _generate(source)
    else:
        frame = _bundled(source.removeprefix("sklearn:"))
    return frame if columns is None else frame[columns]


def _bundled(name: str):
    import sklearn.datasets

    if name not in SKLEARN_DATASETS:
        raise ConfigError(f"data.source: unknown scikit-learn dataset 'sklearn:{name}' (known: {', '.join(SKLEARN_DATASETS)})")
    return getattr(sklearn.datasets, SKLEARN_DATASETS[name])(as_frame=True).frame


def _generate(spec: dict):
    import pandas as pd
    import sklearn.datasets

    if spec.get("generator") not in GENERATORS:
        raise ConfigError(f"data.source.generator: {spec.get('generator')!r} is not one of {', '.join(GENERATORS)}")
    if spec["generator"] == "logistic_interactions":  # reference 001's data; see generators.py
        from .generators import logistic_chunks

        return pd.concat(list(logistic_chunks(**spec.get("kwargs", {}))), ignore_index=True)
    kwargs = {"random_state": 0, **spec.get("kwargs", {})}  # seeded unless the config says otherwise
    try:
        X, y = getattr(sklearn.datasets, spec["generator"])(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"data.source.kwargs: {spec['generator']} rejects {kwargs}: {exc}") from exc
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    frame["y"] = y
    return frame


def sample_source(source, columns: list[str], n_rows: int):
    """The first ``n_rows`` rows of a source (its ``columns`` only): enough to check column types
    and the label before any job, without reading a large file whole."""
    path = source_file(source)
    if path is None:
        return load_source(source, columns).head(n_rows)
    try:
        if path.suffix.lower() == ".csv":
            import pandas as pd

            return pd.read_csv(path, usecols=columns, nrows=n_rows)[columns]
        import pyarrow.parquet as pq

        batch = next(pq.ParquetFile(path).iter_batches(batch_size=n_rows, columns=columns), None)
        return (batch.to_pandas() if batch is not None else pq.read_schema(path).empty_table().to_pandas())[columns]
    except Exception as exc:  # any parser failure means the file is unusable as configured
        raise DataError(f"data file '{path}' cannot be read: {type(exc).__name__}: {exc}") from exc


def as_model_input(frame, features: list[str]):
    """The frame with every feature column that is not numeric (strings, mixed values) as a pandas
    categorical, in place: column-wise steps select them as 'categorical', encoders and estimators
    with native categorical support (HistGradientBoosting*) take them as they are."""
    from pandas.api.types import is_numeric_dtype

    for column in features:
        if not is_numeric_dtype(frame[column]) and frame[column].dtype != "category":
            frame[column] = frame[column].astype(str).astype("category")
    return frame


def non_numeric(frame, features: list[str]) -> list[str]:
    from pandas.api.types import is_numeric_dtype

    return [c for c in features if not is_numeric_dtype(frame[c])]


def source_columns(source) -> list[str]:
    """Column names of a source; a file's header is read without loading its rows."""
    path = source_file(source)
    if isinstance(source, dict) and source.get("generator") == "logistic_interactions":
        from .generators import GENERATED_COLUMNS

        return list(GENERATED_COLUMNS)
    if path is None:
        return list(load_source(source).columns)
    try:
        if path.suffix.lower() == ".csv":
            import pandas as pd

            return list(pd.read_csv(path, nrows=0).columns)
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    except Exception as exc:  # any parser failure means the file is unusable as configured
        raise DataError(f"data file '{path}' cannot be read: {type(exc).__name__}: {exc}") from exc


def data_columns(data: dict, columns: list[str], *, config_file: str) -> list[str]:
    """The feature columns: data.features, or every column but the label and groups.

    Raises when a configured feature, label or groups column is not in the data.
    """
    where = data["source"] if isinstance(data["source"], str) else data["source"].get("generator")
    named = [("data.features", c) for c in data.get("features") or []]
    named += [(f"data.{key}", data.get(key)) for key in ("label", "groups")]
    for key, column in named:
        if column is not None and column not in columns:
            raise DataError(with_hint(f"{config_file}: {key}: column '{column}' is not in data source '{where}'",
                                      column, columns))
    if data.get("features"):
        return list(data["features"])
    return [c for c in columns if c not in (data.get("label"), data.get("groups"))]


def make_splitter(cv: dict):
    """The scikit-learn splitter named in the config, with the options it accepts."""
    import sklearn.model_selection as ms

    cls = getattr(ms, cv["splitter"], None)
    if cls is None or not hasattr(cls, "split"):
        splitters = [n for n in dir(ms) if hasattr(getattr(ms, n), "split") and hasattr(getattr(ms, n), "get_n_splits")]
        raise ConfigError(with_hint(f"cv.splitter: '{cv['splitter']}' is not a splitter in sklearn.model_selection",
                                    cv["splitter"], splitters))
    accepted = inspect.signature(cls).parameters
    options = {k: cv[k] for k in ("n_splits", "shuffle", "n_repeats", "test_size") if k in accepted and k in cv}
    if "random_state" in accepted and (cv.get("shuffle", True) or "shuffle" not in accepted):
        options["random_state"] = cv.get("random_state")
    return cls(**options)


def fold_names(cv: dict) -> list[str]:
    """Names of the CV folds ('0', '1', ...), known from the config alone."""
    splitter = make_splitter(cv)
    try:
        return [str(i) for i in range(splitter.get_n_splits())]
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"cv: {cv['splitter']} cannot tell its number of splits from the config: {exc}") from exc


# Splitters whose first splits do not depend on how many there are: a ShuffleSplit's n_splits, a
# Repeated* splitter's n_repeats can grow and the splits already made stay the same
# (tests/test_nested.py checks this against scikit-learn).
GROWING_KEY = {"ShuffleSplit": "n_splits", "StratifiedShuffleSplit": "n_splits", "RepeatedKFold": "n_repeats",
               "RepeatedStratifiedKFold": "n_repeats"}


def outer_fold_names(nested: dict | None) -> list[str]:
    """Names of the outer folds of nested CV ('o0', 'o1', ...); none without ``nested``."""
    if not nested:
        return []
    try:
        return [f"o{i}" for i in range(make_splitter(nested["outer"]).get_n_splits())]
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"nested.outer: {nested['outer']['splitter']} cannot tell its number of splits from the "
                          f"config: {exc}") from exc


def split_definition(spec: dict, index: int) -> dict:
    """What split ``index`` of a splitter depends on: its settings and its position, but not how
    many splits follow it when the splitter can grow (see GROWING_KEY)."""
    growing = GROWING_KEY.get(spec["splitter"])
    return {key: value for key, value in spec.items() if key != growing} | {"split": index}


def inner_fold_name(outer: str, inner: str) -> str:
    """The fold of nested CV that fits on outer fold ``outer``'s training rows but inner fold ``inner``."""
    return f"{outer}-{inner}"
