"""Your own code beside the config: a factory, a transformer and a metric in modules next to the
config file, importable in every worker; editing one reruns exactly the jobs that use it."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest
import yaml

from conftest import TINY_CONFIG
from workflow_helpers import copy_run, make_workflow, planned_jobs, snakemake

pytestmark = pytest.mark.integration

MODULES = {
    "own_models.py": """
from sklearn.linear_model import LogisticRegression


def logreg(C=1.0, max_iter=1000):
    return LogisticRegression(C=C, max_iter=max_iter)
""",
    "own_transforms.py": """
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin


class Log1p(TransformerMixin, BaseEstimator):
    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.log1p(np.asarray(X, dtype=float))
""",
    "own_metrics.py": """
import numpy as np


def agreement(y_true, y_pred):
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))
""",
}
CONFIG = {
    "data": {"source": "sklearn:iris", "label": "target"},
    "cv": {"splitter": "StratifiedKFold", "n_splits": 3, "shuffle": True, "random_state": 0},
    "models": {
        "factory": {"estimator": "own_models.logreg", "kwargs": {"max_iter": 500}, "grid": {"C": [0.1, 1.0]}},
        "logged": {"pipeline": [{"name": "log", "estimator": "own_transforms.Log1p"},
                                {"name": "clf", "estimator": "sklearn.linear_model.LogisticRegression"}],
                   "grid": {"clf__C": [0.1, 1.0]}},
    },
    "metrics": {"agreement": {"function": "own_metrics.agreement", "greater_is_better": True},
                "accuracy": "accuracy"},
}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = make_workflow(tmp_path_factory.mktemp("own") / "wf", TINY_CONFIG)
    (root / "mine").mkdir()
    for name, text in MODULES.items():
        (root / "mine" / name).write_text(text)
    (root / "mine/own.yaml").write_text(yaml.safe_dump(CONFIG, sort_keys=False))
    snakemake(root, "--configfile", "mine/own.yaml")
    return root


def test_own_estimators_transformers_and_metrics_run_in_the_workers(finished):
    scores = pd.read_parquet(finished / "results/own/scores.parquet")
    assert (scores["status"] == "ok").all() and set(scores["model"]) == {"factory", "logged"}
    assert scores["agreement"].notna().all() and (scores["agreement"] == scores["accuracy"]).all()


@pytest.mark.parametrize("module, fits, scores", [
    ("own_metrics.py", {}, {"factory": 6, "logged": 6}),  # every score, no fit
    ("own_transforms.py", {"logged": 6}, {"logged": 6}),  # the family that uses it
    ("own_models.py", {"factory": 6}, {"factory": 6}),
])
def test_editing_an_own_module_reruns_exactly_what_uses_it(finished, tmp_path, module, fits, scores):
    root = copy_run(finished, tmp_path / "wf")  # a copy elsewhere: own code is hashed by name, not place
    path = root / "mine" / module
    path.write_text(path.read_text() + "\n# edited\n")
    jobs = planned_jobs(root, "--configfile", "mine/own.yaml")
    by_family = {"fit_model": Counter(), "score_model": Counter()}
    for rule, wildcards in jobs:
        if rule in by_family:
            by_family[rule][wildcards["model"]] += 1
    assert by_family["fit_model"] == fits and by_family["score_model"] == scores
