"""Compare configurations scored on the same CV folds with the best one, accounting for the folds'
overlap: the corrected resampled t-test and the Bayesian correlated t-test with a region of
practical equivalence (rope).

Scores of two configurations on the same folds are paired, and the folds' training sets overlap,
so the differences are correlated and the naive paired t-test is far too confident. Nadeau and
Bengio (2003) inflate the variance of the mean difference from ``var / n`` to
``(1 / n + n_test / n_train) * var``; Bouckaert and Frank (2004) use the same correction for
repeated CV (n = every fold of every repetition). Corani and Benavoli (2015) show that the posterior
of the mean difference under a correlated Gaussian model is a Student t distribution with that same
location, scale and ``n - 1`` degrees of freedom, from which the probabilities of "worse by more
than the rope", "within the rope" and "better by more than the rope" follow. ``baycomp`` computes
the same posterior for K-fold CV, where ``n_test / n_train`` is ``1 / (K - 1)``; here the ratio is
measured from the folds, so ShuffleSplit and uneven folds are handled too (the tests check the
numbers against baycomp).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

# A configuration is practically equivalent to the best when the posterior probability that it is
# no worse than the best by more than the rope is at least this (selection.credibility).
CREDIBILITY = 0.95

COMPARISON_COLUMNS = [
    "model", "config_id", "scope", "best_model", "best_config_id", "n_folds", "mean_difference",
    "se_difference", "t", "p_value", "p_worse", "p_equivalent", "p_better", "equivalent", "decision",
]


def corrected_variance_factor(n: int, test_train_ratio: float) -> float:
    """Nadeau and Bengio's factor on the variance of the fold scores: ``1 / n + n_test / n_train``
    (``n``: every fold of every repetition)."""
    return 1 / n + test_train_ratio


def corrected_standard_error(values, test_train_ratio: float) -> float:
    """The corrected standard error of a mean over ``n`` CV folds: ``sqrt(var * (1 / n + n_test /
    n_train))``, with the fold scores' variance (ddof=1). Folds share most of their training rows,
    so their scores are correlated and the naive ``std / sqrt(n)`` is far too small; this is the
    uncertainty the comparisons below use. NaN for fewer than two values."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if len(v) < 2 or math.isnan(test_train_ratio):
        return math.nan
    return math.sqrt(corrected_variance_factor(len(v), test_train_ratio) * float(v.var(ddof=1)))


def compare_differences(differences, test_train_ratio: float, rope: float = 0.0) -> dict:
    """The corrected resampled t-test and the Bayesian correlated t-test for paired per-fold
    differences (``configuration - best``, oriented so that positive favours the configuration).

    Returns the mean difference, its corrected standard error, t, the two-sided p-value of "no
    difference", and the posterior probabilities that the configuration is worse than the best by
    more than ``rope``, within ``rope`` of it, or better by more than ``rope``. Fewer than two
    differences give NaN for everything but the mean.
    """
    d = np.asarray(differences, dtype=float)
    n = len(d)
    mean = float(d.mean()) if n else math.nan
    result = {"n_folds": n, "mean_difference": mean, "se_difference": math.nan, "t": math.nan,
              "p_value": math.nan, "p_worse": math.nan, "p_equivalent": math.nan, "p_better": math.nan}
    if n < 2:
        return result
    se = math.sqrt(corrected_variance_factor(n, test_train_ratio) * float(d.var(ddof=1)))
    result["se_difference"] = se
    if se == 0:  # identical differences on every fold: the posterior is a point
        result.update(t=math.copysign(math.inf, mean) if mean else math.nan, p_value=float(mean == 0),
                      p_worse=float(mean < -rope), p_better=float(mean > rope), p_equivalent=float(abs(mean) <= rope))
        return result
    posterior = stats.t(df=n - 1, loc=mean, scale=se)
    p_worse, p_better = float(posterior.cdf(-rope)), float(posterior.sf(rope))
    t = mean / se
    result.update(t=t, p_value=float(2 * stats.t.sf(abs(t), n - 1)), p_worse=p_worse, p_better=p_better,
                  p_equivalent=max(0.0, 1 - p_worse - p_better))
    return result


def size_ratio(scores: pd.DataFrame) -> float:
    """The mean over CV folds of n_test / n_train (one score row per fold is enough)."""
    folds = scores[(scores["fold"] != "full") & (scores["n_train"] > 0)].drop_duplicates("fold")
    return float((folds["n_test"] / folds["n_train"]).mean()) if len(folds) else math.nan


def fold_matrix(scores: pd.DataFrame, metric: str) -> pd.DataFrame:
    """CV scores as one row per (model, config_id), one column per fold."""
    cv = scores[scores["fold"] != "full"]
    matrix = cv.pivot(index=["model", "config_id"], columns="fold", values=metric)  # only the pairs there are
    return matrix[sorted(matrix.columns, key=lambda f: (len(f), f))]  # folds in order: '2' before '10'


def compare_with_best(scores: pd.DataFrame, summary: pd.DataFrame, *, metric: str, greater_is_better: bool,
                      rope: float = 0.0, credibility: float = CREDIBILITY) -> pd.DataFrame:
    """Every configuration compared with the best of its family (scope 'family') and with the best
    overall (scope 'overall'), by mean CV ``metric``, on the folds both were scored on.

    Configurations without a score on any fold the best has (every fit failed) are left out.
    ``equivalent`` marks the configurations whose probability of being no worse than the best by
    more than ``rope`` (p_equivalent + p_better) is at least ``credibility``; the best is always
    equivalent to itself. ``decision`` says 'best', 'equivalent', 'worse' (p_worse at least
    ``credibility``) or 'undecided' (the folds cannot tell).
    """
    sign = 1 if greater_is_better else -1
    matrix = fold_matrix(scores, metric)
    ratio = size_ratio(scores)
    means = summary.set_index(["model", "config_id"])[f"{metric}_mean"]
    rows = []
    for scope, groups in (("family", summary.groupby("model", sort=False)), ("overall", [(None, summary)])):
        for _, group in groups:
            ranked = means.loc[list(zip(group["model"], group["config_id"]))].dropna()
            if ranked.empty:
                continue
            best = (sign * ranked).idxmax()
            reference = matrix.loc[best].to_numpy(dtype=float)
            for key in zip(group["model"], group["config_id"]):
                values = matrix.loc[key].to_numpy(dtype=float) if key in matrix.index else np.full_like(reference, np.nan)
                paired = ~np.isnan(values) & ~np.isnan(reference)
                if not paired.any():  # every fit failed: nothing to compare
                    continue
                stats_ = compare_differences(sign * (values[paired] - reference[paired]), ratio, rope)
                if key == best:
                    stats_.update(p_worse=0.0, p_equivalent=1.0, p_better=0.0, p_value=1.0)
                equivalent = bool(stats_["p_equivalent"] + stats_["p_better"] >= credibility)
                decision = ("best" if key == best else "equivalent" if equivalent
                            else "worse" if stats_["p_worse"] >= credibility else "undecided")
                rows.append({"model": key[0], "config_id": key[1], "scope": scope, "best_model": best[0],
                             "best_config_id": best[1], **stats_, "equivalent": equivalent, "decision": decision})
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
