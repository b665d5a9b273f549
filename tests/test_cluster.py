"""Which kind of Snakemake process this is, how it runs its tasks, and cluster CPU efficiency."""

import json
import os
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from manymodels.engine import cluster

REPO = Path(__file__).resolve().parents[1]


def workflow(main):
    return SimpleNamespace(is_main_process=main)


@pytest.mark.parametrize("main, argv, role", [
    (True, ["--cores", "2"], "local"),
    (True, ["--executor", "slurm", "--jobs", "10"], "login"),
    (False, ["--executor", "slurm-jobstep", "--jobs", "1", "--mode", "remote"], "submission"),
    (False, ["--cores", "all", "--mode", "remote"], "step"),
])
def test_roles(main, argv, role):
    assert cluster.process_role(workflow(main), argv) == role


def profile(name: str) -> dict:
    return yaml.safe_load((REPO / "profiles" / name / "config.yaml").read_text())


# profiles/slurm's groups: each (fit, score) pair with its prefix, and the short steps after the fits in
# one submission per chain (selection, refits and the run summary alone).
SLURM_GROUPS = {
    "fit_prefix": "fit_score", "fit_model": "fit_score", "score_model": "fit_score",
    **dict.fromkeys(["gather_scores", "aggregate_scores"], "scores"),
    **dict.fromkeys(["write_cv_results", "plot_metric", "plot_cv_scores", "plot_families", "plot_test_predictions",
                     "plot_race", "write_report"], "report"),
}


def test_the_slurm_profile_holds_the_cluster_policy():
    """Grouping and score resources are keys of profiles/slurm, none of profiles/default (loaded
    with any run: Snakemake would form the groups of a local run too, and ignore them)."""
    default, slurm = profile("default"), profile("slurm")
    assert slurm["groups"] == SLURM_GROUPS
    assert slurm["group-components"] == {"fit_score": 100}
    assert set(slurm["set-resources"]) == {"score_model"}
    for attempt in (1, 2, 3):  # what the score rule asked for before: 1000 MB and 5 minutes per attempt
        values = {name: eval(expr, {"attempt": attempt}) for name, expr in slurm["set-resources"]["score_model"].items()}
        assert values == {"mem_mb": 1000 * attempt, "runtime": 5 * attempt}
    assert not {"groups", "group-components", "set-resources"} & set(default)
    rules = "".join(path.read_text() for path in (REPO / "workflow/rules").glob("*.smk"))
    assert "group:" not in rules  # one place decides the groups
    assert set(slurm["groups"]) <= set(re.findall(r"^\s*(?:rule|checkpoint) (\w+):", rules, re.M))  # no typo


def test_snakemake_reads_the_policy_from_the_slurm_profile_and_a_local_run_has_none(monkeypatch):
    from snakemake.cli import parse_args
    from snakemake.resources import Resource

    monkeypatch.chdir(REPO)  # where Snakemake finds profiles/default, the workflow profile
    _, args = parse_args(["--profile", "profiles/slurm", "--dry-run"])
    assert args.executor == "slurm"
    assert args.groups == SLURM_GROUPS
    assert args.group_components == {"fit_score": 100}
    mem = args.set_resources["score_model"]["mem_mb"]
    assert Resource.cli_evaluator("mem_mb", mem.raw, wildcards=None, input=None, attempt=2, async_run=None) == 2000
    # the command line still wins over the profile
    _, args = parse_args(["--profile", "profiles/slurm", "--group-components", "fit_score=12"])
    assert args.group_components == {"fit_score": 12}
    _, args = parse_args(["--cores", "2"])
    assert not args.groups and not args.set_resources


def test_each_role_runs_its_tasks_where_its_cpus_are(monkeypatch):
    monkeypatch.setattr(cluster, "step_cpus", lambda cores: 3)
    assert cluster.pool_settings("local", cores=8, local_cores=4, dryrun=False) == {"n_workers": 4, "in_process": False}
    assert cluster.pool_settings("local", cores=8, local_cores=None, dryrun=True)["n_workers"] == 1
    assert cluster.pool_settings("login", cores=64, local_cores=None, dryrun=False) == {"n_workers": 1, "in_process": False}
    assert cluster.pool_settings("submission", cores=1, local_cores=None, dryrun=False)["in_process"] is True
    assert cluster.pool_settings("step", cores=8, local_cores=None, dryrun=False) == {"n_workers": 3, "in_process": False}
    monkeypatch.setattr(cluster, "step_cpus", lambda cores: 1)
    # one CPU: still a worker process, so that a crash or a limit costs one row, not the submission
    assert cluster.pool_settings("step", cores=1, local_cores=None, dryrun=False) == {"n_workers": 1, "in_process": False}


def test_a_step_uses_no_more_cpus_than_slurm_gave_it(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "2")
    assert cluster.step_cpus(64) == 2
    monkeypatch.delenv("SLURM_CPUS_PER_TASK")
    monkeypatch.delenv("SLURM_CPUS_ON_NODE", raising=False)
    assert cluster.step_cpus(64) == 4 and cluster.step_cpus(1) == 1


@pytest.mark.parametrize("argv, given", [(["--cores", "4"], True), (["-c4"], True), (["--cores=8"], True),
                                         (["-call"], True), (["--profile", "slurm"], False),
                                         (["--configfile", "c.yaml"], False)])
def test_cores_given_on_the_command_line(argv, given):
    assert cluster.cores_given(argv) is given


def test_each_process_gets_only_its_own_adaptation(monkeypatch):
    calls = []
    monkeypatch.setattr(cluster, "pass_group_settings_to_slurm_jobs", lambda: calls.append("groups"))
    monkeypatch.setattr(cluster, "cap_group_cpus", lambda wf, cpus: calls.append(f"cpus={cpus}"))
    monkeypatch.setattr(cluster, "run_jobs_in_threads", lambda: calls.append("threads"))
    monkeypatch.setattr(cluster, "no_job_rate_limit_in_this_process", lambda: calls.append("unlimited"))
    for role, argv, expected in (("local", [], []), ("login", [], ["groups", "cpus=1"]),
                                 ("login", ["--cores", "4"], ["groups"]),
                                 ("submission", [], ["threads", "unlimited"]), ("step", [], ["threads", "unlimited"])):
        calls.clear()
        cluster.adapt_cluster_execution(SimpleNamespace(), role, argv)
        assert calls == expected, role


def test_the_login_process_check_is_read_back_only_for_the_same_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = {"models": {"m": {"grid": {"k": [1, 2]}}}}
    cluster.save_checked("exp", config, {"tasks": [{"config_id": "a"}], "folds": ["0"]})
    assert cluster.load_checked("exp", config) == {"tasks": [{"config_id": "a"}], "folds": ["0"]}
    assert cluster.load_checked("exp", {**config, "metrics": {}}) is None
    assert cluster.load_checked("other", config) is None


def test_a_later_run_reads_the_check_back_only_for_the_same_run_fingerprint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MANYMODELS_NO_SHORTCUT", raising=False)
    checked = {"tasks": [{"config_id": "a"}], "folds": ["0"]}
    cluster.save_checked("exp", {"models": {}}, checked, "f1")
    assert cluster.load_checked("exp", run_fingerprint="f1") == checked
    assert cluster.load_checked("exp", run_fingerprint="f2") is None
    assert cluster.load_checked("exp", run_fingerprint=None) is None
    assert cluster.load_checked("exp", {"models": {}}) == checked  # and the cluster's node-side processes
    monkeypatch.setenv("MANYMODELS_NO_SHORTCUT", "1")
    assert cluster.load_checked("exp", run_fingerprint="f1") is None
    cluster.save_checked("exp", {"models": {}}, checked)  # a check made without a fingerprint
    monkeypatch.delenv("MANYMODELS_NO_SHORTCUT")
    assert cluster.load_checked("exp", run_fingerprint="f1") is None


def test_submission_efficiency_adds_up_the_processes_of_each_job(tmp_path):
    folder = tmp_path / "cluster"
    folder.mkdir()
    records = [{"job": "7", "role": "submission", "cpus": 1, "start": 100.0, "end": 110.0, "cpu_seconds": 1.0},
               {"job": "7", "role": "step", "cpus": 1, "start": 101.0, "end": 109.0, "cpu_seconds": 7.0},
               {"job": "8", "role": "step", "cpus": 2, "start": 0.0, "end": 5.0, "cpu_seconds": 5.0}]
    for i, record in enumerate(records):
        (folder / f"{i}.json").write_text(json.dumps(record))
    result = cluster.submission_efficiency(tmp_path)
    assert result["7"] == {"cpus": 1, "wall_seconds": 10.0, "cpu_seconds": 8.0, "efficiency": 0.8}
    assert result["8"]["efficiency"] == 0.5


def test_a_fits_limits_are_what_its_cluster_job_asks_for():
    from manymodels.engine.cluster import fit_request
    from manymodels.engine.pool import Limits

    assert fit_request(None, 1) == {"mem_mb": 1000, "runtime": 10}
    assert fit_request(Limits(seconds=3600, memory_mb=4000), 1) == {"mem_mb": 5000, "runtime": 65}
    assert fit_request(Limits(seconds=30), 2) == {"mem_mb": 2000, "runtime": 20}  # a retry asks for more
