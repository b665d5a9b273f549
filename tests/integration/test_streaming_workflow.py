"""The shipped streaming experiment: reference 001's grid, progressive validation in the usual tables."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from workflow_helpers import REPO, job_counts, make_workflow, planned_jobs, snakemake

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def streaming_config():
    return yaml.safe_load((REPO / "configs/streaming.yaml").read_text())


def test_the_full_grid_is_144_streaming_jobs(tmp_path, streaming_config):
    root = make_workflow(tmp_path / "wf", streaming_config)
    counts = job_counts(planned_jobs(root))
    assert counts["fit_model"] == 144 and counts["score_model"] == 144
    assert counts["generate_stream_data"] == 1 and counts["prepare_data"] == 0 and counts["assign_folds"] == 0


def test_a_subset_runs_end_to_end_with_progressive_scores(tmp_path, streaming_config):
    grid = streaming_config["models"]["sgd"]["grid"]
    grid.update(hash__n_features=[2**16], clf__l1_ratio=[0.15], clf__alpha=[0.001, 0.01])
    root = make_workflow(tmp_path / "wf", streaming_config)
    snakemake(root)
    scores = pd.read_parquet(root / "results/config/scores.parquet")
    assert len(scores) == 8 and set(scores["fold"]) == {"stream"} and (scores["status"] == "ok").all()
    assert (scores["n_train"] == 20_000).all()
    assert (scores["relative_score"] - (1 - scores["progressive_loss"] / scores["null_loss"])).abs().max() < 1e-12
    assert scores["relative_score"].max() > 0  # the best configuration beats the running-mean null model
    report = (root / "results/config/report.html").read_text()
    assert "relative_score" in report and (root / "results/config/plots/sgd/relative_score.png").is_file()
    assert planned_jobs(root) == []
