"""Nested cross-validation: an honest estimate of how well the whole selection procedure generalises.

The CV score of the winning configuration is optimistic: it is the best of many noisy estimates on
the same folds. Nested CV repeats the whole procedure (every configuration on the inner folds, the
selection rule) inside each outer fold's training rows, refits the configuration it chose on those
rows and scores it on the outer fold's test rows, which no part of the procedure saw. The mean of
those outer scores estimates the procedure, not one configuration (Cawley and Talbot 2010).

Each inner (configuration, fold) is an ordinary cached fit and score job (folds 'o<i>-<k>'); one job
per outer fold selects and refits (:func:`evaluate_outer_fold`), and :func:`nested_estimate` sums up.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..task.io import read_checked_table, read_json, write_json
from ..task.model_files import fit_in_format, suffix_of
from ..task.score import score_task
from .aggregate import fit_tally, merge_tallies, read_score_table, summarise, tidy_scores
from .compare import CREDIBILITY, compare_with_best, corrected_standard_error
from .selection import choose


def evaluate_outer_fold(
    *, outer: str, score_files: list[str], configs: list[dict], metrics: dict, selection_metric: str,
    simplest: list[str], rule: str = "equivalent", rope: float | None = None, credibility: float = CREDIBILITY,
    features: list[str], label: str | None, data: str, folds: str, model_format: str = "joblib", out: str,
) -> str:
    """Choose a configuration from the inner folds of outer fold ``outer`` (their score files), as
    the experiment chooses from its CV folds, refit it on the outer fold's training rows and score
    it on its test rows. Writes ``out`` (a folder, ``nested/outer-<i>`` of the results directory):
    the refit under fits/ (in ``model_format``), its score under scores/, and outer.json (what was
    chosen, with the path of that refit relative to the results directory, its inner CV value, its
    outer scores)."""
    names = list(metrics)
    scores = tidy_scores(read_score_table(score_files, names, check_identity=True).to_pandas(), configs, names)
    summary = summarise(scores, configs, names)
    spec = metrics[selection_metric]
    comparisons = compare_with_best(scores, summary, metric=selection_metric, greater_is_better=spec["greater_is_better"],
                                    rope=rope or 0.0, credibility=credibility)
    folder = Path(out)
    refit = f"fits/{{model}}/{{config_id}}/fold-{outer}{suffix_of(model_format)}"  # in the folder
    choices = choose(summary, metrics=metrics, selection_metric=selection_metric, simplest=simplest, rule=rule,
                     comparisons=comparisons, final_model=f"nested/{folder.name}/{refit}")
    winner = choices["overall"]
    record = {"outer": outer, "selection_metric": selection_metric, "chosen": winner, "inner_folds": int(
        scores["fold"].nunique()), "outer_scores": None, "status": "no configuration could be chosen",
        "inner_fits": fit_tally(scores)}
    if winner:
        task = next(c for c in configs if (c["model"], c["config_id"]) == (winner["model"], winner["config_id"]))
        where = f"{task['model']}/{task['config_id']}/fold-{outer}"
        model_file = str(folder / refit.format(model=task["model"], config_id=task["config_id"]))
        fit_in_format(model_format, model=task["model"], config_id=task["config_id"], fold=outer,
                      estimator=task["estimator"], kwargs=task["kwargs"], params=task["params"],
                      fit_kwargs=task["fit_kwargs"], features=features, label=label, data=data, folds=folds,
                      out_model=model_file, out_meta=str(folder / f"fits/{where}.json"))
        row = score_task(metrics=metrics, features=features, label=label, data=data, folds=folds,
                         fit_model=model_file, fit_meta=str(folder / f"fits/{where}.json"),
                         out_scores=str(folder / f"scores/{where}.parquet"))
        record.update(status=row["status"], error=row["error"], n_train=row["n_train"], n_test=row["n_test"],
                      outer_scores={m: _number(row[m]) for m in names if metrics[m]["on"] == "test"})
    write_json(record, folder / "outer.json")
    chosen = f"{winner['model']} {winner['config_id']}" if winner else "nothing"
    return f"outer fold {outer}: chose {chosen}; outer scores {record['outer_scores']}"


def nested_estimate(*, outer_dirs: list[str], selection: str, summary: str, metrics: dict, out: str) -> dict:
    """Write results/nested.json: per outer fold what was chosen, its inner CV value and its outer
    scores; per metric the nested estimate (mean, corrected and naive standard error over outer folds) next to the
    winner's CV score of the whole experiment (the optimistic one); how often each configuration
    and family was chosen."""
    outers = [read_json(Path(d) / "outer.json") for d in outer_dirs]
    for record, folder in zip(outers, outer_dirs):  # the outer score files are checked, not trusted
        if record["outer_scores"] is not None:
            chosen = record["chosen"]
            read_checked_table(Path(folder) / f"scores/{chosen['model']}/{chosen['config_id']}/fold-{record['outer']}.parquet")
    choices = read_json(selection)
    table = pd.read_parquet(summary)
    winner = choices["overall"]
    sizes = [(o["n_test"], o["n_train"]) for o in outers if o.get("n_train")]
    ratio = float(np.mean([test / train for test, train in sizes])) if sizes else math.nan
    estimates = {}
    for metric, spec in metrics.items():
        if spec["on"] != "test" or "progressive" in spec:
            continue
        values = np.array([_nan(o["outer_scores"], metric) for o in outers], dtype=float)
        ok = values[~np.isnan(values)]
        cv = {"winner_cv_mean": None, "winner_cv_sem": None, "winner_cv_se": None}
        if winner:
            row = table[(table["model"] == winner["model"]) & (table["config_id"] == winner["config_id"])]
            if len(row):
                cv = {f"winner_cv_{key}": _number(row[f"{metric}_{key}"].iloc[0]) if f"{metric}_{key}" in row else None
                      for key in ("mean", "sem", "se_corrected")}
                cv["winner_cv_se"] = cv.pop("winner_cv_se_corrected")
        estimates[metric] = {
            "mean": _number(ok.mean()) if len(ok) else None,
            # The outer folds' training rows overlap too: the corrected standard error, as for CV scores.
            "se": _number(corrected_standard_error(ok, ratio)) if len(ok) > 1 else None,
            "sem": _number(ok.std(ddof=1) / math.sqrt(len(ok))) if len(ok) > 1 else None,
            "n_outer": int(len(ok)), "greater_is_better": spec["greater_is_better"], **cv,
        }
    picked = [(o["chosen"]["model"], o["chosen"]["config_id"]) for o in outers if o["chosen"]]
    result = {
        "selection_metric": choices["selection_metric"],
        "winner": winner and {k: winner[k] for k in ("model", "config_id", "params")},
        "outer_folds": outers,
        "estimates": estimates,
        "chosen_families": pd.Series([m for m, _ in picked], dtype=object).value_counts().to_dict(),
        "winner_chosen": sum(1 for p in picked if winner and p == (winner["model"], winner["config_id"])),
        "inner_fits": merge_tallies([o.get("inner_fits", {}) for o in outers]),
    }
    write_json(result, out)
    return result


def _nan(scores: dict | None, metric: str) -> float:
    value = (scores or {}).get(metric)
    return math.nan if value is None else value


def _number(value):
    value = float(value)
    return None if math.isnan(value) else value
