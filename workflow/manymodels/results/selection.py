"""Choose configurations from the summary table: the best by each metric, the one-standard-error
choice, each family's chosen configuration and the overall winner."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from ..experiment.tasks import SCORE_COLUMNS
from ..task.io import read_checked_table, write_json, write_parquet
from .aggregate import _is_nan, metric_value_column
from .compare import COMPARISON_COLUMNS, CREDIBILITY, compare_with_best
from .cautions import careful_warnings
from .formatting import SE_SUFFIX

# Each family's chosen configuration fitted on every training row: fold 'full' of the grid's fits.
FINAL_MODEL = "fits/{model}/{config_id}/fold-full.joblib"
# Where the chosen configurations are refitted after selection: only they have a model there.
REFITS_AFTER_SELECTION = "models/"
_SCORE_COLUMN_NAMES = {name for name, _ in SCORE_COLUMNS}


def choose(summary: pd.DataFrame, *, metrics: dict, selection_metric: str, simplest: list[str],
           rule: str = "equivalent", comparisons: pd.DataFrame | None = None, final_model: str = FINAL_MODEL) -> dict:
    """The best configuration of each model family by each metric, the chosen ones, and the overall winner.

    A family's chosen configuration follows ``rule``: 'equivalent', the simplest (ordered by those
    ``simplest`` parameters it has, ascending) of the configurations practically equivalent to its
    best (``comparisons``, see :func:`manymodels.results.compare.compare_with_best`); 'one_se',
    the simplest whose CV mean is within one (corrected) standard error of its best; 'best', its best. Without
    such parameters, comparisons, or for an in-sample selection metric, it is the best one. The
    overall winner is the family choice with the best selection value. Each entry carries its
    held-out test scores (``test``) when the experiment has a held-out set, and the path of the
    model fitted on all training rows (``final_model``, a path relative to the results directory
    with ``{model}`` and ``{config_id}``: fold 'full' under fits/ when every configuration was fitted
    on all rows, the refit after selection under models/ otherwise, fold 'stream' for streaming).
    Under models/ only the chosen configurations are refitted: any other entry's ``model_file`` is
    None (no such file).
    """
    families = {}
    compared = _by_scope(comparisons)
    for model, rows in summary.groupby("model", sort=False):
        best = {}
        for metric, spec in metrics.items():
            column = metric_value_column(metric, spec)
            ranked = rows.dropna(subset=[column]).sort_values(column, ascending=not spec["greater_is_better"], kind="stable")
            best[metric] = _describe(ranked.iloc[0], column, metrics, final_model) if len(ranked) else None
        one_se = _one_se(rows, metrics, selection_metric, simplest, final_model)
        equivalent = _simplest_equivalent(rows, compared.get("family"), metrics, selection_metric, simplest, final_model)
        chosen = {"one_se": one_se, "equivalent": equivalent}.get(rule) or best[selection_metric]
        families[model] = {"best": best, "one_se": one_se, "simplest_equivalent": equivalent,
                           "simplest_by": _ordering(rows, simplest),
                           "selection_metric": selection_metric, "rule": rule, "chosen": chosen,
                           "comparison": _decisions(compared.get("family"), model)}
    if final_model.startswith(REFITS_AFTER_SELECTION):
        for family in families.values():
            _only_chosen_refitted(family)
    candidates = [f["chosen"] for f in families.values() if f["chosen"]]
    sign = 1 if metrics[selection_metric]["greater_is_better"] else -1
    overall = max(candidates, key=lambda c: sign * c["value"]) if candidates else None
    return {"models": families, "overall": overall, "selection_metric": selection_metric, "rule": rule,
            "comparison": _decisions(compared.get("overall"), None),
            "families_vs_best": _families_vs_best(compared.get("overall"), summary, families, selection_metric)}


def _only_chosen_refitted(family: dict) -> None:
    """Clear the ``model_file`` of a family's entries that are not its chosen configuration: only
    that one is refitted after selection."""
    chosen = family["chosen"]
    chosen_key = chosen and (chosen["model"], chosen["config_id"])
    for entry in [*family["best"].values(), family["one_se"], family["simplest_equivalent"]]:
        if entry and (entry["model"], entry["config_id"]) != chosen_key:
            entry["model_file"] = None


def _by_scope(comparisons: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    if comparisons is None or comparisons.empty:
        return {}
    return {scope: rows.set_index(["model", "config_id"]) for scope, rows in comparisons.groupby("scope")}


def _decisions(compared: pd.DataFrame | None, model: str | None) -> dict | None:
    """How many configurations (of ``model``, or of all families) are practically equivalent to the
    best, credibly worse, or undecided, and which are equivalent."""
    if compared is None:
        return None
    rows = compared if model is None else compared[compared.index.get_level_values("model") == model]
    if rows.empty:  # a family whose every fit failed has no best to compare with
        return None
    counts = rows["decision"].value_counts()
    return {
        "best": {"model": rows["best_model"].iloc[0], "config_id": rows["best_config_id"].iloc[0]},
        **{name: int(counts.get(name, 0)) for name in ("equivalent", "undecided", "worse")},
        "equivalent_set": [{"model": m, "config_id": c} for m, c in rows.index[rows["equivalent"]]],
    }


def _families_vs_best(compared: pd.DataFrame | None, summary: pd.DataFrame, families: dict, metric: str) -> list[dict]:
    """Each family's chosen configuration compared with the overall best configuration, on the same folds."""
    if compared is None:
        return []
    out = []
    for model, family in families.items():
        chosen = family["chosen"]
        if not chosen or (model, chosen["config_id"]) not in compared.index:
            continue
        row = compared.loc[(model, chosen["config_id"])]
        out.append({"model": model, "config_id": chosen["config_id"], "params": chosen["params"],
                    "value": chosen["value"], "se": _plain(_se(summary, model, chosen["config_id"], metric)),
                    **{k: _plain(row[k]) for k in ("mean_difference", "se_difference", "p_value", "p_worse",
                                                  "p_equivalent", "p_better")},
                    "decision": row["decision"]})
    return out


def _se(summary: pd.DataFrame, model: str, config_id: str, metric: str):
    """A configuration's corrected standard error of its mean CV ``metric``."""
    column = f"{metric}{SE_SUFFIX}"
    if column not in summary:
        return None
    hit = summary.loc[(summary["model"] == model) & (summary["config_id"] == config_id), column]
    return hit.iloc[0] if len(hit) else None


def _ordering(rows: pd.DataFrame, simplest: list[str]) -> list[str]:
    """The ``simplest`` parameters a family has a value of in every configuration."""
    return [p for p in simplest if p in rows and rows[p].notna().all()]


def _simplest_equivalent(rows: pd.DataFrame, compared: pd.DataFrame | None, metrics: dict, metric: str,
                         simplest: list[str], final_model: str) -> dict | None:
    """The simplest configuration practically equivalent to the family's best (the best itself
    without ``simplest`` parameters)."""
    if compared is None or metrics[metric]["on"] == "train":
        return None
    mean = f"{metric}_mean"
    keys = list(zip(rows["model"], rows["config_id"]))
    flags = [bool(compared["equivalent"].get(k, False)) for k in keys]
    within = rows[flags].dropna(subset=[mean])
    if within.empty:
        return None
    sign = 1 if metrics[metric]["greater_is_better"] else -1
    simplest = _ordering(rows, simplest)
    ordered = within.assign(_score=-sign * within[mean]).sort_values([*simplest, "_score"], kind="stable")
    return _describe(ordered.iloc[0], mean, metrics, final_model)


def _one_se(rows: pd.DataFrame, metrics: dict, metric: str, simplest: list[str], final_model: str) -> dict | None:
    spec = metrics[metric]
    simplest = _ordering(rows, simplest)
    if spec["on"] == "train" or not simplest:
        return None
    mean, sem = f"{metric}_mean", f"{metric}{SE_SUFFIX}"
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
    *, summary: str, scores: str, metrics: dict, selection_metric: str, simplest: list[str], rule: str = "equivalent",
    rope: float | None = None, credibility: float = CREDIBILITY, grid_parameters: dict | None = None,
    final_model: str = FINAL_MODEL, out: str, out_comparisons: str
) -> dict:
    """Write results/selection.json and results/comparisons.parquet (every configuration compared
    with its family's best and the overall best) from results/summary.parquet and scores.parquet.

    Without a ``rope`` (None or 0) no configuration can be practically equivalent to the best;
    ``suggested_rope`` then offers a scale to start from: the median corrected standard error of
    the configurations' mean CV scores."""
    table = pd.read_parquet(summary)
    scores_table = pd.read_parquet(scores)
    stopped = 0
    if "stopped_at" in table:  # racing or halving: only the configurations that reached the last stage compete
        stopped = int(table["stopped_at"].notna().sum())
        table = table[table["stopped_at"].isna()].reset_index(drop=True)
    spec = metrics[selection_metric]
    comparisons = None
    if spec["on"] == "test" and "progressive" not in spec:
        comparisons = compare_with_best(scores_table, table, metric=selection_metric,
                                        greater_is_better=spec["greater_is_better"], rope=rope or 0.0,
                                        credibility=credibility)
    choices = choose(table, metrics=metrics, selection_metric=selection_metric, simplest=simplest, rule=rule,
                     comparisons=comparisons, final_model=final_model)
    choices.update(model_format=final_model.rpartition(".")[2],  # joblib or skops: what every model file is
                   rope=rope or None, credibility=credibility, suggested_rope=suggested_rope(table, selection_metric),
                   stopped_earlier=stopped,
                   warnings=careful_warnings(table, scores_table, choices, metrics, grid_parameters))
    write_parquet(pd.DataFrame(columns=COMPARISON_COLUMNS) if comparisons is None else comparisons, out_comparisons)
    write_json(choices, out)
    return choices


def suggested_rope(summary: pd.DataFrame, metric: str) -> float | None:
    """A scale for selection.rope when none is set: the median corrected standard error of the
    configurations' mean CV ``metric`` (differences smaller than the noise of one mean)."""
    column = f"{metric}{SE_SUFFIX}"
    if column not in summary or summary[column].dropna().empty:
        return None
    return float(f"{float(summary[column].median()):.2g}")


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
