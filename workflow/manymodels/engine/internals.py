"""Every workaround of Snakemake's (and its Slurm plugin's) internals, in one place.

Each one names what it changes, the upstream behaviour or issue it works around and the measured
cost it removes; each checks that what it changes is still there and stands down (changing
nothing) when it is not, so a Snakemake upgrade can make the workflow slower but never wrong.
``tests/test_internals.py`` fails when the pinned versions move away from ``WRITTEN_FOR`` or when
a target of these workarounds disappears, so they are looked at again on every upgrade.
"""

from __future__ import annotations

import contextlib
import io
import random
import signal
import threading
import weakref
from collections.abc import Callable, Sequence
from importlib import metadata

# The versions these workarounds were written and measured against (requirements.txt pins them).
WRITTEN_FOR = {"snakemake": "9.27.1", "snakemake-executor-plugin-slurm": "2.8.0",
               "snakemake-executor-plugin-slurm-jobstep": "0.6.1"}


def installed(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def written_for_this_version(distribution: str) -> bool:
    """Whether the installed major.minor of ``distribution`` is the one the workarounds target."""
    version = installed(distribution)
    return version is not None and version.split(".")[:2] == WRITTEN_FOR[distribution].split(".")[:2]


# --- 1. Functions' signatures, read once ----------------------------------------------------------
# Snakemake calls inspect.signature() (snakemake.common.get_function_params) on every input, params
# and resources function, and on Resource.evaluate itself, for every job it creates or runs: 12% of
# the large grid's dry run (19,000 jobs), 5% of a run's main process. A function's signature does
# not change, so it is read once per function here.

def cache_function_signatures() -> bool:
    """Make Snakemake's get_function_params remember each function's parameters; return whether
    Snakemake's function was found (in every module that imported it)."""
    try:
        import snakemake.common as common
        import snakemake.jobs as jobs
        import snakemake.rules as rules
    except ImportError:
        return False
    original = getattr(common, "get_function_params", None)
    if original is None or getattr(rules, "get_function_params", None) is not original:
        return getattr(original, "_manymodels_cached", False)
    cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def get_function_params(func):
        underlying = getattr(func, "__func__", func)
        bound = underlying is not func  # a bound method's parameters lack `self`
        try:
            per_function = cache.setdefault(underlying, {})
        except TypeError:  # not weakly referable (a builtin, a callable object)
            return original(func)
        if bound not in per_function:
            per_function[bound] = original(func)
        return per_function[bound]

    get_function_params._manymodels_cached = True
    for module in (common, jobs, rules):
        if getattr(module, "get_function_params", None) is original:
            module.get_function_params = get_function_params
    return True


# --- 2. Which executor runs the jobs, known while the Snakefile is read -----------------------------
# Snakemake chooses its executor only after it has read the Snakefile (workflow.local_exec is True
# until then, whatever --executor says), but what a job asks for depends on it: resources and
# groups matter on a cluster only, and evaluating them for every job of a local run cost 30% of
# the large grid's dry run. The command line (with its profiles) is read again here, by Snakemake's
# own parser.

def executor_name(argv: list[str]) -> str | None:
    """The executor plugin that ``snakemake`` with these arguments (and its profiles) runs jobs
    with; None when none is named (local execution) or when the command line cannot be read."""
    try:
        from snakemake.cli import parse_args
    except ImportError:
        return None
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # it says again which profiles it read
            _, args = parse_args(argv)
    except (Exception, SystemExit):
        return None
    return getattr(args, "executor", None)


# --- 3. Scheduling passes that do not walk every job ----------------------------------------------
# On every pass (one per finished job), Snakemake 9 lists every job that still has to run
# (JobScheduler.remaining_jobs) and copies and resets every ready job (JobScheduler.open_jobs)
# before drawing --scheduler-subsample of them. On the large grid 9,500 fit jobs are ready at once,
# so both walks made scheduling quadratic in the size of the DAG (minutes).

class LazyJobList(Sequence):
    """A list computed on first use: Snakemake's list of remaining jobs, which the greedy
    scheduler is handed on every pass but never reads."""

    def __init__(self, compute: Callable[[], list]):
        self._compute = compute
        self._jobs: list | None = None

    @property
    def jobs(self) -> list:
        if self._jobs is None:
            self._jobs = list(self._compute())
        return self._jobs

    def __getitem__(self, index):
        return self.jobs[index]

    def __len__(self) -> int:
        return len(self.jobs)


def lighten_scheduling(scheduler) -> bool:
    """Compute ``remaining_jobs`` only when read (the ILP scheduler and the end-of-run check for
    stuck jobs read it, and get the full list), and with a subsample set, draw it before copying
    the ready jobs. A dry run still lists every ready job. Returns whether the scheduler changed."""
    cls = type(scheduler)
    remaining, open_jobs = getattr(cls, "remaining_jobs", None), getattr(cls, "open_jobs", None)
    if not (isinstance(remaining, property) and isinstance(open_jobs, property)) or getattr(cls, "_lightened", False):
        return False

    def drawn_open_jobs(self):
        ready = self.workflow.dag.ready_jobs
        if self.subsample and not self.dryrun and len(ready) > self.subsample:
            return random.sample(tuple(ready), k=self.subsample)
        return open_jobs.fget(self)

    scheduler.__class__ = type(cls.__name__, (cls,), {
        "remaining_jobs": property(lambda self: LazyJobList(lambda: remaining.fget(self))),
        "open_jobs": property(drawn_open_jobs),
        "_lightened": True,
        "__module__": cls.__module__,
    })
    return True


def disable_job_rate_limit(scheduler) -> bool:
    """Turn off Snakemake's job-rate limiter; return whether there was one to turn off.

    For every pass of its scheduling loop, the limiter arms a timer that runs another pass a
    timespan later, so passes multiply with the jobs already done; on thousands of short local jobs
    that costs more than the jobs themselves. It exists to keep cluster queues from being flooded,
    so only local runs turn it off.
    """
    if getattr(scheduler, "job_rate_limiter", None) is None:
        return False
    scheduler.job_rate_limiter = None
    return True


def no_job_rate_limit_in_this_process() -> bool:
    """Create Snakemake's job scheduler without its job-rate limiter, and with the reentrant lock
    of section 6, in this process.

    For node-side processes of a cluster run, which get no `onstart` (Snakemake passes them
    --no-hooks): the limiter's timers also keep such a process from exiting until the last one
    fired (up to a second per process, two processes per Slurm submission), and these are the
    processes a batch system sends SIGTERM to (scancel, time limit). Returns whether the
    scheduler class was found."""
    try:
        from snakemake.scheduling.job_scheduler import JobScheduler
    except ImportError:
        return False
    init = JobScheduler.__init__
    if getattr(init, "_manymodels_unlimited", False):
        return True

    def __init__(self, *args, **kwargs):
        init(self, *args, **kwargs)
        disable_job_rate_limit(self)
        reentrant_scheduler_lock(self)

    __init__._manymodels_unlimited = True
    JobScheduler.__init__ = __init__
    return True


def cap_group_cpus(workflow, cpus: int) -> bool:
    """Make each group job (a cluster submission of many jobs) ask for at most ``cpus`` CPUs.

    Snakemake sizes a group job's CPUs as its widest layer of parallel jobs, capped by the main
    process's --cores (in profiles/default: all, the login node's cores), and passes that --cores
    on to the processes on the node, which size their `srun` step the same way. Both are set
    here, in the login process: its scheduler does not count cores for cluster jobs (it sets its
    own copy to unlimited). Returns whether the settings were found."""
    resources = getattr(workflow, "global_resources", None)
    settings = getattr(workflow, "resource_settings", None)
    if resources is None or "_cores" not in resources or not hasattr(settings, "cores"):
        return False
    resources["_cores"] = cpus
    settings.cores = cpus
    return True


# --- 4. Slurm group jobs in one warm process on their node ----------------------------------------
# profiles/slurm groups each (fit, score) pair and bundles many pairs into one Slurm submission
# (its `groups` and `group-components`). With Snakemake 9.27 and snakemake-executor-plugin-slurm 2.8
# (jobstep 0.6), the node then does not run the bundle as one process:
# (a) the Snakemake process that sbatch starts is not told the group components, so it splits the
#     bundle into its (fit, score) pairs again and runs them one after the other (`--jobs 1`), each
#     through `srun` as a new Snakemake process (upstream: snakemake-executor-plugin-slurm#469);
# (b) that process gets no `--force-use-threads` (Snakemake passes it to single jobs only), so each
#     `run:` job starts yet another Snakemake process, which parses the Snakefile and imports
#     scikit-learn again: about 4 s per task here, for fits that take 0.02-0.3 s.

def pass_group_settings_to_slurm_jobs() -> bool:
    """(a) Make the slurm plugin pass --groups/--group-components to the jobs it submits, so the job
    on the node forms the same group and runs it in one `srun` step. Called in the main process;
    returns whether the plugin's setting was found."""
    try:
        import snakemake_executor_plugin_slurm as slurm
    except ImportError:  # not installed: no Slurm runs
        return False
    settings = getattr(slurm, "common_settings", None)
    if settings is None or not hasattr(settings, "pass_group_args"):
        return False
    settings.pass_group_args = True
    return True


def run_jobs_in_threads() -> bool:
    """(b) Run `run:` jobs as threads of this Snakemake process, as --force-use-threads does.

    Called in a node-side process only, before Snakemake creates its local executor: a group job's
    tasks then run in this process, which imported everything once. Returns whether the local
    executor was found."""
    try:
        from snakemake.executors import local
    except ImportError:
        return False
    executor = getattr(local, "Executor", None)
    post_init = getattr(executor, "__post_init__", None)
    if post_init is None:
        return False
    if getattr(post_init, "_manymodels_threads", False):
        return True

    def __post_init__(self, *args, **kwargs):
        post_init(self, *args, **kwargs)
        self.use_threads = True

    __post_init__._manymodels_threads = True
    executor.__post_init__ = __post_init__
    return True


# --- 5. A run with nothing to do counts as a success ----------------------------------------------
# Snakemake returns from Workflow.execute right after logging "Nothing to be done" without calling
# the onsuccess handler (snakemake/workflow.py), so the nothing-to-do shortcut, recorded in
# onsuccess, stayed off after a no-op run through the full DAG (e.g. after a package was
# installed) until some later run executed a job. The message is a public constant; a logging
# handler on Snakemake's logger sees it.

def when_nothing_to_do(callback: Callable[[], None]) -> bool:
    """Call ``callback`` when Snakemake says there is nothing to be done; return whether the
    message to watch for was found."""
    import logging

    try:
        from snakemake.common import NOTHING_TO_BE_DONE_MSG
        from snakemake.logging import logger
    except ImportError:
        return False

    for handler in list(logger.handlers):  # the Snakefile read again in this process: replace its handler
        if type(handler).__name__ == "NothingToDo":
            logger.removeHandler(handler)

    class NothingToDo(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage() == NOTHING_TO_BE_DONE_MSG:
                try:
                    callback()
                except Exception:  # the shortcut is an optimisation: never fail a run over it
                    pass

    logger.addHandler(NothingToDo(level=logging.INFO))
    return True


# --- 6. A stop request never deadlocks the scheduler ----------------------------------------------
# JobScheduler registers exit_gracefully as the SIGTERM handler, and the handler takes the
# scheduler's lock (a plain threading.Lock) to set _user_kill. Python runs signal handlers in the
# main thread between bytecodes, so a SIGTERM arriving while the main thread itself holds that lock
# (it does while it finishes jobs: _finish_jobs, postprocess, metadata writes) blocks the handler
# forever, and with it the run: observed here as a run that never exited after `kill` of its
# process group (py-spy: MainThread in exit_gracefully under FilePersistence._write_record).
# Not reported upstream that we could find (searched the tracker for exit_gracefully / SIGTERM
# deadlock). The lock becomes reentrant before scheduling starts (onstart runs just before
# JobScheduler.schedule): the handler then completes, and the other threads are unaffected.

def reentrant_scheduler_lock(scheduler) -> bool:
    """Give ``scheduler`` a reentrant lock in place of its plain one; return whether it had one."""
    lock = getattr(scheduler, "_lock", None)
    if not isinstance(lock, type(threading.Lock())):
        return isinstance(lock, type(threading.RLock()))
    scheduler._lock = threading.RLock()
    return True


# SIGINT (Ctrl-C, or a stop sent to the run's process group) raises KeyboardInterrupt wherever the
# main thread is. In JobScheduler's loop that is its stop on user request; but the main thread also
# evaluates input functions there (Rule.apply_input_function, when a checkpoint's jobs are added),
# and that wraps every exception, KeyboardInterrupt included, in an InputFunctionException: the run
# then ends as a failure with a traceback instead of "stopped on request" (seen once, in a full run
# of the suite: tests/integration/test_faults.py, SIGINT 1.5 s after the first fit). So the first
# SIGINT does what SIGTERM does, the scheduler's graceful stop (the workers got the same signal and
# stop their tasks at once); a second SIGINT interrupts as before. Not reported upstream that we
# could find.

def sigint_stops_gracefully(scheduler) -> bool:
    """Make the first SIGINT of this process call ``scheduler.exit_gracefully`` (SIGTERM's handler)
    and restore Python's KeyboardInterrupt for the next; return whether it was installed (not
    outside the main thread, or without that handler)."""
    graceful = getattr(scheduler, "exit_gracefully", None)
    if graceful is None or threading.current_thread() is not threading.main_thread():
        return False

    def first_sigint(signum, frame):
        signal.signal(signal.SIGINT, signal.default_int_handler)
        graceful(signum, frame)

    signal.signal(signal.SIGINT, first_sigint)
    return True


# --- 7. Many finished jobs, one scheduling pass ---------------------------------------------------
# An executor reports each finished job with scheduler.finish_callback(job) (JobScheduler._proceed),
# which releases the scheduling loop's semaphore once per job: the loop then makes one pass per job
# (finishing, selecting, and a fresh asyncio run for each), although its first pass already took
# every finished job. The manymodels executor plugin reports the tasks that finished together in
# one call here: the jobs join the scheduler's list of jobs to finish and the loop is woken once.
# Not reported upstream (the executor interface asks for one callback per job, by design).

def report_finished(scheduler, jobs: list) -> bool:
    """Hand ``jobs`` (finished) to the scheduler in one go; return False (having changed nothing)
    where the scheduler's internals are not the ones this was written for: then report each job
    with ``scheduler.finish_callback``."""
    lock, tofinish, semaphore = (getattr(scheduler, name, None) for name in ("_lock", "_tofinish", "_open_jobs"))
    if lock is None or not isinstance(tofinish, list) or not hasattr(semaphore, "release") or \
            getattr(scheduler, "finish_callback", None) != getattr(scheduler, "_proceed", None) or scheduler.dryrun:
        return False
    with lock:
        tofinish.extend(jobs)
        semaphore.release()
    return True


# --- 8. Local runs through the manymodels executor -------------------------------------------------
# The manymodels executor plugin (workflow/snakemake_executor_plugin_manymodels) hands fit and score
# jobs to the pool without a thread each; `--executor manymodels` selects it. A profile cannot make it
# the default: profiles/default is a workflow profile, which Snakemake applies after (so over) the
# user's own profile, and an `executor:` there would override a cluster profile's. So in a local run
# the workflow puts the plugin's executor class in place of Snakemake's local one, before Snakemake
# creates its executor (after reading the Snakefile). A cluster run (another executor) is untouched.

def use_manymodels_executor() -> bool:
    """Make Snakemake's local executor plugin run jobs with the manymodels executor, in this process;
    return whether local jobs will run through it (True, too, when it was named with --executor)."""
    try:
        from snakemake.executors.local import Executor as LocalExecutor
        from snakemake_interface_executor_plugins.registry import ExecutorPluginRegistry

        from snakemake_executor_plugin_manymodels import Executor
    except ImportError:
        return False
    local = ExecutorPluginRegistry().get_plugin("local")
    if getattr(local, "executor", None) is Executor:
        return True
    if getattr(local, "executor", None) is not LocalExecutor:
        return False
    local.executor = Executor
    return True
