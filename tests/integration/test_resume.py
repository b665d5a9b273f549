"""Nothing lost: a run killed half way resumes with the same command; --cores does not change results."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from workflow_helpers import SNAKEMAKE_TIMEOUT, comparable, make_workflow, snakemake

pytestmark = pytest.mark.integration

CONFIG = {
    "data": {
        "source": "penguins",
        "features": ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"],
        "label": "species",
    },
    "cv": {"n_splits": 3, "random_state": 3},
    "models": {
        "gmm": {
            "estimator": "sklearn.mixture.GaussianMixture",
            "kwargs": {"n_init": 2},  # random_state unset: derived from each config_id
            "grid": {"n_components": {"from": 2, "to": 7}, "covariance_type": ["full", "tied", "diag", "spherical"]},
        }
    },
    "metrics": {
        "ars": {"function": "sklearn.metrics.adjusted_rand_score", "greater_is_better": True},
        "bic": {"method": "bic", "greater_is_better": False},
    },
}
N_TASKS = 6 * 4 * 4


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Tables of an uninterrupted run on one core."""
    root = make_workflow(tmp_path_factory.mktemp("reference") / "wf", CONFIG)
    snakemake(root, cores=1)
    return {name: pd.read_parquet(root / f"results/config/{name}.parquet") for name in ("scores", "summary")}


def test_two_cores_give_the_same_tables_as_one(tmp_path, reference):
    root = make_workflow(tmp_path / "wf", CONFIG)
    snakemake(root, cores=2)
    scores = pd.read_parquet(root / "results/config/scores.parquet")
    assert len(scores) == N_TASKS
    pd.testing.assert_frame_equal(comparable(scores), comparable(reference["scores"]))
    pd.testing.assert_frame_equal(pd.read_parquet(root / "results/config/summary.parquet"), reference["summary"])


def test_killed_run_resumes_with_the_same_command(tmp_path, reference):
    root = make_workflow(tmp_path / "wf", CONFIG)
    command = [sys.executable, "-m", "snakemake", "--cores", "2"]
    # A session of its own, so SIGKILL reaches Snakemake and its worker processes at once.
    proc = subprocess.Popen(command, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + SNAKEMAKE_TIMEOUT
    scores_dir = root / "results/config/scores"
    while len(list(scores_dir.glob("*/*/*.parquet"))) < N_TASKS // 2:
        assert proc.poll() is None, "the run finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list(scores_dir.glob("*/*/*.parquet")))
    assert done < N_TASKS and (root / ".snakemake/locks").exists()
    # Stopped before its tables: listed as unfinished with its progress, and what it scored is shown.
    listed = subprocess.run([sys.executable, "-m", "manymodels", "experiments", "--format", "csv"], cwd=root,
                            capture_output=True, text=True, check=True).stdout
    assert f"unfinished: {done} of {N_TASKS} fits scored" in listed
    shown = subprocess.run([sys.executable, "-m", "manymodels", "results", "config", "--format", "csv"], cwd=root,
                           capture_output=True, text=True)
    assert shown.returncode == 0 and "unfinished" in shown.stderr and "Leaderboard so far" in shown.stderr
    assert shown.stdout.splitlines()[0].startswith("model,config_id,params,folds_scored,failed,ars_mean")

    result = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=SNAKEMAKE_TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert "Removed the locks of an earlier run of config that was killed" in result.stderr + result.stdout
    scores = pd.read_parquet(root / "results/config/scores.parquet")
    pd.testing.assert_frame_equal(comparable(scores), comparable(reference["scores"]))
    pd.testing.assert_frame_equal(pd.read_parquet(root / "results/config/summary.parquet"), reference["summary"])
    assert "reused" in (root / "results/config/report.html").read_text()
