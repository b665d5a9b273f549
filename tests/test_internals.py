"""The workarounds of Snakemake's internals: still aimed at what is there, for the versions pinned."""

import re
from pathlib import Path
from types import SimpleNamespace


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
