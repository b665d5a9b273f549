import json
import math

import numpy as np
import pandas as pd
import pytest

from manymodels.experiment.config import metric_specs
from manymodels.results.aggregate import summarise, tidy_scores
from manymodels.results.compare import COMPARISON_COLUMNS
from manymodels.results.cv_results import cv_results, rank, write_cv_results

NAN = float("nan")
METRICS = metric_specs({
    "acc": {"function": "sklearn.metrics.accuracy_score", "greater_is_better": True},
    "loss": {"function": "sklearn.metrics.log_loss", "greater_is_better": False},
    "bic": {"method": "bic", "greater_is_better": False},
})
# Two families with their own hyperparameters; per configuration: CV acc and loss on 3 folds, the
# in-sample BIC of the full fit. a3 failed on fold 2 (NaN); a1 ties a2 on acc, a2 ties b1 on loss
# (values exact in binary, so the means tie exactly).
CONFIGS = [
    {"model": "a", "config_id": "a1", "params": {"k": 1}, "acc": [0.5, 0.75, 1.0], "loss": [0.5, 0.4, 0.3],
     "bic": 30.0},
    {"model": "a", "config_id": "a2", "params": {"k": 2}, "acc": [1.0, 0.75, 0.5], "loss": [0.25, 0.25, 0.25],
     "bic": 20.0},
    {"model": "a", "config_id": "a3", "params": {"k": 3}, "acc": [0.95, 0.95, NAN], "loss": [0.1, 0.1, NAN],
     "bic": NAN},
    {"model": "b", "config_id": "b1", "params": {"kind": "x"}, "acc": [0.9, 0.9, 0.9], "loss": [0.5, 0.0, 0.25],
     "bic": 25.0},
]


def score_rows(configs=CONFIGS, folds=("0", "1", "2")):
    rows = []
    for c in configs:
        for i, fold in enumerate(folds):
            failed = math.isnan(c["acc"][i])
            rows.append({"model": c["model"], "config_id": c["config_id"], "fold": fold,
                         "status": "failed" if failed else "ok", "error_type": "ValueError" if failed else None,
                         "error": "boom" if failed else None, "fit_seconds": 0.1 * (i + 1), "score_seconds": 0.01,
                         "acc": c["acc"][i], "loss": c["loss"][i], "bic": NAN})
        rows.append({"model": c["model"], "config_id": c["config_id"], "fold": "full", "status": "ok",
                     "error_type": None, "error": None, "fit_seconds": 9.0, "score_seconds": 9.0, "acc": NAN,
                     "loss": NAN, "bic": c["bic"]})
    return pd.DataFrame(rows)


def tables(configs=CONFIGS, folds=("0", "1", "2")):
    definitions = [{"model": c["model"], "config_id": c["config_id"], "params": c["params"]} for c in configs]
    scores = tidy_scores(score_rows(configs, folds), definitions, list(METRICS))
    return scores, summarise(scores, definitions, list(METRICS))


def comparisons_for(summary):
    """Comparison rows as compare_with_best writes them: a family-scope row that must be ignored,
    and the overall ones."""
    rows = []
    for scope, decision in (("family", "worse"), ("overall", None)):
        for i, (model, config_id) in enumerate(zip(summary["model"], summary["config_id"])):
            rows.append({"model": model, "config_id": config_id, "scope": scope, "best_model": "b",
                         "best_config_id": "b1", "p_worse": 0.1 * i, "p_equivalent": 0.5, "p_better": 0.0,
                         "equivalent": False, "decision": decision or ("best" if config_id == "b1" else "undecided")})
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def test_columns_follow_grid_search_cv_then_our_extras():
    scores, summary = tables()
    table = cv_results(scores, summary, METRICS, comparisons_for(summary))
    per_metric = lambda m: [f"split0_test_{m}", f"split1_test_{m}", f"split2_test_{m}", f"mean_test_{m}",
                            f"std_test_{m}", f"rank_test_{m}"]
    assert list(table.columns) == [
        "mean_fit_time", "std_fit_time", "mean_score_time", "std_score_time", "param_k", "param_kind", "params",
        *per_metric("acc"), *per_metric("loss"), "model", "config_id", "train_bic", "rank_train_bic",
        "sem_test_acc", "se_corrected_test_acc", "sem_test_loss", "se_corrected_test_loss", "n_failed",
        "p_worse_than_best", "p_equivalent_to_best",
        "p_better_than_best", "decision_vs_best"]
    assert list(table["config_id"]) == ["a1", "a2", "a3", "b1"]  # the summary's order
    assert table["rank_test_acc"].dtype == np.int32 and table["rank_train_bic"].dtype == np.int32


def test_parameters_keep_their_types_and_are_missing_where_a_family_lacks_them():
    scores, summary = tables()
    table = cv_results(scores, summary, METRICS)
    assert str(table["param_k"].dtype) == "Int64" and table["param_k"].tolist()[:3] == [1, 2, 3]
    assert table["param_k"].isna().tolist() == [False, False, False, True]
    assert table["param_kind"].isna().tolist() == [True, True, True, False] and table["param_kind"].iloc[3] == "x"
    assert [json.loads(p) for p in table["params"]] == [c["params"] for c in CONFIGS]


def test_split_values_mean_and_std_with_ddof_0_and_sem_with_ddof_1():
    scores, summary = tables()
    table = cv_results(scores, summary, METRICS).set_index("config_id")
    acc = np.array(CONFIGS[0]["acc"])
    assert [table.loc["a1", f"split{k}_test_acc"] for k in range(3)] == list(acc)
    assert table.loc["a1", "mean_test_acc"] == pytest.approx(acc.mean(), abs=1e-15)
    assert table.loc["a1", "std_test_acc"] == pytest.approx(acc.std(ddof=0), abs=1e-15)
    assert table.loc["a1", "sem_test_acc"] == pytest.approx(acc.std(ddof=1) / math.sqrt(3), abs=1e-15)
    assert table.loc["a1", "mean_fit_time"] == pytest.approx(0.2)  # CV folds only, not fold 'full'
    assert table.loc["a1", "std_fit_time"] == pytest.approx(np.std([0.1, 0.2, 0.3]))
    assert table.loc["b1", "std_test_acc"] == 0.0 and table.loc["b1", "sem_test_acc"] == 0.0


def test_the_corrected_standard_error_is_nadeau_and_bengios_with_each_folds_sizes():
    """k folds of 1/3 test rows: variance x (1/k + n_test/n_train), where the mean is defined."""
    rows = score_rows().assign(n_train=200, n_test=100)
    definitions = [{"model": c["model"], "config_id": c["config_id"], "params": c["params"]} for c in CONFIGS]
    scores = tidy_scores(rows, definitions, list(METRICS))
    summary = summarise(scores, definitions, list(METRICS))
    table = cv_results(scores, summary, METRICS).set_index("config_id")
    acc = np.array(CONFIGS[0]["acc"])
    expected = math.sqrt(acc.var(ddof=1) * (1 / 3 + 100 / 200))
    assert table.loc["a1", "se_corrected_test_acc"] == pytest.approx(expected, abs=1e-15)
    assert summary.set_index("config_id").loc["a1", "acc_se_corrected"] == pytest.approx(expected, abs=1e-15)
    assert table.loc["a1", "se_corrected_test_acc"] > table.loc["a1", "sem_test_acc"]  # the naive one is too sure
    assert math.isnan(table.loc["a3", "se_corrected_test_acc"])  # its mean is NaN (a failed split)
    assert summary.set_index("config_id").loc["a3", "acc_se_corrected"] == pytest.approx(0.0)  # 2 equal folds


def test_a_failed_split_makes_mean_std_and_sem_nan_as_with_error_score_nan():
    scores, summary = tables()
    table = cv_results(scores, summary, METRICS).set_index("config_id")
    assert math.isnan(table.loc["a3", "split2_test_acc"]) and table.loc["a3", "split0_test_acc"] == 0.95
    for column in ("mean_test_acc", "std_test_acc", "sem_test_acc", "mean_test_loss"):
        assert math.isnan(table.loc["a3", column])
    assert table.loc["a3", "n_failed"] == 1 and table.loc["a1", "n_failed"] == 0
    assert summary.set_index("config_id").loc["a3", "acc_mean"] == 0.95  # the summary skips the failed fold


def test_ranks_tie_with_min_and_put_nan_last_in_the_metrics_direction():
    scores, summary = tables()
    table = cv_results(scores, summary, METRICS).set_index("config_id")
    # acc (greater is better): b1 0.9 first, a1 = a2 = 0.75 tied at 2, a3 (NaN) after them.
    assert table["rank_test_acc"].to_dict() == {"a1": 2, "a2": 2, "a3": 4, "b1": 1}
    # loss (smaller is better): a2 0.25 = b1 0.25 tied first, a1 0.4 third, a3 (NaN) last.
    assert table["rank_test_loss"].to_dict() == {"a1": 3, "a2": 1, "a3": 4, "b1": 1}


def test_rank_all_nan_is_one_and_empty_is_empty():
    assert rank([NAN, NAN], greater_is_better=True).tolist() == [1, 1]
    assert rank([], greater_is_better=False).tolist() == []
    assert rank([1.0, NAN, 1.0, 3.0], greater_is_better=False).tolist() == [1, 4, 1, 3]
    # scikit-learn puts NaN at (nanmin - 1): below -inf there is nothing, so NaN ties with it.
    assert rank([-np.inf, NAN, 2.0], greater_is_better=True).tolist() == [2, 2, 1]


def test_ranks_equal_grid_search_cv_ranks_with_failed_fits_and_ties():
    """The same scores put through scikit-learn's own GridSearchCV give the same ranks, means and stds."""
    from sklearn.base import BaseEstimator
    from sklearn.model_selection import GridSearchCV, PredefinedSplit

    values = {c["config_id"]: c for c in CONFIGS}

    class Fixed(BaseEstimator):  # scores what CONFIGS says on each split; NaN acc: the fit fails
        def __init__(self, config_id="a1"):
            self.config_id = config_id

        def fit(self, X, y=None):
            (test_fold,) = {0, 1, 2} - set(X[:, 0] // 2)
            if math.isnan(values[self.config_id]["acc"][int(test_fold)]):
                raise ValueError("boom")
            return self

    def scorer(name, sign):
        return lambda est, X, y=None: sign * values[est.config_id][name][int(X[0, 0]) // 2]

    X = np.arange(6, dtype=float).reshape(-1, 1)
    search = GridSearchCV(Fixed(), {"config_id": list(values)}, cv=PredefinedSplit([0, 0, 1, 1, 2, 2]),
                          scoring={"acc": scorer("acc", 1), "loss": scorer("loss", -1)}, refit=False,
                          error_score=np.nan)
    with pytest.warns(Warning):  # the failed fit and the non-finite means
        search.fit(X)
    expected = search.cv_results_
    scores, summary = tables()
    table = cv_results(scores, summary, METRICS)
    assert list(expected["param_config_id"]) == list(table["config_id"])
    for metric, sign in (("acc", 1), ("loss", -1)):
        assert table[f"rank_test_{metric}"].tolist() == expected[f"rank_test_{metric}"].tolist()
        np.testing.assert_allclose(table[f"mean_test_{metric}"], sign * expected[f"mean_test_{metric}"], atol=1e-15)
        np.testing.assert_allclose(table[f"std_test_{metric}"], expected[f"std_test_{metric}"], atol=1e-15)
        for k in range(3):
            np.testing.assert_allclose(table[f"split{k}_test_{metric}"], sign * expected[f"split{k}_test_{metric}"])


def test_in_sample_metrics_are_the_full_fits_value_with_their_own_rank():
    scores, summary = tables()
    table = cv_results(scores, summary, METRICS).set_index("config_id")
    assert not [c for c in table if "test_bic" in c or c == "mean_bic"]
    assert table["train_bic"].iloc[:2].tolist() == [30.0, 20.0] and math.isnan(table.loc["a3", "train_bic"])
    assert table["rank_train_bic"].to_dict() == {"a1": 3, "a2": 1, "a3": 4, "b1": 2}  # smaller is better


def test_overall_comparisons_only_and_none_without_them():
    scores, summary = tables()
    table = cv_results(scores, summary, METRICS, comparisons_for(summary)).set_index("config_id")
    assert table["decision_vs_best"].to_dict() == {"a1": "undecided", "a2": "undecided", "a3": "undecided",
                                                   "b1": "best"}
    assert table["p_worse_than_best"].tolist() == pytest.approx([0.0, 0.1, 0.2, 0.3])
    empty = cv_results(scores, summary, METRICS, pd.DataFrame(columns=COMPARISON_COLUMNS))
    assert empty["p_worse_than_best"].isna().all() and empty["decision_vs_best"].isna().all()
    assert empty["p_better_than_best"].dtype == np.float64


def test_a_streaming_experiments_single_fold_is_split_0():
    configs = [{**c, "acc": c["acc"][:1], "loss": c["loss"][:1]} for c in CONFIGS[:2]]
    scores, summary = tables(configs, folds=("stream",))
    table = cv_results(scores, summary, METRICS)
    assert table["split0_test_acc"].tolist() == [0.5, 1.0] and "split1_test_acc" not in table
    assert table["std_test_acc"].tolist() == [0.0, 0.0] and table["sem_test_acc"].isna().all()


def test_write_cv_results_writes_the_same_table_as_parquet_and_csv(tmp_path):
    scores, summary = tables()
    for name, frame in (("scores", scores), ("summary", summary), ("comparisons", comparisons_for(summary))):
        frame.to_parquet(tmp_path / f"{name}.parquet")
    write_cv_results(scores=str(tmp_path / "scores.parquet"), summary=str(tmp_path / "summary.parquet"),
                     comparisons=str(tmp_path / "comparisons.parquet"), metrics=METRICS,
                     out_parquet=str(tmp_path / "cv_results.parquet"), out_csv=str(tmp_path / "cv_results.csv"))
    written = pd.read_parquet(tmp_path / "cv_results.parquet")
    pd.testing.assert_frame_equal(written, cv_results(scores, summary, METRICS, comparisons_for(summary)))
    csv = pd.read_csv(tmp_path / "cv_results.csv")
    assert list(csv.columns) == list(written.columns)
    np.testing.assert_allclose(csv["mean_test_acc"], written["mean_test_acc"])
    assert [json.loads(p) for p in csv["params"]] == [c["params"] for c in CONFIGS]
