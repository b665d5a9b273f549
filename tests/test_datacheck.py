"""Families checked against the data before any job: the label's kind, non-numeric features."""

import copy

import numpy as np
import pandas as pd
import pytest

from manymodels import DataError
from manymodels.experiment.check import check_experiment

RNG = np.random.default_rng(0)
N = 120
TABLE = pd.DataFrame({
    "x": RNG.normal(size=N),
    "colour": RNG.choice(["red", "green", "blue"], size=N),
    "kind": RNG.choice(["a", "b"], size=N),
    "size": RNG.normal(10, 2, size=N).round(3),
    "count": RNG.integers(0, 100, size=N).astype(float),
    "one": ["only"] * N,
})
ENCODED = [{"name": "prep", "columns": [{"name": "cat", "select": "categorical",
                                          "estimator": "sklearn.preprocessing.OneHotEncoder"}],
            "remainder": "passthrough"},
           {"name": "clf", "estimator": "sklearn.linear_model.LogisticRegression"}]


@pytest.fixture
def table(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    TABLE.to_csv("table.csv", index=False)
    return "table.csv"


def config_with(model: dict, *, label="kind", features=("x", "colour"), metric="accuracy"):
    return {"data": {"source": "table.csv", "features": list(features), "label": label},
            "cv": {"splitter": "KFold", "n_splits": 3, "shuffle": True, "random_state": 0},
            "models": {"m": {**copy.deepcopy(model), "grid": model.get("grid", {"random_state": [0]})}},
            "metrics": {metric: metric}, "selection": {}}


def check(config):
    return check_experiment(config=config, config_file="exp.yaml")


LOGREG = {"estimator": "sklearn.linear_model.LogisticRegression"}
RIDGE = {"estimator": "sklearn.linear_model.Ridge", "grid": {"alpha": [1.0]}}


@pytest.mark.parametrize("config, message", [
    (config_with(LOGREG, label="size", features=("x",)),
     r"^exp\.yaml: data\.label: column 'size' of data source 'table\.csv' is continuous \(e\.g\. .*\), but models\.m "
     r"\(LogisticRegression\) is a classifier"),
    (config_with(LOGREG, label="count", features=("x",)),
     r"^exp\.yaml: data\.label: column 'count' of data source 'table\.csv' looks continuous \(\d+ distinct numbers "
     r"in 120 rows\), but models\.m \(LogisticRegression\) is a classifier"),
    (config_with(RIDGE, label="kind", features=("x",), metric="r2"),
     r"^exp\.yaml: data\.label: column 'kind' of data source 'table\.csv' is not numeric \(e\.g\. '[ab]'\), but "
     r"models\.m \(Ridge\) is a regressor"),
    (config_with(LOGREG, label="one", features=("x",)),
     r"^exp\.yaml: data\.label: column 'one' of data source 'table\.csv' has a single class \('only'\), but "
     r"models\.m \(LogisticRegression\) is a classifier"),
    (config_with({"estimator": "sklearn.mixture.GaussianMixture", "grid": {"n_components": [2]}}, label="one",
                 features=("x",), metric="ars"),
     r"^exp\.yaml: data\.label: column 'one' of data source 'table\.csv' has one value in every row \('only'\): no "
     r"metric can compare predictions with it$"),
    (config_with(LOGREG),
     r"^exp\.yaml: models\.m \(LogisticRegression\): feature column 'colour' of data source 'table\.csv' is not "
     r"numeric \(e\.g\. '\w+'\) and LogisticRegression cannot use it as it is \(ValueError: could not convert "
     r"string to float: .*\); put a column-wise step in front of it"),
    (config_with({"pipeline": [{"name": "prep", "columns": [{"name": "c", "select": ["colr"],
                                                               "estimator": "sklearn.preprocessing.OneHotEncoder"}]},
                               {"name": "clf", "estimator": "sklearn.linear_model.LogisticRegression"}],
                  "grid": {"clf__C": [1.0]}}),
     r"^exp\.yaml: models\.m\.pipeline\[0\]\.columns\[0\]\.select: column 'colr' is not a feature column of data "
     r"source 'table\.csv'; did you mean 'colour'\?$"),
])
def test_a_family_that_cannot_learn_from_the_data_stops_the_run(table, config, message):
    with pytest.raises(DataError, match=message):
        check(config)


@pytest.mark.parametrize("model", [
    {"pipeline": ENCODED, "grid": {"clf__C": [1.0]}},  # an encoder in front
    {"estimator": "sklearn.ensemble.HistGradientBoostingClassifier",  # native categorical support
     "kwargs": {"categorical_features": "from_dtype"}, "grid": {"max_iter": [10]}},
    {"estimator": "sklearn.linear_model.LogisticRegression"},  # unused below: numeric features only
])
def test_families_that_can_learn_from_the_data_pass(table, model):
    features = ("x",) if model == LOGREG else ("x", "colour")
    assert len(check(config_with(model, features=features))["tasks"]) == 1


def test_a_failure_that_is_not_about_the_columns_is_left_to_the_fits(table):
    # More components than rows: every fit fails at run time, whatever the columns are.
    model = {"estimator": "sklearn.mixture.GaussianMixture", "grid": {"n_components": [500]}}
    assert len(check(config_with(model, metric="ars"))["tasks"]) == 1
