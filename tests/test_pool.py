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

    os.kill(os.getpid(), getattr(signal, sig))
    time.sleep(5)


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_a_worker_stopped_by_a_stop_request_is_not_reported_as_a_crash(sig):
    from manymodels.engine.pool import StoppedOnRequest

    with pytest.raises(StoppedOnRequest, match="stopped on request; rerun the same command to resume"):
        run_task(signals_itself, n_workers=1, sig=sig)


def test_a_worker_killed_otherwise_is_still_a_crash():
    from joblib.externals.loky.process_executor import TerminatedWorkerError

    with pytest.raises(TerminatedWorkerError):
        run_task(signals_itself, n_workers=1, sig="SIGKILL")
