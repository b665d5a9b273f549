"""The Slurm profile's groups form valid group jobs for every kind of experiment.

Snakemake refuses a group that a job outside it depends on and that depends on that job in turn
(`Error in group ...`), and it forms the groups when it builds the DAG, so a quiet dry run with
``--profile profiles/slurm`` finds such a grouping without a cluster. One experiment for each shape
of DAG after the fits: nested CV with a held-out set, a selection checkpoint (the refit after it is
planned once it has run), a shared pipeline prefix and the plot of the test predictions (as
configs/tournament-classification.yaml, on a small grid); fold racing's stages, their checkpoint and
the plot of the race (the shipped config).
"""

from __future__ import annotations

import shutil

import pytest

from workflow_helpers import REPO, make_workflow, snakemake

pytestmark = pytest.mark.integration

TOURNAMENT = {
    "data": {"source": "sklearn:breast_cancer", "label": "target"},
    "holdout": {"size": 0.2, "stratify": True, "random_state": 0},
    "cv": {"splitter": "StratifiedKFold", "n_splits": 2, "shuffle": True, "random_state": 0},
    "nested": {"outer": {"splitter": "StratifiedKFold", "n_splits": 2, "shuffle": True, "random_state": 1}},
    "models": {"logreg": {
        "pipeline": [{"name": "scale", "estimator": "sklearn.preprocessing.StandardScaler"},
                     {"name": "clf", "estimator": "sklearn.linear_model.LogisticRegression"}],
        "grid": {"clf__C": [0.1, 1.0]},
    }},
    "metrics": {"accuracy": "accuracy"},
}


@pytest.mark.parametrize("configfile, rules", [
    (None, {"fit_prefix", "assign_outer_fold", "evaluate_outer_fold", "plot_test_predictions"}),
    ("configs/penguins-racing.yaml", {"stage_decision"}),
])
def test_the_slurm_profiles_groups_fit_each_kind_of_experiment(tmp_path, configfile, rules):
    root = make_workflow(tmp_path / "wf", TOURNAMENT)
    shutil.copytree(REPO / "configs", root / "configs")
    chosen = ["--configfile", configfile] if configfile else []
    run = snakemake(root, "--profile", "profiles/slurm", *chosen, "--dry-run", "--quiet", "rules", check=False)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    for rule in rules:
        assert rule in output, output[-4000:]
