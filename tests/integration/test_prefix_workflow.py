"""Shared pipeline prefixes, as users run them: the same experiment with and without sharing gives the
same tables and models; a dry run after an edit plans only the prefixes and final steps it changed;
a prefix that raises is fitted once per fold and fails each of its configurations."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest

from workflow_helpers import (comparable, copy_run, job_counts, make_workflow, manymodels, planned_jobs, snakemake,
                              write_config)

pytestmark = pytest.mark.integration

CONFIG = {
    "data": {"source": "sklearn:iris", "label": "target"},
    "cv": {"splitter": "StratifiedKFold", "n_splits": 3, "shuffle": True, "random_state": 0},
    "models": {
        "pca_lr": {
            "pipeline": [{"name": "scale", "estimator": "sklearn.preprocessing.StandardScaler"},
                         {"name": "pca", "estimator": "sklearn.decomposition.PCA"},
                         {"name": "clf", "estimator": "sklearn.linear_model.LogisticRegression",
                          "kwargs": {"max_iter": 500}}],
            "kwargs": {"pca__random_state": 0},
            # n_components 9 > 4 features: that prefix raises, and fails both of its configurations
            "grid": {"pca__n_components": [2, 3, 9], "clf__C": [0.1, 1.0]},
        }
    },
    "metrics": {"accuracy": "accuracy", "log_loss": "log_loss"},
}
SCORES = ["accuracy", "log_loss"]


def results(root):
    return root / "results" / "config"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    shared = make_workflow(tmp_path_factory.mktemp("shared"), CONFIG)
    snakemake(shared)
    whole_config = copy.deepcopy(CONFIG)
    whole_config["models"]["pca_lr"]["share_prefix"] = False
    whole = make_workflow(tmp_path_factory.mktemp("whole"), whole_config)
    snakemake(whole)
    return shared, whole


def test_sharing_changes_no_table_and_no_model(runs):
    shared, whole = runs
    assert len(list((results(shared) / "prefixes" / "pca_lr").glob("*/fold-*.json"))) == 3 * 3
    assert not (results(whole) / "prefixes").exists()
    for table in ("scores.parquet", "cv_results.parquet", "summary.parquet"):
        a = comparable(pd.read_parquet(results(shared) / table)) if table == "scores.parquet" else (
            pd.read_parquet(results(shared) / table))
        b = comparable(pd.read_parquet(results(whole) / table)) if table == "scores.parquet" else (
            pd.read_parquet(results(whole) / table))
        numeric = [c for c in a.columns if a[c].dtype.kind == "f" and "time" not in c and "seconds" not in c]
        other = [c for c in a.columns if c not in numeric and "time" not in c and "seconds" not in c
                 and c not in ("fitted_at", "scored_at", "model_bytes", "model_sha256")]
        pd.testing.assert_frame_equal(a[other], b[other], check_dtype=False)
        np.testing.assert_allclose(a[numeric].to_numpy(float), b[numeric].to_numpy(float), rtol=0, atol=1e-12,
                                   equal_nan=True)
    scores = pd.read_parquet(results(shared) / "scores.parquet")
    failed = scores[scores["status"] == "failed"]
    assert len(failed) == 2 * 3 and failed["error_type"].eq("ValueError").all()
    for name in ("comparisons.parquet",):
        pd.testing.assert_frame_equal(pd.read_parquet(results(shared) / name), pd.read_parquet(results(whole) / name))


def test_the_kept_model_is_the_whole_pipeline_and_predicts_as_one_fitted_in_one_go(runs):
    from manymodels.results.store import Results
    from sklearn.datasets import load_iris

    shared, whole = Results(results(runs[0])), Results(results(runs[1]))
    X = load_iris(as_frame=True).frame.drop(columns="target")
    ok = shared.tasks[shared.tasks["status"] == "ok"]
    assert len(ok) == 4 * 3
    for _, task in ok.iloc[::3].iterrows():
        mine = shared.load_model(task)
        theirs = whole.load_model(whole.tasks[(whole.tasks["config_id"] == task["config_id"])
                                              & (whole.tasks["fold"] == task["fold"])].iloc[0])
        assert [name for name, _ in mine.steps] == ["scale", "pca", "clf"]
        np.testing.assert_array_equal(mine.predict(X), theirs.predict(X))
        np.testing.assert_allclose(mine.predict_proba(X), theirs.predict_proba(X), rtol=0, atol=1e-12)


def edited(root, target, change, *, experiment=None):
    config = copy.deepcopy(CONFIG)
    change(config["models"]["pca_lr"])
    (experiment or (lambda _: None))(config)
    copy_run(root, target)
    write_config(target, config)
    return job_counts(planned_jobs(target))


def test_caching_follows_the_prefix(runs, tmp_path):
    shared = runs[0]
    # A value of the final step's parameter: its fits on the prefixes already fitted.
    counts = edited(shared, tmp_path / "c", lambda m: m["grid"]["clf__C"].append(10.0))
    assert counts["fit_prefix"] == 0 and counts["fit_model"] == 3 * 3
    # A value of a prefix parameter: its prefix on each fold, and its final steps.
    counts = edited(shared, tmp_path / "p", lambda m: m["grid"]["pca__n_components"].append(1))
    assert counts["fit_prefix"] == 3 and counts["fit_model"] == 2 * 3
    # The final step's kwargs: every final step again, no prefix.
    counts = edited(shared, tmp_path / "k", lambda m: m["pipeline"][-1]["kwargs"].update(max_iter=600))
    assert counts["fit_prefix"] == 0 and counts["fit_model"] == 6 * 3
    # A metric added: every configuration scored again, on the prefixes' stored output; nothing fitted.
    counts = edited(shared, tmp_path / "m", lambda m: None,
                    experiment=lambda config: config["metrics"].update(balanced_accuracy="balanced_accuracy"))
    assert counts["score_model"] == 6 * 3 and counts["fit_prefix"] == counts["fit_model"] == 0
    # Nothing changed: nothing to do.
    assert planned_jobs(shared) == []


def test_a_damaged_prefix_is_listed_by_verify_and_its_repair_refits_only_it_and_its_fits(runs, tmp_path):
    shared = copy_run(runs[0], tmp_path / "v")
    before = comparable(pd.read_parquet(results(shared) / "scores.parquet"))
    assert manymodels(shared, "verify", "config").returncode == 0
    meta = next(p for p in sorted((results(shared) / "prefixes/pca_lr").glob("*/fold-1.json"))
                if json.loads(p.read_text())["status"] == "ok")
    damaged = meta.with_name("fold-1.test.parquet")
    damaged.write_bytes(damaged.read_bytes()[:-20] + b"\0" * 20)
    checked = manymodels(shared, "verify", "config")
    assert checked.returncode == 1 and str(damaged.relative_to(shared)) in checked.stdout, checked.stdout
    assert manymodels(shared, "verify", "--repair", "config").returncode == 0
    # The prefix on that fold, and its two configurations' fits and scores there: nothing else.
    counts = job_counts(planned_jobs(shared))
    assert (counts["fit_prefix"], counts["fit_model"], counts["score_model"]) == (1, 2, 2), counts
    snakemake(shared)
    assert manymodels(shared, "verify", "config").returncode == 0
    after = comparable(pd.read_parquet(results(shared) / "scores.parquet"))
    # The same model may be pickled in a few bytes more or less: pickle writes an equal string again
    # unless it is the same object, and which strings a worker shares depends on what it ran before.
    files = ["model_bytes", "model_sha256"]
    pd.testing.assert_frame_equal(after.drop(columns=files), before.drop(columns=files), check_exact=True)
