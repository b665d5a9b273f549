"""Answer a nothing-to-do rerun without building the DAG.

Deciding that nothing needs to run costs Snakemake about a millisecond per job (building the DAG,
then reading each output's metadata), so on the large grid (19,000 jobs) a rerun with nothing to do
took over half a minute. After every successful run the Snakefile records a fingerprint of all that
decides the results and a listing of the experiment's ``results/<name>/`` (each file's size and
modification time, to the nanosecond: a file swapped with another takes its own time along), in ``.snakemake/manymodels/<name>/uptodate.json``. A later
plain run of the default target whose fingerprint and listing are both unchanged then defines only
rule ``all`` over the recorded final outputs, and Snakemake itself reports "Nothing to be done".

The fingerprint covers the config as Snakemake sees it (after ``--configfile`` and ``--config``),
every file of the workflow (Snakefile, rules, schemas, the package), every installed distribution
and its version, the Python version, the data file's size and modification time, and the user's own
modules the config names. Anything else,
a command line with targets or options beyond a plain run (``-R``, ``-F``, ``--touch``, ``--report``,
``--summary``, ``--list-changes``, ...), a file under ``results/<name>/`` added, removed, touched or
replaced, an
incomplete job or a lock left behind, or any error while checking, falls back to Snakemake's own DAG, so the
shortcut can only ever say what Snakemake would have said. ``MANYMODELS_NO_SHORTCUT=1`` disables it.

This module (and :mod:`manymodels.task.io`, which it uses) needs the standard library only: it runs before anything
heavy is imported.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from importlib import metadata
from pathlib import Path

from ..experiment.layout import results_dir, state_dir
from .provenance import hash_files, own_code_hash
from ..task.io import read_json, write_json

# The final outputs of a run, relative to its experiment's results directory.
FINAL_OUTPUTS = ("scores.parquet", "summary.parquet", "selection.json", "cv_results.parquet", "cv_results.csv",
                 "report.html", "run.json")


def final_targets(experiment: str) -> list[str]:
    """The final outputs of an experiment (the default target's input, besides kept models)."""
    return [str(results_dir(experiment) / name) for name in FINAL_OUTPUTS]


def record_path(experiment: str) -> Path:
    return state_dir(experiment) / "uptodate.json"

# Command-line options that leave the answer to "what would run?" unchanged. Options taking one
# value, and options taking any number of values (``--config a=1 b=2``).
_ONE_VALUE = {"-c", "--cores", "-j", "--jobs", "-s", "--snakefile", "-d", "--directory", "--profile",
              "--workflow-profile", "--latency-wait", "-w", "--output-wait", "--local-cores", "--max-threads",
              "--scheduler", "--scheduler-subsample", "--executor", "-e", "--seconds-between-status-checks"}
_MANY_VALUES = {"--configfile", "--configfiles", "--config", "-C", "-q", "--quiet", "--resources", "--res",
                "--set-threads", "--set-resources", "--default-resources"}
_NO_VALUE = {"-p", "--printshellcmds", "-k", "--keep-going", "--rerun-incomplete", "--ri", "-n", "--dry-run",
             "--dryrun", "--force-use-threads", "--show-failed-logs", "--verbose", "--nolock", "--no-hooks",
             "--use-conda", "--use-singularity", "--use-apptainer", "--sdm", "--software-deployment-method"}


def plain_invocation(argv: list[str]) -> bool:
    """Whether a Snakemake command line runs (or dry-runs) the default target with nothing forced."""
    expecting_value, variadic = False, False
    for token in argv:
        flag = token.split("=", 1)[0]
        if len(token) > 2 and token[0] == "-" and token[1] != "-":  # -c2, or -np for -n -p
            if token[:2] in _ONE_VALUE or all(f"-{c}" in _NO_VALUE for c in token[1:]):
                expecting_value = variadic = False
                continue
            if not _is_number(token):
                return False
        if token.startswith("-") and not _is_number(token):
            if flag in _ONE_VALUE or flag in _MANY_VALUES:
                expecting_value, variadic = "=" not in token, flag in _MANY_VALUES
            elif flag in _NO_VALUE:
                expecting_value = variadic = False
            else:
                return False
        elif expecting_value:
            expecting_value = variadic
        elif token != "all":  # a target other than the default one
            return False
    return True


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _hash_tree(digest, root: Path) -> None:
    paths = sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    hash_files(((str(path.relative_to(root)), path) for path in paths), digest)


def environment_fingerprint(snakefile: Path, data_file: str | None, config: dict | None = None) -> str:
    """Hash of what decides the results besides the config: the workflow's code (Snakefile, rules,
    schemas, the package), the installed packages and Python, the data file's size and mtime, and
    the source of the user's own modules the config names (estimators, transformers, metrics)."""
    digest = hashlib.sha256()
    if config is not None:
        digest.update(str(own_code_hash(named_objects(config))).encode())
    digest.update(snakefile.read_bytes())
    _hash_tree(digest, snakefile.parent / "workflow")
    versions = sorted(f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions())
    digest.update(json.dumps([sys.version, versions]).encode())
    if data_file and Path(data_file).is_file():
        stat = Path(data_file).stat()
        digest.update(f"{data_file}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def named_objects(value) -> list[str]:
    """Every dotted path a config names as an estimator or a metric function (read leniently: the
    config has not been checked yet)."""
    if isinstance(value, dict):
        found = [v for k, v in value.items() if k in ("estimator", "function") and isinstance(v, str) and "." in v]
        return found + [p for v in value.values() for p in named_objects(v)]
    if isinstance(value, list):
        return [p for v in value for p in named_objects(v)]
    return []


def fingerprint(config: dict, environment: str) -> str:
    """Hash of everything besides ``results/`` that decides what the workflow computes: the config
    and the environment (:func:`environment_fingerprint`)."""
    return json_hash(environment, config)


def json_hash(*parts) -> str:
    """SHA-256 of JSON documents (key order aside; keys of mixed types, such as an estimator
    argument {0: 1, 'a': 2}, compared as text)."""
    digest = hashlib.sha256()
    for part in parts:
        try:
            text = json.dumps(part, sort_keys=True, default=str)
        except TypeError:  # keys that do not sort together
            text = json.dumps(_text_keys(part), sort_keys=True, default=str)
        digest.update(text.encode())
    return digest.hexdigest()


def _text_keys(value):
    if isinstance(value, dict):
        return {f"{type(k).__name__}:{k}": _text_keys(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_text_keys(v) for v in value]
    return value


# Config keys that change no fit or score (the choice, the plots, the name): a shard whose tasks
# are unchanged stays up to date when only these change.
NOT_IN_SHARDS = ("models", "selection", "name")


def shard_fingerprints(environment: str, config: dict, shards: dict[str, list[dict]], folds: list[str]) -> dict:
    """Per shard (the tasks whose score files one gather job reads): a hash of everything its fits
    and scores depend on: the environment, the config but the model families, its tasks (estimator,
    kwargs and grid point of each configuration) and the folds."""
    shared = {key: value for key, value in config.items() if key not in NOT_IN_SHARDS}
    return {name: json_hash(environment, shared, folds, sorted(tasks, key=lambda t: (t["model"], t["config_id"])))
            for name, tasks in shards.items()}


def _shard_files(listed: dict[str, list[int]], experiment: str, shards: dict[str, list[dict]]) -> dict[str, dict]:
    """The listed files of each shard: its tasks' fits and scores, and its gathered file."""
    root = results_dir(experiment)
    owner = {(t["model"], t["config_id"]): name for name, tasks in shards.items() for t in tasks}
    files: dict[str, dict] = {name: {} for name in shards}
    for path, stat in listed.items():
        parts = Path(path).relative_to(root).parts
        if len(parts) == 4 and parts[0] in ("fits", "scores") and (parts[1], parts[2]) in owner:
            files[owner[(parts[1], parts[2])]][path] = stat
        elif len(parts) == 2 and parts[0] == "shards" and parts[1].startswith("scores-"):
            name = parts[1].removeprefix("scores-").removesuffix(".parquet")
            if name in files:
                files[name][path] = stat
    return files


def _upstream(listed: dict[str, list[int]], experiment: str) -> dict[str, list[int]]:
    """The listed files that every fit reads: the prepared data, folds and held-out rows."""
    root = results_dir(experiment)
    return {path: stat for path, stat in listed.items() if Path(path).relative_to(root).parts[0] == "data"}


def up_to_date_shards(experiment: str, fingerprints: dict[str, str], shards: dict[str, list[dict]],
                      argv: list[str]) -> set[str]:
    """The shards whose fits, scores and gathered file are as the last successful run left them,
    with the same fingerprint: Snakemake need not check their jobs. Empty whenever anything is
    unusual (as for the nothing-to-do shortcut)."""
    recorded = _usable_record(experiment, argv)
    if not recorded or not recorded.get("shards"):
        return set()
    listed = listing(results_dir(experiment))
    if _upstream(listed, experiment) != _upstream(recorded["results"], experiment):
        return set()  # the prepared data changed: every fit depends on it
    before = _shard_files(recorded["results"], experiment, shards)
    now = _shard_files(listed, experiment, shards)
    return {name for name, fp in fingerprints.items()
            if recorded["shards"].get(name) == fp and now[name] == before[name]
            and any(Path(path).parts[-2] == "shards" for path in now[name])}


def shards_to_plan(plan, *, experiment: str, environment: str, argv: list[str],
                   comfortable: int) -> tuple[dict[str, str], set[str], list[tuple[str, str]]]:
    """What the main process plans of the score shards: their fingerprints (recorded after a
    successful run), those it need not plan again, and what to tell the user first ((level,
    message) pairs: the shards skipped, and the cost of a DAG too large to build comfortably here).

    A shard whose tasks, shared settings and environment are those of the last successful run, with
    its fits, scores and gathered file untouched since, is not planned again: its gathered file is an
    input of aggregation like the data file, and Snakemake builds the DAG of the other shards only (a
    changed configuration of the large grid plans one sixteenth of its jobs). Under a staged search a
    shard's files depend on the decisions, which other shards change: no shard is skipped.
    """
    from .ceiling import dag_warning

    fingerprints = shard_fingerprints(environment, plan.config, plan.shards, plan.task_folds)
    fresh = set() if plan.staged else up_to_date_shards(experiment, fingerprints, plan.shards, argv)
    notes = []
    if fresh:
        notes.append(("info", f"{len(fresh)} of {len(plan.shards)} shards of score files are as the last successful "
                              "run left them; Snakemake plans the jobs of the others (MANYMODELS_NO_SHORTCUT=1 plans all)."))
    if too_large := dag_warning(plan.planned_jobs(set(plan.shards) - fresh), comfortable=comfortable):
        notes.append(("warning", too_large))
    return fingerprints, fresh, notes


def missing_kept_models(experiment: str, configurations: set[tuple[str, str]], suffix: str = ".joblib") -> list[str]:
    """The models of the experiment's configurations that were scored but are no longer on disk
    (deleted by hand): ``fits/<model>/<config_id>/fold-<f><suffix>`` (``.joblib`` or ``.skops``) for
    every score file under ``scores/`` whose model is missing, for the (model, config_id) pairs given.
    Only score files count: a write that a killed run left half-done (``.fold-0.parquet.x1y2.tmp``,
    see :func:`manymodels.task.io.atomic_path`) names no model."""
    root = results_dir(experiment)
    missing = []
    for score in root.glob("scores/*/*/fold-*.parquet"):
        if (score.parent.parent.name, score.parent.name) not in configurations:
            continue
        model = root / "fits" / score.relative_to(root / "scores").with_suffix(suffix)
        if not model.exists():
            missing.append(str(model))
    return sorted(missing)


def shard_pattern(names: set[str]) -> str:
    """A wildcard constraint matching exactly the named shards (nothing, when there are none)."""
    return "|".join(sorted(names)) if names else "(?!)"


def listing(root: Path) -> dict[str, list[int]]:
    """Every file under ``root``: path -> [size, mtime_ns]."""
    files = {}
    if not Path(root).is_dir():
        return files
    stack = [str(root)]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    stat = entry.stat()
                    files[entry.path] = [stat.st_size, stat.st_mtime_ns]
    return files


def record(experiment: str, run_fingerprint: str, targets: list[str], shards: dict[str, str] | None = None) -> None:
    """After a successful run of the default target: remember its fingerprint (taken when the run
    started, before Snakemake filled in the config's defaults), its shards' fingerprints and the
    experiment's results."""
    listed = listing(results_dir(experiment))
    write_json({"fingerprint": run_fingerprint, "targets": targets, "shards": shards or {}, "results": listed},
               record_path(experiment))


def forget(experiment: str) -> None:
    """Drop the record (a run is starting: results are about to change)."""
    record_path(experiment).unlink(missing_ok=True)


def unchanged_targets(experiment: str, run_fingerprint: str, argv: list[str]) -> list[str] | None:
    """The final outputs if nothing changed since the recorded run and the command is a plain run;
    None when Snakemake has to decide (anything changed, or anything is unusual)."""
    recorded = _usable_record(experiment, argv)
    try:
        if not recorded or recorded["fingerprint"] != run_fingerprint:
            return None
        if recorded["results"] != listing(results_dir(experiment)):
            return None
        return list(recorded["targets"])
    except (OSError, ValueError, KeyError):
        return None


def shortcuts_off() -> bool:
    """``MANYMODELS_NO_SHORTCUT=1``: no answer from a record of an earlier run (the nothing-to-do
    shortcut, the shards left as they were, a config check read back)."""
    return bool(os.environ.get("MANYMODELS_NO_SHORTCUT"))


def _usable_record(experiment: str, argv: list[str]) -> dict | None:
    """The last successful run's record, if a shortcut may rely on it: a plain command line, no
    incomplete job or lock, not switched off."""
    path = record_path(experiment)
    if shortcuts_off() or not plain_invocation(argv) or not path.is_file():
        return None
    for busy in (Path(".snakemake") / "incomplete", Path(".snakemake") / "locks"):  # a run is (or was) under way
        if busy.is_dir() and any(busy.iterdir()):
            return None
    try:
        recorded = read_json(path)
    except (OSError, ValueError):
        return None
    return recorded if isinstance(recorded, dict) and "results" in recorded else None
