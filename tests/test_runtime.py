from types import SimpleNamespace

from manymodels.locks import MARKER
from manymodels.runtime import disable_job_rate_limit, on_start


def test_rate_limit_is_dropped_for_local_runs_only(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    local = SimpleNamespace(local_exec=True, scheduler=SimpleNamespace(job_rate_limiter=object()))
    on_start(local)
    assert local.scheduler.job_rate_limiter is None
    assert (tmp_path / MARKER).is_file()
    cluster = SimpleNamespace(local_exec=False, scheduler=SimpleNamespace(job_rate_limiter="limiter"))
    on_start(cluster)
    assert cluster.scheduler.job_rate_limiter == "limiter"


def test_missing_scheduler_or_limiter_is_left_alone():
    assert disable_job_rate_limit(None) is False
    assert disable_job_rate_limit(SimpleNamespace(job_rate_limiter=None)) is False
