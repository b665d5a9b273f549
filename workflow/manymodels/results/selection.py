"""Choose configurations from the summary table: the best by each metric, the one-standard-error
choice, each family's chosen configuration and the overall winner."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from ..experiment.tasks import SCORE_COLUMNS
from ..task.io import read_checked_table, write_json
from .aggregate import _is_nan, metric_value_column

# Each family's chosen configuration fitted on every training row: fold 'full' of the grid's fits.
FINAL_MODEL = "fits/{model}/{config_id}/fold-full.joblib"
_SCORE_COLUMN_NAMES = {name for name, _ in SCORE_COLUMNS}


def choose(summary: pd.DataFrame, *, metrics: dict, selection_metric: str, simplest: list[str],
           final_model: str = FINAL_MODEL) -> dict:
    """The best configuration of each model family by each metric, the chosen ones, and the overall winner.

    A family's chosen configuration is the simplest (ordered by those ``simplest`` parameters it
    has, ascending) whose CV mean is within one standard error of its best by the selection
    metric; without such parameters, or for an in-sample selection metric, it is the best one.
    The overall winner is the family choice with the best selection value. Each entry carries its
    held-out test scores (``test``) when the experiment has a held-out set, and the path of the
    model fitted on all training rows (``final_model``, a path relative to the results directory
    with ``{model}`` and ``{config_id}``: fold 'full' under fits/ when every configuration was fitted
    on all rows, the refit after selection under models/ otherwise, fold 'stream' for streaming).
    """
    families = {}
    for model, rows in summary.groupby("model", sort=False):
        best = {}
        for metric, spec in metrics.items():
            column = metric_value_column(metric, spec)
            ranked = rows.dropna(subset=[column]).sort_values(column, ascending=not spec["greater_is_better"], kind="stable")
            best[metric] = _describe(ranked.iloc[0], column, metrics, final_model) if len(ranked) else None
        one_se = _one_se(rows, metrics, selection_metric, simplest, final_model)
        families[model] = {"best": best, "one_se": one_se, "selection_metric": selection_metric,
                           "chosen": one_se or best[selection_metric]}
    candidates = [f["chosen"] for f in families.values() if f["chosen"]]
    sign = 1 if metrics[selection_metric]["greater_is_better"] else -1
    overall = max(candidates, key=lambda c: sign * c["value"]) if candidates else None
    return {"models": families, "overall": overall, "selection_metric": selection_metric}


def _one_se(rows: pd.DataFrame, metrics: dict, metric: str, simplest: list[str], final_model: str) -> dict | None:
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
    return _describe(ordered.iloc[0], mean, metrics, final_model) | {"threshold": float(sign * threshold)}


def _describe(row: pd.Series, column: str, metrics: dict, final_model: str) -> dict:
    test = {m: _plain(row.get(f"{m}_full")) for m, spec in metrics.items() if spec["on"] == "test"}
    return {
        "model": row["model"],
        "config_id": row["config_id"],
        "test": {m: v for m, v in test.items() if v is not None},
        "params": json.loads(row["params"]),  # exactly as the config gave them
        "value": float(row[column]),
        "by": column,
        "model_file": final_model.format(model=row["model"], config_id=row["config_id"]),
    }


def _plain(value):
    if isinstance(value, np.generic):
        value = value.item()
    return None if value is None or _is_nan(value) else value


def select_configurations(
    *, summary: str, metrics: dict, selection_metric: str, simplest: list[str], final_model: str = FINAL_MODEL,
    out: str
) -> dict:
    """Write results/selection.json from results/summary.parquet."""
    choices = choose(pd.read_parquet(summary), metrics=metrics, selection_metric=selection_metric, simplest=simplest,
                     final_model=final_model)
    write_json(choices, out)
    return choices


def with_refit_scores(choices: dict, score_files: list[str]) -> dict:
    """``choices`` with the held-out scores of the chosen configurations refitted after selection
    (their score files, one row each) as each chosen entry's (and the overall winner's) ``test``."""
    if not score_files:
        return choices
    tests = {}
    for path in score_files:
        row = read_checked_table(path).to_pylist()[0]
        metrics = [name for name in row if name not in _SCORE_COLUMN_NAMES]
        tests[(row["model"], row["config_id"])] = {m: _plain(row[m]) for m in metrics if _plain(row[m]) is not None}
    for entry in [f["chosen"] for f in choices["models"].values()] + [choices.get("overall")]:
        if entry and (entry["model"], entry["config_id"]) in tests:
            entry["test"] = tests[(entry["model"], entry["config_id"])]
    return choices
