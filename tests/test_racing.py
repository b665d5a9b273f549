"""Fold racing's decisions: who goes on to the next fold, who is dropped and why."""

import json
import math

import pytest

from manymodels.search.racing import race_decision
from manymodels.results.stages import stage_outcome
from manymodels.task.score import write_row

METRICS = {"acc": {"greater_is_better": True, "on": "test"}}

# Accuracy per configuration on the first three folds.
SCORES = {
    ("a", "a0best0000"): [0.90, 0.92, 0.91],
    ("a", "a1close000"): [0.89, 0.93, 0.90],  # close to the best: goes on
    ("a", "a2worse000"): [0.70, 0.80, 0.71],  # worse on every fold: dropped at level 0.05
    ("a", "a3failed00"): [math.nan, math.nan, math.nan],  # every fit failed: dropped
    ("b", "b0only0000"): [0.60, 0.61, 0.59],  # the best (only) of its family: goes on
}


def _files(tmp_path, scores):
    files = []
    for (model, config_id), values in scores.items():
        for fold, value in enumerate(values):
            failed = math.isnan(value)
            path = tmp_path / "scores" / model / config_id / f"fold-{fold}.parquet"
            write_row({"model": model, "config_id": config_id, "fold": str(fold), "status": "failed" if failed else "ok",
                       "n_train": 80, "n_test": 20, "acc": value}, METRICS, str(path))
            files.append(str(path))
    return files


def test_the_decision_drops_the_significantly_worse_and_the_failed_within_each_family(tmp_path):
    out = tmp_path / "race/fold-3.json"
    race_decision(score_files=_files(tmp_path, SCORES), metric_names=["acc"], metric="acc", greater_is_better=True,
                  alpha=0.05, fold="3", out=str(out))
    decision = json.loads(out.read_text())
    assert decision["folds_seen"] == ["0", "1", "2"]
    assert {s["config_id"] for s in decision["survivors"]} == {"a0best0000", "a1close000", "b0only0000"}
    dropped = {d["config_id"]: d for d in decision["dropped"]}
    assert set(dropped) == {"a2worse000", "a3failed00"}
    assert "worse than the family's best a0best0000" in dropped["a2worse000"]["reason"]
    assert dropped["a2worse000"]["p_one_sided"] < 0.05 and dropped["a2worse000"]["mean_difference"] < 0
    assert "every fit failed" in dropped["a3failed00"]["reason"]
    assert decision["leaders"]["a"]["config_id"] == "a0best0000"
    assert decision["leaders"]["b"]["mean"] == pytest.approx(0.60)
    outcome = stage_outcome([str(out)]).set_index("config_id")
    assert outcome.loc["a2worse000", "stopped_at"] == "before fold 3"


def test_lower_is_better_and_a_stricter_level_keeps_more(tmp_path):
    losses = {key: [1 - v for v in values] for key, values in SCORES.items()}
    out = tmp_path / "race/fold-3.json"
    race_decision(score_files=_files(tmp_path, losses), metric_names=["acc"], metric="acc", greater_is_better=False,
                  alpha=0.05, fold="3", out=str(out))
    assert {d["config_id"] for d in json.loads(out.read_text())["dropped"]} == {"a2worse000", "a3failed00"}
    race_decision(score_files=_files(tmp_path, losses), metric_names=["acc"], metric="acc", greater_is_better=False,
                  alpha=1e-6, fold="3", out=str(out))
    assert {d["config_id"] for d in json.loads(out.read_text())["dropped"]} == {"a3failed00"}
