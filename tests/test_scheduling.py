from types import SimpleNamespace

from manymodels.engine.locks import run_marker
from manymodels.engine.scheduling import on_start


def test_rate_limit_is_dropped_for_local_runs_only(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    local = SimpleNamespace(local_exec=True, scheduler=SimpleNamespace(job_rate_limiter=object()))
    on_start(local, "penguins")
    assert local.scheduler.job_rate_limiter is None
    assert (tmp_path / run_marker("penguins")).is_file()
    cluster = SimpleNamespace(local_exec=False, scheduler=SimpleNamespace(job_rate_limiter="limiter"))
    on_start(cluster, "penguins")
    assert cluster.scheduler.job_rate_limiter == "limiter"
