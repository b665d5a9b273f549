"""Choose configurations from the summary table: the best by each metric, the one-standard-error
choice, each family's chosen configuration and the overall winner."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from ..task.io import write_json
from .aggregate import _is_nan, metric_value_column


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


def _describe(row: pd.Series, column: str, metrics: dict, final_fold: str) -> dict:
    test = {m: _plain(row.get(f"{m}_full")) for m, spec in metrics.items() if spec["on"] == "test"}
    return {
        "model": row["model"],
        "config_id": row["config_id"],
        "test": {m: v for m, v in test.items() if v is not None},
        "params": json.loads(row["params"]),  # exactly as the config gave them
        "value": float(row[column]),
        "by": column,
        "model_file": f"fits/{row['model']}/{row['config_id']}/fold-{final_fold}.joblib",
    }


def _plain(value):
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
