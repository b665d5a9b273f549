from types import SimpleNamespace

from manymodels.engine.locks import run_marker
from manymodels.engine.scheduling import disable_job_rate_limit, on_start


def test_rate_limit_is_dropped_for_local_runs_only(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    local = SimpleNamespace(local_exec=True, scheduler=SimpleNamespace(job_rate_limiter=object()))
    on_start(local, "penguins")
    assert local.scheduler.job_rate_limiter is None
    assert (tmp_path / run_marker("penguins")).is_file()
    cluster = SimpleNamespace(local_exec=False, scheduler=SimpleNamespace(job_rate_limiter="limiter"))
    on_start(cluster, "penguins")
    assert cluster.scheduler.job_rate_limiter == "limiter"


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
    from manymodels.engine.scheduling import lighten_scheduling

    scheduler = FakeScheduler(ready=[])
    assert lighten_scheduling(scheduler) is True
    assert lighten_scheduling(scheduler) is False  # already done
    handed_over = [scheduler.remaining_jobs for _ in range(1000)]  # one per scheduling pass
    assert scheduler.computed == 0 and isinstance(scheduler, FakeScheduler)
    assert bool(handed_over[0]) and list(handed_over[0]) == ["job-a", "job-b"] and len(handed_over[0]) == 2
    assert scheduler.computed == 1


def test_open_jobs_are_drawn_before_they_are_copied():
    from manymodels.engine.scheduling import lighten_scheduling

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
