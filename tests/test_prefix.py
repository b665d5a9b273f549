"""Shared pipeline prefixes: which configurations share one (experiment.prefixes), and the prefix and
final-step fits (task.prefix), against a Pipeline fitted in one go."""

from __future__ import annotations

import json

import joblib
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from manymodels.experiment.data import TEST, TRAIN
from manymodels.experiment.estimators import build_estimator
from manymodels.experiment.prefixes import estimated_cells, shared_prefixes
from manymodels.experiment.tasks import expand_tasks
from manymodels.task.fit import fit_task
from manymodels.task.io import IntegrityError, read_checked_json
from manymodels.experiment.config import metric_specs
from manymodels.task.prefix import (fit_final_task, fit_prefix_task, read_output, score_final_task, write_model,
                                 write_output)
from manymodels.task.score import score_task

pytestmark = pytest.mark.fast

STEPS = [{"name": "kpca", "estimator": "sklearn.decomposition.KernelPCA", "kwargs": {"kernel": "rbf"}},
         {"name": "clf", "estimator": "sklearn.linear_model.LogisticRegression", "kwargs": {"max_iter": 500}}]
SPEC = {"pipeline": STEPS, "kwargs": {"kpca__random_state": 0}}


def tasks_of(grid_points, spec=SPEC):
    return expand_tasks({"m": spec}, {"m": grid_points})


@pytest.fixture
def split(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 5))
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(5)])
    frame["y"] = (X[:, 0] + X[:, 1] ** 2 > 1).astype(int)
    frame.to_parquet(tmp_path / "data.parquet")
    codes = np.where(np.arange(120) % 4 == 0, TEST, TRAIN).astype("int8")
    pd.DataFrame({"0": codes}).to_parquet(tmp_path / "folds.parquet")
    return {"data": str(tmp_path / "data.parquet"), "folds": str(tmp_path / "folds.parquet"),
            "features": [f"x{i}" for i in range(5)], "label": "y"}


def prefix_files(tmp_path, pid):
    stem = tmp_path / "prefixes" / "m" / pid / "fold-0"
    return {"out_model": f"{stem}.joblib", "out_train": f"{stem}.train.parquet", "out_test": f"{stem}.test.parquet",
            "out_meta": f"{stem}.json"}


def fit_shared(tmp_path, split, task, shared):
    files = prefix_files(tmp_path, shared["prefix_id"])
    if not (tmp_path / files["out_meta"]).exists():
        fit_prefix_task(model="m", prefix_id=shared["prefix_id"], fold="0", steps=shared["steps"],
                        options=shared["options"], **split, **files)
    out = tmp_path / "fits" / "m" / task["config_id"]
    outcome = fit_final_task(model="m", config_id=task["config_id"], fold="0",
                             **{k: task[k] for k in ("estimator", "kwargs", "params", "fit_kwargs")}, **split,
                             out_model=str(out / "fold-0.joblib"), out_meta=str(out / "fold-0.json"),
                             prefix_model=files["out_model"], prefix_train=files["out_train"],
                             prefix_meta=files["out_meta"])
    return outcome, out


def test_values_of_the_final_step_share_a_prefix_and_prefix_values_do_not():
    tasks = tasks_of([{"kpca__gamma": g, "clf__C": c} for g in (0.1, 1.0) for c in (0.1, 1.0, 10.0)])
    shared = shared_prefixes({"models": {"m": SPEC}}, tasks, n_features=5, n_rows=100)
    assert len(shared) == 6
    by_gamma = {}
    for task in tasks:
        by_gamma.setdefault(task["params"]["kpca__gamma"], set()).add(shared[("m", task["config_id"])]["prefix_id"])
    assert all(len(ids) == 1 for ids in by_gamma.values()) and by_gamma[0.1] != by_gamma[1.0]
    # Editing the final step's kwargs keeps every prefix.
    edited = {**SPEC, "pipeline": [STEPS[0], {**STEPS[1], "kwargs": {"max_iter": 900}}]}
    again = shared_prefixes({"models": {"m": edited}}, tasks_of([t["params"] for t in tasks], edited),
                            n_features=5, n_rows=100)
    assert {p["prefix_id"] for p in again.values()} == {p["prefix_id"] for p in shared.values()}


def test_what_does_not_share_its_prefix():
    tasks = tasks_of([{"clf__C": 1.0}])
    assert shared_prefixes({"models": {"m": {**SPEC, "share_prefix": False}}}, tasks, n_features=5, n_rows=100) == {}
    unseeded = {**SPEC, "kwargs": {}}  # KernelPCA's random_state would derive from each config_id
    assert shared_prefixes({"models": {"m": unseeded}}, tasks_of([{"clf__C": 1.0}], unseeded),
                           n_features=5, n_rows=100) == {}
    assert shared_prefixes({"models": {"m": SPEC}, "streaming": {"batch_size": 10}}, tasks,
                           n_features=5, n_rows=100) == {}
    big = tasks_of([{"kpca__n_components": 1000, "clf__C": 1.0}])
    assert estimated_cells(STEPS[:1], {"kpca__n_components": 1000}, n_rows=100_000, n_features=5) == 10**8
    assert shared_prefixes({"models": {"m": SPEC}}, big, n_features=5, n_rows=100_000) == {}
    assert len(shared_prefixes({"models": {"m": SPEC}}, big, n_features=5, n_rows=1_000)) == 1
    plain = {"estimator": "sklearn.linear_model.LogisticRegression"}
    assert shared_prefixes({"models": {"m": plain}}, tasks_of([{"C": 1.0}], plain), n_features=5, n_rows=10) == {}


def test_a_pipeline_fitted_on_its_shared_prefix_predicts_as_one_fitted_in_one_go(tmp_path, split):
    tasks = tasks_of([{"kpca__gamma": 0.2, "kpca__n_components": 4, "clf__C": c} for c in (0.1, 10.0)])
    shared = shared_prefixes({"models": {"m": SPEC}}, tasks, n_features=5, n_rows=120)
    X = pd.read_parquet(split["data"])[split["features"]]
    for task in tasks:
        outcome, out = fit_shared(tmp_path, split, task, shared[("m", task["config_id"])])
        assert outcome["status"] == "ok"
        whole = tmp_path / "whole" / task["config_id"]
        fit_task(model="m", config_id=task["config_id"], fold="0",
                 **{k: task[k] for k in ("estimator", "kwargs", "params", "fit_kwargs")}, **split,
                 out_model=str(whole / "fold-0.joblib"), out_meta=str(whole / "fold-0.json"))
        kept, one_go = joblib.load(out / "fold-0.joblib"), joblib.load(whole / "fold-0.joblib")
        assert type(kept).__name__ == "Pipeline" and [n for n, _ in kept.steps] == ["kpca", "clf"]
        assert kept.get_params(deep=True).keys() == one_go.get_params(deep=True).keys()
        np.testing.assert_array_equal(kept.predict(X), one_go.predict(X))
        np.testing.assert_allclose(kept.predict_proba(X), one_go.predict_proba(X), rtol=0, atol=1e-12)
        meta = read_checked_json(out / "fold-0.json")
        expected = read_checked_json(whole / "fold-0.json")
        for key in ("status", "n_train", "seed", "n_warnings", "converged", "n_iter"):
            assert meta[key] == expected[key], key
    assert len(list((tmp_path / "prefixes" / "m").iterdir())) == 1  # one prefix for both values of C


# Out of sample and in sample, a response method and an estimator method, a metric against the
# features (as the final step sees them), one the final step cannot give (log loss of a linear SVM)
# and one the Pipeline has no method for (bic): each must come out as score_task's.
SCORED = metric_specs({
    "accuracy": "accuracy",
    "log_loss": "log_loss",
    "auc": {"function": "sklearn.metrics.roc_auc_score", "response": "decision_function", "greater_is_better": True},
    "train_accuracy": {"method": "score", "needs_y": True, "on": "train", "greater_is_better": True},
    "silhouette": {"function": "sklearn.metrics.silhouette_score", "against": "features", "greater_is_better": True},
    "bic": {"method": "bic", "greater_is_better": False},
})


@pytest.mark.parametrize("final", ["sklearn.linear_model.LogisticRegression", "sklearn.svm.LinearSVC"])
def test_a_fit_on_a_shared_prefix_scores_as_the_whole_pipeline_does(tmp_path, split, final, monkeypatch):
    """The score job reads the prefix's stored output rather than transforming the rows again; its row
    is score_task's on the same kept Pipeline, errors included."""
    from sklearn.decomposition import KernelPCA

    spec = {**SPEC, "pipeline": [STEPS[0], {"name": "clf", "estimator": final, "kwargs": {}}]}
    tasks = tasks_of([{"kpca__gamma": 0.2, "kpca__n_components": 4, "clf__C": 0.5}], spec)
    task = tasks[0]
    shared = shared_prefixes({"models": {"m": spec}}, tasks, n_features=5, n_rows=120)[("m", task["config_id"])]
    _, out = fit_shared(tmp_path, split, task, shared)
    files = prefix_files(tmp_path, shared["prefix_id"])
    common = dict(metrics=SCORED, **split, fit_model=str(out / "fold-0.joblib"), fit_meta=str(out / "fold-0.json"))
    whole = score_task(**common, out_scores=str(tmp_path / "whole.parquet"))
    monkeypatch.setattr(KernelPCA, "transform", lambda *_: pytest.fail("the stored output is transformed again"))
    stored = score_final_task(**common, out_scores=str(tmp_path / "stored.parquet"), prefix_train=files["out_train"],
                              prefix_test=files["out_test"], prefix_meta=files["out_meta"])
    for key in set(whole) - {"score_seconds", "scored_at"}:
        assert whole[key] == pytest.approx(stored[key], abs=1e-12, nan_ok=True), key
    assert "bic: AttributeError" in stored["score_error"]
    assert ("log_loss: AttributeError" in stored["score_error"]) == (final.endswith("LinearSVC"))
    assert not np.isnan(stored["silhouette"]) and not np.isnan(stored["train_accuracy"])
    a, b = pd.read_parquet(tmp_path / "whole.parquet"), pd.read_parquet(tmp_path / "stored.parquet")
    assert list(a.columns) == list(b.columns) and a.dtypes.equals(b.dtypes)


def test_a_failed_fit_on_a_shared_prefix_is_scored_as_any_failed_fit(tmp_path, split):
    tasks = tasks_of([{"kpca__n_components": -3, "clf__C": 0.5}])
    shared = shared_prefixes({"models": {"m": SPEC}}, tasks, n_features=5, n_rows=120)[("m", tasks[0]["config_id"])]
    _, out = fit_shared(tmp_path, split, tasks[0], shared)
    files = prefix_files(tmp_path, shared["prefix_id"])
    row = score_final_task(metrics=SCORED, **split, fit_model=str(out / "fold-0.joblib"),
                           fit_meta=str(out / "fold-0.json"), out_scores=str(tmp_path / "s.parquet"),
                           prefix_train=files["out_train"], prefix_test=files["out_test"],
                           prefix_meta=files["out_meta"])
    assert row["status"] == "failed" and all(np.isnan(row[name]) for name in SCORED)


def test_a_model_is_compressed_only_when_that_pays(tmp_path):
    """Dense float arrays (a kernel PCA's rows and eigenvectors) shrink by a few percent: kept as they
    are; a small fitted model of repeated values shrinks much: compressed, as every fit's model."""
    noise = np.random.default_rng(0).normal(size=(400, 300))
    dense, repetitive = write_model(noise, str(tmp_path / "a.joblib")), write_model(np.zeros((400, 300)),
                                                                                      str(tmp_path / "b.joblib"))
    assert dense["model_bytes"] >= noise.nbytes and repetitive["model_bytes"] < noise.nbytes / 20
    np.testing.assert_array_equal(joblib.load(tmp_path / "a.joblib"), noise)
    assert not joblib.load(tmp_path / "b.joblib").any()


def test_a_prefix_that_raises_fails_each_of_its_configurations_with_its_error(tmp_path, split):
    tasks = tasks_of([{"kpca__n_components": -3, "clf__C": c} for c in (0.1, 10.0)])
    shared = shared_prefixes({"models": {"m": SPEC}}, tasks, n_features=5, n_rows=120)
    errors = []
    for task in tasks:
        outcome, out = fit_shared(tmp_path, split, task, shared[("m", task["config_id"])])
        meta = read_checked_json(out / "fold-0.json")
        assert outcome["status"] == meta["status"] == "failed"
        assert joblib.load(out / "fold-0.joblib") is None
        errors.append((meta["error_type"], meta["error"]))
    whole = tmp_path / "whole"
    task = tasks[0]
    fit_task(model="m", config_id=task["config_id"], fold="0",
             **{k: task[k] for k in ("estimator", "kwargs", "params", "fit_kwargs")}, **split,
             out_model=str(whole / "fold-0.joblib"), out_meta=str(whole / "fold-0.json"))
    one_go = json.loads((whole / "fold-0.json").read_text())
    assert errors == [(one_go["error_type"], one_go["error"])] * 2


@pytest.mark.parametrize("value", [
    np.arange(12, dtype=float).reshape(4, 3) / 7,
    np.arange(8, dtype=np.float32).reshape(4, 2),
    pd.DataFrame({"a": [1.5, 2.5], "b": [3, 4]}, index=[7, 9]),
    sp.random(6, 4, density=0.3, format="csr", random_state=0),
    None,
])
def test_a_prefix_output_reads_back_as_written(tmp_path, value):
    info = write_output(value, str(tmp_path / "out.parquet"))
    back = read_output(str(tmp_path / "out.parquet"), info)
    if value is None:
        assert back is None
    elif isinstance(value, pd.DataFrame):
        pd.testing.assert_frame_equal(back, value)
    elif sp.issparse(value):
        assert back.format == "csr" and (back != value).nnz == 0
    else:
        assert back.dtype == value.dtype
        np.testing.assert_array_equal(back, value)


def test_a_modified_prefix_output_is_never_read(tmp_path):
    info = write_output(np.ones((3, 2)), str(tmp_path / "out.parquet"))
    write_output(np.zeros((3, 2)), str(tmp_path / "out.parquet"))
    with pytest.raises(IntegrityError, match="SHA-256"):
        read_output(str(tmp_path / "out.parquet"), info)


def test_a_skops_experiment_shares_no_prefix():
    """Its models are skops files, safe to open elsewhere; a prefix's fitted steps would be a joblib file."""
    from manymodels.experiment.prefixes import shared_prefixes

    config = {"models": {"m": {}}, "model_format": "skops"}
    task = {"model": "m", "config_id": "a" * 10, "kwargs": {}, "params": {}, "fit_kwargs": {},
            "estimator": [{"name": "scale", "estimator": "sklearn.preprocessing.StandardScaler", "kwargs": {}},
                          {"name": "clf", "estimator": "sklearn.linear_model.LogisticRegression", "kwargs": {}}]}
    assert shared_prefixes(config, [task], n_features=4, n_rows=100) == {}
    assert shared_prefixes({**config, "model_format": "joblib"}, [task], n_features=4, n_rows=100) != {}
