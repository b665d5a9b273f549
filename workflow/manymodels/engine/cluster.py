"""Where this Snakemake process's tasks run, and what changes on a cluster.

Four kinds of Snakemake process read the Snakefile:

- ``local``: the main process of a local run. Its tasks run in a pool of warm worker processes,
  one per core it was given (one for a dry run, which runs no task but the config check).
- ``login``: the main process of a cluster run (say ``--profile slurm``). It submits every job
  and runs no task but the config check: one worker.
- ``submission``: what a cluster submission starts on its node (Slurm's jobstep executor). It only
  hands the job (a group of (fit, score) pairs) to ``srun``, so it reads the config check's result
  that the login process left (``experiment.json``) instead of importing scikit-learn to redo it.
- ``step``: what ``srun`` starts inside that submission. It runs the group's tasks on as many
  warm worker processes as CPUs the submission was given (one worker for one CPU: the process
  itself only waits), so the CPUs a submission asks for are the CPUs it uses, and a fit that
  crashes its worker or runs past its limits is a failed row there as on a workstation.

A grouped submission must run as one warm process on its node (the two fixes in :mod:`.internals`,
applied each in the process where it matters). Each node-side process records its CPU time and
wall time (``.snakemake/manymodels/<name>/cluster/``) so a submission's CPU efficiency,
CPU seconds / (CPUs x wall seconds), can be measured without Slurm's accounting database.
"""

from __future__ import annotations

import atexit
import os
import re
import socket
import time
from pathlib import Path

from ..experiment.layout import state_dir
from ..task.io import read_json, write_json
from .internals import (cap_group_cpus, executor_name, no_job_rate_limit_in_this_process,
                        pass_group_settings_to_slurm_jobs, run_jobs_in_threads)
from .uptodate import json_hash, shortcuts_off

NODE_EXECUTORS = ("slurm-jobstep",)


# Executors that run jobs on this machine: Snakemake's own, and the manymodels plugin
# (workflow/snakemake_executor_plugin_manymodels), which hands fit and score jobs to the pool itself.
LOCAL_EXECUTORS = (None, "local", "manymodels")


def process_role(workflow, argv: list[str]) -> str:
    """Which of the four kinds of process this is (see the module docstring).

    Whether this is Snakemake's main process comes from its settings (``workflow.is_main_process``:
    ExecMode.DEFAULT). The executor comes from the command line and its profiles (``argv``), on
    purpose: the role is needed while the Snakefile is read (the config check's pool, the rules'
    threads and resources), and Snakemake 9 reads the Snakefile before ``Workflow.execute`` sets
    ``workflow.executor_plugin`` (and for ``-n`` sets it to the dryrun plugin, not the executor a
    dry run plans for); no settings object that exists by then names the executor (a submission
    and the step it starts both run in ExecMode.REMOTE)."""
    executor = executor_name(argv)
    if workflow.is_main_process:
        return "local" if executor in LOCAL_EXECUTORS else "login"
    return "submission" if executor in NODE_EXECUTORS else "step"


def step_cpus(cores: int) -> int:
    """The CPUs a node-side process may use: its --cores, within the CPUs Slurm bound it to."""
    try:
        bound = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        bound = os.cpu_count() or 1
    slurm = os.environ.get("SLURM_CPUS_PER_TASK") or os.environ.get("SLURM_CPUS_ON_NODE")
    limits = [max(1, int(cores)), bound] + ([int(slurm)] if slurm and slurm.isdigit() else [])
    return max(1, min(limits))


def pool_settings(role: str, *, cores: int, local_cores: int | None, dryrun: bool) -> dict:
    """How :func:`manymodels.engine.pool.run_task` runs this process's tasks."""
    if role == "local":
        n = 1 if dryrun else max(1, min(cores, local_cores or cores))
        return {"n_workers": n, "in_process": False}
    if role == "step":  # a worker per CPU, even one: a fit that crashes or hangs loses only its own row
        return {"n_workers": step_cpus(cores), "in_process": False}
    return {"n_workers": 1, "in_process": role == "submission"}


def cores_given(argv: list[str]) -> bool:
    """Whether the command line itself says --cores (not only a profile).

    Read from argv on purpose: ``workflow.resource_settings.cores`` holds the merged value, and
    profiles/default's ``cores: all`` cannot be told apart from ``--cores all`` there; no profile key
    caps a group job's CPUs (see :func:`.internals.cap_group_cpus`)."""
    return any(a in ("--cores", "-c") or a.startswith("--cores=") or re.fullmatch(r"-c(\d+|all)", a) for a in argv)


def adapt_cluster_execution(workflow, role: str, argv: list[str]) -> None:
    """Login process: pass group settings to Slurm jobs, and let each grouped submission ask for
    one CPU (unless --cores N says N on the command line). On the node: run `run:` jobs in threads,
    without the job-rate limiter. (See :mod:`.internals`.)"""
    if role == "login":
        pass_group_settings_to_slurm_jobs()
        if not cores_given(argv):
            cap_group_cpus(workflow, 1)
    elif role in ("submission", "step"):
        run_jobs_in_threads()
        no_job_rate_limit_in_this_process()


# --- What a fit job asks a cluster for -----------------------------------------------------------

def fit_request(limits, attempt: int) -> dict:
    """A fit job's memory (MB) and time (minutes) on a cluster: a worker process's own 1000 MB, more
    with each retry, plus the fit's memory limit; 10 minutes, more with each retry, or the fit's time
    limit and 5 minutes more (``limits``: the family's :class:`manymodels.engine.pool.Limits`, or None)."""
    import math

    memory = getattr(limits, "memory_mb", None) or 0
    seconds = getattr(limits, "seconds", None) or 0
    return {"mem_mb": 1000 * attempt + math.ceil(memory),
            "runtime": max(10 * attempt, math.ceil(seconds / 60) + 5)}


# --- The config check, done once per config, code, packages and data ------------------------

def checked_file(experiment: str) -> Path:
    return state_dir(experiment) / "experiment.json"


def save_checked(experiment: str, config: dict, checked: dict, run_fingerprint: str | None = None) -> None:
    """The main process's config check: for the node-side processes of a cluster run (found by the
    checked ``config``) and for the next run with the same config file, config, code, packages and
    data (found by ``run_fingerprint``: the workflow's :func:`.uptodate.fingerprint` and config file)."""
    write_json({"fingerprint": json_hash(config), "run_fingerprint": run_fingerprint, "checked": checked},
               checked_file(experiment))


def load_checked(experiment: str, config: dict | None = None, *, run_fingerprint: str | None = None) -> dict | None:
    """The config check saved for this very (checked) ``config``, or for this very ``run_fingerprint``;
    None if there is none. ``MANYMODELS_NO_SHORTCUT=1`` has the main process check again."""
    if config is not None:
        field, value = "fingerprint", json_hash(config)
    elif run_fingerprint and not shortcuts_off():
        field, value = "run_fingerprint", run_fingerprint
    else:
        return None
    try:
        saved = read_json(checked_file(experiment))
    except (OSError, ValueError):
        return None
    return saved["checked"] if saved.get(field) == value else None


# --- CPU efficiency of cluster submissions ---------------------------------------------------

def record_cpu_use(experiment: str, role: str, cpus: int) -> Path | None:
    """In a node-side process of a Slurm job: at exit, record this process's CPU seconds (its
    worker processes included), its start and end, and the CPUs it was given."""
    job = os.environ.get("SLURM_JOB_ID")
    if not job:
        return None
    import psutil

    me = psutil.Process()
    started = me.create_time()  # the interpreter's start-up and imports are part of the job's time
    path = state_dir(experiment) / "cluster" / f"{job}-{role}-{os.getpid()}.json"

    def record():
        cpu = sum(me.cpu_times()[:2])
        for child in me.children(recursive=True):  # the pool's workers, still running now
            try:
                cpu += sum(child.cpu_times()[:2])
            except psutil.Error:
                pass
        reaped = me.cpu_times()  # children that already exited (and were waited for)
        cpu += reaped.children_user + reaped.children_system
        write_json({"job": job, "role": role, "host": socket.gethostname(), "cpus": cpus, "start": started,
                    "end": time.time(), "cpu_seconds": cpu}, path)

    atexit.register(record)
    return path


def profile_node_process(role: str) -> Path | None:
    """Where ``MANYMODELS_PROFILE_NODE`` names a folder (benchmarks/bench_coordinator.py --slurm): have
    py-spy sample this node-side process (the thread holding the interpreter lock, 200 times a
    second) until it exits, into ``<folder>/<job>-<role>-<pid>.txt``."""
    folder = os.environ.get("MANYMODELS_PROFILE_NODE")
    if not folder:
        return None
    import shutil
    import subprocess
    import sys

    py_spy = shutil.which("py-spy", path=os.path.dirname(sys.executable)) or shutil.which("py-spy")
    if py_spy is None:
        return None
    path = Path(folder, f"{os.environ.get('SLURM_JOB_ID', 'nojob')}-{role}-{os.getpid()}.txt")
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.Popen([py_spy, "record", "--gil", "--format", "raw", "--rate", "200", "--pid", str(os.getpid()),
                      "--output", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True)
    return path


def submission_efficiency(experiment_state: str | Path) -> dict[str, dict]:
    """Per Slurm job: CPUs, wall seconds (first start to last end of its node-side processes),
    CPU seconds and CPU efficiency = CPU seconds / (CPUs x wall seconds)."""
    jobs: dict[str, list[dict]] = {}
    for path in sorted(Path(experiment_state, "cluster").glob("*.json")):
        record = read_json(path)
        jobs.setdefault(record["job"], []).append(record)
    result = {}
    for job, records in jobs.items():
        wall = max(r["end"] for r in records) - min(r["start"] for r in records)
        cpus = max(r["cpus"] for r in records)
        cpu = sum(r["cpu_seconds"] for r in records)
        result[job] = {"cpus": cpus, "wall_seconds": wall, "cpu_seconds": cpu,
                       "efficiency": cpu / (cpus * wall) if wall > 0 else float("nan")}
    return result
