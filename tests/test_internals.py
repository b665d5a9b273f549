"""The workarounds of Snakemake's internals: still aimed at what is there, for the versions pinned."""

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from manymodels.engine import internals
from manymodels.engine.internals import WRITTEN_FOR, disable_job_rate_limit, lighten_scheduling

REPO = Path(__file__).resolve().parents[1]


def test_the_pinned_versions_are_the_ones_the_workarounds_were_written_for():
    """Upgrading Snakemake or the Slurm plugin in requirements.txt fails here first: check each
    workaround in manymodels/engine/internals.py against the new version, then update WRITTEN_FOR."""
    pins = dict(re.findall(r"^([\w-]+)==(\S+)", (REPO / "requirements.txt").read_text(), re.M))
    assert {name: pins[name] for name in WRITTEN_FOR} == WRITTEN_FOR
    assert all(internals.written_for_this_version(name) for name in WRITTEN_FOR)


def test_snakemake_reads_each_function_signature_once():
    import inspect

    import snakemake.common as common
    import snakemake.rules as rules

    originals = {m: m.get_function_params for m in (common, rules)}
    try:
        assert internals.cache_function_signatures()
        assert rules.get_function_params is common.get_function_params is not originals[common]

        def input_function(wildcards, attempt):
            return []

        class Resource:
            def evaluate(self, *args, **kwargs):
                return 1

        calls = []
        real = inspect.signature
        inspect.signature = lambda f, **kw: calls.append(f) or real(f, **kw)
        try:
            for _ in range(3):
                assert common.get_input_function_aux_params(input_function, {"attempt": 1, "x": 2}) == {"attempt": 1}
                assert list(rules.get_function_params(Resource().evaluate)) == ["args", "kwargs"]
        finally:
            inspect.signature = real
        assert len(calls) == 2  # once per function, not once per call
        assert list(common.get_function_params(Resource.evaluate)) == ["self", "args", "kwargs"]
    finally:
        for module, function in originals.items():
            module.get_function_params = function


def test_missing_scheduler_or_limiter_is_left_alone():
    assert disable_job_rate_limit(None) is False
    assert disable_job_rate_limit(SimpleNamespace(job_rate_limiter=None)) is False


class FakeScheduler:
    def __init__(self, ready, subsample=None, dryrun=False):
        self.computed = 0
        self.subsample, self.dryrun = subsample, dryrun
        self.workflow = SimpleNamespace(dag=SimpleNamespace(ready_jobs=set(ready)))

    @property
    def remaining_jobs(self):
        self.computed += 1
        return ["job-a", "job-b"]

    @property
    def open_jobs(self):
        return list(self.workflow.dag.ready_jobs)


def test_remaining_jobs_are_computed_only_when_read():
    scheduler = FakeScheduler(ready=[])
    assert lighten_scheduling(scheduler) is True
    assert lighten_scheduling(scheduler) is False  # already done
    handed_over = [scheduler.remaining_jobs for _ in range(1000)]  # one per scheduling pass
    assert scheduler.computed == 0 and isinstance(scheduler, FakeScheduler)
    assert bool(handed_over[0]) and list(handed_over[0]) == ["job-a", "job-b"] and len(handed_over[0]) == 2
    assert scheduler.computed == 1


def test_open_jobs_are_drawn_before_they_are_copied():
    ready = range(10_000)
    for scheduler, expected in ((FakeScheduler(ready, subsample=20), 20), (FakeScheduler(ready), 10_000),
                                (FakeScheduler(ready, subsample=20, dryrun=True), 10_000),
                                (FakeScheduler(range(5), subsample=20), 5)):
        lighten_scheduling(scheduler)
        drawn = scheduler.open_jobs
        assert len(drawn) == expected and set(drawn) <= set(ready) and len(set(drawn)) == expected


def test_snakemake_scheduler_still_has_the_properties_we_replace():
    from snakemake.scheduling.job_scheduler import JobScheduler

    assert isinstance(JobScheduler.__dict__.get("remaining_jobs"), property)
    assert isinstance(JobScheduler.__dict__.get("open_jobs"), property)


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


def test_node_side_schedulers_run_without_the_job_rate_limiter(monkeypatch):
    import threading

    from snakemake.scheduling.job_scheduler import JobScheduler

    monkeypatch.setattr(JobScheduler, "__init__", JobScheduler.__init__)

    def fake_init(self, *args, **kwargs):
        self.job_rate_limiter = object()
        self._lock = threading.Lock()

    monkeypatch.setattr(JobScheduler, "__init__", fake_init)
    assert internals.no_job_rate_limit_in_this_process() and internals.no_job_rate_limit_in_this_process()
    scheduler = object.__new__(JobScheduler)
    JobScheduler.__init__(scheduler)
    assert scheduler.job_rate_limiter is None
    assert isinstance(scheduler._lock, type(threading.RLock()))  # a SIGTERM from the batch system cannot deadlock


def test_group_jobs_are_capped_where_snakemake_reads_the_cap():
    """Snakemake sizes group jobs from workflow.global_resources["_cores"] and passes
    resource_settings.cores to the node-side processes: both names must still be read there."""
    import inspect

    import snakemake.api  # noqa: F401  (imports snakemake.workflow and snakemake.dag in their working order)
    import snakemake.dag
    from snakemake_interface_executor_plugins.executors import remote

    assert "self.workflow.global_resources" in inspect.getsource(snakemake.dag.DAG.update_groups)
    assert "resource_settings.cores" in inspect.getsource(remote.RemoteExecutor.cores.fget)
    workflow = SimpleNamespace(global_resources={"_cores": 64}, resource_settings=SimpleNamespace(cores=64))
    assert internals.cap_group_cpus(workflow, 1)
    assert workflow.global_resources["_cores"] == 1 and workflow.resource_settings.cores == 1
    assert not internals.cap_group_cpus(SimpleNamespace(), 1)


def test_the_executor_is_read_from_the_command_line_and_its_profiles(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Snakefile").write_text("rule all:\n    input: []\n")
    (tmp_path / "cluster").mkdir()
    (tmp_path / "cluster" / "config.yaml").write_text("executor: slurm\njobs: 10\n")
    assert internals.executor_name(["--cores", "2"]) is None
    assert internals.executor_name(["--profile", "cluster", "-n"]) == "slurm"
    assert internals.executor_name(["--executor", "slurm-jobstep", "--jobs", "1"]) == "slurm-jobstep"
    assert internals.executor_name(["--no-such-option"]) is None


def test_a_run_with_nothing_to_do_is_seen_although_snakemake_skips_onsuccess():
    """Workflow.execute still returns right after logging NOTHING_TO_BE_DONE_MSG (no onsuccess), and the
    handler registered by when_nothing_to_do sees that message on Snakemake's logger."""
    import inspect
    import logging

    import snakemake.api  # noqa: F401  (imports snakemake.workflow and snakemake.dag in their working order)
    import snakemake.workflow
    from snakemake.common import NOTHING_TO_BE_DONE_MSG
    from snakemake.logging import logger

    source = inspect.getsource(snakemake.workflow.Workflow.execute)
    assert re.search(r"logger\.info\(NOTHING_TO_BE_DONE_MSG\)\s+return", source)
    calls = []
    handlers = list(logger.handlers)
    level = logger.level
    try:
        logger.setLevel(logging.INFO)
        assert internals.when_nothing_to_do(lambda: calls.append(0))  # a Snakefile read twice: one handler
        assert internals.when_nothing_to_do(lambda: calls.append(1))
        logger.info("Building DAG of jobs...")
        assert calls == []
        logger.info(NOTHING_TO_BE_DONE_MSG)
        assert calls == [1]
    finally:
        logger.handlers[:] = handlers
        logger.setLevel(level)


def test_a_sigterm_handled_while_the_scheduler_holds_its_lock_completes():
    """The SIGTERM handler (JobScheduler.exit_gracefully) still takes the scheduler's lock, which is
    still a plain Lock: held by the main thread when the signal arrives, it deadlocked the run. With
    the reentrant lock the handler returns and the stop request is recorded."""
    import inspect
    import threading

    import snakemake.api  # noqa: F401  (imports snakemake.workflow and snakemake.dag in their working order)
    from snakemake.scheduling.job_scheduler import JobScheduler

    assert "self._lock = threading.Lock()" in inspect.getsource(JobScheduler.__init__)
    assert "with self._lock:" in inspect.getsource(JobScheduler.exit_gracefully)
    scheduler = SimpleNamespace(_lock=threading.Lock(), _user_kill=None, _open_jobs=threading.Semaphore(0))
    assert internals.reentrant_scheduler_lock(scheduler)
    with scheduler._lock:  # the main thread, finishing jobs, when the signal comes
        JobScheduler.exit_gracefully(scheduler)  # the handler runs in that same thread
    assert scheduler._user_kill == "graceful" and scheduler._open_jobs.acquire(timeout=1)
    assert internals.reentrant_scheduler_lock(scheduler)  # already reentrant: left as it is
    assert not internals.reentrant_scheduler_lock(SimpleNamespace())


def test_the_first_sigint_is_the_schedulers_graceful_stop_and_a_second_interrupts():
    """Snakemake still wraps any exception of an input function (KeyboardInterrupt too) in an
    InputFunctionException, and still stops gracefully in exit_gracefully: the first SIGINT goes
    there, so it never lands inside an input function as a KeyboardInterrupt."""
    import inspect
    import os
    import signal

    import snakemake.api  # noqa: F401
    from snakemake.rules import Rule
    from snakemake.scheduling.job_scheduler import JobScheduler

    assert "InputFunctionException(" in inspect.getsource(Rule.apply_input_function)
    assert '"graceful"' in inspect.getsource(JobScheduler.exit_gracefully)
    calls = []
    scheduler = SimpleNamespace(exit_gracefully=lambda *args: calls.append(args[0]))
    before = signal.getsignal(signal.SIGINT)
    try:
        assert internals.sigint_stops_gracefully(scheduler)
        os.kill(os.getpid(), signal.SIGINT)
        assert calls == [signal.SIGINT]
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)  # Python runs the handler before the next line
    finally:
        signal.signal(signal.SIGINT, before)
    assert not internals.sigint_stops_gracefully(SimpleNamespace())


def test_finished_jobs_are_handed_to_the_scheduler_in_one_go():
    """JobScheduler._proceed (its finish_callback) still appends to _tofinish and releases _open_jobs
    under _lock: report_finished does the same for many jobs, and wakes the loop once."""
    import inspect
    import threading

    import snakemake.api  # noqa: F401  (imports snakemake.workflow and snakemake.dag in their working order)
    from snakemake.scheduling.job_scheduler import JobScheduler

    source = inspect.getsource(JobScheduler._proceed)
    assert "self._tofinish.append(job)" in source and "self._open_jobs.release()" in source
    assert "self.finish_callback = self._proceed" in inspect.getsource(JobScheduler.__init__)

    class Scheduler:
        dryrun = False

        def __init__(self):
            self._lock, self._tofinish, self._open_jobs = threading.Lock(), [], threading.Semaphore(0)
            self.finish_callback = self._proceed

        def _proceed(self, job):
            raise AssertionError("not called: the jobs go in one go")

    scheduler = Scheduler()
    assert internals.report_finished(scheduler, ["a", "b", "c"])
    assert scheduler._tofinish == ["a", "b", "c"] and scheduler._open_jobs.acquire(timeout=1)
    assert not scheduler._open_jobs.acquire(blocking=False)  # woken once
    dry = Scheduler()
    dry.dryrun = True
    assert not internals.report_finished(dry, ["a"]) and dry._tofinish == []
    assert not internals.report_finished(SimpleNamespace(), ["a"])


def test_local_runs_use_the_manymodels_executor_and_cluster_runs_are_left_alone():
    from snakemake.executors.local import Executor as LocalExecutor
    from snakemake_interface_executor_plugins.registry import ExecutorPluginRegistry

    from snakemake_executor_plugin_manymodels import Executor

    local = ExecutorPluginRegistry().get_plugin("local")
    before = local.executor
    try:
        assert before is LocalExecutor or before is Executor
        assert issubclass(Executor, LocalExecutor)  # it still runs every other job as the local executor does
        assert internals.use_manymodels_executor() and local.executor is Executor
        assert internals.use_manymodels_executor()  # idempotent
        local.executor = object  # another executor than Snakemake's local one: not replaced
        assert not internals.use_manymodels_executor() and local.executor is object
    finally:
        local.executor = before
