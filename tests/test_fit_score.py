import json
import math

import joblib
import pandas as pd
import pytest

from manymodels.experiment.config import metric_specs
from manymodels.task.prepare import assign_folds, prepare_data, split_holdout
from manymodels.task.fit import fit_task
from manymodels.task.score import score_task

FEATURES = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
METRICS = metric_specs({
    "ars": {"function": "sklearn.metrics.adjusted_rand_score", "greater_is_better": True},
    "bic": {"method": "bic", "greater_is_better": False},
    "auc": {"function": "sklearn.metrics.roc_auc_score", "response": "decision_function", "greater_is_better": True},
})


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    prepare_data(source="penguins", features=FEATURES, label="species",
                 out_data=str(d / "data.parquet"), out_summary=str(d / "summary.json"))
    split_holdout(data=str(d / "data.parquet"), holdout=None, label="species", out=str(d / "holdout.parquet"))
    assign_folds(data=str(d / "data.parquet"), holdout=str(d / "holdout.parquet"), cv={"splitter": "KFold", "n_splits": 3, "shuffle": True, "random_state": 0},
                 label="species", out_folds=str(d / "folds.parquet"))
    return d


def artifact(tmp_path, ext, fold="0", model="gmm"):
    """A task's file where the workflow keeps it: fits/<model>/<config_id>/fold-<fold>.<ext>."""
    path = tmp_path / "fits" / model / "0123456789" / f"fold-{fold}.{ext}"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def run_fit(prepared, tmp_path, *, params, fold="0", kwargs=None, data=None):
    out = {"out_model": str(artifact(tmp_path, "joblib", fold)), "out_meta": str(artifact(tmp_path, "json", fold))}
    log = fit_task(model="gmm", config_id="0123456789", fold=fold, estimator="sklearn.mixture.GaussianMixture",
                   kwargs=kwargs if kwargs is not None else {"random_state": 0}, params=params,
                   features=FEATURES, label="species", data=data or str(prepared / "data.parquet"),
                   folds=split_file(prepared, fold), **out)
    return log["log"], json.loads(artifact(tmp_path, "json", fold).read_text())


def split_file(prepared, fold):
    return str(prepared / ("holdout.parquet" if fold == "full" else "folds.parquet"))


def run_score(prepared, tmp_path, fold="0"):
    return score_task(metrics=METRICS, features=FEATURES, label="species", data=str(prepared / "data.parquet"),
                      folds=split_file(prepared, fold), fit_model=str(artifact(tmp_path, "joblib", fold)),
                      fit_meta=str(artifact(tmp_path, "json", fold)), out_scores=str(tmp_path / "s.parquet"))


def test_fit_saves_the_estimator_and_its_metadata(prepared, tmp_path):
    log, meta = run_fit(prepared, tmp_path, params={"n_components": 3})
    est = joblib.load(artifact(tmp_path, "joblib"))
    assert est.n_components == 3 and hasattr(est, "means_")
    assert meta["status"] == "ok" and meta["n_train"] == 228 and meta["converged"] is True
    assert meta["fit_seconds"] > 0 and meta["n_iter"] >= 1 and meta["seed"] == 0
    assert "ok, fit in" in log


def test_unset_random_state_is_derived_from_the_config_id(prepared, tmp_path):
    from manymodels.experiment.tasks import derive_seed

    _, meta = run_fit(prepared, tmp_path, params={"n_components": 2}, kwargs={})
    assert meta["seed"] == derive_seed("0123456789")


def test_failing_fit_is_recorded_and_scored_as_nan(prepared, tmp_path):
    log, meta = run_fit(prepared, tmp_path, params={"n_components": 300})
    assert meta["status"] == "failed" and meta["error_type"] == "ValueError"
    assert "n_components = 300" in meta["error"]
    assert joblib.load(artifact(tmp_path, "joblib")) is None
    assert "Traceback" in log
    row = run_score(prepared, tmp_path)
    assert row["status"] == "failed" and all(math.isnan(row[m]) for m in METRICS)
    table = pd.read_parquet(tmp_path / "s.parquet")
    assert table.loc[0, "error_type"] == "ValueError" and len(table) == 1


def test_score_computes_test_and_in_sample_metrics(prepared, tmp_path):
    run_fit(prepared, tmp_path, params={"n_components": 3})
    row = run_score(prepared, tmp_path)
    est = joblib.load(artifact(tmp_path, "joblib"))
    data = pd.read_parquet(prepared / "data.parquet")
    folds = pd.read_parquet(prepared / "folds.parquet")["0"]
    from sklearn.metrics import adjusted_rand_score

    test, train = data[folds == 2], data[folds == 1]
    assert row["ars"] == adjusted_rand_score(test["species"], est.predict(test[FEATURES]))
    assert row["bic"] == est.bic(train[FEATURES])
    assert row["n_test"] == len(test)
    # A mixture has no decision_function: that metric is NaN with its reason, the others stand.
    assert math.isnan(row["auc"]) and row["score_error"].startswith("auc: AttributeError")


def test_full_fold_has_no_test_rows(prepared, tmp_path):
    run_fit(prepared, tmp_path, params={"n_components": 2}, fold="full")
    row = run_score(prepared, tmp_path, fold="full")
    assert row["n_train"] == 342 and row["n_test"] == 0
    assert math.isnan(row["ars"]) and not math.isnan(row["bic"])


def test_unreadable_input_fails_loudly(prepared, tmp_path):
    with pytest.raises(FileNotFoundError):
        run_fit(prepared, tmp_path, params={"n_components": 2}, data=str(tmp_path / "missing.parquet"))


CLUSTER_METRICS = metric_specs({
    "silhouette": "silhouette",  # on the test fold
    "silhouette_train": {"function": "sklearn.metrics.silhouette_score", "against": "features", "on": "train",
                         "greater_is_better": True},
    "ars_train": {"function": "sklearn.metrics.adjusted_rand_score", "on": "train", "greater_is_better": True},
})
SCALED = [{"name": "scale", "estimator": "sklearn.preprocessing.StandardScaler", "kwargs": {}},
          {"name": "cluster", "estimator": "sklearn.cluster.AgglomerativeClustering", "kwargs": {}}]


def test_a_clusterer_without_predict_is_scored_in_sample_on_its_fit_labels(prepared, tmp_path):
    from sklearn.metrics import adjusted_rand_score, silhouette_score

    fit_task(model="agglo", config_id="0123456789", fold="0", estimator=SCALED, kwargs={},
             params={"cluster__n_clusters": 3}, features=FEATURES, label="species",
             data=str(prepared / "data.parquet"), folds=split_file(prepared, "0"),
             out_model=str(artifact(tmp_path, "joblib", model="agglo")),
             out_meta=str(artifact(tmp_path, "json", model="agglo")))
    row = score_task(metrics=CLUSTER_METRICS, features=FEATURES, label="species", data=str(prepared / "data.parquet"),
                     folds=split_file(prepared, "0"), fit_model=str(artifact(tmp_path, "joblib", model="agglo")),
                     fit_meta=str(artifact(tmp_path, "json", model="agglo")), out_scores=str(tmp_path / "s.parquet"))
    est = joblib.load(artifact(tmp_path, "joblib", model="agglo"))
    data = pd.read_parquet(prepared / "data.parquet")
    train = data[pd.read_parquet(prepared / "folds.parquet")["0"] == 1]
    labels = est.steps[-1][1].labels_
    # f(X, labels) sees the rows as the clusterer did: scaled.
    assert row["silhouette_train"] == pytest.approx(silhouette_score(est[:-1].transform(train[FEATURES]), labels))
    assert row["ars_train"] == adjusted_rand_score(train["species"], labels)
    assert math.isnan(row["silhouette"])
    assert row["score_error"] == ("silhouette: AttributeError: AgglomerativeClustering has no predict, so it cannot "
                                  "label rows it was not fitted on: out-of-sample metrics need predict (in-sample "
                                  "ones, on: train, use its fit's labels)")


def test_a_clusterer_with_predict_is_scored_on_the_test_fold_against_the_features(prepared, tmp_path):
    from sklearn.metrics import silhouette_score

    run_fit(prepared, tmp_path, params={"n_components": 3})
    row = score_task(metrics=CLUSTER_METRICS, features=FEATURES, label="species", data=str(prepared / "data.parquet"),
                     folds=split_file(prepared, "0"), fit_model=str(artifact(tmp_path, "joblib")),
                     fit_meta=str(artifact(tmp_path, "json")), out_scores=str(tmp_path / "s.parquet"))
    est = joblib.load(artifact(tmp_path, "joblib"))
    data = pd.read_parquet(prepared / "data.parquet")
    test = data[pd.read_parquet(prepared / "folds.parquet")["0"] == 2]
    assert row["silhouette"] == silhouette_score(test[FEATURES], est.predict(test[FEATURES]))
    assert row["score_error"] is None


def test_text_features_are_prepared_as_categoricals(tmp_path):
    prepare_data(source="penguins", features=["bill_length_mm", "island", "sex"], label="species",
                 out_data=str(tmp_path / "data.parquet"), out_summary=str(tmp_path / "summary.json"))
    data = pd.read_parquet(tmp_path / "data.parquet")
    assert data["island"].dtype == "category" and list(data["island"].cat.categories) == ["Biscoe", "Dream",
                                                                                           "Torgersen"]
    assert data["bill_length_mm"].dtype == "float64" and data["species"].dtype != "category"  # the label as read


def test_a_degenerate_fit_is_said_in_its_score_row(prepared, tmp_path):
    """BIC can pick a mixture with more parameters than rows whose components collapsed onto single
    rows (unbounded likelihood): the score row says why the fit is degenerate; a sound one says nothing."""
    run_fit(prepared, tmp_path, params={"n_components": 100, "covariance_type": "spherical"})
    row = run_score(prepared, tmp_path)
    assert row["status"] == "ok" and "more free parameters (599) than training rows" in row["degenerate"]
    assert "collapsed onto a point" in row["degenerate"]
    run_fit(prepared, tmp_path, params={"n_components": 3})
    assert run_score(prepared, tmp_path)["degenerate"] is None


def test_the_diagnosis_of_clusterers_and_estimators_without_mixture_attributes():
    import numpy as np
    from sklearn.cluster import KMeans
    from sklearn.linear_model import LogisticRegression

    from manymodels.task.score import diagnose

    X = np.random.default_rng(0).normal(size=(40, 2))
    assert diagnose(KMeans(n_clusters=25, n_init=1, random_state=0).fit(X), 40) == \
        "n_clusters=25 for 40 training rows (about 1.6 rows each)"
    assert diagnose(KMeans(n_clusters=3, n_init=1, random_state=0).fit(X), 40) is None
    assert diagnose(LogisticRegression().fit(X, X[:, 0] > 0), 40) is None
