"""Successive halving's rungs and decisions."""

import json

import numpy as np
import pandas as pd
import pytest

from manymodels import ConfigError
from manymodels.experiment.halving import describe_resource, n_rungs, resource_of, rung_fold, split_fold
from manymodels.search.halving import halving_decision
from manymodels.task.fit import _with_resource
from manymodels.task.score import write_row

MODELS = {"gmm": {"kwargs": {"max_iter": 90}}}


def test_rungs_follow_the_largest_family_and_the_smallest_resource():
    halving = {"resource": "n_samples", "factor": 3}
    assert n_rungs(halving, [44, 5], MODELS) == 4  # 44 -> 15 -> 5 -> 2: four rungs, 1/27 .. all of the rows
    assert n_rungs({**halving, "min_resources": 0.2}, [44], MODELS) == 2  # 1/3 is the least share above 0.2
    assert n_rungs(halving, [3], MODELS) == 2 and n_rungs(halving, [2], MODELS) == 1
    assert [rung_fold("2", r, 4, halving, MODELS, "gmm") for r in range(4)] == ["2~1of27", "2~1of9", "2~1of3", "2"]
    by_iterations = {"resource": "max_iter", "factor": 3, "min_resources": 10}
    assert n_rungs(by_iterations, [100], MODELS) == 3  # 10, 30, 90
    assert [rung_fold("0", r, 3, by_iterations, MODELS, "gmm") for r in range(3)] == ["0~max_iter=10", "0~max_iter=30",
                                                                                          "0"]
    with pytest.raises(ConfigError, match="halving.resource: 'max_iter' must be a fixed positive integer of every "
                                          r"family \(models.other.kwargs.max_iter\)"):
        n_rungs(by_iterations, [100], {**MODELS, "other": {"kwargs": {}}})
    assert split_fold("2~1of9") == ("2", "1of9") and split_fold("full") == ("full", None)
    assert resource_of("max_iter=30") == ("max_iter", 30) and describe_resource("1of9") == "1/9 of the training rows"


def test_a_rung_subsample_depends_on_the_fold_and_share_only():
    X = pd.DataFrame({"x": np.arange(90.0)})
    y = np.arange(90)
    X1, y1, kwargs = _with_resource("2~1of9", X, y, {"n_init": 1})
    X2, y2, _ = _with_resource("2~1of9", X, y, {})
    assert len(X1) == 10 and X1.equals(X2) and np.array_equal(y1, X1["x"].to_numpy()) and kwargs == {"n_init": 1}
    assert not X1.equals(_with_resource("3~1of9", X, y, {})[0])
    assert _with_resource("0~max_iter=10", X, y, {"max_iter": 90})[2] == {"max_iter": 10}


def test_the_best_third_of_each_family_go_on(tmp_path):
    metrics = {"acc": {}}
    means = {("a", f"a{i}00000000"): 0.5 + i / 100 for i in range(7)} | {("b", "b000000000"): 0.1}
    means[("a", "a000000000")] = float("nan")  # every fit failed: ranks last
    files = []
    for (model, config_id), value in means.items():
        for fold in ("0", "1"):
            path = tmp_path / "scores" / model / config_id / f"fold-{fold}~1of9.parquet"
            write_row({"model": model, "config_id": config_id, "fold": f"{fold}~1of9", "status": "ok", "acc": value},
                      metrics, str(path))
            files.append(str(path))
    out = tmp_path / "halving/rung-0.json"
    halving_decision(score_files=files, metric_names=["acc"], metric="acc", greater_is_better=True, factor=3, rung=0,
                     out=str(out))
    decision = json.loads(out.read_text())
    assert [s["config_id"] for s in decision["survivors"]] == ["a600000000", "a500000000", "a400000000", "b000000000"]
    assert decision["describe"] == "1/9 of the training rows" and len(decision["dropped"]) == 4
    assert next(d["reason"] for d in decision["dropped"] if d["config_id"] == "a000000000") == \
        "every fit failed with 1/9 of the training rows"
    # The survivors' fits at this rung are in no table: the decision counts them, once.
    assert decision["superseded_fits"]["a"]["fits"] == 6 and decision["superseded_fits"]["b"]["fits"] == 2


def test_a_configuration_whose_every_fit_failed_is_never_promoted(tmp_path):
    """Three configurations, factor 2: the quota is 2, but only one has a score."""
    files = []
    for config_id, value in (("a000000000", 0.5), ("a100000000", float("nan")), ("a200000000", float("nan"))):
        path = tmp_path / "scores" / "a" / config_id / "fold-0~1of4.parquet"
        write_row({"model": "a", "config_id": config_id, "fold": "0~1of4", "n_train": 10,
                   "status": "ok" if value == value else "failed", "acc": value}, {"acc": {}}, str(path))
        files.append(str(path))
    out = tmp_path / "halving/rung-0.json"
    halving_decision(score_files=files, metric_names=["acc"], metric="acc", greater_is_better=True, factor=2, rung=0,
                     out=str(out))
    decision = json.loads(out.read_text())
    assert [s["config_id"] for s in decision["survivors"]] == ["a000000000"]
    assert {d["reason"] for d in decision["dropped"]} == {"every fit failed with 1/4 of the training rows (about 10 rows)"}
