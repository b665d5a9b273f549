import os

import pytest

from manymodels.engine.pool import run_task


def thread_settings():
    return os.environ.get("OPENBLAS_NUM_THREADS"), os.getpid()


def fails():
    raise KeyError("missing")


def test_task_runs_in_a_single_threaded_worker_and_logs(tmp_path):
    log = tmp_path / "t.log"
    blas, pid = run_task(thread_settings, n_workers=1, log=str(log))
    assert blas == "1" and pid != os.getpid()
    assert "thread_settings done in" in log.read_text()


def test_exceptions_reach_the_job_and_the_log(tmp_path):
    log = tmp_path / "t.log"
    with pytest.raises(KeyError, match="missing"):
        run_task(fails, n_workers=1, log=str(log))
    assert "Traceback" in log.read_text() and "KeyError" in log.read_text()


def test_in_process_mode_runs_here(tmp_path):
    _, pid = run_task(thread_settings, n_workers=1, in_process=True, log=str(tmp_path / "t.log"))
    assert pid == os.getpid()


def test_tasks_can_be_named_as_strings_and_need_no_log():
    from manymodels.engine.pool import submit

    assert submit("manymodels.experiment.tasks:derive_seed", n_workers=1, identity="abc").result() == __import__(
        "manymodels.experiment.tasks", fromlist=["derive_seed"]).derive_seed("abc")


def signals_itself(sig):
    import signal
    import time

    # As a run's workers get it, whatever this test inherited (`make test &` starts with SIGINT ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), getattr(signal, sig))
    time.sleep(5)


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_a_worker_stopped_by_a_stop_request_is_not_reported_as_a_crash(sig):
    from manymodels.engine.pool import StoppedOnRequest

    with pytest.raises(StoppedOnRequest, match="stopped on request; rerun the same command to resume"):
        run_task(signals_itself, n_workers=1, sig=sig)


def test_a_worker_killed_otherwise_is_a_crash_of_that_task_alone_after_one_more_try(tmp_path):
    from manymodels.engine.pool import TaskFailure, submit

    tries = tmp_path / "tries"
    others = [submit(slow_square, n_workers=3, x=x) for x in range(4)]
    with pytest.raises(TaskFailure, match=r"died from SIGKILL \(killed\).*twice") as crashed:
        run_task(dies, n_workers=3, sig="SIGKILL", tries=str(tries))
    assert crashed.value.error_type == "WorkerCrash"
    assert tries.read_text() == "xx"  # run again once, on a fresh worker
    assert [f.result(timeout=30) for f in others] == [0, 1, 4, 9]  # the tasks beside it are unharmed


def slow_square(x):
    import time

    time.sleep(0.3)
    return x * x


def dies(sig, tries):
    import signal

    with open(tries, "a") as fh:
        fh.write("x")
    os.kill(os.getpid(), getattr(signal, sig))


def segfaults():
    import ctypes

    ctypes.string_at(0)  # reads address 0: SIGSEGV


def test_a_segmentation_fault_is_named():
    from manymodels.engine.pool import TaskFailure

    with pytest.raises(TaskFailure, match=r"died from SIGSEGV \(segmentation fault\)"):
        run_task(segfaults, n_workers=2)
    assert run_task(slow_square, n_workers=2, x=3) == 9  # the pool goes on


def test_a_task_past_its_time_is_stopped_within_a_tick_of_its_limit():
    import time

    from manymodels.engine.pool import Limits, TaskFailure

    start = time.monotonic()
    with pytest.raises(TaskFailure, match=r"stopped after 0\.[5-9]\d* s: over its limit of 0\.5 s") as stopped:
        run_task(sleeps, n_workers=1, seconds=30, limits=Limits(seconds=0.5))
    assert stopped.value.error_type == "TimeLimit" and time.monotonic() - start < 0.5 + 1.0
    assert run_task(slow_square, n_workers=1, x=2, limits=Limits(seconds=5)) == 4  # a fresh worker


def sleeps(seconds):
    import time

    time.sleep(seconds)


def allocates(mb):
    import numpy as np

    return float(np.ones(int(mb * 2**20 / 8)).sum())


def test_a_task_over_its_memory_is_stopped_and_the_next_has_its_own_budget():
    from manymodels.engine.pool import Limits, TaskFailure

    with pytest.raises(TaskFailure, match=r"ran out of its memory limit of 100 MB") as over:
        run_task(allocates, n_workers=1, mb=400, limits=Limits(memory_mb=100))
    assert over.value.error_type == "MemoryLimit"
    assert run_task(allocates, n_workers=1, mb=50, limits=Limits(memory_mb=100)) == 50 * 2**20 / 8
    assert run_task(allocates, n_workers=1, mb=400) == 400 * 2**20 / 8  # no limit, no bound


def test_workers_import_the_package_from_this_process_s_path_not_the_installed_copy(tmp_path):
    """A workflow copy with edited code runs that code in the workers (the forkserver of Python 3.11
    preloads from its own default path otherwise, which finds the installed package)."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    import manymodels

    shadow = tmp_path / "shadow"
    shutil.copytree(Path(manymodels.__file__).parent, shadow / "manymodels",
                    ignore=shutil.ignore_patterns("__pycache__"))
    with open(shadow / "manymodels/task/io.py", "a") as fh:  # a module the forkserver preloads
        fh.write("\n\ndef where():\n    return __file__\n")
    script = (f"import sys; sys.path.insert(0, {str(shadow)!r})\n"
              "from manymodels.engine.pool import run_task, start_server\n"
              "start_server(['manymodels.task.score'])\n"  # as the workflow does
              "print(run_task('manymodels.task.io:where', n_workers=1))\n")
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(shadow / "manymodels/task/io.py")


def _pool_whose_first_starts_fail(failures: int):
    """A pool of one worker whose first ``failures`` worker starts fail as when the forkserver dies
    (a stop request to the process group ends it as it forks)."""
    from manymodels.engine.pool import Pool

    pool = Pool(1)
    start, calls = pool._start_worker, []

    def failing_start():
        calls.append(1)
        if len(calls) <= failures:
            raise EOFError("unexpected EOF")
        return start()

    pool._start_worker = failing_start
    return pool


def _getpid_payload() -> bytes:
    import pickle

    return pickle.dumps(("os:getpid", None, {}, None, False))


def test_a_worker_that_cannot_start_is_started_again_a_tick_later():
    pool = _pool_whose_first_starts_fail(2)
    try:
        assert pool.submit(_getpid_payload(), "getpid").result(timeout=30) != os.getpid()
        assert pool._thread.is_alive()
    finally:
        pool.close()


def test_when_no_worker_starts_the_task_fails_instead_of_waiting_forever():
    from manymodels.engine.pool import START_ATTEMPTS

    pool = _pool_whose_first_starts_fail(START_ATTEMPTS + 100)
    try:
        with pytest.raises(RuntimeError, match="no worker process could be started"):
            pool.submit(_getpid_payload(), "getpid").result(timeout=30)
    finally:
        pool.close()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # it is raised there too
def test_a_manager_that_fails_fails_its_tasks_and_the_later_ones():
    from manymodels.engine.pool import Pool

    pool = Pool(1)
    pool._stop_overdue = lambda: 1 / 0  # a bug in the manager's loop
    try:
        with pytest.raises(RuntimeError, match="the worker pool stopped working"):
            pool.submit(_getpid_payload(), "getpid").result(timeout=30)
        with pytest.raises(RuntimeError, match="the worker pool stopped working"):
            pool.submit(_getpid_payload(), "getpid").result(timeout=5)
        pool._thread.join(timeout=5)  # its exception is reported (and its warning ignored) in this test
    finally:
        pool.close()


def test_a_process_that_exits_while_a_worker_starts_leaves_no_traceback(tmp_path):
    """A run stopped on request exits while its pool may be starting a worker. Exit waits for that
    worker's start to finish (and then ends it), so the new worker never reads a half-sent start and
    prints its EOFError. The start is slowed to make the moment certain."""
    import subprocess
    import sys

    script = (
        "import sys, threading, time\n"
        "import multiprocessing.forkserver as forkserver\n"
        "from manymodels.engine.pool import get_pool\n"
        "connect, forked = forkserver.connect_to_new_process, threading.Event()\n"
        "def slow_connect(fds):\n"
        "    connection = connect(fds)  # the worker is forked and waits for what to run\n"
        "    forked.set()\n"
        "    time.sleep(1.0)\n"
        "    return connection\n"
        "forkserver.connect_to_new_process = slow_connect\n"
        "pool = get_pool(1)\n"
        "pool.submit(__import__('pickle').dumps(('os:getpid', None, {}, None, False)), 'getpid')\n"
        "assert forked.wait(60)\n"
        "sys.exit(0)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
