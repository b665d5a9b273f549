"""Results made by the code before searches became strategies (commit d576a31: fold racing and
successive halving with a checkpoint each) are reused by today's code: the same command plans the
decisions again and fits nothing."""

from __future__ import annotations

import copy
import io
import subprocess
import tarfile

import pytest

from workflow_helpers import REPO, make_workflow, snakemake, write_config

pytestmark = pytest.mark.integration

BEFORE = "d576a31"  # the last commit with race_decision / halving_decision and results/halving.py
CONFIG = {
    "data": {"source": "penguins", "features": ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"],
             "label": "species"},
    "cv": {"splitter": "KFold", "n_splits": 4, "shuffle": True, "random_state": 1},
    "models": {"gmm": {"estimator": "sklearn.mixture.GaussianMixture", "kwargs": {"n_init": 1, "random_state": 0},
                       "grid": {"n_components": [2, 3, 4, 6], "covariance_type": ["full", "spherical"]}}},
    "metrics": {"ars": {"function": "sklearn.metrics.adjusted_rand_score", "greater_is_better": True}},
    "selection": {"metric": "ars"},
}
SEARCHES = {"racing": {"racing": {"burn_in": 2, "alpha": 0.2}},
            "halving": {"halving": {"factor": 2, "min_resources": 0.25}}}


def old_workflow(root):
    """The Snakefile, package and profiles of commit BEFORE, from this repository's history."""
    try:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", BEFORE, "Snakefile", "workflow", "profiles"],
                                 capture_output=True, check=True).stdout
    except (subprocess.CalledProcessError, FileNotFoundError) as error:
        pytest.skip(f"commit {BEFORE} is not in this clone's history (a shallow clone?): {error}")
    root.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(root, filter="data")


def fits_and_scores(results):
    return {str(p.relative_to(results)): p.stat().st_mtime_ns
            for folder in ("fits", "scores") for p in (results / folder).rglob("fold-*")}


@pytest.mark.parametrize("search", list(SEARCHES))
def test_results_of_the_old_layout_are_reused_and_nothing_is_fitted(tmp_path, search):
    config = copy.deepcopy(CONFIG) | SEARCHES[search]
    root = tmp_path / "wf"
    old_workflow(root)
    write_config(root, config)
    snakemake(root)
    results = root / "results/config"
    before = fits_and_scores(results)
    assert before

    # Today's code over the same folder: the decisions are made again, no fit or score is.
    new = make_workflow(tmp_path / "new", config)
    for part in ("Snakefile", "workflow", "profiles"):
        subprocess.run(["rm", "-rf", str(root / part)], check=True)
        subprocess.run(["cp", "-a", str(new / part), str(root / part)], check=True)
    run = snakemake(root)
    out = run.stdout + run.stderr
    assert "fit_model" not in out and "score_model" not in out, out
    assert "stage_decision" in out
    assert fits_and_scores(results) == before
    assert " 0 fitted in this run" in out
