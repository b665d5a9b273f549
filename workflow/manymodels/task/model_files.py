"""Model files in the format the experiment keeps them in: joblib (a pickle, fast) or skops (safe to open).

``model_format: joblib`` (the default) keeps every fitted model as the fit stage writes it
(:func:`manymodels.task.io.write_joblib`). With ``model_format: skops`` each model file is a
``.skops`` file instead, with the same records: its SHA-256 and size in the fit's metadata (and so in
``scores.parquet``), checked before it is read. The fit stage itself is not touched (its code hash,
and so every fit of a joblib experiment, stays as it was): a skops fit runs the same fit function
into a temporary joblib file and keeps its model as skops (:func:`fit_to_skops`).

Loading a joblib file unpickles it, which runs code. Loading a skops file builds only the types its
loader trusts: here, skops's own defaults and every type from scikit-learn, NumPy and SciPy;
anything else (a user's own estimator class) is refused with one line naming the types and how to
trust them (:class:`UntrustedTypes`), unless the caller passes them as ``trusted``. The jobs of a run
read back what the run wrote (its checksum proves it), and trust its types as they trust a joblib file.
"""

from __future__ import annotations

import importlib
import os
import tempfile
import zipfile
from pathlib import Path

from .io import atomic_path, load_checked_model as load_checked_joblib
from .io import check_checksum, read_checked_json, sha256_file, task_identity, write_checked_json

FORMATS = ("joblib", "skops")
SUFFIXES = {fmt: f".{fmt}" for fmt in FORMATS}
# Top-level packages whose types a skops file may hold without being named in ``trusted``.
TRUSTED_PACKAGES = ("sklearn", "numpy", "scipy")
# zlib level 3, as joblib's compress=3 (see manymodels.task.io.JOBLIB_COMPRESS).
SKOPS_COMPRESSION = {"compression": zipfile.ZIP_DEFLATED, "compresslevel": 3}


class UntrustedTypes(ValueError):
    """A skops file holding types that are not trusted: ``types`` are those to pass as ``trusted``."""

    def __init__(self, path, types: list[str]):
        self.path, self.types = Path(path), types
        super().__init__(f"{path}: not loaded: it holds types that are not from scikit-learn, NumPy or SciPy: "
                         f"{', '.join(types)}; if you trust them (your own code), load it with trusted={types!r}")


def suffix_of(model_format: str) -> str:
    """The file suffix of a model format ('.joblib' or '.skops')."""
    if model_format not in SUFFIXES:
        raise ValueError(f"unknown model format {model_format!r}: one of {', '.join(FORMATS)}")
    return SUFFIXES[model_format]


def format_of(path: str | os.PathLike) -> str:
    """The format of a model file, from its suffix."""
    suffix = Path(path).suffix
    for fmt, known in SUFFIXES.items():
        if suffix == known:
            return fmt
    raise ValueError(f"{path}: not a model file (.joblib or .skops)")


def model_path(path_without_suffix: str | os.PathLike, model_format: str) -> Path:
    """``fits/<model>/<config_id>/fold-<f>`` with the format's suffix."""
    return Path(f"{path_without_suffix}{suffix_of(model_format)}")


def write_skops(value, path: str | os.PathLike) -> dict:
    """Dump ``value`` with skops (zip, deflated) atomically; return the file's size and SHA-256, as
    :func:`manymodels.task.io.write_joblib` does."""
    import skops.io as sio

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            sio.dump(value, fh, **SKOPS_COMPRESSION)
        digest = sha256_file(tmp)
        size = os.path.getsize(tmp)
    return {"model_bytes": size, "model_sha256": digest}


def write_model(value, path: str | os.PathLike) -> dict:
    """Write a model in the format its suffix names; return its size and SHA-256."""
    if format_of(path) == "skops":
        return write_skops(value, path)
    from .io import write_joblib

    return write_joblib(value, path)


def untrusted_types(found: list[str], trusted: list[str] | None = None) -> list[str]:
    """Of the types skops does not trust by default in a file (``found``: what
    ``skops.io.get_untrusted_types`` lists), those that are neither from scikit-learn, NumPy or
    SciPy nor named in ``trusted``."""
    allowed = set(trusted or [])
    return [name for name in found if name.split(".", 1)[0] not in TRUSTED_PACKAGES and name not in allowed]


def load_skops(path: str | os.PathLike, trusted: list[str] | None = None, *, trust_file: bool = False):
    """A skops file's object: its types must be trusted (scikit-learn, NumPy, SciPy, or named in
    ``trusted``), else :class:`UntrustedTypes`. ``trust_file``: trust every type in it (a run reading
    the file it wrote, its checksum checked)."""
    import skops.io as sio

    found = sio.get_untrusted_types(file=str(path))
    refused = [] if trust_file else untrusted_types(found, trusted)
    if refused:
        raise UntrustedTypes(path, refused)
    return sio.load(str(path), trusted=found)


def load_checked_model(model_file: str | os.PathLike, meta_file: str | os.PathLike | None = None, *,
                       expected: str | None = None, trusted: list[str] | None = None, trust_file: bool = True):
    """The fitted model in ``model_file`` (joblib or skops, by its suffix) after its SHA-256 matched
    the one its fit recorded (in ``meta_file``, or ``expected``); IntegrityError naming the file
    otherwise (it is never loaded). A skops file's types are checked as :func:`load_skops` says:
    ``trust_file`` (the default, for the run's own jobs) trusts the file its checksum proves; False
    (what a user opens) allows only trusted types."""
    if format_of(model_file) == "joblib":
        return load_checked_joblib(model_file, meta_file, expected=expected)
    if expected is None:
        expected = read_checked_json(meta_file, **task_identity(meta_file)).get("model_sha256")
    check_checksum(model_file, expected)
    return load_skops(model_file, trusted, trust_file=trust_file)


def _function(name: str):
    module, _, attr = name.partition(":")
    return getattr(importlib.import_module(module), attr)


def _kept_as_skops(function: str, kwargs: dict, out_model: str, out_meta: str):
    """Run a function that writes a joblib model and its metadata (a fit, or the record of a failed
    one) into a temporary folder, then write the model to ``out_model`` as skops and the metadata,
    recording the skops file's SHA-256 and size, to ``out_meta``."""
    with tempfile.TemporaryDirectory(prefix="manymodels-skops-") as tmp:
        joblib_file, meta_file = Path(tmp) / "model.joblib", Path(tmp) / "meta.json"
        outcome = _function(function)(**kwargs, out_model=str(joblib_file), out_meta=str(meta_file))
        meta = read_checked_json(meta_file)
        model = load_checked_joblib(joblib_file, expected=meta["model_sha256"])
        meta.update(write_skops(model, out_model), model_format="skops")
    write_checked_json(meta, out_meta)
    return outcome


def fit_to_skops(*, fit_function: str = "manymodels.task.fit:fit_task", out_model: str, out_meta: str, **task) -> dict:
    """Fit a task as ``fit_function`` does (fit_task, or fit_stream_task for a stream) and keep its
    model as a skops file: ``out_model`` (.skops) and ``out_meta`` with its checksum."""
    return _kept_as_skops(fit_function, task, out_model, out_meta)


def record_failed_fit(*, out_model: str, out_meta: str, **failure) -> dict:
    """:func:`manymodels.task.fit.record_failed_fit` for a model file of either format (its suffix)."""
    if format_of(out_model) == "joblib":
        return _function("manymodels.task.fit:record_failed_fit")(**failure, out_model=out_model, out_meta=out_meta)
    return _kept_as_skops("manymodels.task.fit:record_failed_fit", failure, out_model, out_meta)


def fit_in_format(model_format: str, **task) -> dict:
    """Fit a task into a model file of ``model_format`` (the suffix of ``out_model`` must match)."""
    if format_of(task["out_model"]) != model_format:
        raise ValueError(f"{task['out_model']}: not a {model_format} file")
    if model_format == "skops":
        return fit_to_skops(**task)
    return _function("manymodels.task.fit:fit_task")(**task)
