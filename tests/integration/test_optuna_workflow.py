"""Bayesian optimisation through real Snakemake: each batch of trials a stage of cached fit and
score jobs, the proposals those of one Optuna study run by hand on the same splits, a rerun that
fits nothing, and a raised n_trials that fits only the new trials."""

from __future__ import annotations

import copy
import json

import joblib
import numpy as np
import optuna
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture
from sklearn.pipeline import Pipeline

from manymodels.experiment.data import TEST, TRAIN
from workflow_helpers import comparable, job_counts, make_workflow, planned_jobs, snakemake, write_config

pytestmark = pytest.mark.integration

FEATURES = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
DISTRIBUTIONS = {"n_components": {"randint": [2, 7]}, "covariance_type": {"choice": ["full", "diag", "spherical"]},
                 "tol": {"loguniform": [0.0001, 0.1]}}
OPTUNA = {
    "data": {"source": "penguins", "features": FEATURES, "label": "species"},
    "cv": {"splitter": "KFold", "n_splits": 3, "shuffle": True, "random_state": 1},
    "models": {"gmm": {"estimator": "sklearn.mixture.GaussianMixture", "kwargs": {"n_init": 1, "random_state": 0},
                       "optuna": {"n_trials": 6, "batch": 3, "seed": 7, "sampler_kwargs": {"n_startup_trials": 3},
                                  "distributions": DISTRIBUTIONS}}},
    "metrics": {"ars": {"function": "sklearn.metrics.adjusted_rand_score", "greater_is_better": True}},
    "selection": {"metric": "ars"},
}


def fit_times(results) -> dict[tuple[str, str], int]:
    return {(p.parent.name, p.stem.removeprefix("fold-")): p.stat().st_mtime_ns
            for p in (results / "fits").glob("gmm/*/fold-*.json")}


def by_hand(results, sizes: list[int]) -> list[dict]:
    """One TPE study run by hand, each trial's mean CV ARS computed here with scikit-learn on the
    experiment's prepared rows and folds: ask a batch, tell each trial, repeat."""
    data = pd.read_parquet(results / "data/data.parquet")
    folds = pd.read_parquet(results / "data/folds.parquet")
    X, y = data[FEATURES].to_numpy(), data["species"].to_numpy()

    def mean_ars(params):
        values = []
        for fold in folds.columns:
            train, test = folds[fold].to_numpy() == TRAIN, folds[fold].to_numpy() == TEST
            model = GaussianMixture(n_init=1, random_state=0, **params).fit(X[train])
            values.append(adjusted_rand_score(y[test], model.predict(X[test])))
        return float(np.mean(values))

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=7, n_startup_trials=3))
    space = {"n_components": optuna.distributions.IntDistribution(2, 6),
             "covariance_type": optuna.distributions.CategoricalDistribution(["full", "diag", "spherical"]),
             "tol": optuna.distributions.FloatDistribution(0.0001, 0.1, log=True)}
    proposed = []
    for size in sizes:
        asked = [study.ask(space) for _ in range(size)]
        for trial in asked:
            study.tell(trial, mean_ars(trial.params))
        proposed += [trial.params for trial in asked]
    return proposed


def trials(results) -> list[dict]:
    decisions = sorted((results / "optuna/gmm").glob("batch-*.json"), key=lambda p: int(p.stem.split("-")[1]))
    return [t for p in decisions for t in json.loads(p.read_text())["trials"]]


def test_bayesian_optimisation_proposes_what_a_hand_run_study_does_and_continues_when_n_trials_grows(tmp_path):
    config = copy.deepcopy(OPTUNA)
    root = make_workflow(tmp_path / "wf", config)
    snakemake(root)
    results = root / "results/config"
    made = trials(results)
    assert [t["number"] for t in made] == list(range(6))
    assert [t["params"] for t in made] == by_hand(results, [3, 3])
    # Every trial is a configuration of the tables, fitted on every fold, and competes for the choice.
    summary = pd.read_parquet(results / "summary.parquet")
    distinct = {t["config_id"] for t in made}
    assert set(summary["config_id"]) == distinct and summary["trial"].notna().all()
    cv_results = pd.read_parquet(results / "cv_results.parquet")
    assert len(cv_results) == len(distinct)
    fits = fit_times(results)
    assert {f for _, f in fits} == {"0", "1", "2"} and len(fits) == 3 * len(distinct)
    report = (results / "report.html").read_text()
    assert "Bayesian optimisation" in report and "6 trials in 2 batches" in report
    assert (results / "plots/race.png").is_file()

    # The same command again: nothing to do.
    assert job_counts(planned_jobs(root)) == {}

    # More trials: the study goes on; the trials made stay and only the new ones are fitted.
    config["models"]["gmm"]["optuna"]["n_trials"] = 9
    write_config(root, config)
    run = snakemake(root)
    grown = trials(results)
    assert grown[:6] == made and len(grown) == 9
    assert [t["params"] for t in grown] == by_hand(results, [3, 3, 3])
    after = fit_times(results)
    assert all(after[key] == mtime for key, mtime in fits.items())
    new = {t["config_id"] for t in grown[6:]} - distinct
    assert set(after) - set(fits) == {(c, f) for c in new for f in ("0", "1", "2")}
    assert f"{3 * len(new)} fitted in this run" in run.stdout + run.stderr


def test_trials_that_set_only_the_final_step_fit_each_folds_prefix_once_and_propose_as_a_whole_pipeline(tmp_path):
    """A pipeline searched by Optuna over its final step's C: every trial shares one prefix job per
    fold, and the study proposes, fits and scores exactly what it does with share_prefix: false."""
    steps = [{"name": "pca", "estimator": "sklearn.decomposition.PCA", "kwargs": {"n_components": 2, "random_state": 0}},
             {"name": "clf", "estimator": "sklearn.linear_model.LogisticRegression", "kwargs": {"max_iter": 500}}]
    config = copy.deepcopy(OPTUNA) | {"metrics": {"accuracy": "accuracy"}, "selection": {"metric": "accuracy"}}
    config["models"] = {"pca_lr": {"pipeline": steps, "optuna": {"n_trials": 4, "batch": 2, "seed": 7,
                                                                  "distributions": {"clf__C": {"loguniform": [0.001, 100]}}}}}
    runs = {}
    for share in (True, False):
        config["models"]["pca_lr"]["share_prefix"] = share
        runs[share] = make_workflow(tmp_path / f"share-{share}", config) / "results/config"
        snakemake(runs[share].parent.parent)
    shared, whole = runs[True], runs[False]
    decided = [sorted((r / "optuna/pca_lr").glob("batch-*.json")) for r in (shared, whole)]
    made = [[t for p in ds for t in json.loads(p.read_text())["trials"]] for ds in decided]
    assert len(made[0]) == 4 and made[0] == made[1]
    fit_folds = {p.stem for p in (shared / "fits/pca_lr").glob("*/fold-*.json")}
    (prefix,) = (shared / "prefixes/pca_lr").iterdir()  # one prefix for every trial
    assert {p.stem for p in prefix.glob("fold-*.json")} == fit_folds
    assert not (whole / "prefixes").exists()
    a, b = (comparable(pd.read_parquet(r / "scores.parquet")).drop(columns=["model_bytes", "model_sha256"])
            for r in (shared, whole))
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=0, atol=1e-12)
    kept = joblib.load(next((shared / "fits/pca_lr").glob("*/fold-0.joblib")))
    assert isinstance(kept, Pipeline) and [name for name, _ in kept.steps] == ["pca", "clf"]


def test_a_deleted_trial_model_is_fitted_again_by_the_same_command(tmp_path):
    config = copy.deepcopy(OPTUNA)
    config["models"]["gmm"]["optuna"].update(n_trials=3, batch=3)
    root = make_workflow(tmp_path / "wf", config)
    snakemake(root)
    model = next((root / "results/config/fits/gmm").glob("*/fold-1.joblib"))
    model.unlink()
    rerun = snakemake(root)
    assert model.is_file() and "1 fitted in this run" in rerun.stdout + rerun.stderr
    assert job_counts(planned_jobs(root)) == {}
