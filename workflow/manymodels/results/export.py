"""Results that travel: `manymodels export skops` and `manymodels export mlflow`.

:func:`export_skops` copies an experiment's results directory, every model converted to a skops file
(checked first: nothing is converted from a directory ``manymodels verify`` finds fault with), with
every record of the models' checksums rewritten for the new files, so the copy opens with
:class:`manymodels.results.store.Results` like the original, and its models load only trusted types.
Nothing is refitted.

:func:`export_mlflow` puts every configuration of an experiment into MLflow (an optional extra:
``pip install -e .[mlflow]``): one parent run for the experiment, one child run per configuration
with its parameters, the metrics of ``cv_results`` (mean, standard errors, each fold, fit and score
times, ranks, the comparison with the best), its status, error and verdict; the parent holds the
selection, ``cv_results.csv``, the plots, the report and the chosen model (as an MLflow scikit-learn
model). Runs are found again by their tags (experiment, config_id), so exporting again updates them.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import pandas as pd

from ..task.io import read_checked_json, read_json, task_identity, write_checked_json, write_json, write_parquet
from ..task.model_files import load_checked_model, write_skops

# The folders holding model files, relative to the results directory (each <model>/<config_id>/fold-<f>.*).
MODEL_FOLDERS = ("fits", "models", "nested/outer-*/fits")
# What names a model file in the JSON documents and report pages (fold-3.joblib, fold-o1.joblib, fold-3~1of9.joblib).
JOBLIB_NAME = re.compile(r"(fold-[A-Za-z0-9~=_-]+)\.joblib\b")


class ExportError(RuntimeError):
    """An experiment that cannot be exported as it is: the message says why and what to do."""


# ----------------------------------------------------------------------------------------------- skops

def export_skops(experiment: str | Path | None = None, out: str | Path | None = None) -> dict:
    """Copy an experiment's results directory to ``out`` (default: ``<results dir>-skops`` beside it)
    with every joblib model file converted to a skops file. Every artifact is verified first
    (:func:`manymodels.results.verify.verify`); each model is loaded only after its SHA-256 matched its
    record. In the copy, the fit records, score files, shards and tables record the skops files'
    checksums, and selection.json, nested.json and the report name the .skops files.
    Returns the output directory and the number of models converted."""
    from .store import experiment_dir
    from .verify import describe, verify

    root = experiment_dir(experiment)
    target = Path(out) if out is not None else root.with_name(f"{root.name}-skops")
    if target.exists():
        raise ExportError(f"{target} exists: remove it, or name another folder with --out")
    problems = verify(root)
    if problems:
        raise ExportError(f"{root}: {len(problems)} artifact(s) are not as written, nothing exported:\n"
                          f"{describe(problems[:5])}run `manymodels verify --repair {root.name}`, then the same "
                          "snakemake command, then export again")
    staging = target.with_name(f".{target.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    # Shared pipeline prefixes (prefixes/) are a cache of the fits: the kept Pipelines hold their fitted
    # steps, so the copy leaves them out (a rerun there fits them again).
    shutil.copytree(root, staging, ignore=lambda folder, names: [
        n for n in names if n.endswith(".joblib") or (Path(folder) == root and n == "prefixes")])
    checksums = {}  # (folder, model, config_id, fold) -> the skops file's SHA-256
    for folder in _model_folders(root):
        for joblib_file in sorted(folder.glob("*/*/fold-*.joblib")):
            checksums[_key(root, joblib_file)] = _convert(joblib_file, staging / joblib_file.relative_to(root))
    _rewrite_score_checksums(staging, checksums)
    for document in [staging / "selection.json", staging / "nested.json", *staging.glob("nested/outer-*/outer.json")]:
        if document.is_file():
            write_json(_renamed(read_json(document)), document)
    for page in [staging / "report.html", *staging.glob("report/*.html")]:
        if page.is_file():
            page.write_text(JOBLIB_NAME.sub(r"\1.skops", page.read_text()))
    staging.rename(target)
    return {"out": target, "converted": len(checksums)}


def _model_folders(root: Path) -> list[Path]:
    return [folder for pattern in MODEL_FOLDERS for folder in sorted(root.glob(pattern)) if folder.is_dir()]


def _key(root: Path, model_file: Path) -> tuple[str, str, str, str]:
    """(folder, model, config_id, fold) of a model file: folder is 'fits' for the CV fits (their
    scores are under scores/), 'models' for the refits after selection, 'nested/outer-<i>' for an
    outer fold's refit."""
    folder = "/".join(model_file.relative_to(root).parts[:-3]).removesuffix("/fits")
    identity = task_identity(model_file)
    return folder, identity["model"], identity["config_id"], identity["fold"]


def _convert(joblib_file: Path, copy: Path) -> str:
    """Write the model of ``joblib_file`` (after its checksum matched its fit record) as a skops file
    beside ``copy``'s place, and ``copy``'s fit record with that file's checksum; return it."""
    meta_file = joblib_file.with_suffix(".json")
    meta = read_checked_json(meta_file, **task_identity(meta_file))
    model = load_checked_model(joblib_file, expected=meta.get("model_sha256"))
    meta.update(write_skops(model, copy.with_suffix(".skops")), model_format="skops")
    write_checked_json(meta, copy.with_suffix(".json"))
    return meta["model_sha256"]


def _rewrite_score_checksums(root: Path, checksums: dict) -> None:
    """Every score file, shard and table of the copy with the model_sha256 of the skops files."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def rewrite(path: Path, folder: str) -> None:
        table = pq.read_table(path)
        if "model_sha256" not in table.column_names:
            return
        keys = zip(table.column("model").to_pylist(), table.column("config_id").to_pylist(),
                   table.column("fold").to_pylist(), table.column("model_sha256").to_pylist())
        new = [checksums.get((folder, m, c, str(f)), old) for m, c, f, old in keys]
        index = table.column_names.index("model_sha256")
        table = table.set_column(index, table.schema.field(index), pa.array(new, type=table.schema.field(index).type))
        write_parquet(table, path)

    for path in sorted(root.glob("scores/*/*/fold-*.parquet")) + sorted(root.glob("shards/scores-*.parquet")):
        rewrite(path, "fits")
    for path in sorted(root.glob("models/*/*/fold-*.parquet")):
        rewrite(path, "models")
    for path in sorted(root.glob("nested/outer-*/scores/*/*/fold-*.parquet")):
        rewrite(path, f"nested/{path.relative_to(root).parts[1]}")
    if (root / "scores.parquet").is_file():
        rewrite(root / "scores.parquet", "fits")


def _renamed(value):
    """A JSON document with every model file it names ending in .skops, and model_format skops."""
    if isinstance(value, dict):
        renamed = {key: _renamed(item) for key, item in value.items()}
        if "model_format" in renamed:
            renamed["model_format"] = "skops"
        return renamed
    if isinstance(value, list):
        return [_renamed(item) for item in value]
    if isinstance(value, str):
        return JOBLIB_NAME.sub(r"\1.skops", value)
    return value


# ---------------------------------------------------------------------------------------------- mlflow

ROLE_TAG, EXPERIMENT_TAG, CONFIG_TAG = "manymodels.role", "manymodels.experiment", "manymodels.config_id"
# cv_results columns that are not metrics of a configuration (text, or its identity).
NOT_METRICS = {"params", "model", "config_id", "decision_vs_best", "stopped_at", "stop_reason"}


def export_mlflow(experiment: str | Path | None = None, *, tracking_uri: str | None = None,
                  experiment_name: str | None = None, trusted: list[str] | None = None) -> dict:
    """Log an experiment into MLflow: one parent run, one child run per configuration (see the module
    docstring). ``tracking_uri``: where (default: MLflow's own, the MLFLOW_TRACKING_URI environment
    variable or a local store); ``experiment_name``: the MLflow experiment (default: the experiment's
    name); ``trusted``: types to trust when loading the chosen model from a skops experiment.
    Exporting again finds the runs by their tags and updates them. Returns the tracking URI, the
    MLflow experiment's id, the parent run's id and the child runs' ids by config_id."""
    try:
        import mlflow
        from mlflow import MlflowClient
    except ImportError:
        raise ExportError("manymodels export mlflow needs MLflow: pip install -e .[mlflow]") from None
    from .store import Results

    results = Results(experiment)
    name = results.path.name
    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    client = MlflowClient()
    found = client.get_experiment_by_name(experiment_name or name)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment_name or name)
    runs = _existing_runs(client, experiment_id, name)
    table = results.cv_results
    selection = results.selection
    chosen = _chosen(selection)
    errors = _errors(results.tasks)
    configs = _configs(results.path)
    children = {}
    parent_tags = {ROLE_TAG: "experiment", EXPERIMENT_TAG: name}
    with mlflow.start_run(run_id=runs.get(None), experiment_id=experiment_id, run_name=name, tags=parent_tags) as parent:
        for row in table.to_dict("records"):
            children[row["config_id"]] = _log_configuration(mlflow, client, row, runs.get(row["config_id"]), name,
                                                            experiment_id, chosen, errors, configs)
        _log_parent(mlflow, client, parent.info.run_id, results, selection, trusted)
    return {"tracking_uri": mlflow.get_tracking_uri(), "experiment_id": experiment_id,
            "parent_run_id": parent.info.run_id, "child_run_ids": children}


def _existing_runs(client, experiment_id: str, name: str) -> dict:
    """The runs an earlier export made for this experiment: None -> the parent's id, config_id -> a child's."""
    runs, token = {}, None
    while True:
        page = client.search_runs([experiment_id], filter_string=f"tags.`{EXPERIMENT_TAG}` = '{name}'",
                                  max_results=1000, page_token=token)
        for run in page:
            tags = run.data.tags
            runs[tags.get(CONFIG_TAG) if tags.get(ROLE_TAG) == "configuration" else None] = run.info.run_id
        token = page.token
        if not token:
            return runs


def _chosen(selection: dict) -> dict:
    """(model, config_id) -> 'overall' for the winner, 'family' for another family's choice."""
    chosen = {(f["chosen"]["model"], f["chosen"]["config_id"]): "family"
              for f in selection["models"].values() if f.get("chosen")}
    if selection.get("overall"):
        chosen[(selection["overall"]["model"], selection["overall"]["config_id"])] = "overall"
    return chosen


def _errors(tasks: pd.DataFrame) -> dict:
    """(model, config_id) -> (failed fits, folds, the most common error) over its CV folds and fit on all rows."""
    out = {}
    for key, rows in tasks.groupby(["model", "config_id"], sort=False):
        failed = rows[rows["status"] != "ok"]
        message = None
        if len(failed):
            top = (failed["error_type"].fillna("") + ": " + failed["error"].fillna("")).value_counts()
            message = top.index[0]
        out[key] = (len(failed), len(rows), message)
    return out


def _configs(root: Path) -> dict:
    """config_id -> its estimator (the dotted path, or the pipeline's steps) from configs.tsv."""
    path = root / "configs.tsv"
    if not path.is_file():
        return {}
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    return {row["config_id"]: row.get("estimator", "") for row in table.to_dict("records")}


def param_text(value) -> str:
    """A parameter value as MLflow stores it (text), written as its type writes it: 3, 0.01, None, sqrt."""
    return value if isinstance(value, str) else json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def _metric_value(value) -> float | None:
    """A cv_results cell as an MLflow metric (NaN kept: a failed split's mean is NaN); None for a
    missing value of a column that is not a number."""
    if value is None or value is pd.NA or isinstance(value, str):
        return None
    return float(value)


def _log_configuration(mlflow, client, row: dict, run_id: str | None, name: str, experiment_id: str, chosen: dict,
                       errors: dict, configs: dict) -> str:
    from mlflow.entities import Metric, Param, RunTag

    from .formatting import format_params

    key = (row["model"], row["config_id"])
    params = json.loads(row["params"])
    failed, tasks, error = errors.get(key, (0, 0, None))
    status = "ok" if not failed else "failed" if failed == tasks else f"{failed} of {tasks} fits failed"
    tags = {ROLE_TAG: "configuration", EXPERIMENT_TAG: name, CONFIG_TAG: row["config_id"], "model": row["model"],
            "estimator": configs.get(row["config_id"], ""), "params": row["params"], "status": status,
            "error": error or "", "chosen": chosen.get(key, "no"),
            "verdict": row.get("decision_vs_best") if isinstance(row.get("decision_vs_best"), str) else ""}
    for extra in ("stopped_at", "stop_reason"):
        if isinstance(row.get(extra), str):
            tags[extra] = row[extra]
    run = mlflow.start_run(run_id=run_id, experiment_id=experiment_id, nested=True,
                           run_name=None if run_id else f"{row['model']} {format_params(params)}"[:250])
    try:
        timestamp = int(time.time() * 1000)
        metrics = [Metric(column, value, timestamp, 0) for column, value in
                   ((c, _metric_value(v)) for c, v in row.items() if c not in NOT_METRICS and not c.startswith("param_"))
                   if value is not None]
        logged = run.data.params if run_id else {}  # a parameter is logged once: MLflow keeps it
        client.log_batch(run.info.run_id, metrics=metrics,
                         params=[Param(k, param_text(v)[:6000]) for k, v in params.items() if k not in logged],
                         tags=[RunTag(k, str(v)[:5000]) for k, v in tags.items()])
    finally:
        mlflow.end_run(status="FAILED" if failed and failed == tasks else "FINISHED")
    return run.info.run_id


def _log_parent(mlflow, client, run_id: str, results, selection: dict, trusted: list[str] | None) -> None:
    """The experiment's run: what was chosen and how, its artifacts, and the chosen model."""
    from .formatting import format_params

    winner = selection.get("overall")
    tags = {"selection_metric": selection["selection_metric"], "rule": selection.get("rule", ""),
            "model_format": results.model_format, "results": str(results.path.resolve())}
    metrics = {"configurations": len(results.cv_results), "fits": len(results.tasks),
               "failed_fits": int((results.tasks["status"] != "ok").sum())}
    if winner:
        best = results.best()
        tags.update(winner=f"{winner['model']} {format_params(winner['params'])}", winner_model=winner["model"],
                    winner_config_id=winner["config_id"], winner_params=json.dumps(winner["params"]))
        metrics[f"winner_{winner['by']}"] = winner["value"]
        metrics.update({key: value for key, value in best.items()
                        if key.startswith("heldout_") and value is not None and not pd.isna(value)})
    nested = results.path / "nested.json"
    if nested.is_file():
        for metric, estimate in read_json(nested)["estimates"].items():
            for part in ("mean", "se"):
                if estimate.get(part) is not None:
                    metrics[f"nested_{metric}_{part}"] = estimate[part]
    mlflow.set_tags(tags)
    mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
    for name in ("selection.json", "cv_results.csv", "report.html", "nested.json", "run.json"):
        if (results.path / name).is_file():
            mlflow.log_artifact(str(results.path / name))
    if (results.path / "plots").is_dir():
        mlflow.log_artifacts(str(results.path / "plots"), artifact_path="plots")
    if winner and winner.get("model_file"):
        _log_chosen_model(mlflow, client, run_id, results, winner, trusted)


def _log_chosen_model(mlflow, client, run_id: str, results, winner: dict, trusted: list[str] | None) -> None:
    """The winner fitted on every training row as an MLflow scikit-learn model (skops-serialised),
    once per version of its file: an export that finds the same file logged already leaves it."""
    import hashlib

    import mlflow.sklearn
    import skops.io as sio

    model = results.best_estimator(trusted=trusted)
    digest = hashlib.sha256((results.path / winner["model_file"]).read_bytes()).hexdigest()
    if client.get_run(run_id).data.tags.get("chosen_model_sha256") == digest:
        return
    example = _input_example(results.path)
    signature = None
    if example is not None and hasattr(model, "predict"):
        try:
            from mlflow.models import infer_signature

            signature = infer_signature(example, model.predict(example))
        except Exception:  # a model that cannot predict on a few rows is logged without a signature
            signature = None
    untrusted = sio.get_untrusted_types(data=sio.dumps(model))
    info = mlflow.sklearn.log_model(model, name="chosen_model", serialization_format="skops",
                                    skops_trusted_types=untrusted or None, signature=signature,
                                    input_example=example if signature is not None else None,
                                    tags={CONFIG_TAG: winner["config_id"], "model": winner["model"]})
    mlflow.set_tags({"chosen_model_sha256": digest, "chosen_model_uri": info.model_uri,
                     "chosen_model_file": winner["model_file"]})


def _input_example(root: Path):
    """The first rows of the experiment's features, for the chosen model's signature (None if unknown)."""
    try:
        features = read_json(root / "data" / "summary.json")["features"]
        return pd.read_parquet(root / "data" / "data.parquet", columns=features).head(5)
    except (OSError, KeyError, ValueError):
        return None
