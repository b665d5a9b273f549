"""Snakemake logger plugin ``manymodels``: progress per rule instead of 15 lines per job.

Snakemake's default console prints every job (about 15 lines each: 6,700 lines for the default
experiment, 168,000 for the large grid's dry run). This logger plugin (``--logger manymodels``, set
in profiles/default) shows instead, per rule, how many jobs are done out of how many, the failures
so far (failed jobs, and fits recorded as failed), the elapsed and the estimated remaining time: a
live block redrawn in place on a terminal, a line every ``REPORT_EVERY`` seconds (and at 25, 50 and
75%) otherwise, as in a Slurm log or CI. Warnings, errors, a failed job's log and Snakemake's own
messages that matter (nothing to be done, the path of the full log) are printed as they come; the
full log is still written to ``.snakemake/log/`` (every job of it, except the fit and score jobs
that the ``manymodels`` executor counts here with :func:`note_job` instead of a record each: their
logs are under ``logs/``). ``--logger`` on the command line still chooses another logger.

The handler runs in Snakemake's logging thread; it keeps only counters and redraws at most every
``REDRAW_SECONDS``, so its cost per job is a few dictionary updates.

Snakemake finds logger plugins as top-level modules named ``snakemake_logger_plugin_<name>`` and
imports every one of them at start-up, before it reads the Snakefile. This module therefore imports
nothing of ``manymodels``: the workflow imports its own copy of the package (the one beside its
Snakefile), and the plugin must not have loaded another one first.
"""


import logging
import os
import re
import sys
import threading
import time
from dataclasses import dataclass, field

from snakemake_interface_logger_plugins.base import LogHandlerBase
from snakemake_interface_logger_plugins.common import LogEvent
from snakemake_interface_logger_plugins.settings import LogHandlerSettingsBase

REDRAW_SECONDS = 0.25
REPORT_EVERY = 30.0
LOG_TAIL_LINES = 25
# Snakemake's own chatter, left to the log file.
QUIET_MESSAGES = re.compile(
    r"^(Select jobs to execute|Execute \d+ jobs|Using shell:|Provided cores|Rules claiming more threads|"
    r"Assuming unrestricted shared filesystem|Job stats:|Finished jobid|Group jobs: inactive|Provided resources|"
    r"Provided remote nodes|Enabled schedulers|Using greedy|Select jobs|\d+ of \d+ steps|"
    r"DAG of jobs will be updated|Updating checkpoint dependencies)")
# Faults that explain every error after them: the first sign of one prints one line (fault_line), and
# the errors that follow from it (each running job's failure, Snakemake's closing error) are left to
# the log file. A stop request: Snakemake's answer to SIGTERM and to SIGINT, and the error of a task
# whose worker got the signal (manymodels.engine.pool.StoppedOnRequest).
STOP_REQUESTED = re.compile(r"Will exit after finishing currently running jobs \(scheduler\)|"
                            r"Terminating processes on user request|stopped on request")
DISK_FULL = re.compile(r"\[Errno 28\]|No space left on device")
STOPPED = "Stopped on request; rerun the same command to resume."
# Snakemake's cleanup after the jobs a fault stopped (an info line, with the files on the next lines).
FAULT_CLEANUP = re.compile(r"Removing output files of failed job")
# In the message of a job that read a damaged artifact (manymodels.task.io.damaged).
VERIFY_HINT = "run `manymodels verify --repair"
# Snakemake's LockException, whose advice (--unlock) is wrong while the other run lives, and not
# needed after it was killed: the next run removes the locks of a dead run on this host by itself
# (manymodels.engine.locks).
LOCKED = re.compile(r"Directory cannot be locked.*?directory:\s*(\S+)", re.S)

@dataclass
class LogHandlerSettings(LogHandlerSettingsBase):
    """Settings of the plugin, as command-line flags (``--logger-manymodels-jobs``) or profile keys.

    (No ``from __future__ import annotations`` in this module: Snakemake builds the flags from the
    fields' types, which must be real types, not strings.)
    """

    jobs: bool = field(default=False, metadata={
        "help": "Also print every job the way Snakemake's own console does (rule, files, wildcards, reason): "
                "about 15 lines a job, as in a dry run that lists each job."})


def _size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError


def fault_line(text: str) -> tuple[str, str] | None:
    """(fault, the one line to print) when ``text`` is the first sign of a fault that explains the
    errors after it: a stop request, another run holding the locks, or a full disk (with the path
    written to and its free space)."""
    if STOP_REQUESTED.search(text):
        return "stop", STOPPED
    if found := LOCKED.search(text):
        return "locked", (f"Another run is writing the same files in {found.group(1)}: wait for it to finish, then "
                          "rerun (a killed run's locks are removed by the next run, no --unlock needed).")
    if DISK_FULL.search(text):
        found = re.search(r"No space left on device: '([^']+)'", text)
        path = os.path.abspath(found.group(1) if found else os.getcwd())
        existing = path
        while not os.path.exists(existing) and os.path.dirname(existing) != existing:
            existing = os.path.dirname(existing)
        try:
            import shutil

            free = f"{_size(shutil.disk_usage(existing).free)} free"
        except OSError:
            free = "free space unknown"
        return "disk full", (f"Disk full: no space left on the device of {path} ({free}); free some space, "
                             "then rerun the same command to resume.")
    return None


# Fits recorded as failed rows (the fit raised) in this process: the fit rules count them here,
# since to Snakemake such a job succeeded.
_fit_failures = 0
_fit_failures_lock = threading.Lock()


def note_fit_failure() -> None:
    global _fit_failures
    with _fit_failures_lock:
        _fit_failures += 1


def fit_failures() -> int:
    return _fit_failures


# The handler of this process (the console), for an executor that tells it of a job directly rather
# than through a log record per job (the manymodels executor plugin, for fit and score jobs).
_console = None


def note_job(jobid, rule: str) -> bool:
    """Count a job of ``rule`` as scheduled, as a JOB_INFO record would; False when no manymodels
    console runs in this process (then the job is to be logged as usual)."""
    if _console is None:
        return False
    _console.state.rule_of[jobid] = rule
    _console.state.scheduled[rule] = _console.state.scheduled.get(rule, 0) + 1
    _console.state.totals[rule] = max(_console.state.totals.get(rule, 0), _console.state.scheduled[rule])
    return True


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def clean_error(message: str) -> str:
    """Snakemake's error text without traceback frames and code locations of the workflow itself
    (those are in the log file): what is left says what went wrong."""
    kept = []
    for line in str(message).splitlines():
        if line.startswith("  File ") or line.strip() in ("RuleException:", "Traceback (most recent call last):"):
            continue
        if re.match(r"^\w+ in (rule \w+ in )?file \".*\", line \d+:$", line):
            continue
        kept.append(line)
    return "\n".join(kept).strip()


@dataclass
class RunState:
    """Counters of a run, updated from Snakemake's log events."""

    started: float = field(default_factory=time.monotonic)
    totals: dict = field(default_factory=dict)
    done: dict = field(default_factory=dict)
    failed: dict = field(default_factory=dict)
    stopped: int = 0  # jobs a stop request (or another fault) ended: not failures of their own
    rule_of: dict = field(default_factory=dict)
    scheduled: dict = field(default_factory=dict)
    total: int = 0
    finished: int = 0
    first_finish: float | None = None

    def remaining_seconds(self) -> float | None:
        # An estimate from the first few jobs (data preparation) would mislead.
        if self.finished < max(5, 0.02 * self.total) or self.finished >= self.total:
            return None
        rate = self.finished / max(time.monotonic() - self.started, 1e-9)
        return (self.total - self.finished) / rate

    def failures(self) -> str:
        parts = []
        jobs = sum(self.failed.values())
        if jobs:
            parts.append(f"{jobs} failed job{'s' if jobs != 1 else ''}")
        fits = fit_failures()
        if fits:
            parts.append(f"{fits} failed fit{'s' if fits != 1 else ''} (recorded as rows)")
        if self.stopped:
            parts.append(f"{self.stopped} stopped")
        return ", ".join(parts) or "no failures"

    def summary_line(self) -> str:
        elapsed = time.monotonic() - self.started
        percent = f"{100 * self.finished / self.total:.0f}%" if self.total else "-"
        remaining = self.remaining_seconds()
        eta = f", about {_duration(remaining)} left" if remaining is not None else ""
        return (f"{self.finished} of {self.total} jobs ({percent}) done in {_duration(elapsed)}{eta}; "
                f"{self.failures()}")

    def groups(self) -> list[tuple[str, int, int, int]]:
        """(name, done, total, failed): the rules with many jobs one by one, the one-off jobs (data
        preparation, aggregation, plots of one kind, the report) together."""
        rows, single = [], [rule for rule, total in self.totals.items() if total == 1]
        for rule, total in self.totals.items():
            if total > 1:
                rows.append((rule, self.done.get(rule, 0), total, self.failed.get(rule, 0)))
        if single:
            rows.append(("one-off jobs", sum(self.done.get(r, 0) for r in single), len(single),
                         sum(self.failed.get(r, 0) for r in single)))
        return rows

    def rule_lines(self) -> list[str]:
        rows = self.groups()
        width = max((len(name) for name, *_ in rows), default=4)
        digits = max((len(str(total)) for _, _, total, _ in rows), default=1)
        return [f"  {name:<{width}}  {_bar(done, total)} {done:>{digits}}/{total:<{digits}}"
                + (f"  {failed} failed" if failed else "") for name, done, total, failed in rows]

    def rules_inline(self) -> str:
        return ", ".join(f"{name} {done}/{total}" for name, done, total, _ in self.groups())


def _bar(done: int, total: int, width: int = 20) -> str:
    filled = int(width * done / total) if total else width
    return "[" + "#" * filled + "." * (width - filled) + "]"


class LogHandler(LogHandlerBase):
    """Snakemake logger plugin ``manymodels`` (see the module docstring)."""

    def __post_init__(self) -> None:
        global _console
        self.stream = sys.stdout if getattr(self.common_settings, "stdout", False) else sys.stderr
        self.live = self.stream.isatty() and os.environ.get("TERM") != "dumb"
        self.state = RunState()
        self.run_stats: dict | None = None
        self.drawn_lines = 0
        self.last_draw = 0.0
        self.last_report = time.monotonic()
        self.reported_quarters: set[int] = set()
        self.dryrun = bool(getattr(self.common_settings, "dryrun", False))
        self.verbose = bool(getattr(self.common_settings, "verbose", False))
        self.show_failed_logs = bool(getattr(self.common_settings, "show_failed_logs", False))
        self.printshellcmds = bool(getattr(self.common_settings, "printshellcmds", False))
        self.jobs = bool(getattr(self.settings, "jobs", False))
        self.fault: str | None = None  # set by the first sign of a stop request or a full disk
        self.last_error = ""  # the exception Snakemake reported just before a failed job
        # Snakemake's log file handler cannot write to a full disk either; its tracebacks ("--- Logging
        # error ---", a page per record) would bury the one line that says what happened.
        logging.raiseExceptions = False
        if self.jobs:  # Snakemake's own per-job text
            from snakemake.logging import DefaultFormatter

            self.job_formatter = DefaultFormatter(getattr(self.common_settings, "quiet", None), self.show_failed_logs)
        elif not self.verbose:
            _console = self  # an executor may count jobs here instead of logging each (note_job)

    # What Snakemake needs to know about this handler.
    @property
    def writes_to_stream(self) -> bool:
        return True

    @property
    def writes_to_file(self) -> bool:
        return False

    @property
    def has_filter(self) -> bool:
        return False  # Snakemake's default filter: --quiet, --debug-dag and --printshellcmds keep working

    @property
    def has_formatter(self) -> bool:
        return True

    @property
    def needs_rulegraph(self) -> bool:
        return False

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._handle(record)
        except Exception:  # a console problem must never stop a run
            self.handleError(record)

    def _handle(self, record: logging.LogRecord) -> None:
        event = getattr(record, "event", None)
        state = self.state
        if self._explained_by_fault(event, record):
            return
        if event == LogEvent.RUN_INFO:
            stats = dict(getattr(record, "stats", {}) or {})
            if stats == self.run_stats:  # a dry run reports its jobs twice
                return
            self.run_stats = dict(stats)
            state.total = int(stats.pop("total", sum(stats.values())))
            state.totals = dict(sorted(stats.items(), key=lambda kv: -kv[1]))
            self._print(record.getMessage() if self.jobs else self._jobs_line(stats))
        elif event == LogEvent.JOB_INFO:
            rule = state.rule_of[getattr(record, "jobid", None)] = getattr(record, "rule_name", "?")
            # A checkpoint makes Snakemake plan more jobs than its first count said (fold racing).
            state.scheduled[rule] = state.scheduled.get(rule, 0) + 1
            state.totals[rule] = max(state.totals.get(rule, 0), state.scheduled[rule])
            if self.jobs:
                self._print(self.job_formatter.format(record))
        elif event == LogEvent.JOB_FINISHED:
            rule = state.rule_of.get(getattr(record, "job_id", None))
            if rule is not None:
                state.done[rule] = state.done.get(rule, 0) + 1
            state.first_finish = state.first_finish or time.monotonic()
        elif event == LogEvent.PROGRESS:
            state.finished, state.total = int(record.done), int(record.total)
            self._progress()
        elif event == LogEvent.JOB_ERROR:
            rule = getattr(record, "rule_name", "?")
            state.failed[rule] = state.failed.get(rule, 0) + 1
            self._print(self._job_error(record), error=True)
        elif event == LogEvent.GROUP_ERROR:
            logs = list(getattr(record, "aux_logs", []) or [])
            self._print(record.getMessage() + (f" (log: {', '.join(logs)})" if logs else ""), error=True)
        elif event == LogEvent.ERROR:
            text = clean_error(record.getMessage())
            self.last_error = text
            self._print(text, error=True)
        elif event == LogEvent.SHELLCMD:
            if self.printshellcmds:
                self._print(str(getattr(record, "cmd", None) or record.getMessage()))
        elif event in (LogEvent.WORKFLOW_STARTED, LogEvent.JOB_STARTED, LogEvent.GROUP_INFO, LogEvent.RESOURCES_INFO,
                       LogEvent.RULEGRAPH):
            return
        elif event == LogEvent.DEBUG_DAG:
            self._print(record.getMessage())
        else:
            self._message(record)

    def _explained_by_fault(self, event, record: logging.LogRecord) -> bool:
        """Print the one line of a fault at its first sign; True for the errors it explains."""
        if event not in (None, LogEvent.ERROR, LogEvent.JOB_ERROR, LogEvent.GROUP_ERROR):
            return False
        if self.fault and event is None and FAULT_CLEANUP.match(record.getMessage()):
            return True  # Snakemake removing what the jobs the fault stopped had begun to write
        if event == LogEvent.JOB_ERROR and self.fault:
            self.state.stopped += 1  # ended by the fault, not failed on its own
            return True
        if event is None and record.levelno < logging.WARNING and not STOP_REQUESTED.search(record.getMessage()):
            return False
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += f"\n{record.exc_info[1]}"
        found = fault_line(text)
        if self.fault:  # errors and warnings after a fault: its consequences (a metadata record the
            # full disk cut short: "Ignore corrupted or currently written metadata record ...")
            return found is not None or event is not None or record.levelno >= logging.WARNING
        if found:
            self.fault, line = found
            self._print(line, error=True, redraw=False)  # the progress block stays below no more
            return True
        return False

    def _jobs_line(self, stats: dict) -> str:
        rules = sorted(stats.items(), key=lambda kv: -kv[1])
        shown = ", ".join(f"{rule} {count}" for rule, count in rules[:6])
        more = f", {len(rules) - 6} more rules" if len(rules) > 6 else ""
        verb = "would run" if self.dryrun else "to run"
        return f"{self.state.total} jobs {verb}: {shown}{more}"

    def _message(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.levelno < logging.INFO and not self.verbose:
            return
        if record.levelno <= logging.INFO and (not text.strip() or QUIET_MESSAGES.match(text.strip())):
            return
        self._print(text, error=record.levelno >= logging.WARNING)

    def _job_error(self, record: logging.LogRecord) -> str:
        rule = getattr(record, "rule_name", "?")
        logs = list(getattr(record, "log", []) or [])
        outputs = list(getattr(record, "output", []) or [])
        lines = [f"Error in rule {rule}" + (f" ({', '.join(outputs[:2])}{', ...' if len(outputs) > 2 else ''})"
                                            if outputs else "")]
        if logs:
            lines.append(f"  log: {', '.join(logs)}")
        # A damaged input was named, with what to do, just above: its traceback would only repeat it.
        explained = VERIFY_HINT in self.last_error
        self.last_error = ""
        if self.show_failed_logs and not explained:
            for path in logs:
                try:
                    content = open(path).read().splitlines()
                except OSError:
                    continue
                if not any(word in line for line in content for word in ("Error", "error", "failed", "Traceback")):
                    continue  # a job of a failed group that did its part: its log says nothing about the failure
                tail = content[-LOG_TAIL_LINES:]
                if len(content) > len(tail):
                    lines.append(f"  ... ({len(content) - len(tail)} earlier lines in {path})")
                lines += [f"  | {line}" for line in tail]
        return "\n".join(lines)

    # Drawing.
    def _progress(self) -> None:
        if self.fault:  # after a stop request or a full disk its one line is the last word
            return
        now = time.monotonic()
        if self.live:
            if self.state.finished >= self.state.total:
                self._redraw()
                self.drawn_lines = 0  # the last block stays; what follows (the run summary) prints below it
            elif now - self.last_draw >= REDRAW_SECONDS:
                self._redraw()
            return
        quarter = int(4 * self.state.finished / self.state.total) if self.state.total else 4
        due = now - self.last_report >= REPORT_EVERY
        if self.state.finished >= self.state.total or due or (0 < quarter < 4 and quarter not in self.reported_quarters):
            self.reported_quarters.add(quarter)
            self.last_report = now
            self._write(f"{self.state.summary_line()} ({self.state.rules_inline()})\n")

    def _block(self) -> list[str]:
        return [*self.state.rule_lines(), self.state.summary_line()]

    def _redraw(self) -> None:
        self._clear()
        lines = self._block()
        self._write("\n".join(lines) + "\n")
        self.drawn_lines = len(lines)
        self.last_draw = time.monotonic()

    def _clear(self) -> None:
        if self.live and self.drawn_lines:
            self._write("\x1b[F\x1b[2K" * self.drawn_lines)
            self.drawn_lines = 0

    def _print(self, text: str, error: bool = False, redraw: bool = True) -> None:
        if not text:
            return
        was_drawn = self.drawn_lines
        self._clear()
        self._write(text.rstrip("\n") + "\n")
        if was_drawn and redraw and not self.fault:
            self._redraw()

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (BrokenPipeError, ValueError):  # the reader went away, or the stream closed
            pass

    def close(self) -> None:
        self.drawn_lines = 0  # leave the last block on screen
        super().close()
