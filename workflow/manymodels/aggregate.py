"""Aggregate per-task score files into the tidy score table, per-configuration summaries and choices."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from .io import write_json, write_parquet
from .score import score_schema


def param_table(configs: list[dict]) -> pd.DataFrame:
    """One row per (model, config_id) with one column per hyperparameter, named as in the config.

    A parameter whose values mix types (say 'sqrt' and 0.5) is stored as text ('sqrt', '0.5'),
    since a Parquet column has one type.
    """
    rows = [{"model": c["model"], "config_id": c["config_id"], **c["params"]} for c in configs]
    frame = pd.DataFrame(rows, columns=["model", "config_id", *param_names(configs)])
    for column in param_names(configs):
        kinds = {type(v) for v in frame[column] if v is not None and not _is_nan(v)}
        if len(kinds) > 1 and not kinds <= {int, float}:
            frame[column] = [None if v is None or _is_nan(v) else str(v) for v in frame[column]]
    return frame


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


def read_score_table(score_files: list[str], metric_names: list[str]):
    """Many one-row score files (or gathered shards of them) as one Arrow table, a chunk of files
    per dataset scan."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    schema = score_schema(metric_names)
    parts = [ds.dataset(score_files[i : i + READ_CHUNK], schema=schema, format="parquet").to_table()
             for i in range(0, len(score_files), READ_CHUNK)]
    return pa.concat_tables(parts) if parts else schema.empty_table()


def read_scores(score_files: list[str], metric_names: list[str]) -> pd.DataFrame:
    """Score files (or shards) as one pandas table."""
    return read_score_table(score_files, metric_names).to_pandas()


def gather_scores(*, score_files: list[str], metric_names: list[str], out: str) -> None:
    """Write the score rows of a shard of tasks to one Parquet file, with the score files' schema
    (``aggregate_scores`` reads the shards, so a rerun rereads only the shards whose tasks changed)."""
    write_parquet(read_score_table(score_files, metric_names), out)


def shard_tasks(tasks: list[dict], n_folds: int) -> dict[str, list[dict]]:
    """Tasks by the shard that gathers their score files: the first ``shard_digits`` hex digits of
    the config_id, or 'all' when there is one shard."""
    digits = shard_digits(len(tasks) * n_folds)
    shards: dict[str, list[dict]] = {}
    for task in tasks:
        shards.setdefault(task["config_id"][:digits] or "all", []).append(task)
    return shards


def shard_digits(n_files: int, per_shard: int = 1000) -> int:
    """How many leading hex digits of the config_id name a shard of score files: 0 (a single shard)
    up to ``per_shard`` files, then enough for shards of about that size (1: 16 shards, 2: 256)."""
    digits = 0
    while n_files > per_shard * 16**digits:
        digits += 1
    return digits


def tidy_scores(scores: pd.DataFrame, configs: list[dict], metric_names: list[str]) -> pd.DataFrame:
    """Join hyperparameters onto score rows; order rows by model, configuration and fold."""
    params = param_table(configs)
    table = params.merge(scores, on=["model", "config_id"], how="inner", validate="one_to_many")
    first = ["model", "config_id", *param_names(configs), "fold", "status", *metric_names, "error_type", "error"]
    table = table[first + [c for c in table.columns if c not in first]]
    # Rows follow the config's order of configurations, then folds 0..K-1, then 'full'.
    position = {(c["model"], c["config_id"]): i for i, c in enumerate(configs)}
    keys = pd.DataFrame({
        "_config": [position[k] for k in zip(table["model"], table["config_id"])],
        "_fold": [int(f) if f.isdigit() else math.inf for f in table["fold"]],
    })
    return table.iloc[keys.sort_values(["_config", "_fold"]).index].reset_index(drop=True)


def summarise(scores: pd.DataFrame, configs: list[dict], metric_names: list[str]) -> pd.DataFrame:
    """One row per configuration: mean, std and standard error over CV folds, counts, full-fit values."""
    cv = scores[scores["fold"] != "full"]
    grouped = cv.groupby(["model", "config_id"], sort=False)
    parts = [grouped["status"].agg(n_ok=lambda s: int((s == "ok").sum()), n_failed=lambda s: int((s != "ok").sum()))]
    for metric in metric_names:
        stats = grouped[metric].agg(["mean", "std", "count"])
        stats["sem"] = stats["std"] / np.sqrt(stats["count"])
        parts.append(stats[["mean", "std", "sem"]].add_prefix(f"{metric}_"))
    summary = pd.concat(parts, axis=1).reset_index()
    full = scores[scores["fold"] == "full"].set_index(["model", "config_id"])
    full = full[["status", *metric_names]].rename(columns=lambda c: f"{c}_full")
    summary = summary.merge(full, left_on=["model", "config_id"], right_index=True, how="outer")
    summary = param_table(configs).merge(summary, on=["model", "config_id"], how="inner")
    for column in ("n_ok", "n_failed"):
        summary[column] = summary[column].fillna(0).astype("int64")
    return summary.reset_index(drop=True)


def aggregate_scores(
    *, score_files: list[str], configs: list[dict], metrics: dict, out_scores: str, out_summary: str, out_configs: str
) -> None:
    """Write results/scores.parquet, results/summary.parquet and the readable configs.tsv."""
    names = list(metrics)
    scores = tidy_scores(read_scores(score_files, names), configs, names)
    write_parquet(scores, out_scores)
    write_parquet(summarise(scores, configs, names), out_summary)
    table = param_table(configs)
    table.insert(2, "estimator", [c["estimator"] for c in configs])
    table["kwargs"] = [json.dumps(c["kwargs"], sort_keys=True) for c in configs]
    table.to_csv(out_configs, sep="\t", index=False)


def metric_value_column(metric: str, spec: dict) -> str:
    """Column that ranks configurations by a metric: the CV mean, or the full fit for in-sample metrics."""
    return f"{metric}_full" if spec["on"] == "train" else f"{metric}_mean"


def choose(summary: pd.DataFrame, *, metrics: dict, selection_metric: str, simplest: list[str],
           final_fold: str = "full") -> dict:
    """The best configuration of each model family by each metric, the chosen ones, and the overall winner.

    A family's chosen configuration is the simplest (ordered by those ``simplest`` parameters it
    has, ascending) whose CV mean is within one standard error of its best by the selection
    metric; without such parameters, or for an in-sample selection metric, it is the best one.
    The overall winner is the family choice with the best selection value. Each entry carries its
    held-out test scores (``test``) when the experiment has a held-out set, and the path of the
    model fitted on all training rows (``final_fold``: 'full', or 'stream' for streaming).
    """
    families = {}
    for model, rows in summary.groupby("model", sort=False):
        best = {}
        for metric, spec in metrics.items():
            column = metric_value_column(metric, spec)
            ranked = rows.dropna(subset=[column]).sort_values(column, ascending=not spec["greater_is_better"], kind="stable")
            best[metric] = _describe(ranked.iloc[0], column, metrics, final_fold) if len(ranked) else None
        one_se = _one_se(rows, metrics, selection_metric, simplest, final_fold)
        families[model] = {"best": best, "one_se": one_se, "selection_metric": selection_metric,
                           "chosen": one_se or best[selection_metric]}
    candidates = [f["chosen"] for f in families.values() if f["chosen"]]
    sign = 1 if metrics[selection_metric]["greater_is_better"] else -1
    overall = max(candidates, key=lambda c: sign * c["value"]) if candidates else None
    return {"models": families, "overall": overall, "selection_metric": selection_metric}


def _one_se(rows: pd.DataFrame, metrics: dict, metric: str, simplest: list[str], final_fold: str) -> dict | None:
    spec = metrics[metric]
    simplest = [p for p in simplest if p in rows and rows[p].notna().all()]
    if spec["on"] == "train" or not simplest:
        return None
    mean, sem = f"{metric}_mean", f"{metric}_sem"
    rows = rows.dropna(subset=[mean])
    if rows.empty:
        return None
    sign = 1 if spec["greater_is_better"] else -1
    top = rows.loc[(sign * rows[mean]).idxmax()]
    threshold = sign * top[mean] - (0 if math.isnan(top[sem]) else top[sem])
    within = rows[sign * rows[mean] >= threshold]
    ordered = within.assign(_score=-sign * within[mean]).sort_values([*simplest, "_score"], kind="stable")
    return _describe(ordered.iloc[0], mean, metrics, final_fold) | {"threshold": float(sign * threshold)}


def param_columns(summary: pd.DataFrame) -> list[str]:
    """Hyperparameter columns of a summary table: those between config_id and n_ok."""
    columns = list(summary.columns)
    return columns[columns.index("config_id") + 1 : columns.index("n_ok")]


def _describe(row: pd.Series, column: str, metrics: dict, final_fold: str) -> dict:
    params = {k: _plain(row[k]) for k in param_columns(row.to_frame().T)}
    test = {m: _plain(row.get(f"{m}_full")) for m, spec in metrics.items() if spec["on"] == "test"}
    return {
        "model": row["model"],
        "config_id": row["config_id"],
        "test": {m: v for m, v in test.items() if v is not None},
        "params": {k: v for k, v in params.items() if v is not None},
        "value": float(row[column]),
        "by": column,
        "model_file": f"fits/{row['model']}/{row['config_id']}/fold-{final_fold}.joblib",
    }


def _plain(value):
    if isinstance(value, np.ndarray):  # a list-valued parameter, read back from Parquet
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    return None if value is None or _is_nan(value) else value


def select_configurations(
    *, summary: str, metrics: dict, selection_metric: str, simplest: list[str], final_fold: str = "full", out: str
) -> dict:
    """Write results/selection.json from results/summary.parquet."""
    choices = choose(pd.read_parquet(summary), metrics=metrics, selection_metric=selection_metric, simplest=simplest,
                     final_fold=final_fold)
    write_json(choices, out)
    return choices
