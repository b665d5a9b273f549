"""A table a GridSearchCV user can read: ``results/<name>/cv_results.parquet`` (and ``.csv``).

One row per configuration of every family, as ``GridSearchCV(estimator, [grid_a, grid_b]).cv_results_``
has one per candidate, with scikit-learn's column names and meanings:

- ``mean_fit_time``, ``std_fit_time``, ``mean_score_time``, ``std_score_time``: seconds over the CV
  folds (numpy's std, ddof=0, as scikit-learn). A time not recorded (a task that never scored)
  is left out of its mean.
- ``param_<name>`` for every hyperparameter, missing where a family does not have it (scikit-learn
  masks it); ``params`` is each grid point as JSON text, not a dict, since a Parquet column has one
  type (``json.loads`` gives the exact values back).
- for every out-of-sample metric (``on: test``): ``split<k>_test_<metric>``, ``mean_test_<metric>``,
  ``std_test_<metric>`` (ddof=0) and ``rank_test_<metric>`` (int32). As with ``error_score=nan``, a
  split that failed (or whose score is NaN) makes that configuration's mean and std NaN, and NaN
  ranks after every number (tied); when every mean is NaN every rank is 1. Ranks are scikit-learn's
  (``rankdata`` with method 'min', 1 the best), ordered by the metric's ``greater_is_better``: the
  values are the metric itself, not negated as scikit-learn's ``neg_*`` scorers are, so for a loss the
  smallest mean ranks 1.

Our extras, after those:

- ``model`` (the family) and ``config_id``;
- for every in-sample metric (``on: train``, e.g. BIC), which has no CV split: ``train_<metric>``,
  its value on the fit on every training row (fold 'full'; not scikit-learn's ``split<k>_train_*``,
  a CV training split's score), and ``rank_train_<metric>``, ranked by the same rule;
- ``se_corrected_test_<metric>``: the corrected standard error of ``mean_test_<metric>`` (Nadeau
  and Bengio: the variance of the split scores x (1 / k + n_test / n_train), k every split of every
  repetition), the uncertainty the report and the console show; ``sem_test_<metric>``, the naive one
  (std with ddof=1 / sqrt(k)), which ignores that the splits share training rows; both NaN where the
  mean is; summary.parquet has mean, std and both standard errors over the folds that did score;
- ``n_failed``: CV folds whose fit or score failed;
- under fold racing or successive halving, ``stopped_at`` and ``stop_reason``: where a configuration
  was dropped and why (it ranks after every configuration that went to the end; under racing its
  splits past that point are NaN, under halving they are its scores at the last rung it reached);
- the comparison with the overall best configuration by the selection metric (comparisons.parquet,
  scope 'overall'; see :func:`manymodels.results.compare.compare_with_best`): ``p_worse_than_best``,
  ``p_equivalent_to_best``, ``p_better_than_best`` and ``decision_vs_best`` ('best', 'equivalent',
  'undecided' or 'worse'); missing when there is no comparison (an in-sample selection metric).

CV folds are every fold but 'full' (a streaming experiment's single fold 'stream' is split 0).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from ..task.io import atomic_path, write_parquet
from .aggregate import param_columns

# comparisons.parquet column -> cv_results column.
COMPARISON_COLUMNS = {"p_worse": "p_worse_than_best", "p_equivalent": "p_equivalent_to_best",
                      "p_better": "p_better_than_best", "decision": "decision_vs_best"}


def cv_results(scores: pd.DataFrame, summary: pd.DataFrame, metrics: dict,
               comparisons: pd.DataFrame | None = None) -> pd.DataFrame:
    """The cv_results table (see the module docstring): one row per configuration of ``summary``,
    in its order, from the per-fold rows of ``scores`` and the ``metrics`` specs (``on``,
    ``greater_is_better``), with the overall comparisons of ``comparisons`` when given."""
    keys = pd.MultiIndex.from_arrays([summary["model"], summary["config_id"]], names=["model", "config_id"])
    cv = scores[scores["fold"] != "full"]
    folds = sorted(cv["fold"].unique(), key=lambda f: (0, int(f), "") if str(f).isdigit() else (1, 0, str(f)))

    def by_fold(column: str) -> np.ndarray:
        """``column`` as an array of configurations (in summary order) x CV folds."""
        if not folds:
            return np.empty((len(keys), 0))
        matrix = cv.pivot_table(index=["model", "config_id"], columns="fold", values=column, aggfunc="first",
                                dropna=False)
        return matrix.reindex(index=keys, columns=folds).to_numpy(dtype=float)

    out = {}
    for name, column in (("fit", "fit_seconds"), ("score", "score_seconds")):
        times = by_fold(column)
        with warnings.catch_warnings():  # "Mean of empty slice": no time recorded, and NaN says so
            warnings.simplefilter("ignore", RuntimeWarning)
            out[f"mean_{name}_time"] = np.nanmean(times, axis=1)
            out[f"std_{name}_time"] = np.nanstd(times, axis=1)
    for name in param_columns(summary):
        out[f"param_{name}"] = summary[name].array  # its type kept: Int64 stays Int64
    out["params"] = summary["params"].array
    extras = {"model": summary["model"].array, "config_id": summary["config_id"].array}
    sems = {}
    stopped = summary["stopped_at"].notna().to_numpy() if "stopped_at" in summary else None
    for metric, spec in metrics.items():
        if spec["on"] == "train":
            full = scores[scores["fold"] == "full"].set_index(["model", "config_id"])[metric]
            values = full.reindex(keys).to_numpy(dtype=float)
            extras[f"train_{metric}"] = values
            extras[f"rank_train_{metric}"] = rank(values, greater_is_better=spec["greater_is_better"])
            continue
        splits = by_fold(metric)
        for k in range(splits.shape[1]):
            out[f"split{k}_test_{metric}"] = splits[:, k]
        # np.average and a plain std, as scikit-learn: any NaN split makes both NaN.
        mean = np.average(splits, axis=1) if splits.shape[1] else np.full(len(keys), np.nan)
        out[f"mean_test_{metric}"] = mean
        out[f"std_test_{metric}"] = (np.sqrt(np.average((splits - mean[:, None]) ** 2, axis=1)) if splits.shape[1]
                                     else np.full(len(keys), np.nan))
        # Configurations a search stopped early (halving: scored with less of the resource) rank last.
        ranked = np.where(stopped, np.nan, mean) if stopped is not None else mean
        out[f"rank_test_{metric}"] = rank(ranked, greater_is_better=spec["greater_is_better"])
        sems[f"sem_test_{metric}"] = _sem(splits)
        # The corrected standard error of summary.parquet, where the mean is defined.
        corrected = summary[f"{metric}_se_corrected"].to_numpy(dtype=float) if f"{metric}_se_corrected" in summary \
            else np.full(len(keys), np.nan)
        sems[f"se_corrected_test_{metric}"] = np.where(np.isnan(mean), np.nan, corrected)
    table = pd.DataFrame({**out, **extras, **sems})
    table["n_failed"] = summary["n_failed"].to_numpy(dtype="int64")
    for column in ("stopped_at", "stop_reason"):  # fold racing or successive halving
        if column in summary:
            table[column] = summary[column].astype("string").to_numpy()
    table = pd.concat([table, _versus_best(comparisons, keys)], axis=1)
    return table


def rank(values, *, greater_is_better: bool) -> np.ndarray:
    """scikit-learn's ranks of mean scores (``rank_test_*``): ``rankdata`` with method 'min', 1 the
    best; NaN ties after every number, and all NaN ranks every configuration 1."""
    values = np.asarray(values, dtype=float)
    if not len(values) or np.isnan(values).all():
        return np.ones(len(values), dtype=np.int32)
    score = values if greater_is_better else -values
    score = np.where(np.isnan(score), np.nanmin(score) - 1, score)
    return rankdata(-score, method="min").astype(np.int32)


def _sem(splits: np.ndarray) -> np.ndarray:
    n = splits.shape[1]
    if n < 2:
        return np.full(splits.shape[0], np.nan)
    return np.std(splits, axis=1, ddof=1) / math.sqrt(n)


def _versus_best(comparisons: pd.DataFrame | None, keys: pd.MultiIndex) -> pd.DataFrame:
    """The overall comparison of each configuration, as the cv_results columns (NaN / missing without one)."""
    if comparisons is None or comparisons.empty:
        overall = pd.DataFrame(index=keys, columns=list(COMPARISON_COLUMNS))
    else:
        overall = comparisons[comparisons["scope"] == "overall"].set_index(["model", "config_id"])
        overall = overall[list(COMPARISON_COLUMNS)].reindex(keys)
    table = overall.rename(columns=COMPARISON_COLUMNS).reset_index(drop=True)
    for column in ("p_worse_than_best", "p_equivalent_to_best", "p_better_than_best"):
        table[column] = table[column].astype("float64")
    table["decision_vs_best"] = table["decision_vs_best"].astype("string")  # missing: every fit failed
    return table


def write_cv_results(*, scores: str, summary: str, comparisons: str, metrics: dict, out_parquet: str,
                     out_csv: str) -> None:
    """Write results/cv_results.parquet and results/cv_results.csv from results/scores.parquet,
    summary.parquet and comparisons.parquet."""
    table = cv_results(pd.read_parquet(scores), pd.read_parquet(summary), metrics, pd.read_parquet(comparisons))
    write_parquet(table, out_parquet)
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False)
