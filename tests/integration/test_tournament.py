"""Supervised tournaments: the GridSearchCV oracle, random-search extension, refit policies. The shipped
tournament configs run end to end in test_readme.py, as the README runs them."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from manymodels.experiment.data import TEST, TRAIN
from manymodels.experiment.tasks import estimator_definition
from workflow_helpers import job_counts, make_workflow, planned_jobs, snakemake, write_config

pytestmark = pytest.mark.integration

LOGREG = {
    "pipeline": [
        {"name": "scale", "estimator": "sklearn.preprocessing.StandardScaler"},
        {"name": "clf", "estimator": "sklearn.linear_model.LogisticRegression", "kwargs": {"max_iter": 1000}},
    ],
}


def iris_config(models):
    return {
        "data": {"source": "sklearn:iris", "label": "target"},
        "cv": {"splitter": "StratifiedKFold", "n_splits": 4, "shuffle": True, "random_state": 3},
        "models": models,
        "metrics": {"accuracy": "accuracy", "log_loss": "log_loss"},
    }


def test_mean_cv_scores_equal_grid_search_cv(tmp_path):
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV

    from manymodels.experiment.estimators import make_estimator

    grid = {"clf__C": [0.01, 0.1, 1.0, 10.0], "clf__fit_intercept": [True, False]}
    root = make_workflow(tmp_path / "wf", iris_config({"logreg": {**LOGREG, "grid": grid}}))
    snakemake(root)
    data = pd.read_parquet(root / "results/config/data/data.parquet")
    folds = pd.read_parquet(root / "results/config/data/folds.parquet")
    splits = [(np.flatnonzero(folds[c] == TRAIN), np.flatnonzero(folds[c] == TEST)) for c in folds]
    X, y = data.drop(columns="target"), data["target"].to_numpy()
    search = GridSearchCV(clone(make_estimator(estimator_definition(LOGREG))), grid, cv=splits, scoring="accuracy")
    search.fit(X, y)
    expected = pd.DataFrame(search.cv_results_["params"]).assign(mean=search.cv_results_["mean_test_score"])
    summary = pd.read_parquet(root / "results/config/summary.parquet")
    merged = summary.merge(expected, on=list(grid), validate="one_to_one")
    assert len(merged) == 8
    np.testing.assert_allclose(merged["accuracy_mean"], merged["mean"], rtol=0, atol=1e-12)


def test_raising_n_iter_runs_only_the_new_draws(tmp_path):
    random = {"n_iter": 3, "random_state": 7, "distributions": {"clf__C": {"loguniform": [0.01, 10]}}}
    config = iris_config({"logreg": {**LOGREG, "random": random}})
    root = make_workflow(tmp_path / "wf", config)
    snakemake(root)
    before = set(pd.read_parquet(root / "results/config/scores.parquet")["config_id"])
    config["models"]["logreg"]["random"]["n_iter"] = 5
    write_config(root, config)
    jobs = planned_jobs(root)
    fitted = {w["config_id"] for rule, w in jobs if rule == "fit_model"}
    assert len(fitted) == 2 and not fitted & before
    assert job_counts(jobs)["fit_model"] == 2 * 4  # 4 folds for each new draw (no in-sample metric: no full fit)
    assert job_counts(jobs)["score_model"] == 2 * 4


def test_refit_chosen_fits_only_the_winners_on_all_rows_and_refit_all_adds_only_the_full_fits(tmp_path):
    """As GridSearchCV does, only each family's chosen configuration is refitted on every training
    row; switching to refit: all then adds exactly the full fits of every configuration."""
    grid = {"clf__C": [0.1, 1.0, 10.0]}
    config = {**iris_config({"logreg": {**LOGREG, "grid": grid}}), "holdout": {"size": 0.2}}
    root = make_workflow(tmp_path / "wf", config)
    snakemake(root)
    scores = pd.read_parquet(root / "results/config/scores.parquet")
    assert set(scores["fold"]) == {"0", "1", "2", "3"} and len(scores) == 3 * 4
    selection = json.loads((root / "results/config/selection.json").read_text())
    chosen = selection["models"]["logreg"]["chosen"]
    assert chosen["model_file"] == f"models/logreg/{chosen['config_id']}/fold-full.joblib"
    assert (root / "results/config" / chosen["model_file"]).is_file()
    run = json.loads((root / "results/config/run.json").read_text())
    assert set(run["winner"]["test"]) == {"accuracy", "log_loss"}  # the refit, scored on the held-out set
    config["refit"] = "all"
    write_config(root, config)
    jobs = planned_jobs(root)
    assert {w["fold"] for rule, w in jobs if rule in ("fit_model", "score_model")} == {"full"}
    assert job_counts(jobs)["fit_model"] == 3 and job_counts(jobs)["score_model"] == 3


def test_unknown_family_parameter_stops_before_any_job(tmp_path):
    config = iris_config({"logreg": {**LOGREG, "grid": {"clf__Cee": [1.0]}}})
    root = make_workflow(tmp_path / "wf", config)
    result = snakemake(root, check=False)
    assert result.returncode != 0
    assert "config.yaml: models.logreg.grid.clf__Cee: Pipeline(scale, clf) does not accept parameter 'clf__Cee'" in (
        result.stdout + result.stderr)
    assert not (root / "results").exists()

