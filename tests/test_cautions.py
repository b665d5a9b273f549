"""Warnings a careful researcher wants: best value at the grid's edge, folds that disagree, metrics
that pick different winners."""

import json

import pandas as pd

from manymodels.results.cautions import careful_warnings

METRICS = {"acc": {"greater_is_better": True, "on": "test"}, "loss": {"greater_is_better": False, "on": "test"}}


def _entry(model, cid, params, value):
    return {"model": model, "config_id": cid, "params": params, "value": value}


def _summary(rows):
    return pd.DataFrame([{"model": m, "config_id": c, "params": json.dumps(p), **p, "n_ok": 3} for m, c, p in rows])


def test_best_value_at_the_edge_of_a_grid_parameter_only():
    rows = [("m", f"c{a}", {"alpha": a, "seed": a * 10}) for a in (0.1, 1.0, 10.0)]
    choices = {"selection_metric": "acc", "models": {"m": {
        "best": {"acc": _entry("m", "c10.0", {"alpha": 10.0, "seed": 100.0}, 0.9),
                 "loss": _entry("m", "c10.0", {"alpha": 10.0, "seed": 100.0}, 0.1)},
        "chosen": None}}}
    warnings = careful_warnings(_summary(rows), pd.DataFrame(columns=["model", "fold", "config_id", "acc"]), choices,
                                METRICS, grid_parameters={"m": ["alpha"]})
    assert [w["kind"] for w in warnings] == ["edge"]
    assert "alpha=10, the largest value tried (0.1 to 10)" in warnings[0]["message"] and "widen" in warnings[0]["message"]
    inside = {**choices, "models": {"m": {**choices["models"]["m"], "best": {
        "acc": _entry("m", "c1.0", {"alpha": 1.0, "seed": 10.0}, 0.9)}}}}
    assert careful_warnings(_summary(rows), pd.DataFrame(columns=["model", "fold", "config_id", "acc"]), inside,
                            METRICS, grid_parameters={"m": ["alpha"]}) == []


def test_a_chosen_configuration_ranked_low_on_one_fold_and_metrics_that_disagree():
    rows = [("m", f"c{k}", {"k": k}) for k in range(4)]
    # c0 is best on average but ranks 4th of 4 on fold 2.
    fold_scores = {"c0": [0.95, 0.95, 0.60], "c1": [0.80, 0.80, 0.80], "c2": [0.70, 0.70, 0.75], "c3": [0.6, 0.6, 0.7]}
    scores = pd.DataFrame([{"model": "m", "config_id": c, "fold": str(f), "acc": v}
                           for c, vs in fold_scores.items() for f, v in enumerate(vs)])
    chosen = _entry("m", "c0", {"k": 0}, 0.83)
    choices = {"selection_metric": "acc", "models": {"m": {
        "best": {"acc": chosen, "loss": _entry("m", "c1", {"k": 1}, 0.2)}, "chosen": chosen}}}
    warnings = careful_warnings(_summary(rows), scores, choices, METRICS, grid_parameters={"m": []})
    kinds = {w["kind"]: w["message"] for w in warnings}
    assert "ranks 4 of 4 configurations on fold 2" in kinds["folds"]
    assert "acc picks k=0; loss picks k=1" in kinds["metrics"]
