"""cv_results.parquet against scikit-learn's GridSearchCV on the same splits, and Results.best /
best_estimator on the same run."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from manymodels.experiment.data import TEST, TRAIN, UNUSED
from manymodels.experiment.estimators import make_estimator
from manymodels.experiment.tasks import estimator_definition
from manymodels.results.store import IntegrityError, Results
from workflow_helpers import make_workflow, planned_jobs, snakemake

pytestmark = pytest.mark.integration

LOGREG = {
    "pipeline": [
        {"name": "scale", "estimator": "sklearn.preprocessing.StandardScaler"},
        {"name": "clf", "estimator": "sklearn.linear_model.LogisticRegression", "kwargs": {"max_iter": 1000}},
    ],
    # C=-1 fails on every fold: NaN scores, ranked last, as GridSearchCV's error_score=nan does.
    "grid": {"clf__C": [-1.0, 0.01, 0.1, 1.0]},
}
TREE = {"estimator": "sklearn.tree.DecisionTreeClassifier", "kwargs": {"random_state": 0},
        "grid": {"max_depth": [1, 2, 3]}}
CONFIG = {
    "data": {"source": "sklearn:breast_cancer", "label": "target"},
    "holdout": {"size": 0.2, "stratify": True, "random_state": 0},
    "cv": {"splitter": "StratifiedKFold", "n_splits": 3, "shuffle": True, "random_state": 0},
    "models": {"logreg": LOGREG, "tree": TREE},
    "metrics": {"accuracy": "accuracy", "roc_auc": "roc_auc"},
    "selection": {"metric": "roc_auc"},
}
CONFIG_FILE = "tiny-cv.yaml"  # the experiment tiny-cv


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = make_workflow(tmp_path_factory.mktemp("cv") / "wf", CONFIG)
    (root / CONFIG_FILE).write_text(yaml.safe_dump(CONFIG, sort_keys=False))
    snakemake(root, "--configfile", CONFIG_FILE)
    return root


def family_estimator(spec):
    """A family's estimator with its fixed kwargs, unfitted, as the workflow builds it."""
    return make_estimator(estimator_definition(spec), spec.get("kwargs"))


def data_and_splits(results):
    data = pd.read_parquet(results / "data/data.parquet")
    folds = pd.read_parquet(results / "data/folds.parquet")
    heldout = pd.read_parquet(results / "data/holdout.parquet")["holdout"].to_numpy()
    assert heldout.any() and all((folds[c].to_numpy()[heldout] == UNUSED).all() for c in folds)
    splits = [(np.flatnonzero(folds[c] == TRAIN), np.flatnonzero(folds[c] == TEST)) for c in folds]
    return data.drop(columns="target"), data["target"].to_numpy(), heldout, splits


def grid_search(X, y, splits):
    """GridSearchCV over both families at once (a list of grids, the family a pipeline step)."""
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline

    families = {"logreg": family_estimator(LOGREG), "tree": family_estimator(TREE)}
    grids = [{"model": [families[name]], **{f"model__{k}": v for k, v in spec["grid"].items()}}
             for name, spec in (("logreg", LOGREG), ("tree", TREE))]
    search = GridSearchCV(Pipeline([("model", families["logreg"])]), grids, cv=splits,
                          scoring={"accuracy": "accuracy", "roc_auc": "roc_auc"}, refit=False, error_score=np.nan)
    with pytest.warns(Warning):  # the failed fits of C=-1
        search.fit(X, y)
    keys = []
    for params in search.cv_results_["params"]:
        family = next(name for name, est in families.items() if type(params["model"]) is type(est))
        keys.append((family, json.dumps({k.removeprefix("model__"): v for k, v in params.items() if k != "model"},
                                        sort_keys=True)))
    return search.cv_results_, keys


def test_cv_results_equal_grid_search_cv_on_the_same_splits(run):
    results = run / "results/tiny-cv"
    X, y, _, splits = data_and_splits(results)
    expected, keys = grid_search(X, y, splits)
    table = pd.read_parquet(results / "cv_results.parquet")
    ours = [(m, json.dumps(json.loads(p), sort_keys=True)) for m, p in zip(table["model"], table["params"])]
    order = [keys.index(key) for key in ours]  # each of our rows' candidate in GridSearchCV
    assert sorted(order) == list(range(7))
    for metric in ("accuracy", "roc_auc"):
        for column in [f"split{k}_test_{metric}" for k in range(3)] + [f"mean_test_{metric}", f"std_test_{metric}"]:
            np.testing.assert_allclose(table[column], expected[column][order], rtol=0, atol=1e-12, err_msg=column)
        assert table[f"rank_test_{metric}"].tolist() == expected[f"rank_test_{metric}"][order].tolist()
        assert table[f"rank_test_{metric}"].dtype == np.int32
    failed = table["param_clf__C"] == -1.0
    assert table.loc[failed, "mean_test_roc_auc"].isna().all() and (table.loc[failed, "rank_test_roc_auc"] == 7).all()
    assert table.loc[failed, "n_failed"].tolist() == [3] and (table["mean_fit_time"] > 0).all()
    csv = pd.read_csv(results / "cv_results.csv")
    assert list(csv.columns) == list(table.columns)
    np.testing.assert_allclose(csv["mean_test_roc_auc"], table["mean_test_roc_auc"])
    assert table.loc[failed, "decision_vs_best"].isna().all()  # nothing to compare: every fit failed
    assert set(table.loc[~failed, "decision_vs_best"]) <= {"best", "equivalent", "undecided", "worse"}
    assert (table["decision_vs_best"] == "best").sum() == 1


def test_best_and_best_estimator_are_the_chosen_configuration_and_its_refit(run, tmp_path):
    from sklearn.metrics import accuracy_score

    res = Results(run / "results/tiny-cv")
    selection = json.loads((res.path / "selection.json").read_text())
    table = res.cv_results.set_index(["model", "config_id"])
    best = res.best()
    assert (best["model"], best["config_id"]) == (selection["overall"]["model"], selection["overall"]["config_id"])
    assert best["by"] == "roc_auc_mean" and best["model_file"] == selection["overall"]["model_file"]
    assert table.loc[(best["model"], best["config_id"]), "rank_test_roc_auc"] == 1
    by_accuracy = res.best(metric="accuracy")
    assert table.loc[(by_accuracy["model"], by_accuracy["config_id"]), "rank_test_accuracy"] == 1
    tree = res.best(metric="accuracy", family="tree")
    tree_rows = res.summary[res.summary["model"] == "tree"]
    assert tree["config_id"] == tree_rows.loc[tree_rows["accuracy_mean"].idxmax(), "config_id"]
    assert res.best(family="tree")["config_id"] == selection["models"]["tree"]["chosen"]["config_id"]

    X, y, heldout, _ = data_and_splits(res.path)
    estimator = res.best_estimator()
    params = best["params"]  # a dict, as best_params_
    assert {k: estimator.get_params()[k] for k in params} == params
    refit = family_estimator(LOGREG if best["model"] == "logreg" else TREE).set_params(**params)
    refit.fit(X[~heldout], y[~heldout])  # the refit on every training row, as GridSearchCV's best_estimator_
    np.testing.assert_array_equal(estimator.predict(X[heldout]), refit.predict(X[heldout]))
    assert accuracy_score(y[heldout], estimator.predict(X[heldout])) == pytest.approx(best["heldout_accuracy"])
    assert res.best_estimator(family="tree").max_depth == res.best(family="tree")["params"]["max_depth"]

    with pytest.raises(KeyError, match="did you mean 'tree'"):
        res.best(family="tre")
    with pytest.raises(KeyError, match="did you mean 'accuracy'"):
        res.best(metric="acuracy")
    copy = Results(shutil.copytree(res.path, tmp_path / "copy"))  # a copy works the same, and is ours to damage
    np.testing.assert_array_equal(copy.best_estimator().predict(X[heldout]), estimator.predict(X[heldout]))
    (copy.path / best["model_file"]).write_bytes(b"not the model")
    with pytest.raises(IntegrityError, match="SHA-256"):
        copy.best_estimator()


def test_cv_results_are_a_target_of_the_default_run(run):
    assert planned_jobs(run, "--configfile", CONFIG_FILE) == []
    (run / "results/tiny-cv/cv_results.csv").unlink()
    assert [rule for rule, _ in planned_jobs(run, "--configfile", CONFIG_FILE) if rule != "all"] == ["write_cv_results"]
