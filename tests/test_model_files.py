"""Model files in either format: joblib or skops, checksummed, and skops loading only trusted types."""

import json

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.mixture import GaussianMixture
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from manymodels.task.fit import fit_task
from manymodels.task.io import IntegrityError, read_checked_json, sha256_file
from manymodels.task.model_files import (UntrustedTypes, fit_in_format, fit_to_skops, format_of, load_checked_model,
                                         record_failed_fit, suffix_of, write_model)
from manymodels.task.prepare import assign_folds, prepare_data, split_holdout

X, Y = load_iris(return_X_y=True, as_frame=True)

# A user's own estimator, in a module of its own (as `mine.py` beside a config would be).
OWN_MODULE = '''
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class Centroid(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.centres_ = np.array([np.asarray(X)[np.asarray(y) == c].mean(axis=0) for c in self.classes_])
        return self

    def predict(self, X):
        distances = ((np.asarray(X)[:, None, :] - self.centres_[None]) ** 2).sum(axis=2)
        return self.classes_[distances.argmin(axis=1)]
'''


@pytest.fixture
def own_module(tmp_path, monkeypatch):
    (tmp_path / "own_estimators.py").write_text(OWN_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    return importlib.import_module("own_estimators")


def test_suffixes_and_formats():
    assert suffix_of("joblib") == ".joblib" and suffix_of("skops") == ".skops"
    assert format_of("fits/m/0123456789/fold-0.skops") == "skops" and format_of("a/fold-full.joblib") == "joblib"
    with pytest.raises(ValueError, match="pickle"):
        suffix_of("pickle")
    with pytest.raises(ValueError, match="not a model file"):
        format_of("fold-0.json")


@pytest.mark.parametrize("estimator", [
    make_pipeline(StandardScaler(), SVC()),
    RandomForestClassifier(n_estimators=5, random_state=0),  # holds sklearn.tree._tree.Tree, which skops flags
    HistGradientBoostingClassifier(max_iter=5),               # holds its TreePredictor, also flagged by skops
], ids=["pipeline", "forest", "boosting"])
def test_built_in_estimators_round_trip_through_skops_with_their_checksum(tmp_path, estimator):
    fitted = estimator.fit(X, Y)
    path = tmp_path / "fold-0.skops"
    record = write_model(fitted, path)
    assert record == {"model_bytes": path.stat().st_size, "model_sha256": sha256_file(path)}
    loaded = load_checked_model(path, expected=record["model_sha256"], trust_file=False)  # as a user opens it
    assert type(loaded) is type(fitted)
    np.testing.assert_array_equal(loaded.predict(X), fitted.predict(X))


def test_a_joblib_file_is_written_and_read_as_before(tmp_path):
    fitted = GaussianMixture(2, random_state=0).fit(X)
    path = tmp_path / "fold-0.joblib"
    record = write_model(fitted, path)
    assert isinstance(joblib.load(path), GaussianMixture)  # a plain joblib file
    loaded = load_checked_model(path, expected=record["model_sha256"], trust_file=False)
    np.testing.assert_allclose(loaded.means_, fitted.means_)


def test_a_users_own_class_is_refused_in_one_line_until_trusted(tmp_path, own_module):
    fitted = own_module.Centroid().fit(X, Y)
    path = tmp_path / "fold-0.skops"
    record = write_model(fitted, path)
    with pytest.raises(UntrustedTypes) as caught:
        load_checked_model(path, expected=record["model_sha256"], trust_file=False)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    assert "own_estimators.Centroid" in message and "trusted=['own_estimators.Centroid']" in message
    assert caught.value.types == ["own_estimators.Centroid"]
    loaded = load_checked_model(path, expected=record["model_sha256"], trusted=["own_estimators.Centroid"],
                                trust_file=False)
    np.testing.assert_array_equal(loaded.predict(X), fitted.predict(X))
    # The run's own jobs read back the file they wrote (its checksum proves it): no trust needed.
    assert isinstance(load_checked_model(path, expected=record["model_sha256"]), own_module.Centroid)


def test_a_changed_skops_file_is_never_loaded(tmp_path):
    path = tmp_path / "fold-0.skops"
    record = write_model(GaussianMixture(2, random_state=0).fit(X), path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="does not match"):
        load_checked_model(path, expected=record["model_sha256"], trust_file=False)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    features = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    prepare_data(source="penguins", features=features, label="species", out_data=str(d / "data.parquet"),
                 out_summary=str(d / "summary.json"))
    split_holdout(data=str(d / "data.parquet"), holdout=None, label="species", out=str(d / "holdout.parquet"))
    assign_folds(data=str(d / "data.parquet"), holdout=str(d / "holdout.parquet"),
                 cv={"splitter": "KFold", "n_splits": 3, "shuffle": True, "random_state": 0}, label="species",
                 out_folds=str(d / "folds.parquet"))
    return {"features": features, "label": "species", "data": str(d / "data.parquet"), "folds": str(d / "folds.parquet")}


def fit_args(prepared, folder, suffix, params):
    where = folder / "fits" / "gmm" / "0123456789"
    where.mkdir(parents=True, exist_ok=True)
    return dict(model="gmm", config_id="0123456789", fold="0", estimator="sklearn.mixture.GaussianMixture",
                kwargs={"random_state": 0}, params=params, **prepared, out_model=str(where / f"fold-0{suffix}"),
                out_meta=str(where / "fold-0.json"))


def test_a_skops_fit_is_the_joblib_fit_kept_as_skops(prepared, tmp_path):
    plain = fit_args(prepared, tmp_path / "joblib", ".joblib", {"n_components": 3})
    fit_task(**plain)
    kept = fit_args(prepared, tmp_path / "skops", ".skops", {"n_components": 3})
    outcome = fit_to_skops(**kept)
    assert outcome["status"] == "ok"
    meta = read_checked_json(kept["out_meta"], model="gmm", config_id="0123456789", fold="0")
    before = read_checked_json(plain["out_meta"])
    assert meta["model_format"] == "skops" and "model_format" not in before
    assert meta["model_sha256"] == sha256_file(kept["out_model"]) != before["model_sha256"]
    assert meta["model_bytes"] == (tmp_path / "skops/fits/gmm/0123456789/fold-0.skops").stat().st_size
    assert {k: v for k, v in meta.items() if k not in ("model_sha256", "model_bytes", "model_format", "fitted_at",
                                                       "fit_seconds")} == \
        {k: v for k, v in before.items() if k not in ("model_sha256", "model_bytes", "fitted_at", "fit_seconds")}
    ours = load_checked_model(kept["out_model"], kept["out_meta"], trust_file=False)
    np.testing.assert_allclose(ours.means_, joblib.load(plain["out_model"]).means_)
    assert not list((tmp_path / "skops").rglob("*.joblib"))


def test_fit_in_format_checks_the_suffix_and_a_failed_skops_fit_is_recorded(prepared, tmp_path):
    args = fit_args(prepared, tmp_path, ".skops", {"n_components": 3})
    with pytest.raises(ValueError, match="not a joblib file"):
        fit_in_format("joblib", **args)
    record_failed_fit(model="gmm", config_id="0123456789", fold="0", error_type="WorkerCrash", error="killed",
                      out_model=args["out_model"], out_meta=args["out_meta"])
    meta = json.loads(open(args["out_meta"]).read())
    assert meta["status"] == "failed" and meta["error_type"] == "WorkerCrash" and meta["model_format"] == "skops"
    assert load_checked_model(args["out_model"], args["out_meta"], trust_file=False) is None
