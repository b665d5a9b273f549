"""Artifact I/O: atomic writes, and reads of the prepared data cached inside a warm worker."""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator


class IntegrityError(RuntimeError):
    """An artifact is missing, truncated or not the file that was written; ``why`` says what is
    wrong with it, without the file's name and what to do (``manymodels verify`` lists those)."""

    def __init__(self, message: str, why: str | None = None):
        super().__init__(message)
        self.why = why or message


# The mode a plain open() would give a new file under this process's umask.
_UMASK = os.umask(0o022)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK


def owner_alive() -> bool:
    """Whether the run this process works for is alive (a pool worker replaces this; see
    :func:`manymodels.engine.pool.watch_owner`)."""
    return True


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path beside ``path``; it replaces ``path`` only if the block succeeds.

    A job killed mid-write therefore never leaves a truncated artifact under the final name.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, FILE_MODE)  # mkstemp makes the file private; results are shared like any output
        if not owner_alive():
            raise SystemExit(f"the run that asked for {target} is gone; not writing it")
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_json(value: Any, path: str | os.PathLike) -> None:
    """Write ``value`` atomically; keys keep their order (a configuration's parameters as in the config)."""
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        json.dump(value, fh, indent=1, default=str)
        fh.write("\n")


def read_json(path: str | os.PathLike) -> Any:
    with open(path) as fh:
        return json.load(fh)


def write_parquet(frame, path: str | os.PathLike) -> None:
    """Write a pandas DataFrame (index dropped) or a pyarrow Table atomically, with a CRC of every
    page (Parquet's page checksums, verified by :func:`read_checked_table`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, write_page_checksum=True)


def read_checked_table(path: str | os.PathLike, **options):
    """A Parquet file as an Arrow table, its page checksums verified; IntegrityError naming the file
    (and what to do) when it is truncated, damaged or not Parquet at all."""
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path, page_checksum_verification=True, **options)
    except FileNotFoundError:
        raise
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ... for a damaged file
        raise damaged_file(path, f"not a readable Parquet file ({type(exc).__name__}: {exc})") from None


def checksum_of(value: dict) -> str:
    """SHA-256 of a JSON document's content (key order and formatting aside)."""
    import hashlib

    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def write_checked_json(value: dict, path: str | os.PathLike) -> None:
    """Write a JSON document with the SHA-256 of its content under ``sha256`` (see :func:`read_checked_json`)."""
    write_json({**value, "sha256": checksum_of(value)}, path)


def read_checked_json(path: str | os.PathLike, **identity) -> dict:
    """A JSON document written by :func:`write_checked_json`, after its checksum matched and its
    ``identity`` fields (e.g. model, config_id, fold) are the expected ones; IntegrityError naming
    the file otherwise. The checksum is not part of the returned document."""
    try:
        value = read_json(path)
    except ValueError as exc:
        raise damaged_file(path, f"not valid JSON ({exc})") from None
    if not isinstance(value, dict) or "sha256" not in value:
        raise damaged_file(path, "it has no recorded checksum")
    recorded = value.pop("sha256")
    if checksum_of(value) != recorded:
        raise damaged_file(path, "its content does not match the checksum recorded when it was written")
    wrong = {key: value.get(key) for key, expected in identity.items() if value.get(key) != expected}
    if wrong:
        raise damaged_file(path, f"it belongs to another task ({_describe(wrong)} instead of "
                                 f"{_describe({k: identity[k] for k in wrong})})")
    return value


def _describe(fields: dict) -> str:
    return ", ".join(f"{key} {value}" for key, value in fields.items())


def damaged(path: str | os.PathLike, why: str) -> str:
    """The one message for an artifact that is not what was written: the file, why, what to do."""
    parts = Path(path).parts
    command = "manymodels verify --repair" + (f" {parts[parts.index('results') + 1]}" if "results" in parts[:-2] else "")
    return (f"{path}: {why}; run `{command}` to remove it and what was derived from it, then the same snakemake "
            "command to redo exactly those jobs")


def damaged_file(path: str | os.PathLike, why: str) -> IntegrityError:
    """The IntegrityError for an artifact that is not what was written (its message: :func:`damaged`)."""
    return IntegrityError(damaged(path, why), why=why)


def task_identity(path: str | os.PathLike) -> dict:
    """(model, config_id, fold) of a task's artifact from its path: <kind>/<model>/<config_id>/fold-<fold>.<ext>."""
    path = Path(path)
    return {"model": path.parent.parent.name, "config_id": path.parent.name,
            "fold": path.name.split(".", 1)[0].removeprefix("fold-")}


# zlib level 3: on fitted mixtures it cut files by 35-64% for 0.1-0.9 ms more per dump (see README).
JOBLIB_COMPRESS = 3


def write_joblib(value: Any, path: str | os.PathLike) -> dict:
    """Dump ``value`` with joblib (compressed); return the file's size and SHA-256."""
    import joblib

    with atomic_path(path) as tmp:
        joblib.dump(value, tmp, compress=JOBLIB_COMPRESS)
        digest = sha256_file(tmp)
        size = os.path.getsize(tmp)
    return {"model_bytes": size, "model_sha256": digest}


def load_checked_model(model_file: str | os.PathLike, meta_file: str | os.PathLike | None = None, *,
                       expected: str | None = None):
    """The fitted model in ``model_file``, after its SHA-256 matched the one its fit recorded (in
    ``meta_file``, or given as ``expected``); raises IntegrityError naming the file otherwise (it
    is never unpickled)."""
    import joblib

    if expected is None:
        expected = read_checked_json(meta_file, **task_identity(meta_file)).get("model_sha256")
    check_checksum(model_file, expected)
    return joblib.load(model_file)


def check_checksum(model_file: str | os.PathLike, expected: str | None) -> None:
    """IntegrityError naming ``model_file`` unless its SHA-256 is the ``expected`` one its fit recorded."""
    actual = sha256_file(model_file)
    if expected != actual:
        raise damaged_file(model_file, f"its SHA-256 {actual[:16]}... does not match the {str(expected)[:16]}... its "
                                       "fit recorded (the file was modified, truncated or replaced)")


def sha256_file(path: str | os.PathLike) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _file_key(path: str | os.PathLike) -> tuple[str, int, int]:
    stat = os.stat(path)
    return (os.path.abspath(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=4)
def _read_parquet_cached(key: tuple[str, int, int]):
    import pandas as pd

    return pd.read_parquet(key[0])


def read_parquet_cached(path: str | os.PathLike):
    """Read a Parquet file once per worker; a rewritten file (new mtime or size) is read again.

    Callers must not modify the returned frame.
    """
    return _read_parquet_cached(_file_key(path))


def load_split(*, data: str, folds: str | None, fold: str, features: list[str], label: str | None):
    """Return (X_train, y_train, X_test, y_test) for a fold.

    ``folds`` is results/data/folds.parquet for a CV fold, results/data/holdout.parquet for fold
    'full' (every row but the held-out test set; the test part is that set) and None for fold
    'all' (every row: the final refit). X is a DataFrame, so pipelines can select columns by name;
    each task gets its own copy of its rows (the columns and each fold's row numbers are read once
    per worker and file version).
    """
    X, y = _columns(_file_key(data), tuple(features), label)
    fold = fold.partition("~")[0]  # a rung of successive halving ('3~1of9') tests on its whole fold
    if fold == "all":
        return X.copy(), (y.copy() if y is not None else None), X.iloc[:0], (y[:0] if y is not None else None)
    train, test = _fold_rows(_file_key(folds), fold)
    return X.take(train), (y[train] if y is not None else None), X.take(test), (y[test] if y is not None else None)


@lru_cache(maxsize=4)
def _columns(key: tuple[str, int, int], features: tuple[str, ...], label: str | None):
    """The feature columns and the label of a prepared data file (read-only: callers take copies)."""
    frame = _read_parquet_cached(key)
    return frame[list(features)], (frame[label].to_numpy() if label else None)


@lru_cache(maxsize=64)
def _fold_rows(key: tuple[str, int, int], fold: str):
    """The row numbers of a fold's training and test rows (fold 'full': all but the held-out rows)."""
    import numpy as np

    from ..experiment.data import TEST, TRAIN

    if fold == "full":
        test = _read_parquet_cached(key)["holdout"].to_numpy()
        return np.flatnonzero(~test), np.flatnonzero(test)
    codes = _read_parquet_cached(key)[fold].to_numpy()
    return np.flatnonzero(codes == TRAIN), np.flatnonzero(codes == TEST)
