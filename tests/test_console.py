"""The console: the logger plugin's compact progress, and one-line errors for bad input."""

from __future__ import annotations

import io
import logging

import pytest
from snakemake_interface_logger_plugins.common import LogEvent
from snakemake_interface_logger_plugins.tests import MockOutputSettings, TestLogHandlerBase

import snakemake_logger_plugin_manymodels as plugin
from manymodels import ConfigError
from manymodels.engine.console import stop_on_bad_input


class TestPluginContract(TestLogHandlerBase):
    """The interface package's own checks of a logger plugin."""

    __test__ = True

    def get_log_handler_cls(self):
        return plugin.LogHandler

    def get_log_handler_settings(self):
        return plugin.LogHandlerSettings()


class Terminal(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


def handler(tty=False, jobs=False, **settings):
    common = MockOutputSettings()
    common.show_failed_logs = True
    for key, value in settings.items():
        setattr(common, key, value)
    h = plugin.LogHandler(common_settings=common, settings=plugin.LogHandlerSettings(jobs=jobs))
    h.stream = Terminal(tty)
    h.live = tty
    return h


def record(msg="", level=logging.INFO, **extra):
    rec = logging.LogRecord("snakemake", level, "x.py", 1, msg, (), None)
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def run_jobs(h, n_fits=8):
    h.emit(record(event=LogEvent.RUN_INFO, stats={"fit_model": n_fits, "score_model": n_fits, "aggregate": 1,
                                                   "total": 2 * n_fits + 1}))
    total = 2 * n_fits + 1
    done = 0
    for i in range(n_fits):
        for rule, jobid in (("fit_model", 2 * i), ("score_model", 2 * i + 1)):
            h.emit(record(event=LogEvent.JOB_INFO, jobid=jobid, rule_name=rule))
            h.emit(record(event=LogEvent.JOB_FINISHED, job_id=jobid))
            done += 1
            h.emit(record(event=LogEvent.PROGRESS, done=done, total=total))
    h.emit(record(event=LogEvent.JOB_INFO, jobid=99, rule_name="aggregate"))
    h.emit(record(event=LogEvent.JOB_FINISHED, job_id=99))
    h.emit(record(event=LogEvent.PROGRESS, done=total, total=total))
    return h.stream.getvalue()


def test_a_run_is_a_few_lines_not_fifteen_per_job():
    out = run_jobs(handler(), n_fits=40)
    lines = out.splitlines()
    assert lines[0] == "81 jobs to run: fit_model 40, score_model 40, aggregate 1"
    assert len(lines) <= 6  # the jobs line, 25/50/75% and the last line
    assert lines[-1].startswith("81 of 81 jobs (100%) done in ") and "no failures" in lines[-1]
    assert lines[-1].endswith("(fit_model 40/40, score_model 40/40, one-off jobs 1/1)")


def test_on_a_terminal_the_block_is_redrawn_in_place(monkeypatch):
    monkeypatch.setattr(plugin, "REDRAW_SECONDS", 0)
    out = run_jobs(handler(tty=True), n_fits=3)
    assert "\x1b[F\x1b[2K" in out  # cursor up, clear line
    last_block = out.rsplit("\x1b[2K", 1)[1].splitlines()
    assert last_block[0].startswith("  fit_model") and last_block[0].rstrip().endswith("3/3")
    assert last_block[-1].startswith("7 of 7 jobs (100%) done")


def test_failures_so_far_count_failed_jobs_and_fits_recorded_as_rows(monkeypatch, tmp_path):
    monkeypatch.setattr(plugin, "_fit_failures", 0)
    h = handler()
    h.emit(record(event=LogEvent.RUN_INFO, stats={"fit_model": 2, "score_model": 2, "total": 4}))
    plugin.note_fit_failure()
    log = tmp_path / "fold-0.log"
    log.write_text("score_task failed after 0.1 s\nTraceback (most recent call last):\nOSError: disk full\n")
    h.emit(record("Error in rule score_model", logging.ERROR, event=LogEvent.JOB_ERROR, rule_name="score_model",
                  log=[str(log)], output=["results/x/scores/m/a/fold-0.parquet"]))
    h.emit(record(event=LogEvent.PROGRESS, done=4, total=4))
    out = h.stream.getvalue()
    assert "Error in rule score_model (results/x/scores/m/a/fold-0.parquet)" in out
    assert f"log: {log}" in out and "  | OSError: disk full" in out
    assert "1 failed job, 1 failed fit (recorded as rows)" in out.splitlines()[-1]


def test_errors_lose_traceback_frames_and_code_locations():
    text = ('RuleException:\nWorkflowError in file "/x/workflow/rules/jobs.smk", line 40:\n'
            "all 8 fits of family 'svc' failed\n  File \"/x/workflow/rules/jobs.smk\", line 40, in __rule_x")
    assert plugin.clean_error(text) == "all 8 fits of family 'svc' failed"


def test_chatter_is_left_to_the_log_file_and_the_rest_is_shown():
    h = handler()
    for msg in ("Select jobs to execute...", "Execute 1 jobs...", "Using shell: /bin/bash", "Finished jobid: 3",
                "Provided cores: 2"):
        h.emit(record(msg))
    h.emit(record(event=LogEvent.WORKFLOW_STARTED, workflow_id="x", snakefile="S"))
    h.emit(record("Nothing to be done (all requested files are present and up to date)."))
    h.emit(record("Removed the locks of an earlier run", logging.WARNING))
    assert h.stream.getvalue().splitlines() == [
        "Nothing to be done (all requested files are present and up to date).", "Removed the locks of an earlier run"]


def test_dry_runs_list_their_jobs_once_or_every_job_on_request():
    h = handler(dryrun=True)
    for _ in range(2):  # Snakemake reports a dry run's jobs twice
        h.emit(record("Job stats:\n...", event=LogEvent.RUN_INFO, stats={"fit_model": 4, "total": 4}))
    assert h.stream.getvalue() == "4 jobs would run: fit_model 4\n"
    h = handler(dryrun=True, jobs=True)
    h.emit(record(event=LogEvent.JOB_INFO, jobid=7, rule_name="fit_model", rule_msg=None, local=True,
                  is_checkpoint=False, input=["a"], output=["b"], log=[], benchmark=None, reason="missing",
                  wildcards={"fold": "0"}, priority=0, threads=1, resources={}, indent=False))
    out = h.stream.getvalue()
    assert "localrule fit_model:" in out and "wildcards: fold=0" in out


def test_bad_input_stops_with_one_line_and_status_one(caplog):
    with pytest.raises(SystemExit) as stopped, caplog.at_level(logging.ERROR, logger="snakemake.logging"):
        with stop_on_bad_input():
            raise ConfigError("configs/x.yaml: metrics.acc: 'acuracy' is not a built-in metric")
    assert stopped.value.code == 1
    assert caplog.messages == ["configs/x.yaml: metrics.acc: 'acuracy' is not a built-in metric"]


@pytest.mark.parametrize("first_sign", [
    record("Will exit after finishing currently running jobs (scheduler)."),
    record("Terminating processes on user request, this might take some time."),
    record("StoppedOnRequest in file rules/fit.smk, line 20:\nstopped on request; rerun the same command to resume",
           level=logging.ERROR, event=LogEvent.ERROR),
])
def test_a_stop_request_is_one_line_and_its_consequences_are_left_to_the_log(first_sign):
    h = handler()
    h.emit(first_sign)
    h.emit(record("TerminatedWorkerError: ... a segmentation fault ...", level=logging.ERROR, event=LogEvent.ERROR))
    h.emit(record(level=logging.ERROR, event=LogEvent.JOB_ERROR, rule_name="fit_model", log=[], output=["a.joblib"]))
    h.emit(record("Removing output files of failed job fit_model since they might be corrupted:\n"
                  "results/config/fits/gmm/b625753e83/fold-2.joblib"))
    h.emit(record("WorkflowError:\nAt least one job did not complete successfully.", level=logging.ERROR))
    h.emit(record("Complete log(s): .snakemake/log/x.log"))
    assert h.stream.getvalue().splitlines() == [plugin.STOPPED, "Complete log(s): .snakemake/log/x.log"]
    assert h.state.failed == {} and h.state.stopped == 1  # the job the stop request ended did not fail
    assert "1 stopped" in h.state.summary_line() and "failed job" not in h.state.summary_line()


def test_a_full_disk_is_one_line_with_the_path_and_its_free_space(tmp_path):
    h = handler()
    error = f"OSError in file x.smk, line 3:\n[Errno 28] No space left on device: '{tmp_path}/results/x.parquet'"
    h.emit(record(error, level=logging.ERROR, event=LogEvent.ERROR))
    h.emit(record("--- Logging error ---\nOSError: [Errno 28] No space left on device", level=logging.ERROR))
    h.emit(record("Error recording metadata for finished job ([Errno 28] No space left on device). Please ensure "
                  "write permissions for the directory .snakemake", level=logging.ERROR))
    # A metadata record the full disk cut short, read back at shutdown: a consequence, left to the log.
    h.emit(record("Ignore corrupted or currently written metadata record .snakemake/metadata/cmVzdWx0cw.",
                  level=logging.WARNING))
    (line,) = h.stream.getvalue().splitlines()
    assert line.startswith(f"Disk full: no space left on the device of {tmp_path}/results/x.parquet (")
    assert line.endswith(" free); free some space, then rerun the same command to resume.")
    assert not logging.raiseExceptions  # no "--- Logging error ---" traceback from Snakemake's log file handler


def test_a_held_lock_names_the_directory_and_not_unlock():
    h = handler()
    h.emit(record("LockException:\nError: Directory cannot be locked. Please make sure that no other Snakemake "
                  "process is trying to create the same files in the following directory:\n/data/wf\nIf you are "
                  "sure ... It can be removed with the --unlock argument.", level=logging.ERROR, event=LogEvent.ERROR))
    assert h.stream.getvalue() == ("Another run is writing the same files in /data/wf: wait for it to finish, then "
                                   "rerun (a killed run's locks are removed by the next run, no --unlock needed).\n")


def test_other_errors_are_printed_as_they_come():
    h = handler()
    h.emit(record("ValueError: something else", level=logging.ERROR, event=LogEvent.ERROR))
    assert h.stream.getvalue() == "ValueError: something else\n" and h.fault is None


def test_a_damaged_input_is_named_once_without_the_job_log_s_traceback(tmp_path):
    log = tmp_path / "score.log"
    log.write_text("score_task failed after 0.03 s\nTraceback (most recent call last):\nIntegrityError: ...\n")
    h = handler()
    message = ("results/x/fits/gmm/0123456789/fold-0.joblib: its SHA-256 ... does not match ...; run `manymodels "
               "verify --repair x` to remove it and what was derived from it, then the same snakemake command to redo "
               "exactly those jobs")
    h.emit(record(f"IntegrityError in file \"rules/score.smk\", line 20:\n{message}", level=logging.ERROR,
                  event=LogEvent.ERROR))
    h.emit(record(level=logging.ERROR, event=LogEvent.JOB_ERROR, rule_name="score_model", log=[str(log)],
                  output=["results/x/scores/gmm/0123456789/fold-0.parquet"]))
    assert h.stream.getvalue().splitlines() == [
        message, "Error in rule score_model (results/x/scores/gmm/0123456789/fold-0.parquet)", f"  log: {log}"]
    h.emit(record("ValueError: other", level=logging.ERROR, event=LogEvent.ERROR))
    h.emit(record(level=logging.ERROR, event=LogEvent.JOB_ERROR, rule_name="fit_model", log=[str(log)], output=[]))
    assert "  | Traceback (most recent call last):" in h.stream.getvalue()  # other failures keep their log tail
