"""manymodels.engine.cluster still finds what it changes in the pinned Snakemake and slurm plugin.

No Slurm needed: if an upgrade moves these attributes, the adaptations silently do nothing and
grouped submissions become slow again; these tests say so first.
"""

from __future__ import annotations

import pytest

from manymodels.engine import cluster, internals


def test_the_slurm_plugin_passes_group_settings_to_its_jobs():
    import snakemake_executor_plugin_slurm as slurm

    before = slurm.common_settings.pass_group_args
    try:
        assert internals.pass_group_settings_to_slurm_jobs()
        assert slurm.common_settings.pass_group_args is True
    finally:
        slurm.common_settings.pass_group_args = before


def test_node_side_snakemake_runs_run_jobs_in_threads(monkeypatch):
    from snakemake.executors import local

    monkeypatch.setattr(local.Executor, "__post_init__", local.Executor.__post_init__)
    original = local.Executor.__post_init__
    assert internals.run_jobs_in_threads() and internals.run_jobs_in_threads()  # idempotent

    class Settings:
        use_threads, keep_incomplete = False, False

    class Workflow:
        execution_settings = Settings()
        resource_settings = type("R", (), {"cores": 2})()

    executor = object.__new__(local.Executor)
    executor.workflow = Workflow()
    local.Executor.__post_init__(executor)
    assert executor.use_threads is True
    assert local.Executor.__post_init__ is not original


@pytest.mark.parametrize("main, remote", [(True, False), (False, True), (False, False)])
def test_each_process_gets_only_its_own_adaptation(monkeypatch, main, remote):
    calls = []
    monkeypatch.setattr(cluster, "pass_group_settings_to_slurm_jobs", lambda: calls.append("main"))
    monkeypatch.setattr(cluster, "run_jobs_in_threads", lambda: calls.append("remote"))
    workflow = type("W", (), {"is_main_process": main, "remote_exec": remote})()
    cluster.adapt_cluster_execution(workflow)
    assert calls == (["main"] if main else ["remote"] if remote else [])
