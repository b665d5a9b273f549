"""The comparisons with the best configuration: numbers checked against baycomp (Benavoli et al.'s
library) and against the corrected resampled t-test computed from its formula."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from manymodels.results.compare import compare_differences, compare_with_best, corrected_standard_error, size_ratio
from manymodels.results.selection import choose

baycomp = pytest.importorskip("baycomp", reason="baycomp (requirements.txt) checks the Bayesian correlated t-test")

# Accuracies of two classifiers on the 10 folds of one 10-fold CV (x: the reference, y: the other).
X = np.array([0.81, 0.79, 0.84, 0.80, 0.78, 0.83, 0.82, 0.80, 0.79, 0.81])
Y = np.array([0.83, 0.80, 0.85, 0.83, 0.78, 0.86, 0.82, 0.83, 0.80, 0.84])


@pytest.mark.parametrize("rope", [0.0, 0.01, 0.03])
def test_posterior_probabilities_match_baycomp(rope):
    ours = compare_differences(Y - X, test_train_ratio=1 / 9, rope=rope)
    theirs = baycomp.CorrelatedTTest(X, Y, rope=rope, runs=1).probs()
    if rope == 0:
        assert (ours["p_worse"], ours["p_better"]) == pytest.approx(theirs)
        assert ours["p_equivalent"] == pytest.approx(0)
    else:
        assert (ours["p_worse"], ours["p_equivalent"], ours["p_better"]) == pytest.approx(theirs)


def test_repeated_cross_validation_matches_baycomp_with_runs():
    rng = np.random.default_rng(0)
    x, y = rng.normal(0.8, 0.02, 20), rng.normal(0.81, 0.02, 20)  # 2 repetitions of 10-fold CV
    ours = compare_differences(y - x, test_train_ratio=1 / 9, rope=0.01)
    mean, var, df = baycomp.CorrelatedTTest.compute_statistics(x, y, runs=2)
    assert ours["mean_difference"] == pytest.approx(mean)
    assert ours["se_difference"] == pytest.approx(math.sqrt(var))
    assert (ours["p_worse"], ours["p_equivalent"], ours["p_better"]) == pytest.approx(
        baycomp.CorrelatedTTest(x, y, rope=0.01, runs=2).probs())


def test_corrected_resampled_t_test_follows_nadeau_and_bengio():
    d = Y - X
    n, ratio = len(d), 1 / 9
    t = d.mean() / math.sqrt((1 / n + ratio) * d.var(ddof=1))  # Nadeau and Bengio (2003), eq. for the corrected t
    ours = compare_differences(d, test_train_ratio=ratio)
    assert ours["t"] == pytest.approx(t)
    assert ours["p_value"] == pytest.approx(2 * stats.t.sf(abs(t), n - 1))
    # The naive paired t-test (ratio 0) is far more confident: the correction is what keeps it honest.
    naive = compare_differences(d, test_train_ratio=0.0)
    assert naive["p_value"] == pytest.approx(stats.ttest_rel(Y, X).pvalue)
    assert naive["p_value"] < ours["p_value"]


def test_identical_scores_and_too_few_folds():
    same = compare_differences(np.zeros(5), test_train_ratio=0.25, rope=0.01)
    assert (same["p_worse"], same["p_equivalent"], same["p_better"]) == (0.0, 1.0, 0.0)
    shifted = compare_differences(np.full(5, -0.05), test_train_ratio=0.25, rope=0.01)
    assert shifted["p_worse"] == 1.0 and shifted["p_value"] == 0.0
    single = compare_differences(np.array([0.1]), test_train_ratio=0.25)
    assert single["mean_difference"] == pytest.approx(0.1) and math.isnan(single["p_worse"])


def _scores(values: dict[tuple[str, str], list[float]], n_train=80, n_test=20) -> pd.DataFrame:
    rows = [{"model": m, "config_id": c, "fold": str(k), "acc": v, "n_train": n_train, "n_test": n_test}
            for (m, c), vs in values.items() for k, v in enumerate(vs)]
    return pd.DataFrame(rows)


def _summary(values, simplest=None):
    rows = []
    for (m, c), vs in values.items():
        k = (simplest or {}).get(c, 1)
        rows.append({"model": m, "config_id": c, "params": f'{{"k":{k}}}', "k": k, "n_ok": len(vs), "n_failed": 0,
                     "acc_mean": np.mean(vs), "acc_std": np.std(vs, ddof=1), "acc_sem": np.std(vs, ddof=1) / np.sqrt(len(vs)),
                     "acc_se_corrected": corrected_standard_error(vs, 20 / 80)})
    return pd.DataFrame(rows)


VALUES = {
    ("a", "a1"): [0.90, 0.92, 0.91, 0.93, 0.90],  # the best
    ("a", "a2"): [0.899, 0.918, 0.912, 0.928, 0.899],  # within 0.002 on every fold: equivalent
    ("a", "a3"): [0.80, 0.81, 0.79, 0.82, 0.80],  # clearly worse
    ("b", "b1"): [0.95, 0.85, 0.93, 0.86, 0.94],  # a noisy rival: undecided
}


def test_compare_with_best_decides_per_family_and_overall():
    scores, summary = _scores(VALUES), _summary(VALUES)
    assert size_ratio(scores) == pytest.approx(0.25)
    table = compare_with_best(scores, summary, metric="acc", greater_is_better=True, rope=0.01)
    family = table[table["scope"] == "family"].set_index("config_id")
    assert family.loc["a1", "decision"] == "best" and family.loc["b1", "decision"] == "best"  # b's only one
    assert family.loc["a2", "decision"] == "equivalent" and family.loc["a3", "decision"] == "worse"
    overall = table[table["scope"] == "overall"].set_index("config_id")
    assert (overall["best_config_id"] == "a1").all()
    assert overall.loc["b1", "decision"] == "undecided"
    # Lower is better: the same scores negated give the same decisions.
    negated = {k: [-v for v in vs] for k, vs in VALUES.items()}
    lower = compare_with_best(_scores(negated).rename(columns={}), _summary(negated), metric="acc",
                              greater_is_better=False, rope=0.01)
    assert list(lower["decision"]) == list(table["decision"])


def test_rule_equivalent_chooses_the_simplest_equivalent_configuration():
    metrics = {"acc": {"greater_is_better": True, "on": "test"}}
    summary = _summary(VALUES, simplest={"a1": 5, "a2": 2, "a3": 1, "b1": 1})
    comparisons = compare_with_best(_scores(VALUES), summary, metric="acc", greater_is_better=True, rope=0.01)
    choices = choose(summary, metrics=metrics, selection_metric="acc", simplest=["k"], comparisons=comparisons)
    family = choices["models"]["a"]
    assert family["best"]["acc"]["config_id"] == "a1"
    assert family["chosen"]["config_id"] == "a2"  # k=2 is simpler than k=5 and practically equivalent
    assert family["comparison"]["equivalent"] == 1 and family["comparison"]["worse"] == 1
    assert [f["decision"] for f in choices["families_vs_best"]] == ["equivalent", "undecided"]
    best = choose(summary, metrics=metrics, selection_metric="acc", simplest=["k"], comparisons=comparisons,
                  rule="best")
    assert best["models"]["a"]["chosen"]["config_id"] == "a1"


def test_the_corrected_standard_error_uses_every_fold_and_the_test_training_ratio():
    """Nadeau and Bengio: var x (1/k + n_test/n_train); with 5 x 3 repeated folds k is 15, and the
    correction does not shrink as the naive std / sqrt(k) does."""
    rng = np.random.default_rng(0)
    five = rng.normal(0.8, 0.05, size=5)
    fifteen = np.concatenate([five, five + 0.001, five - 0.001])
    ratio = 1 / 4  # 5-fold CV
    assert corrected_standard_error(five, ratio) == pytest.approx(math.sqrt(five.var(ddof=1) * (1 / 5 + ratio)))
    assert corrected_standard_error(fifteen, ratio) == pytest.approx(math.sqrt(fifteen.var(ddof=1) * (1 / 15 + ratio)))
    naive_shrinks = (fifteen.std(ddof=1) / math.sqrt(15)) / (five.std(ddof=1) / math.sqrt(5))
    corrected_shrinks = corrected_standard_error(fifteen, ratio) / corrected_standard_error(five, ratio)
    assert naive_shrinks < 0.6 and corrected_shrinks > 0.75
    assert math.isnan(corrected_standard_error([0.8], ratio)) and math.isnan(corrected_standard_error([0.8, np.nan], ratio))
