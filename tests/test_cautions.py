"""Warnings a careful researcher wants: best value at the grid's edge, folds that disagree, metrics
that pick different winners, a winner tied with others, a degenerate pick."""

import json

import pandas as pd

from manymodels.results.cautions import careful_warnings

METRICS = {"acc": {"greater_is_better": True, "on": "test"}, "loss": {"greater_is_better": False, "on": "test"}}


def _entry(model, cid, params, value):
    return {"model": model, "config_id": cid, "params": params, "value": value}


def _summary(rows, values=None):
    """A summary table: ``values`` maps config_id to its acc and loss means (by default, none)."""
    values = values or {}
    return pd.DataFrame([{"model": m, "config_id": c, "params": json.dumps(p), **p, "n_ok": 3,
                          "acc_mean": values.get(c, (float("nan"), float("nan")))[0],
                          "loss_mean": values.get(c, (float("nan"), float("nan")))[1]} for m, c, p in rows])


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
    means = {"c0": (0.83, 0.3), "c1": (0.80, 0.2), "c2": (0.72, 0.4), "c3": (0.63, 0.5)}
    warnings = careful_warnings(_summary(rows, means), scores, choices, METRICS, grid_parameters={"m": []})
    kinds = {w["kind"]: w["message"] for w in warnings}
    assert "ranks 4 of 4 configurations on fold 2" in kinds["folds"]
    assert "acc picks m k=0; loss picks m k=1" in kinds["metrics"]


def test_metrics_that_agree_only_through_a_tie_do_not_disagree():
    rows = [("m", "c0", {"k": 0}), ("n", "c1", {"k": 1})]
    choices = {"selection_metric": "acc", "models": {"m": {"best": {}, "chosen": None}, "n": {"best": {}, "chosen": None}}}
    tied_on_acc = {"c0": (0.9, 0.3), "c1": (0.9, 0.2)}  # loss picks c1, which acc ties with c0
    assert not [w for w in careful_warnings(_summary(rows, tied_on_acc), SCORES_NONE, choices, METRICS)
                if w["kind"] == "metrics"]
    apart = {"c0": (0.91, 0.3), "c1": (0.9, 0.2)}
    assert [w["kind"] for w in careful_warnings(_summary(rows, apart), SCORES_NONE, choices, METRICS)] == ["metrics"]


SCORES_NONE = pd.DataFrame(columns=["model", "fold", "config_id", "acc"])
IN_SAMPLE = {"sil": {"greater_is_better": True, "on": "train"}, "ars": {"greater_is_better": True, "on": "train"}}


def test_a_winner_tied_with_other_configurations_is_said_with_how_the_tie_was_broken():
    """Three families give the same partition: the same silhouette and ARS (in-sample, as in
    configs/penguins-clustering.yaml); the first family listed wins by order alone."""
    rows = [("gmm", "g1", {"n": 2}), ("gmm", "g2", {"n": 3}), ("kmeans", "k1", {"n": 2}), ("agglo", "a1", {"n": 2})]
    summary = pd.DataFrame([{"model": m, "config_id": c, "params": json.dumps(p), **p, "n_ok": 5,
                             "sil_full": 0.5315 if p["n"] == 2 else 0.41, "ars_full": 0.6551 if p["n"] == 2 else 0.80}
                            for m, c, p in rows])
    winner = {"model": "gmm", "config_id": "g1", "params": {"n": 2}, "value": 0.5315, "by": "sil_full"}
    choices = {"selection_metric": "sil", "overall": winner, "models": {
        m: {"best": {}, "chosen": winner if m == "gmm" else None, "rule": "equivalent", "simplest_by": []}
        for m in ("gmm", "kmeans", "agglo")}}
    warnings = {w["kind"]: w["message"] for w in careful_warnings(summary, SCORES_NONE, choices, IN_SAMPLE)}
    assert "tied on sil_full (0.5315) with 2 other configurations: kmeans n=2; agglo n=2" in warnings["tie"]
    assert "same partition" in warnings["tie"] and "order of the model families in the config" in warnings["tie"]
    assert "sil picks gmm n=2 (tied with 2 more); ars picks gmm n=3" in warnings["metrics"]
    alone = summary.assign(sil_full=[0.5315, 0.41, 0.52, 0.50])
    assert "tie" not in {w["kind"] for w in careful_warnings(alone, SCORES_NONE, choices, IN_SAMPLE)}


def test_an_equal_mean_is_a_tie_only_when_every_fold_agrees():
    rows = [("m", "c0", {"k": 0}), ("m", "c1", {"k": 1})]
    winner = {"model": "m", "config_id": "c0", "params": {"k": 0}, "value": 0.8, "by": "acc_mean"}
    choices = {"selection_metric": "acc", "overall": winner,
               "models": {"m": {"best": {}, "chosen": winner, "rule": "best", "simplest_by": []}}}
    for folds_c1, tie in (([0.7, 0.9], False), ([0.8, 0.8], True)):
        scores = pd.DataFrame([{"model": "m", "config_id": c, "fold": str(f), "acc": v}
                               for c, vs in {"c0": [0.8, 0.8], "c1": folds_c1}.items() for f, v in enumerate(vs)])
        kinds = [w["kind"] for w in careful_warnings(_summary(rows, {"c0": (0.8, 0.1), "c1": (0.8, 0.1)}), scores,
                                                     choices, METRICS)]
        assert ("tie" in kinds) == tie, kinds


def test_a_degenerate_pick_carries_a_warning():
    rows = [("gmm", "g1", {"n": 342}), ("gmm", "g2", {"n": 3})]
    scores = pd.DataFrame([{"model": "gmm", "config_id": c, "params": json.dumps(p), "fold": "full", "acc": None,
                            "degenerate": "more free parameters (2051) than training rows (333)" if p["n"] > 100 else None}
                           for _, c, p in rows])
    picked = {"model": "gmm", "config_id": "g1", "params": {"n": 342}, "value": -1e5, "by": "bic_full"}
    chosen = {"model": "gmm", "config_id": "g2", "params": {"n": 3}, "value": 0.8, "by": "acc_mean"}
    choices = {"selection_metric": "acc", "overall": chosen,
               "models": {"gmm": {"best": {"bic": picked, "acc": chosen}, "chosen": chosen}}}
    warnings = [w for w in careful_warnings(_summary(rows), scores, choices, METRICS) if w["kind"] == "degenerate"]
    assert len(warnings) == 1
    assert warnings[0]["message"].startswith("gmm n=342 (bic picks it) is degenerate on 1 of its 1 fits (fold full): "
                                             "more free parameters (2051) than training rows (333)")
