"""A pool of warm worker processes that Snakemake `run:` jobs hand their task to.

A fresh Python process pays seconds to import scikit-learn; a job that starts one per task spends
more time importing than fitting. With ``--force-use-threads`` (set in profiles/default) every
`run:` job is a thread of the Snakemake process; it submits its task here and waits, and the
task runs in one of ``n_workers`` long-lived processes that imported everything once.
"""

from __future__ import annotations

import importlib
import os
import threading
import time
import traceback
import warnings
from concurrent.futures import Future

# Every worker runs one task at a time: BLAS and OpenMP must not start threads of their own
# (thread hand-offs cost more than tiny matrices gain; see shared/DESIGN.md).
SINGLE_THREADED = {
    name: "1"
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                 "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
}
IDLE_TIMEOUT_SECONDS = 300

_lock = threading.Lock()


def get_executor(n_workers: int):
    """The process-wide reusable executor with ``n_workers`` warm workers.

    Job threads call this at the same time; the lock keeps them from racing on joblib's first
    import and on the executor's creation.
    """
    with _lock:
        from joblib.externals.loky import get_reusable_executor

        return get_reusable_executor(
            max_workers=max(1, int(n_workers)), timeout=IDLE_TIMEOUT_SECONDS, env=SINGLE_THREADED, reuse=True,
            initializer=watch_owner, initargs=(os.getpid(),),
        )


# How often a worker checks that the Snakemake process that owns it is alive.
OWNER_CHECK_SECONDS = 0.5


def watch_owner(owner: int) -> None:
    """Pool worker initializer: leave as soon as the owning Snakemake process is gone, however it
    died (SIGKILL included), instead of idling for the pool's timeout or finishing a task into
    ``results/`` for a run that no longer exists. A worker is a child of its owner: when the owner
    dies, the worker is handed to another parent."""
    from ..task import io

    def owner_alive() -> bool:
        return os.getppid() == owner

    io.owner_alive = owner_alive  # atomic writes give up, too, rather than land after the owner died

    def watch() -> None:
        while owner_alive():
            time.sleep(OWNER_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="manymodels-owner-watch", daemon=True).start()


def submit(func, /, *, n_workers: int, in_process: bool = False, log: str | None = None, **kwargs) -> Future:
    """Start ``func(**kwargs)`` in a warm worker; return its future.

    ``func`` is a function or its name as ``"package.module:function"``; a name is imported in the
    worker, so the calling process never imports what the task needs. The ``log`` file, if given,
    gets the text the task returns (if any), its duration and, when it raises, the traceback.
    ``in_process`` runs it in the calling process instead: for a job that already has a process of
    its own (a cluster job), where a pool would only add a second import.
    """
    if in_process:
        _limit_native_threads()
        future: Future = Future()
        try:
            future.set_result(call_logged(func, log, kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future
    return get_executor(n_workers).submit(call_logged, func, log, kwargs)


_native_threads_limited = False


def _limit_native_threads() -> None:
    """Cap BLAS and OpenMP at one thread in this process, as in every pool worker.

    A cluster job runs its tasks in its own process, one task per core it was given.
    """
    global _native_threads_limited
    with _lock:
        if _native_threads_limited:
            return
        os.environ.update(SINGLE_THREADED)  # for the libraries loaded from now on
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1)  # for those already loaded
        _native_threads_limited = True


class StoppedOnRequest(RuntimeError):
    """The task's worker was stopped by SIGTERM or SIGINT: the run was asked to stop, nothing failed."""


STOPPED = "stopped on request; rerun the same command to resume"
# How loky names the exit codes of workers ended by a stop request, in TerminatedWorkerError.
_STOP_SIGNALS = ("SIGTERM(-15)", "SIGINT(-2)")


def run_task(func, /, **options):
    """Run a task as :func:`submit` does and wait for its result (its exception is raised here).

    A worker ended by SIGTERM or SIGINT (sent to the whole process group, as Ctrl-C, ``kill`` of the
    group or a batch system do) is a stop request, not the crash loky reports it as ("could be caused
    by a segmentation fault ... or by an excessive memory usage"), and a KeyboardInterrupt raised in a
    worker is one too: both raise :class:`StoppedOnRequest`.
    """
    from joblib.externals.loky.process_executor import TerminatedWorkerError

    try:
        return submit(func, **options).result()
    except KeyboardInterrupt:  # SIGINT in the worker, raised inside the task and sent back
        raise StoppedOnRequest(STOPPED) from None
    except TerminatedWorkerError as error:
        if any(code in str(error) for code in _STOP_SIGNALS):
            raise StoppedOnRequest(STOPPED) from None
        raise


def resolve(func):
    """The function itself, or the one a ``"package.module:function"`` name stands for."""
    if callable(func):
        return func
    module_name, _, name = func.partition(":")
    return getattr(importlib.import_module(module_name), name)


def call_logged(func, log: str | None, kwargs: dict):
    """Call ``func(**kwargs)`` and write what happened to ``log``."""
    func = resolve(func)
    start = time.perf_counter()
    # Warnings go to the task's log, not to the console the whole run shares.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = func(**kwargs)
        except BaseException:
            _write_log(log, f"{_warnings_text(caught)}{func.__name__} failed after {time.perf_counter() - start:.3f} s\n"
                            f"{traceback.format_exc()}")
            raise
    # A task returns its log text, or a dict whose "log" entry is its log text.
    text = result.get("log") if isinstance(result, dict) else result
    text = text.rstrip("\n") + "\n" if isinstance(text, str) else ""
    _write_log(log, f"{text}{_warnings_text(caught)}{func.__name__} done in {time.perf_counter() - start:.3f} s\n")
    return result


def _warnings_text(caught) -> str:
    return "".join(f"warning: {w.category.__name__}: {w.message}\n" for w in caught)


def _write_log(log: str | None, text: str) -> None:
    if log is not None:
        with open(log, "w") as fh:
            fh.write(text)


def warm_up(*, modules: list[str]) -> str:
    """Import modules a worker will need, so the first task it runs does not pay for them."""
    for name in modules:
        importlib.import_module(name)
    return f"imported {', '.join(modules)}"
