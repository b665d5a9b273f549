import json
import math

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from manymodels.experiment.generators import TRUE_COEFFICIENTS
from manymodels.task.streaming import (batch_loss, fit_stream_task, generate_logistic_interactions, iter_batches,
                                       progressive_scores)

PIPELINE = [
    {"name": "hash", "estimator": "manymodels.task.hashing.HashingInteractions", "kwargs": {}},
    {"name": "clf", "estimator": "sklearn.linear_model.SGDClassifier", "kwargs": {"loss": "log_loss"}},
]
STREAMING = {"batch_size": 500, "drop_fraction": 0.7, "loss": "log_loss", "classes": [0, 1]}


@pytest.fixture(scope="module")
def stream(tmp_path_factory):
    path = tmp_path_factory.mktemp("stream") / "data.parquet"
    generate_logistic_interactions(n_rows=10_000, random_state=0, row_group_size=3_000, out=str(path))
    return path


def test_generator_writes_row_groups_reproducibly(stream, tmp_path):
    meta = pq.ParquetFile(stream).metadata
    assert meta.num_rows == 10_000 and meta.num_row_groups == 4
    again = tmp_path / "again.parquet"
    generate_logistic_interactions(n_rows=10_000, random_state=0, row_group_size=3_000, out=str(again))
    assert pd.read_parquet(stream).equals(pd.read_parquet(again))
    assert list(TRUE_COEFFICIENTS.values())[0] == 0.9 and list(TRUE_COEFFICIENTS.values())[-1] == 0.1


def test_batches_from_parquet_and_csv_cover_every_row_in_order(stream, tmp_path):
    whole = pd.read_parquet(stream)
    batches = list(iter_batches(str(stream), ["x1", "y"], 700))
    assert max(len(b) for b in batches) == 700 and pd.concat(batches, ignore_index=True).equals(whole[["x1", "y"]])
    csv = tmp_path / "data.csv"
    whole.to_csv(csv, index=False)
    from_csv = pd.concat(list(iter_batches(str(csv), ["x1", "y"], 700)), ignore_index=True)
    assert np.allclose(from_csv["x1"], whole["x1"]) and (from_csv["y"] == whole["y"]).all()


def test_progressive_scores_drop_the_first_fraction():
    scores = progressive_scores([4.0, 3.0, 2.0, 1.0, 1.0], [2.0] * 5, 0.6)
    assert scores["model"] == 1.0 and scores["null"] == 2.0 and scores["relative"] == 0.5
    assert scores["n_batches_scored"] == 5 and scores["n_batches_kept"] == 2


def test_batch_losses():
    y, proba = np.array([0, 1]), np.array([[0.8, 0.2], [0.4, 0.6]])
    assert batch_loss(y, proba, loss="log_loss", classes=[0, 1]) == pytest.approx(-(math.log(0.8) + math.log(0.6)) / 2)
    assert batch_loss(y, proba, loss="squared", classes=[0, 1]) == pytest.approx((0.2**2 + 0.4**2) / 2)
    assert batch_loss(np.array([1.0, 3.0]), np.array([2.0, 2.0]), loss="squared", classes=None) == 1.0


def run(stream, tmp_path, params):
    log = fit_stream_task(model="sgd", config_id="0123456789", fold="stream", estimator=PIPELINE, kwargs={},
                          params=params, features=["x1", "x2", "x3"], label="y", data=str(stream), streaming=STREAMING,
                          out_model=str(tmp_path / "m.joblib"), out_meta=str(tmp_path / "m.json"))
    return log["log"], json.loads((tmp_path / "m.json").read_text())


def test_streaming_fit_beats_the_null_model_and_records_scores(stream, tmp_path):
    log, meta = run(stream, tmp_path, {"hash__degree": 2, "hash__n_features": 2**12, "clf__alpha": 0.01})
    p = meta["progressive"]
    assert meta["status"] == "ok" and meta["n_train"] == 10_000
    assert p["n_batches_scored"] == 19 and p["n_batches_kept"] == 19 - math.floor(19 * 0.7)
    assert p["model"] < p["null"] and 0 < p["relative"] < 1
    assert "progressive log_loss" in log


def test_a_failing_streaming_fit_is_recorded(stream, tmp_path):
    _, meta = run(stream, tmp_path, {"clf__alpha": -1.0})
    assert meta["status"] == "failed" and meta["error_type"] == "InvalidParameterError"
    assert math.isnan(meta["progressive"]["model"])
