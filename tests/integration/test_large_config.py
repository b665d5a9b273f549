"""The shipped large grid (reference 000) through --configfile: its DAG, and a subset run for real in
which the too-many-components fits become rows."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest
import yaml

from conftest import TINY_CONFIG
from workflow_helpers import REPO, job_counts, jobs_listed, make_workflow, snakemake

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def workflow(tmp_path_factory):
    root = make_workflow(tmp_path_factory.mktemp("large") / "wf", TINY_CONFIG)
    (root / "configs").mkdir()
    (root / "configs/penguins-large.yaml").write_text((REPO / "configs/penguins-large.yaml").read_text())
    return root


@pytest.fixture(scope="module")
def whole_grid_dry_run(workflow):
    """One dry run of the whole grid (19,104 fit and score jobs), every job listed, with the
    comfortable DAG size set below it: the tests read its jobs and its warning."""
    out = snakemake(workflow, "--dry-run", "--logger-manymodels-jobs", "--configfile", "configs/penguins-large.yaml",
                    env={**os.environ, "MANYMODELS_COMFORTABLE_JOBS": "10000"})
    return out.stdout + out.stderr


def test_the_whole_grid_is_one_fit_and_one_score_job_per_configuration_and_fold(whole_grid_dry_run):
    counts = job_counts(jobs_listed(whole_grid_dry_run))
    assert counts["fit_model"] == counts["score_model"] == 398 * 4 * 6


def test_large_grid_subset_runs_and_records_failures(workflow):
    config = yaml.safe_load((REPO / "configs/penguins-large.yaml").read_text())
    assert config["models"]["gmm"]["grid"]["n_components"] == {"from": 2, "to": 399}
    # The whole grid is 9,552 fits (see benchmarks/); a subset keeps its mix of cheap, costly and
    # failing fits: 280 components fail on every 5-fold training set (273-274 rows) but fit on
    # all 342 rows; 343 and 399 fail everywhere.
    config["models"]["gmm"]["grid"]["n_components"] = [2, 3, 280, 343, 399]
    config["models"]["gmm"]["grid"]["covariance_type"] = ["full", "spherical"]
    (workflow / "configs/penguins-large-subset.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    snakemake(workflow, "--configfile", "configs/penguins-large-subset.yaml")
    results = workflow / "results/penguins-large-subset"
    scores = pd.read_parquet(results / "scores.parquet")
    assert len(scores) == 5 * 2 * 6
    status = scores.assign(cv=scores["fold"] != "full").groupby(["n_components", "cv"])["status"].agg(set)
    assert status[(2, True)] == {"ok"} and status[(3, False)] == {"ok"}
    assert status[(280, True)] == {"failed"} and status[(280, False)] == {"ok"}
    assert status[(343, True)] == {"failed"} and status[(399, False)] == {"failed"}
    failed = scores[scores["status"] == "failed"]
    assert failed["error"].str.startswith("Expected n_samples >= n_components").all()
    report = (results / "report.html").read_text()
    assert f"Failures ({len(failed)} fits)" in report
    # The chosen configuration, exactly as selection.json gives it, builds the estimator and fits.
    from manymodels.experiment.estimators import build_estimator

    chosen = json.loads((results / "selection.json").read_text())["models"]["gmm"]["chosen"]
    assert isinstance(chosen["params"]["n_components"], int)
    data = pd.read_parquet(results / "data/data.parquet")
    spec = config["models"]["gmm"]
    est = build_estimator(spec["estimator"], spec["kwargs"], chosen["params"], config_id=chosen["config_id"])
    assert est.fit(data[config["data"]["features"]]).n_components == chosen["params"]["n_components"]


def test_a_dag_beyond_the_comfortable_size_is_announced_before_it_is_built(whole_grid_dry_run):
    """The large grid (19,104 fit and score jobs) with the comfortable size set below it."""
    text = whole_grid_dry_run
    warning = "This run plans about 19,104 jobs: building Snakemake's DAG of them takes about "
    assert warning in text and text.index(warning) < text.index("Building DAG of jobs")
