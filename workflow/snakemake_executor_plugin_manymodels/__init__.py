"""Snakemake executor plugin ``manymodels``: local execution in which fit and score jobs go straight
to the pool of warm workers.

Snakemake's local executor runs every job in a thread of its own, after preparing it (its output
folders, its old outputs), marking it incomplete and logging it in full (about 20 fields, formatted
for the log file); per fit or score job that cost the Snakemake process about 2 ms of its CPU, on
jobs whose whole work is done in another process. This executor runs the jobs of the rules the
workflow registered (:mod:`manymodels.engine.dispatch`) differently: it builds their task from the
job, submits it to the pool and reports the jobs finished from the pool's callbacks, many at once
(every ``REPORT_EVERY`` seconds). The manymodels console counts such a job without a log record
(``note_job``; any other console gets Snakemake's record); no incomplete marker is written (a task
writes each file atomically, so a killed run leaves a file whole or absent) and their folders are
left to the tasks (every artifact is written into a folder its writer makes). Every other job runs
as the local executor runs it.

A local run uses it without being asked: the workflow puts it in place of the local executor
(:func:`manymodels.engine.internals.use_manymodels_executor`); ``--executor manymodels`` names it,
and ``MANYMODELS_EXECUTOR=local`` keeps Snakemake's own (a thread per job), for comparison.

Like ``snakemake_logger_plugin_manymodels``, Snakemake imports this module before it reads the
Snakefile: it imports nothing of ``manymodels`` at import time, and uses the workflow's own copy
of the package once the Snakefile has loaded it.
"""

import sys
import threading
import time
from dataclasses import dataclass

from snakemake.executors.local import Executor as LocalExecutor
from snakemake.executors.local import common_settings as local_settings
from snakemake.exceptions import print_exception
from snakemake_interface_executor_plugins.executors.base import SubmittedJobInfo
from snakemake_interface_executor_plugins.settings import CommonSettings, ExecutorSettingsBase

# Local execution, as Snakemake's own local executor.
common_settings = CommonSettings(
    non_local_exec=False,
    implies_no_shared_fs=False,
    job_deploy_sources=False,
    pass_envvar_declarations_to_cmd=local_settings.pass_envvar_declarations_to_cmd,
    auto_deploy_default_storage_provider=False,
)


@dataclass
class ExecutorSettings(ExecutorSettingsBase):
    """No settings of its own."""


def _dispatch():
    """The workflow's own manymodels.engine.dispatch (loaded by the Snakefile), if any."""
    return sys.modules.get("manymodels.engine.dispatch")


# Finished tasks are reported to Snakemake together, at most this long after the first of them
# finished: one scheduling pass then takes many jobs, instead of one pass (and a wake-up of
# Snakemake's scheduling thread) per job.
REPORT_EVERY = 0.01


class Executor(LocalExecutor):
    def __post_init__(self):
        super().__post_init__()
        self._closed = False  # once Snakemake has stopped the run, late tasks are not reported
        self._finished: list = []
        self._finished_lock = threading.Condition()
        self._reporter = threading.Thread(target=self._report, name="manymodels-reporter", daemon=True)
        self._reporter.start()

    def run_jobs(self, jobs):
        dispatch = _dispatch()
        for job in jobs:
            call = dispatch.call_for(job) if dispatch is not None and not self.workflow.dryrun else None
            if call is None:
                self.run_job_pre(job)
                self.run_job(job)
            else:
                self._run_task(job, call)

    def _run_task(self, job, call) -> None:
        # The manymodels console counts the job (which rule its id is) without a log record per job; any
        # other console (or --logger-manymodels-jobs, --verbose) gets Snakemake's own record of it.
        console = sys.modules.get("snakemake_logger_plugin_manymodels")
        if console is None or not console.note_job(job.jobid, job.rule.name):
            self.run_job_pre(job)
        job_info = SubmittedJobInfo(job=job)
        # No incomplete markers: a task writes each of its files atomically, so a file of a killed run is
        # whole or absent, and Snakemake redoes a job whose file is absent.
        self.report_job_submission(job_info, register_job=False)
        call.submit().add_done_callback(lambda done: self._task_done(job_info, done))

    def shutdown(self):
        self._closed = True
        super().shutdown()

    def cancel(self):
        self._closed = True
        super().cancel()

    def _task_done(self, job_info, done) -> None:
        with self._finished_lock:
            self._finished.append((job_info, done))
            self._finished_lock.notify()

    def _report(self) -> None:
        while True:
            with self._finished_lock:
                while not self._finished:
                    self._finished_lock.wait()
            time.sleep(REPORT_EVERY)  # the tasks that finish meanwhile join this report
            with self._finished_lock:
                finished, self._finished = self._finished, []
            if self._closed:  # Snakemake has stopped the run (and its logging): nothing to tell it
                continue
            succeeded = []
            for job_info, done in finished:
                error = done.exception()
                if error is None:
                    succeeded.append(job_info)
                else:
                    print_exception(error, self.workflow.linemaps)
                    self.report_job_error(job_info)
            internals = sys.modules.get("manymodels.engine.internals")
            if not (internals and internals.report_finished(self.workflow.scheduler, [i.job for i in succeeded])):
                for job_info in succeeded:
                    self.report_job_success(job_info)
