"""Aggregate per-task score files into the tidy score table and per-configuration summaries."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..task.io import damaged_file, read_checked_table, task_identity, write_parquet
from ..task.score import score_schema
from .stages import proposed, stage_outcome


def param_table(configs: list[dict]) -> pd.DataFrame:
    """One row per (model, config_id): ``params``, the grid point as JSON exactly as the config gave
    it (``json.loads`` gives it back), then one typed column per hyperparameter, named as in the config.

    A column's type follows its values across families: integers Int64, other numbers float64,
    booleans boolean, text string (a family without the parameter, or a null value, is missing there
    and the others keep their type: ``max_depth`` 6 stays 6, not 6.0); lists stay lists. A parameter
    whose values mix kinds (say 'sqrt' and 0.5) is stored as text ('sqrt', '0.5'), since a Parquet
    column has one type; ``params`` keeps the exact values either way.
    """
    names = param_names(configs)
    frame = pd.DataFrame({
        "model": [c["model"] for c in configs],
        "config_id": [c["config_id"] for c in configs],
        "params": [json.dumps(c["params"], separators=(",", ":")) for c in configs],  # in config order
    })
    for name in names:
        frame[name] = _typed_column([c["params"].get(name) for c in configs])
    return frame


def _typed_column(values: list):
    present = [v for v in values if v is not None]
    kinds = {"bool" if isinstance(v, bool) else type(v).__name__ for v in present}
    if kinds <= {"int"}:
        return pd.array(values, dtype="Int64")
    if kinds <= {"int", "float"}:
        return np.array([np.nan if v is None else float(v) for v in values], dtype="float64")
    if kinds == {"bool"}:
        return pd.array(values, dtype="boolean")
    if kinds == {"str"}:
        return pd.array(values, dtype="string")
    if kinds == {"list"}:
        return pd.Series(values, dtype=object)
    return pd.array([None if v is None else (v if isinstance(v, str) else json.dumps(v)) for v in values],
                    dtype="string")


def param_names(configs: list[dict]) -> list[str]:
    """Hyperparameter names in first-seen order across all models."""
    names: dict[str, None] = {}
    for c in configs:
        names.update(dict.fromkeys(c["params"]))
    return list(names)


def _is_nan(value) -> bool:
    return isinstance(value, float) and math.isnan(value)


# Score files read per Arrow dataset scan: a scan holds about 80 KB per file until it ends, so one
# scan over the large grid's 9,552 files peaked at 820 MB; chunks of this size keep it near 200 MB.
READ_CHUNK = 256


def read_score_table(score_files: list[str], metric_names: list[str], *, check_identity: bool = False):
    """Many one-row score files (or gathered shards of them) as one Arrow table, a chunk of files
    per dataset scan, every page's checksum verified. With ``check_identity`` each file must hold
    the row of the task its path names. A file that is damaged or holds another task's row raises
    IntegrityError naming it."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    schema = score_schema(metric_names)
    checked = ds.ParquetFileFormat(
        default_fragment_scan_options=ds.ParquetFragmentScanOptions(page_checksum_verification=True))
    parts = []
    for i in range(0, len(score_files), READ_CHUNK):
        chunk = score_files[i : i + READ_CHUNK]
        try:
            table = ds.dataset(chunk, schema=schema, format=checked).to_table()
        except Exception:  # name the file: read them one by one
            for path in chunk:
                read_checked_table(path, schema=schema)
            raise
        if check_identity:
            _check_rows(table, chunk, schema)
        parts.append(table)
    return pa.concat_tables(parts) if parts else schema.empty_table()


def _identities(table) -> list[tuple]:
    return list(zip(*(table.column(c).to_pylist() for c in ("model", "config_id", "fold"))))


def check_score_file(path: str | os.PathLike, table) -> None:
    """IntegrityError naming ``path`` unless its table holds exactly the row of the task its path names."""
    identity = tuple(task_identity(path).values())
    rows = _identities(table)
    if rows != [identity]:
        what = f"it holds {len(rows)} rows" if len(rows) != 1 else "it holds the row of {} {} fold {}".format(*rows[0])
        raise damaged_file(path, f"{what}, not that of {' '.join(identity[:2])} fold {identity[2]}")


def _check_rows(table, files: list[str], schema) -> None:
    """Each score file of a scan holds exactly the row of the task its path names."""
    if _identities(table) == [tuple(task_identity(path).values()) for path in files]:
        return  # a scan keeps the order of its files
    for path in files:
        check_score_file(path, read_checked_table(path, schema=schema))


def read_scores(score_files: list[str], metric_names: list[str]) -> pd.DataFrame:
    """Score files (or shards) as one pandas table."""
    return read_score_table(score_files, metric_names).to_pandas()


def gather_scores(*, score_files: list[str], metric_names: list[str], out: str) -> None:
    """Write the score rows of a shard of tasks to one Parquet file, with the score files' schema
    (``aggregate_scores`` reads the shards, so a rerun rereads only the shards whose tasks changed)."""
    write_parquet(read_score_table(score_files, metric_names, check_identity=True), out)


def shard_name(path: str | os.PathLike) -> str | None:
    """The config_id prefix (or 'all', or 'trials-<model>') a gathered shard ``scores-<name>.parquet`` is named by."""
    stem = Path(path).stem
    return stem.removeprefix("scores-") if stem.startswith("scores-") else None


def check_shard(path: str | os.PathLike, table) -> None:
    """IntegrityError naming ``path`` unless a gathered shard's table holds only the tasks of its name."""
    name = shard_name(path)
    if name in (None, "all") or name.startswith("trials-"):  # one shard, or a family's trials (Bayesian optimisation)
        return
    wrong = next((i for i in table.column("config_id").to_pylist() if not i.startswith(name)), None)
    if wrong is not None:
        raise damaged_file(path, f"it holds configuration {wrong}, which belongs to another shard")


def read_shards(paths: list[str], metric_names: list[str]) -> pd.DataFrame:
    """Gathered shards as one pandas table, each verified as it is read: its page checksums, and
    only the tasks of its name."""
    import pyarrow as pa

    schema = score_schema(metric_names)
    tables = []
    for path in paths:
        table = read_checked_table(path, schema=schema)
        check_shard(path, table)
        tables.append(table)
    return (pa.concat_tables(tables) if tables else schema.empty_table()).to_pandas()


def tidy_scores(scores: pd.DataFrame, configs: list[dict], metric_names: list[str]) -> pd.DataFrame:
    """Join hyperparameters onto score rows; order rows by model, configuration and fold."""
    params = param_table(configs)
    table = params.merge(scores, on=["model", "config_id"], how="inner", validate="one_to_many")
    first = ["model", "config_id", "params", *param_names(configs), "fold", "status", *metric_names, "error_type", "error"]
    table = table[first + [c for c in table.columns if c not in first]]
    # Rows follow the config's order of configurations, then folds 0..K-1, then 'full'.
    position = {(c["model"], c["config_id"]): i for i, c in enumerate(configs)}
    keys = pd.DataFrame({
        "_config": [position[k] for k in zip(table["model"], table["config_id"])],
        "_fold": [int(f) if f.isdigit() else math.inf for f in table["fold"]],
    })
    return table.iloc[keys.sort_values(["_config", "_fold"]).index].reset_index(drop=True)


def summarise(scores: pd.DataFrame, configs: list[dict], metric_names: list[str]) -> pd.DataFrame:
    """One row per configuration: over its CV folds the mean, std, the naive standard error
    (``<metric>_sem``: std / sqrt(k)) and the corrected one (``<metric>_se_corrected``, Nadeau and
    Bengio's, which accounts for the folds' shared training rows: see
    :func:`manymodels.results.compare.corrected_standard_error`); counts; full-fit values."""
    cv = scores[scores["fold"] != "full"]
    grouped = cv.groupby(["model", "config_id"], sort=False)
    parts = [grouped["status"].agg(n_ok=lambda s: int((s == "ok").sum()), n_failed=lambda s: int((s != "ok").sum()))]
    # n_test / n_train of each configuration's folds (its fits' own rows: a halving rung's share included).
    if {"n_train", "n_test"} <= set(cv):
        sized = cv[cv["n_train"].fillna(0) > 0]
        ratio = (sized["n_test"] / sized["n_train"]).groupby([sized["model"], sized["config_id"]], sort=False).mean()
    else:  # rows without their sizes: no correction can be computed
        ratio = pd.Series(dtype=float)
    for metric in metric_names:
        stats = grouped[metric].agg(["mean", "std", "count"])
        stats["sem"] = stats["std"] / np.sqrt(stats["count"])
        factor = 1 / stats["count"] + ratio.reindex(stats.index).to_numpy(dtype=float)
        stats["se_corrected"] = np.where(stats["count"] >= 2, stats["std"] * np.sqrt(factor), np.nan)
        parts.append(stats[["mean", "std", "sem", "se_corrected"]].add_prefix(f"{metric}_"))
    summary = pd.concat(parts, axis=1).reset_index()
    full = scores[scores["fold"] == "full"].set_index(["model", "config_id"])
    full = full[["status", *metric_names]].rename(columns=lambda c: f"{c}_full")
    summary = summary.merge(full, left_on=["model", "config_id"], right_index=True, how="outer")
    summary = param_table(configs).merge(summary, on=["model", "config_id"], how="inner")
    for column in ("n_ok", "n_failed"):
        summary[column] = summary[column].fillna(0).astype("int64")
    return summary.reset_index(drop=True)


def aggregate_scores(
    *, score_files: list[str], configs: list[dict], metrics: dict, out_scores: str, out_summary: str, out_configs: str,
    race: list[str] = ()
) -> None:
    """Write results/scores.parquet, results/summary.parquet and the readable configs.tsv. Under
    fold racing or successive halving (``race``: their decisions), both tables say where each
    configuration stopped (``stopped_at``, ``stop_reason``; empty for those that ran to the end;
    with halving, ``resource`` says what each score row's fit had). Under Bayesian optimisation
    the decisions hold the configurations proposed, and the summary says which trial first proposed
    each (``trial``) and how many trials did (``n_trials``)."""
    names = list(metrics)
    raw = read_shards(score_files, names)
    if raw["fold"].str.contains("~").any():  # successive halving: a configuration's last rung, on its folds
        from ..experiment.halving import describe_resource

        parts = raw["fold"].str.partition("~")
        raw["fold"], raw["resource"] = parts[0], [describe_resource(r or None) for r in parts[2]]
    trials = None
    if race:  # Bayesian optimisation: the configurations its decisions proposed, and their trial numbers
        found, trials = proposed(list(race))
        configs = list(configs) + found
    scores = tidy_scores(raw, configs, names)
    summary = summarise(scores, configs, names)
    if trials is not None and len(trials):
        summary = summary.merge(trials, on=["model", "config_id"], how="left")
    elif race:
        outcome = stage_outcome(list(race))
        scores = scores.merge(outcome, on=["model", "config_id"], how="left")
        summary = summary.merge(outcome, on=["model", "config_id"], how="left")
    write_parquet(scores, out_scores)
    write_parquet(summary, out_summary)
    table = param_table(configs)
    table.insert(2, "estimator", [c["estimator"] for c in configs])
    table["kwargs"] = [json.dumps(c["kwargs"], sort_keys=True) for c in configs]
    table.to_csv(out_configs, sep="\t", index=False)


def param_columns(table: pd.DataFrame) -> list[str]:
    """Hyperparameter columns of a summary or score table: those after ``params``, up to the first
    column that is not a hyperparameter (``fold`` in the score table, ``n_ok`` in the summary)."""
    columns = list(table.columns)
    start = columns.index("params") + 1
    end = next(i for i in range(start, len(columns) + 1) if i == len(columns) or columns[i] in ("fold", "n_ok"))
    return columns[start:end]


def family_params(table: pd.DataFrame, model: str) -> list[str]:
    """The hyperparameters of one family (the columns it has values in, or a null on purpose)."""
    present: set[str] = set()
    for text in table.loc[table["model"] == model, "params"]:
        present.update(json.loads(text))
    return [name for name in param_columns(table) if name in present]


def uncomputed_metrics(scores: pd.DataFrame, metrics: dict) -> pd.DataFrame:
    """The metrics a family has no value of although its fits succeeded, with the reason its score
    rows give (e.g. out-of-sample metrics of a clusterer without predict): one row per (model,
    metric) with columns model, metric, reason."""
    rows = []
    ok = scores[scores["status"] == "ok"]
    for metric, spec in metrics.items():
        if "progressive" in spec:
            continue
        # The rows a metric ranks by: CV folds for out-of-sample metrics, the full fit for in-sample ones.
        ranked = ok[(ok["fold"] == "full") == (spec["on"] == "train")]
        for model, group in ranked.groupby("model", sort=False):
            if group[metric].isna().all():
                prefix = f"{metric}: "
                reasons = [part.removeprefix(prefix) for text in group["score_error"].dropna()
                           for part in text.split("; ") if part.startswith(prefix)]
                reason = pd.Series(reasons).mode().iloc[0] if reasons else "no value in any score row"
                rows.append({"model": model, "metric": metric, "reason": reason})
    return pd.DataFrame(rows, columns=["model", "metric", "reason"])


def fit_tally(scores: pd.DataFrame) -> dict[str, dict]:
    """Per family, the fits behind some score rows: how many, how many failed, and when each was
    fitted (``fitted_at``, so a run can tell its own fits from reused ones). Stage decisions and
    nested CV record this for the fits that no table holds, so every fit is counted once."""
    return {model: {"fits": int(len(rows)), "failed": int((rows["status"] != "ok").sum()),
                    "fitted_at": sorted(str(t) for t in rows["fitted_at"].dropna())}
            for model, rows in scores.groupby("model", sort=False)}


def merge_tallies(tallies: list[dict]) -> dict[str, dict]:
    """Fit tallies (:func:`manymodels.results.aggregate.fit_tally`) added up per family."""
    total: dict[str, dict] = {}
    for tally in tallies:
        for model, counts in tally.items():
            into = total.setdefault(model, {"fits": 0, "failed": 0, "fitted_at": []})
            into["fits"] += counts["fits"]
            into["failed"] += counts["failed"]
            into["fitted_at"] += counts["fitted_at"]
    return total


def metric_value_column(metric: str, spec: dict) -> str:
    """Column that ranks configurations by a metric: the CV mean, or the full fit for in-sample metrics."""
    return f"{metric}_full" if spec["on"] == "train" else f"{metric}_mean"


def error_pattern(message) -> str:
    """An error message with its numbers replaced by <n>, so the same failure groups together."""
    return re.sub(r"-?\d+(\.\d+)?(e-?\d+)?", "<n>", str(message))


def failures(scores: pd.DataFrame) -> pd.DataFrame:
    """Failed tasks grouped by error type and message pattern, with counts and an example. Under
    successive halving also by the resource the fits had (``resource``, e.g. '1/27 of the training
    rows', with ``rows``, the training rows such a fit saw): a fit that fails on a small share of
    the rows may not fail on all of them."""
    staged = "resource" in scores
    keys = ["model", *(["resource"] if staged else []), "error_type", "error_pattern"]
    columns = [*keys[:-2], "error_type", "error_pattern", "tasks", "configurations", *(["rows"] if staged else []),
               "example"]
    failed = scores[scores["status"] != "ok"]
    if failed.empty:
        return pd.DataFrame(columns=columns)
    failed = failed.assign(error_pattern=failed["error"].map(error_pattern))
    grouped = failed.groupby(keys, dropna=False, sort=False)
    sizes = {"rows": ("n_train", "median")} if staged else {}
    table = grouped.agg(tasks=("config_id", "size"), configurations=("config_id", "nunique"),
                        example=("error", "first"), **sizes).reset_index()
    if staged:
        table["rows"] = table["rows"].round().astype("Int64")
    return table.sort_values("tasks", ascending=False, kind="stable").reset_index(drop=True)[columns]
