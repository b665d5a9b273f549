"""Results that travel: skops model files (from the run, or exported), every configuration in a real
local MLflow store, and every path the selection documents name is a file that exists."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from manymodels.results.cli import main
from manymodels.results.export import ExportError, export_mlflow, export_skops
from manymodels.results.store import Results
from manymodels.results.verify import verify
from manymodels.task.io import IntegrityError
from manymodels.task.model_files import UntrustedTypes
from workflow_helpers import make_workflow, planned_jobs, snakemake

pytestmark = pytest.mark.integration

LOGREG = {
    "pipeline": [
        {"name": "scale", "estimator": "sklearn.preprocessing.StandardScaler"},
        {"name": "clf", "estimator": "sklearn.linear_model.LogisticRegression", "kwargs": {"max_iter": 1000}},
    ],
}
# A small tournament: held-out set, nested CV, a family with an integer and a null parameter, and a
# configuration whose every fit fails (C must be positive).
TOURNAMENT = {
    "data": {"source": "sklearn:iris", "label": "target"},
    "holdout": {"size": 0.2},
    "cv": {"splitter": "StratifiedKFold", "n_splits": 3, "shuffle": True, "random_state": 0},
    "nested": {"outer": {"splitter": "StratifiedKFold", "n_splits": 2, "shuffle": True, "random_state": 1}},
    "models": {
        "logreg": {**LOGREG, "grid": {"clf__C": [0.1, 1.0, -1.0]}},
        "forest": {"estimator": "sklearn.ensemble.RandomForestClassifier", "kwargs": {"n_estimators": 10},
                   "grid": {"max_depth": [None, 3]}},
    },
    "metrics": {"accuracy": "accuracy", "log_loss": "log_loss"},
    "selection": {"metric": "accuracy", "rope": 0.02},
}
OWN_MODULE = '''
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class Centroid(ClassifierMixin, BaseEstimator):
    """Nearest class centre: a user's own estimator."""

    def __init__(self, shrink=0.0):
        self.shrink = shrink

    def fit(self, X, y):
        X, y = np.asarray(X, dtype=float), np.asarray(y)
        self.classes_ = np.unique(y)
        self.centres_ = np.array([X[y == c].mean(axis=0) * (1 - self.shrink) for c in self.classes_])
        return self

    def predict(self, X):
        X = np.asarray(X, dtype=float)
        return self.classes_[((X[:, None, :] - self.centres_[None]) ** 2).sum(axis=2).argmin(axis=1)]
'''


@pytest.fixture(scope="module")
def tournament(tmp_path_factory):
    root = make_workflow(tmp_path_factory.mktemp("tournament") / "wf", TOURNAMENT)
    snakemake(root)
    return root / "results/config"


def model_paths(document) -> list[str]:
    """Every model file a selection document names (any ``model_file`` value, at any depth)."""
    if isinstance(document, dict):
        own = [document["model_file"]] if document.get("model_file") else []
        return own + [p for key, value in document.items() if key != "model_file" for p in model_paths(value)]
    if isinstance(document, list):
        return [p for item in document for p in model_paths(item)]
    return []


def check_named_files_exist(results: Path) -> int:
    """Every path in selection.json and nested.json names a file of the results directory; return how many."""
    paths = []
    for name in ("selection.json", "nested.json"):
        if (results / name).is_file():
            paths += model_paths(json.loads((results / name).read_text()))
    missing = [p for p in paths if not (results / p).is_file()]
    assert not missing, missing
    return len(paths)


def test_every_path_in_selection_and_nested_json_exists(tournament):
    nested = json.loads((tournament / "nested.json").read_text())
    outer = [o["chosen"]["model_file"] for o in nested["outer_folds"]]
    assert outer == [f"nested/outer-{i}/fits/{o['chosen']['model']}/{o['chosen']['config_id']}/fold-o{i}.joblib"
                     for i, o in enumerate(nested["outer_folds"])]
    assert check_named_files_exist(tournament) >= len(outer) + 2
    selection = json.loads((tournament / "selection.json").read_text())
    assert selection["model_format"] == "joblib"
    # refit: chosen: only the chosen configurations are refitted; the best by another metric has no file.
    for family in selection["models"].values():
        for entry in family["best"].values():
            if entry and entry["config_id"] != family["chosen"]["config_id"]:
                assert entry["model_file"] is None
    results = Results(tournament)
    path = nested["outer_folds"][0]["chosen"]["model_file"]
    assert hasattr(results.load_model(path), "predict")  # an outer fold's refit, by the path nested.json gives


def test_export_skops_converts_every_model_without_refitting(tournament, tmp_path):
    out = tmp_path / "copy"
    done = export_skops(tournament, out)
    joblib_files = sorted(p for p in tournament.rglob("*.joblib") if p.relative_to(tournament).parts[0] != "prefixes")
    assert done == {"out": out, "converted": len(joblib_files)} and len(joblib_files) > 40
    assert (tournament / "prefixes").is_dir() and not (out / "prefixes").exists()  # a cache of the fits: left out
    assert not list(out.rglob("*.joblib"))
    assert sorted(p.relative_to(out).with_suffix("") for p in out.rglob("*.skops")) == \
        sorted(p.relative_to(tournament).with_suffix("") for p in joblib_files)
    assert verify(out) == []  # every record now names the skops files' checksums
    check_named_files_exist(out)
    original, copy = Results(tournament), Results(out)
    assert copy.model_format == "skops" and copy.selection["model_format"] == "skops"
    pd.testing.assert_frame_equal(original.cv_results, copy.cv_results)
    assert (copy.tasks["model_sha256"] != original.tasks["model_sha256"]).all()
    X = pd.read_parquet(tournament / "data/data.parquet").drop(columns="target")
    for i in (0, 7, len(original.tasks) - 1):
        before, after = original.load_model(original.tasks.iloc[i]), copy.load_model(copy.tasks.iloc[i])
        if before is not None:
            np.testing.assert_array_equal(before.predict(X), after.predict(X))
    np.testing.assert_array_equal(original.best_estimator().predict(X), copy.best_estimator().predict(X))
    assert str(copy.best()["model_file"]).endswith(".skops")
    assert "fold-full.skops" in (out / "report.html").read_text() and ".joblib" not in (out / "report.html").read_text()
    with pytest.raises(ExportError, match="exists"):
        export_skops(tournament, out)


def test_export_skops_refuses_a_damaged_experiment(tournament, tmp_path):
    damaged = tmp_path / "damaged"
    shutil.copytree(tournament, damaged)
    model = next(damaged.glob("fits/forest/*/fold-1.joblib"))
    model.write_bytes(model.read_bytes()[:-10])
    with pytest.raises(ExportError) as caught:
        export_skops(damaged, tmp_path / "out")
    assert str(model) in str(caught.value) and "manymodels verify --repair" in str(caught.value)
    assert not (tmp_path / "out").exists()


def runs_of(uri: str, name: str) -> pd.DataFrame:
    import mlflow

    mlflow.set_tracking_uri(uri)
    return mlflow.search_runs(experiment_names=[name], max_results=10000)


def test_export_mlflow_twice_gives_one_parent_and_a_child_per_configuration(tournament, tmp_path):
    import mlflow
    import mlflow.sklearn

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    first = export_mlflow(tournament, tracking_uri=uri, experiment_name="tiny tournament")
    assert main(["export", "mlflow", str(tournament), "--tracking-uri", uri, "--experiment-name", "tiny tournament"]) == 0
    runs = runs_of(uri, "tiny tournament")
    cv = Results(tournament).cv_results
    parents = runs[runs["tags.manymodels.role"] == "experiment"]
    children = runs[runs["tags.manymodels.role"] == "configuration"]
    assert len(parents) == 1 and len(children) == len(cv) == 5 and len(runs) == 6
    assert parents["run_id"].iloc[0] == first["parent_run_id"]
    assert set(children["run_id"]) == set(first["child_run_ids"].values())  # updated, not duplicated
    assert (children["tags.mlflow.parentRunId"] == first["parent_run_id"]).all()
    merged = cv.merge(children, left_on="config_id", right_on="tags.manymodels.config_id", validate="one_to_one")
    metric_columns = [c for c in cv if c.startswith(("mean_", "std_", "split", "rank_", "se_corrected_", "sem_"))]
    assert {"split0_test_accuracy", "mean_test_log_loss", "se_corrected_test_accuracy", "mean_fit_time"} <= \
        set(metric_columns)
    for column in metric_columns + ["n_failed", "p_worse_than_best"]:
        np.testing.assert_allclose(merged[f"metrics.{column}"].astype(float), merged[column].astype(float),
                                   rtol=0, atol=0, err_msg=column)  # NaN where a split failed, as in cv_results
    for row in merged.to_dict("records"):
        params = json.loads(row["params"])
        assert json.loads(row["tags.params"]) == params
        for name, value in params.items():
            assert row[f"params.{name}"] == str(value)  # 3 stays "3", None is "None", 0.1 is "0.1"
            typed = row[f"param_{name}"]
            if not pd.isna(typed):
                assert row[f"params.{name}"] == str(typed)  # as cv_results types it (Int64: no "3.0")
        assert row["tags.verdict"] == (row["decision_vs_best"] if isinstance(row["decision_vs_best"], str) else "")
    failed = merged[[json.loads(p) == {"clf__C": -1.0} for p in merged["params"]]].iloc[0]
    assert failed["status"] == "FAILED" and failed["tags.status"] == "failed"
    assert "'C' parameter" in failed["tags.error"], failed["tags.error"]
    assert math.isnan(failed["metrics.mean_test_accuracy"])
    assert (merged[merged["n_failed"] == 0]["status"] == "FINISHED").all()
    assert set(merged["tags.chosen"]) == {"overall", "family", "no"}
    parent = mlflow.get_run(first["parent_run_id"])
    selection = Results(tournament).selection
    assert parent.data.tags["winner_config_id"] == selection["overall"]["config_id"]
    assert parent.data.metrics["winner_accuracy_mean"] == pytest.approx(selection["overall"]["value"], abs=0)
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(first["parent_run_id"])}
    assert {"selection.json", "cv_results.csv", "report.html", "nested.json", "plots"} <= artifacts
    model = mlflow.sklearn.load_model(parent.data.tags["chosen_model_uri"])
    X = pd.read_parquet(tournament / "data/data.parquet").drop(columns="target")
    np.testing.assert_array_equal(model.predict(X), Results(tournament).best_estimator().predict(X))


@pytest.fixture(scope="module")
def skops_experiment(tmp_path_factory):
    config = {
        "data": {"source": "sklearn:iris", "label": "target"},
        "cv": {"splitter": "StratifiedKFold", "n_splits": 3, "shuffle": True, "random_state": 0},
        "models": {"logreg": {**LOGREG, "grid": {"clf__C": [0.1, 1.0]}},
                   "centroid": {"estimator": "own_estimators.Centroid", "grid": {"shrink": [0.0, 0.1]}}},
        "metrics": {"accuracy": "accuracy"},
        "model_format": "skops",
    }
    root = make_workflow(tmp_path_factory.mktemp("skops") / "wf", config)
    (root / "own_estimators.py").write_text(OWN_MODULE)
    snakemake(root)
    return root


def test_a_skops_experiment_keeps_skops_files_and_refuses_a_users_class_until_trusted(skops_experiment):
    assert planned_jobs(skops_experiment) == []  # its skops fits are reused as joblib fits are
    results_dir = skops_experiment / "results/config"
    assert not list(results_dir.rglob("*.joblib"))
    assert len(list(results_dir.glob("fits/*/*/fold-*.skops"))) == 4 * 3
    assert len(list(results_dir.glob("models/*/*/fold-full.skops"))) == 2  # each family's choice, refitted
    assert verify(results_dir) == []
    check_named_files_exist(results_dir)
    results = Results(results_dir)
    assert results.model_format == "skops"
    X = pd.read_parquet(results_dir / "data/data.parquet").drop(columns="target")
    logreg = results.tasks[results.tasks["model"] == "logreg"].iloc[0]
    assert logreg["model_file"].endswith(".skops")
    assert len(results.load_model(logreg).predict(X)) == len(X)  # scikit-learn types load as they are
    assert len(results.best_estimator(family="logreg").predict(X)) == len(X)
    own = results.tasks[results.tasks["model"] == "centroid"].iloc[0]
    with pytest.raises(UntrustedTypes) as caught:
        results.load_model(own)
    message = str(caught.value)
    assert "\n" not in message and "own_estimators.Centroid" in message and "trusted=['own_estimators.Centroid']" in message
    import sys

    sys.path.insert(0, str(skops_experiment))
    try:
        model = results.load_model(own, trusted=["own_estimators.Centroid"])
        assert type(model).__name__ == "Centroid" and len(model.predict(X)) == len(X)
        with pytest.raises(UntrustedTypes):
            results.best_estimator(family="centroid")
        assert type(results.best_estimator(family="centroid", trusted=["own_estimators.Centroid"])).__name__ == "Centroid"
    finally:
        sys.path.remove(str(skops_experiment))
    # A changed skops file is refused before it is read, as a joblib file is.
    path = results_dir / logreg["model_file"]
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(IntegrityError, match="does not match"):
        results.load_model(logreg)

