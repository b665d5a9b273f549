"""The shipped large grid (reference 000) is valid, and its too-many-components fits become rows."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from workflow_helpers import REPO, make_workflow, snakemake

pytestmark = pytest.mark.integration


def test_large_grid_subset_runs_and_records_failures(tmp_path):
    config = yaml.safe_load((REPO / "configs/penguins-large.yaml").read_text())
    assert config["models"]["gmm"]["grid"]["n_components"] == {"from": 2, "to": 399}
    # The whole grid is 9,552 fits (see benchmarks/); a subset keeps its mix of cheap, costly and
    # failing fits: 280 components fail on every 5-fold training set (273-274 rows) but fit on
    # all 342 rows; 343 and 399 fail everywhere.
    config["models"]["gmm"]["grid"]["n_components"] = [2, 3, 280, 343, 399]
    config["models"]["gmm"]["grid"]["covariance_type"] = ["full", "spherical"]
    root = make_workflow(tmp_path / "wf", config)
    snakemake(root)
    scores = pd.read_parquet(root / "results/config/scores.parquet")
    assert len(scores) == 5 * 2 * 6
    status = scores.assign(cv=scores["fold"] != "full").groupby(["n_components", "cv"])["status"].agg(set)
    assert status[(2, True)] == {"ok"} and status[(3, False)] == {"ok"}
    assert status[(280, True)] == {"failed"} and status[(280, False)] == {"ok"}
    assert status[(343, True)] == {"failed"} and status[(399, False)] == {"failed"}
    failed = scores[scores["status"] == "failed"]
    assert failed["error"].str.startswith("Expected n_samples >= n_components").all()
    report = (root / "results/config/report.html").read_text()
    assert f"Failures ({len(failed)} tasks)" in report
