"""Fold racing through real Snakemake: decisions as cached stages, fits only where a configuration
is still in the race, and every fit reused when the race changes or is switched off."""

from __future__ import annotations

import copy
import json

import pandas as pd
import pytest

from workflow_helpers import job_counts, make_workflow, planned_jobs, snakemake, write_config

pytestmark = pytest.mark.integration

RACING = {
    "data": {"source": "penguins", "features": ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"],
             "label": "species"},
    "cv": {"splitter": "KFold", "n_splits": 5, "shuffle": True, "random_state": 1},
    "models": {"gmm": {"estimator": "sklearn.mixture.GaussianMixture", "kwargs": {"n_init": 1, "random_state": 0},
                       "grid": {"n_components": [2, 3, 4, 6], "covariance_type": ["full", "spherical"]}}},
    "metrics": {"ars": {"function": "sklearn.metrics.adjusted_rand_score", "greater_is_better": True}},
    "selection": {"metric": "ars", "rope": 0.02},
    "racing": {"burn_in": 2, "alpha": 0.2},
}


def fit_times(results) -> dict[tuple[str, str], int]:
    """(config_id, fold) of every fit made so far, with its file's modification time."""
    return {(p.parent.name, p.stem.removeprefix("fold-")): p.stat().st_mtime_ns
            for p in (results / "fits").glob("gmm/*/fold-*.json")}


def test_racing_fits_the_contenders_only_and_reuses_every_fit_when_the_race_changes(tmp_path):
    config = copy.deepcopy(RACING)
    root = make_workflow(tmp_path / "wf", config)
    snakemake(root)
    results = root / "results/config"
    summary = pd.read_parquet(results / "summary.parquet")
    assert len(summary) == 8
    dropped = summary[summary["stopped_at"].notna()]
    assert len(dropped) >= 1 and dropped["stop_reason"].notna().all()
    fits = fit_times(results)
    for row in summary.itertuples():
        reached = 5 if pd.isna(row.stopped_at) else int(row.stopped_at.removeprefix("before fold "))
        assert {f for c, f in fits if c == row.config_id} == {str(k) for k in range(reached)}  # no 'full' needed
    decisions = [json.loads((results / f"race/fold-{k}.json").read_text()) for k in (2, 3, 4)]
    assert [len(d["folds_seen"]) for d in decisions] == [2, 3, 4]
    assert sum(len(d["dropped"]) for d in decisions) == len(dropped)
    chosen = json.loads((results / "selection.json").read_text())["overall"]
    assert pd.isna(summary.set_index("config_id").loc[chosen["config_id"], "stopped_at"])
    assert "Fold racing" in (results / "report.html").read_text() and (results / "plots/race.png").is_file()

    # A new configuration runs through the stages it survives; no fit already made is made again.
    config["models"]["gmm"]["grid"]["n_components"].append(8)
    write_config(root, config)
    snakemake(root)
    after = fit_times(results)
    assert all(after[key] == mtime for key, mtime in fits.items())
    new = {c for c, _ in after} - {c for c, _ in fits}
    assert len(new) == 2 and {f for c, f in after if c in new} >= {"0", "1"}

    # A longer burn-in: fits already made are reused, the others are made.
    config["racing"]["burn_in"] = 3
    write_config(root, config)
    snakemake(root)
    longer = fit_times(results)
    assert all(longer[key] == mtime for key, mtime in after.items())
    assert {c for c, f in longer if f == "2"} == {c for c, _ in longer}  # every configuration has fold 2 now

    # Racing off: exactly the fits the race skipped, nothing twice.
    config["racing"] = None
    write_config(root, config)
    planned = {(w["config_id"], w["fold"]) for rule, w in planned_jobs(root) if rule == "fit_model"}
    every = {(c, str(k)) for c in {c for c, _ in longer} for k in range(5)}
    assert planned == every - set(longer)
    assert job_counts(planned_jobs(root))["stage_decision"] == 0


def test_halving_fits_rungs_on_the_same_folds_and_its_last_rung_is_the_full_grid(tmp_path):
    config = copy.deepcopy(RACING)
    config.pop("racing")
    config["models"]["gmm"]["grid"]["n_components"] = [2, 3, 4, 5, 6]  # 10 configurations: 3 rungs
    config["halving"] = {"resource": "n_samples", "factor": 3, "min_resources": 0.1}
    root = make_workflow(tmp_path / "wf", config)
    snakemake(root)
    results = root / "results/config"
    decisions = [json.loads((results / f"halving/rung-{r}.json").read_text()) for r in (0, 1)]
    assert [d["describe"] for d in decisions] == ["1/9 of the training rows", "1/3 of the training rows"]
    assert [len(d["survivors"]) for d in decisions] == [4, 2]  # ceil(10 / 3), ceil(4 / 3)
    fits = fit_times(results)
    rung_folds = {c: {f for cc, f in fits if cc == c} for c, _ in fits}
    finishers = {s["config_id"] for s in decisions[1]["survivors"]}
    for config_id, folds in rung_folds.items():
        assert {f"{k}~1of9" for k in range(5)} <= folds  # every configuration, every fold, the first rung
        assert ({str(k) for k in range(5)} <= folds) == (config_id in finishers)
    scores = pd.read_parquet(results / "scores.parquet")
    assert set(scores["fold"]) == {str(k) for k in range(5)}  # each configuration at its last rung
    last = scores.groupby("config_id")["resource"].first()
    assert set(last[list(finishers)]) == {"the full resource"}
    chosen = json.loads((results / "selection.json").read_text())["overall"]["config_id"]
    assert chosen in finishers and "Successive halving" in (results / "report.html").read_text()

    # More configurations, and a larger factor: no fit already made is made again.
    config["models"]["gmm"]["grid"]["n_components"].append(7)
    config["halving"]["factor"] = 9
    write_config(root, config)
    snakemake(root)
    grown = fit_times(results)
    assert all(grown[key] == mtime for key, mtime in fits.items())
    assert {f for c, f in grown if c not in rung_folds} >= {f"{k}~1of9" for k in range(5)}  # the new ones' first rung
    fits, rung_folds = grown, {c: {f for cc, f in grown if cc == c} for c, _ in grown}
    finishers = {c for c, folds in rung_folds.items() if "0" in folds}

    # Halving off: the full grid runs only the fits it lacks; the last rung's fits are its own.
    config["halving"] = None
    write_config(root, config)
    planned = {(w["config_id"], w["fold"]) for rule, w in planned_jobs(root) if rule == "fit_model"}
    every = {(c, str(k)) for c in rung_folds for k in range(5)}
    assert planned == every - {(c, f) for c, f in fits}
    assert len(planned) == (len(rung_folds) - len(finishers)) * 5
