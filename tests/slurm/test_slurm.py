"""The workflow on a real Slurm (`snakemake --profile profiles/slurm`) gives what a local run gives.

Each test starts (or reuses) the single-node Slurm of scripts/slurm/up; where Slurm cannot be
installed or started they fail with the reason. A run goes through sbatch, the slurm executor
plugin and srun exactly as on a cluster; only the status check uses squeue (no slurmdbd here).
"""

from __future__ import annotations

import re
import shutil
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from slurm_helpers import (SlurmUnavailable, cancel_jobs, default_experiment, snakemake_on_slurm, start_slurm,
                           stop_slurm, submitted_jobs)

# The integration tests' helpers (make_workflow, snakemake, comparable) serve here too.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from workflow_helpers import comparable, make_workflow, snakemake  # noqa: E402

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("slurm_cluster")]


@pytest.fixture(scope="module")
def slurm_cluster():
    """A running single-node Slurm; one that these tests started is stopped after them.

    Where Slurm cannot be installed or started the tests fail (never skip), saying why.
    """
    started, problem = False, None
    try:
        started = start_slurm()
    except SlurmUnavailable as exc:
        problem = str(exc)
    if problem:
        pytest.fail(f"no Slurm for the Slurm tests: {problem}", pytrace=False)
    yield
    cancel_jobs()
    if started:
        stop_slurm()

# The default experiment on a small grid: 6 configurations x (3 folds + full) = 24 (fit, score)
# pairs, two of the configurations failing (more components than rows) as they do locally.
SMALL_GRID = {"grid": {"n_components": [2, 3, 400], "covariance_type": ["full", "spherical"]}}
PAIRS_PER_SUBMISSION = 12


def small_default_experiment() -> dict:
    config = default_experiment(cv={"n_splits": 3})
    config["models"]["gmm"].update(SMALL_GRID)
    return config


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    root = make_workflow(tmp_path_factory.mktemp("local") / "wf", small_default_experiment())
    snakemake(root, cores=2)
    return root


def test_default_experiment_on_slurm_gives_the_local_scores(tmp_path, local_run):
    root = make_workflow(tmp_path / "wf", small_default_experiment())
    result = snakemake_on_slurm(root, "--group-components", f"fit_score={PAIRS_PER_SUBMISSION}",
                                "--slurm-keep-successful-logs")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:]

    scores = pd.read_parquet(root / "results/penguins/scores.parquet")
    pd.testing.assert_frame_equal(comparable(scores), comparable(pd.read_parquet(local_run / "results/penguins/scores.parquet")))
    failed = scores[scores["n_components"] == 400]
    assert len(failed) == 8 and (failed["status"] == "failed").all() and failed["error"].str.contains("n_components").all()
    assert (root / "results/penguins/report.html").exists()

    # 24 pairs, 12 per submission: two grouped submissions, each run on the node by one
    # Snakemake process (the one sbatch starts, plus the one it starts with srun), not one per task.
    submitted = submitted_jobs(output)
    groups = [name for name in submitted if name.startswith("group_fit_score")]
    assert len(groups) == 2, submitted
    assert not any(name in ("rule_fit_model", "rule_score_model") for name in submitted), submitted
    for log in (root / ".snakemake/slurm_logs").glob("group_fit_score*/*.log"):
        assert log.read_text().count("Command: ") == 2, log
    # The steps after the fits go in one submission per chain (the profile's groups): the scores; the
    # tables, plots and report (the cv_results table, connected to no plot, is a group job of its own);
    # selection and the run summary alone. 10 submissions, not 17.
    kinds = Counter(re.sub(r"^group_(fit_score|scores|report)_.*", r"\1", name) for name in submitted)
    assert kinds == {"rule_prepare_data": 1, "rule_split_holdout": 1, "rule_assign_folds": 1, "fit_score": 2,
                     "scores": 1, "rule_select_configurations": 1, "report": 2, "rule_summarise_run": 1}, submitted


def test_failing_task_on_slurm_is_reported_like_a_local_failure(tmp_path):
    """A task that raises (not a fit: those become rows) fails the run and names its log."""
    config = default_experiment(cv={"n_splits": 2})
    config["models"]["gmm"]["grid"] = {"n_components": [2], "covariance_type": ["diag"]}
    local = make_workflow(tmp_path / "local", config)
    # Scoring fold 0 fails the way a full disk would: the task raises.
    with open(local / "workflow/manymodels/task/score.py", "a") as fh:
        fh.write(
            "\n\n_score_task = score_task\n\n\n"
            "def score_task(**kwargs):\n"
            "    if str(kwargs.get('out_scores', '')).endswith('fold-0.parquet'):\n"
            "        raise OSError('injected failure: no space left on device')\n"
            "    return _score_task(**kwargs)\n"
        )
    # The data is prepared locally, so only the grouped fit/score submission goes through Slurm.
    snakemake(local, "--omit-from", "fit_model")
    on_slurm = tmp_path / "slurm"
    shutil.copytree(local, on_slurm, symlinks=True)

    expected = snakemake(local, check=False)
    result = snakemake_on_slurm(on_slurm, "--retries", "0")
    for root, run in ((local, expected), (on_slurm, result)):
        output = run.stdout + run.stderr
        assert run.returncode != 0, output[-8000:]
        assert "injected failure: no space left on device" in output, output[-8000:]
        log = next(root.glob("logs/penguins/score/gmm/*/fold-0.log"))
        assert str(log.relative_to(root)) in output
        assert "OSError: injected failure" in log.read_text()
        assert not (root / "results/penguins/scores.parquet").exists()
    assert "Error in group fit_score" in result.stdout + result.stderr


@pytest.mark.alone
def test_a_grouped_submission_uses_the_cpu_it_asks_for(tmp_path):
    """Each grouped submission asks for one CPU (no --cores on the command line) and runs its
    (fit, score) pairs in one warm process: CPU seconds / (CPUs x wall seconds) of the submission's
    processes, recorded on the node, is above 80%. The default experiment's 216 pairs in one
    submission (its fits take 0.02-0.3 s; the fixed cost is two Snakemake start-ups per submission),
    up to its scores (the aggregation's submissions after them add nothing to measure). The data is
    prepared locally first, so that this one submission is all that goes through Slurm (three
    one-job submissions before it would add their waits in the queue, and nothing to measure).
    Marked alone: CPU efficiency is measured with nothing else running (make test runs it last)."""
    from manymodels.engine.cluster import submission_efficiency

    root = make_workflow(tmp_path / "wf", default_experiment())
    snakemake(root, "--omit-from", "fit_model")
    result = snakemake_on_slurm(root, "--group-components", "fit_score=216", "--until", "score_model")
    assert result.returncode == 0, (result.stdout + result.stderr)[-8000:]
    submitted = submitted_jobs(result.stdout + result.stderr)
    assert len(submitted) == 1 and submitted[0].startswith("group_fit_score"), submitted
    efficiency = submission_efficiency(root / ".snakemake/manymodels/penguins")
    assert len(efficiency) == 1, efficiency  # the grouped submission, which runs 432 jobs
    (grouped,) = efficiency.values()
    assert grouped["cpus"] == 1, grouped
    print(f"\ngrouped submission: {grouped}")
    assert grouped["efficiency"] > 0.8, grouped


def test_a_fit_that_crashes_or_runs_past_a_limit_on_slurm_is_one_failed_row(tmp_path):
    """On a node as on a workstation (tests/integration/test_crashes.py): a submission runs its
    pairs on a worker process even with one CPU, so a fit that segfaults, is SIGKILLed, allocates
    past limits.memory_mb or sleeps past limits.fit_seconds is a failed row saying so, and the
    grouped submission (and every other configuration) finishes. The data is prepared locally, so
    that the fits' submissions come first (the data's steps on Slurm are the default experiment's test)."""
    from test_crashes import CONFIG, MODULE

    root = make_workflow(tmp_path / "wf", {})
    (root / "configs").mkdir()
    (root / "configs" / "trouble.py").write_text(MODULE)
    (root / "configs" / "trouble.yaml").write_text(CONFIG)
    snakemake(root, "--configfile", "configs/trouble.yaml", "--omit-from", "fit_model")
    result = snakemake_on_slurm(root, "--configfile", "configs/trouble.yaml")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:]
    assert [name for name in submitted_jobs(output) if name.startswith("group_fit_score")], output[-8000:]
    scores = pd.read_parquet(root / "results/trouble/scores.parquet")
    kinds = scores.groupby("how")["error_type"].agg(lambda e: set(e.fillna("")))
    assert kinds.to_dict() == {"nothing": {""}, "segfault": {"WorkerCrash"}, "sigkill": {"WorkerCrash"},
                               "hog": {"MemoryLimit"}, "sleep": {"TimeLimit"}}, scores
    assert scores.loc[scores["how"] == "nothing", "accuracy"].notna().all()
