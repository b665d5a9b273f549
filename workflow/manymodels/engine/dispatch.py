"""What a fit or score job hands the pool, built once from the job, and how its outcome is taken.

The same :class:`TaskCall` serves a `run:` job waiting in a Snakemake thread (:meth:`TaskCall.run`)
and the ``manymodels`` executor plugin, which submits the task straight to the pool and hears of its
end through a callback, without a thread per job (:meth:`TaskCall.submit`). The rules register how
to build each rule's call (:func:`register`); the plugin asks :func:`call_for` with the job.

A fit whose worker crashed, or that ran past its time or memory limit, is a row of its own: its
model file (None) and metadata are written by :func:`manymodels.task.fit.record_failed_fit`, in a
worker, and the job succeeds, as for a fit that raised.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from .pool import Limits, TaskFailure, submit

# rule name -> function(job-like: wildcards, input, output, params, log) -> TaskCall
_BUILDERS: dict[str, Callable] = {}


def register(rule: str, build: Callable) -> None:
    """Let jobs of ``rule`` be handed to the pool by the executor plugin: ``build(job)`` makes the call."""
    _BUILDERS[rule] = build


def call_for(job) -> "TaskCall | None":
    """The call of a job of a registered rule (None for any other job, or a group of jobs)."""
    build = None if job.is_group() else _BUILDERS.get(job.rule.name)
    return build(job) if build is not None else None


@dataclass
class TaskCall:
    """One task: ``func(**kwargs)`` in the pool (``pool``: its settings), its ``log`` and ``limits``
    (``urgent``: before the tasks that wait, as a score whose fit is done);
    ``failed_fit``: where to record the fit as a failed row if its worker crashed or a limit stopped
    it (the keyword arguments of record_failed_fit but the error), by ``failed_fit_function`` (another
    for a skops model file); ``on_outcome``: called with the
    task's result once it is known."""

    func: str
    kwargs: dict
    pool: dict
    log: str | None = None
    limits: Limits | None = None
    failed_fit: dict | None = None
    on_outcome: Callable | None = None
    urgent: bool = False
    failed_fit_function: str = "manymodels.task.fit:record_failed_fit"
    _done: Future = field(default_factory=Future, repr=False)

    def submit(self) -> Future:
        """Start the task; the future returned resolves to its result (a failed fit's row included)
        or to the exception that makes its job fail."""
        started = submit(self.func, **self.pool, log=self.log, limits=self.limits, urgent=self.urgent, **self.kwargs)
        started.add_done_callback(self._finished)
        return self._done

    def run(self):
        """Run the task and wait for its result (a `run:` job's way)."""
        return self.submit().result()

    def _finished(self, future: Future) -> None:
        error = future.exception()
        if isinstance(error, TaskFailure) and self.failed_fit is not None:
            where, self.failed_fit = self.failed_fit, None  # recorded once
            recorded = submit(self.failed_fit_function, **self.pool, log=self.log,
                              error_type=error.error_type, error=str(error), **where)
            recorded.add_done_callback(self._finished)
            return
        if error is not None:
            self._done.set_exception(error)
            return
        result = future.result()
        try:
            if self.on_outcome is not None:
                self.on_outcome(result)
        except Exception as exc:  # the outcome's handler failing fails the job, never the pool
            self._done.set_exception(exc)
            return
        self._done.set_result(result)
