"""Nested CV through real Snakemake: the outer scores are those of the chosen configuration refitted
on each outer fold's training rows, and adding outer folds or configurations runs only new jobs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from manymodels.experiment.data import TEST, TRAIN
from manymodels.experiment.estimators import build_estimator
from manymodels.experiment.tasks import estimator_definition
from workflow_helpers import job_counts, make_workflow, planned_jobs, snakemake, write_config

pytestmark = pytest.mark.integration

LOGREG = {
    "pipeline": [
        {"name": "scale", "estimator": "sklearn.preprocessing.StandardScaler"},
        {"name": "clf", "estimator": "sklearn.linear_model.LogisticRegression", "kwargs": {"max_iter": 1000}},
    ],
    "grid": {"clf__C": [0.01, 1.0, 100.0]},
}


def nested_config(n_outer: int) -> dict:
    return {
        "data": {"source": "sklearn:iris", "label": "target"},
        "cv": {"splitter": "StratifiedKFold", "n_splits": 3, "shuffle": True, "random_state": 3},
        "nested": {"outer": {"splitter": "StratifiedShuffleSplit", "n_splits": n_outer, "test_size": 0.3,
                             "random_state": 0}},
        "models": {"logreg": LOGREG},
        "metrics": {"accuracy": "accuracy"},
        "selection": {"metric": "accuracy", "rope": 0.02},
    }


def test_nested_cv_refits_the_choice_of_each_outer_fold_and_grows_by_new_jobs_only(tmp_path):
    config = nested_config(2)
    root = make_workflow(tmp_path / "wf", config)
    snakemake(root)
    results = root / "results/config"
    nested = json.loads((results / "nested.json").read_text())
    assert [o["outer"] for o in nested["outer_folds"]] == ["o0", "o1"]
    data = pd.read_parquet(results / "data/data.parquet")
    X, y = data.drop(columns="target"), data["target"].to_numpy()
    outer_scores = []
    for outer in nested["outer_folds"]:
        chosen = outer["chosen"]
        folds = pd.read_parquet(results / f"data/nested/outer-{outer['outer'][1:]}.parquet")
        train, test = folds[outer["outer"]] == TRAIN, folds[outer["outer"]] == TEST
        # The outer score is the chosen configuration refitted on the outer training rows, scored on its test rows.
        est = build_estimator(estimator_definition(LOGREG), {}, chosen["params"], config_id=chosen["config_id"])
        est.fit(X[train], y[train])
        expected = float((est.predict(X[test]) == y[test]).mean())
        assert outer["outer_scores"]["accuracy"] == pytest.approx(expected, abs=1e-12)
        # It was chosen from the inner folds: the best inner CV mean of the outer fold's training rows.
        inner = [pd.read_parquet(results / f"scores/logreg/{c}/fold-{outer['outer']}-{k}.parquet")
                 for c in pd.read_parquet(results / "summary.parquet")["config_id"] for k in range(3)]
        means = pd.concat(inner).groupby("config_id")["accuracy"].mean()
        assert chosen["value"] == pytest.approx(means.max())
        outer_scores.append(expected)
    estimate = nested["estimates"]["accuracy"]
    assert estimate["mean"] == pytest.approx(np.mean(outer_scores))
    assert estimate["sem"] == pytest.approx(np.std(outer_scores, ddof=1) / np.sqrt(2))
    # The outer folds share training rows too: the corrected standard error (30% test rows).
    sizes = [(o["n_test"], o["n_train"]) for o in nested["outer_folds"]]
    ratio = np.mean([test / train for test, train in sizes])
    assert estimate["se"] == pytest.approx(np.sqrt(np.var(outer_scores, ddof=1) * (1 / 2 + ratio)))
    report = (results / "report.html").read_text()
    assert "Nested estimate of accuracy" in report and "How sure is the choice?" in report
    # One count of fits for the console, run.json and the report: the inner folds' fits included.
    fits = len(list((results / "fits").glob("*/*/fold-*.json")))
    run = json.loads((results / "run.json").read_text())
    assert fits == 3 * 3 + 2 * 3 * 3 and run["families"]["logreg"]["fits"] == fits
    assert run["text"].splitlines()[0].endswith(
        f"{fits} fits (9 configuration x fold tasks; 18 on nested CV inner folds), {fits} fitted in this run, 0 "
        "reused from earlier runs, 0 failed.")
    assert f"{fits} fits (9 configuration x fold tasks; 18 on nested CV inner folds)" in report

    # A third outer fold of the (growing) StratifiedShuffleSplit: only its own jobs run.
    write_config(root, nested_config(3))
    jobs = planned_jobs(root)
    counts = job_counts(jobs)
    assert counts["assign_outer_fold"] == 1 and counts["evaluate_outer_fold"] == 1
    assert counts["fit_model"] == 3 * 3  # 3 configurations x 3 inner folds of outer fold 2
    assert {w["fold"] for rule, w in jobs if rule == "fit_model"} == {"o2-0", "o2-1", "o2-2"}
    snakemake(root)

    # A new configuration: its own fits, and each outer fold chooses again.
    grown = nested_config(3)
    grown["models"]["logreg"]["grid"] = {"clf__C": [0.01, 1.0, 100.0, 10.0]}
    write_config(root, grown)
    jobs = planned_jobs(root)
    assert len({w["config_id"] for rule, w in jobs if rule == "fit_model"}) == 1
    assert job_counts(jobs)["fit_model"] == 3 + 3 * 3  # its CV folds and its inner folds of 3 outer folds
    assert job_counts(jobs)["evaluate_outer_fold"] == 3


def test_changing_the_selection_rule_refits_no_cv_fold(tmp_path):
    config = nested_config(2)
    root = make_workflow(tmp_path / "wf", config)
    snakemake(root)
    config["selection"].update(rope=0.2, rule="one_se", simplest=["clf__C"])
    write_config(root, config)
    counts = job_counts(planned_jobs(root))
    assert counts["fit_model"] == 0 and counts["score_model"] == 0
    assert counts["select_configurations"] == 1 and counts["evaluate_outer_fold"] == 2
