"""Benchmark: where the Snakemake process (the coordinator) spends its CPU, per job, split into parts.

Runs the simulated experiment of bench_cores.py (fits that sleep, so the workers use no CPU) under
py-spy in its ``--gil`` mode: a sample is taken every 1/rate seconds of the thread that holds the
Python interpreter lock, which is the coordinator's Python CPU time. Each sample is put in the first
part its stack passes through (in the order of PARTS), and each part's seconds are divided by the
number of jobs that ran. Printed: CPU seconds per part, milliseconds per job and per task
(configuration x fold: a fit job and a score job), and the process's own CPU time (resource usage)
as a check of the sampled total.

    python benchmarks/bench_coordinator.py --cores 20 --fit-seconds 0.03 --configs 100
    python benchmarks/bench_coordinator.py --snakemake-args "--persistence-backend db"
    python benchmarks/bench_coordinator.py --slurm --configs 50

With ``--slurm`` the experiment runs with ``--profile profiles/slurm`` (a Slurm must be up, see
scripts/slurm/up), and the node side is measured instead: each Snakemake process that a submission
starts on its node (the jobstep process and the srun step that runs the group's tasks, in the process
itself when it has one CPU) has py-spy sample it (MANYMODELS_PROFILE_NODE, see
manymodels.engine.cluster.profile_node_process); their samples are added up per part. The fits sleep,
so "task" is the fit and score code's own Python time, not the fit.

py-spy (in requirements.txt) reads the process's memory: where the kernel forbids it (ptrace
scope), run as root or set /proc/sys/kernel/yama/ptrace_scope to 0.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from bench_cores import N_SPLITS, WRAPPER, write_config  # noqa: E402

# (part, frames that mark it): the first part whose frame a sample's stack contains takes the sample
# (so the parts of running jobs come before the scheduling loop they run in, and start-up is last);
# "A & B": a stack with both.
PARTS = [
    ("task: imports (the first task of a process)", ["call_logged & _find_and_load"]),
    ("task: the fit or score itself (in this process)", ["call_logged"]),
    ("dispatch: log each job (job info)", ["AbstractExecutor.printjob", "Job.log_info", "GroupJob.log_info",
                                           "note_job"]),
    ("dispatch: register the job (incomplete markers)", ["RealExecutor.report_job_submission", "Job.register"]),
    ("dispatch: prepare (output folders, old outputs)", ["Executor.job_args_and_prepare", "Job.prepare"]),
    ("dispatch: hand the job over (thread, pool)", ["ThreadPoolExecutor.submit", "Executor.run_single_job",
                                                   "Executor._run_task", "TaskCall.submit", "call_for",
                                                   "AbstractExecutor.run_jobs", "Executor.run_jobs",
                                                   "JobScheduler.run "]),
    ("job thread: rule body, hand-off to the pool", ["run_wrapper", "Executor.cached_or_run", "_WorkItem.run"]),
    ("finish: check outputs, write metadata", ["Job.postprocess", "GroupJob.postprocess",
                                              "PersistenceBase.finished"]),
    ("finish: DAG (ready jobs, temp files)", ["DAG.finish"]),
    ("finish: job done callback, progress", ["Executor._callback", "JobScheduler._finish_jobs",
                                            "JobScheduler._proceed", "JobScheduler.progress",
                                            "Executor._task_done", "Executor._report", "TaskCall._finished",
                                            "report_finished"]),
    ("scheduling: select jobs, loop", ["JobScheduler.schedule"]),
    ("pool: manager thread (results, workers)", ["Pool._manage", "_ExecutorManagerThread", "Queue._feed"]),
    ("logging (handlers, console)", ["QueueListener", "Logger.", "LogHandler."]),
    ("start-up: imports, Snakefile, config check, DAG", ["Workflow._build_dag", "Workflow._prepare_dag",
                                                        "WorkflowApi.dag", "Workflow.include", "DAG.init",
                                                        "_find_and_load", "parse_args", "Workflow.execute",
                                                        "args_to_api"]),
]
STARTUP = PARTS[-1][0]


def categorise(raw: Path) -> tuple[Counter, int]:
    """Samples per part from py-spy's raw output (``stack count`` lines)."""
    parts: Counter = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        part = next((name for name, frames in PARTS
                     if any(all(f in stack for f in frame.split(" & ")) for frame in frames)), "other")
        parts[part] += n
    return parts, total


def run(workdir: Path, cores: int, fit_seconds: float, configs: int, rate: int, extra: list[str]) -> dict:
    workdir.mkdir(parents=True)
    config = write_config(workdir / "coordinator.yaml", "coordinator", fit_seconds, configs)
    times = workdir / "fit-times"
    times.mkdir()
    env = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "MANYMODELS_FIT_TIMES": str(times), "MANYMODELS_NO_SHORTCUT": "1"}
    args = ["-s", str(REPO / "Snakefile"), "--configfile", str(config), "--cores", str(cores), "--local-cores",
            str(cores), *extra]
    dry = subprocess.run([sys.executable, "-m", "snakemake", *args, "-n"], cwd=workdir, env=env, capture_output=True,
                         text=True)
    found = re.search(r"(\d+) jobs would run", dry.stdout + dry.stderr)
    if dry.returncode != 0 or not found:
        sys.exit(f"dry run failed:\n{(dry.stdout + dry.stderr)[-3000:]}")
    usage = workdir / "usage.json"
    raw = workdir / "profile.txt"
    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if py_spy is None:
        sys.exit("py-spy is not installed (pip install -r requirements.txt)")
    proc = subprocess.run([py_spy, "record", "--gil", "--format", "raw", "--rate", str(rate), "--output", str(raw),
                           "--", sys.executable, "-c", WRAPPER.format(out=str(usage), args=args)],
                          cwd=workdir, env=env, capture_output=True, text=True)
    if proc.returncode != 0 or not raw.is_file():
        sys.exit(f"profiled run failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    parts, total = categorise(raw)
    return {"jobs": int(found.group(1)), "tasks": configs * (N_SPLITS + 1), "parts": parts, "samples": total,
            "rate": rate, "usage": json.loads(usage.read_text())}


def run_slurm(workdir: Path, fit_seconds: float, configs: int, extra: list[str]) -> dict:
    """The node side of a Slurm run: py-spy samples of every node-side process, per part."""
    workdir.mkdir(parents=True)
    config = write_config(workdir / "coordinator.yaml", "coordinator", fit_seconds, configs)
    samples = workdir / "node-profiles"
    env = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "MANYMODELS_NO_SHORTCUT": "1", "MANYMODELS_PROFILE_NODE": str(samples)}
    args = ["-s", str(REPO / "Snakefile"), "--configfile", str(config), "--profile", str(REPO / "profiles" / "slurm"),
            "--workflow-profile", str(REPO / "profiles" / "default"), *extra]
    proc = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=workdir, env=env, capture_output=True,
                          text=True)
    if proc.returncode != 0:
        sys.exit(f"Slurm run failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    time.sleep(2)  # py-spy writes its file when the process it samples has exited
    # The submissions of (fit, score) groups: the Slurm jobs one of whose processes ran a fit job.
    files = sorted(samples.glob("*.txt"))
    groups = {f.name.split("-")[0] for f in files if "__rule_fit_model" in f.read_text()}
    if not groups:
        sys.exit(f"no node-side profile of a group in {samples}: is py-spy allowed to attach (ptrace scope)?")
    parts: Counter = Counter()
    total = 0
    processes = [f for f in files if f.name.split("-")[0] in groups]
    for file in processes:
        file_parts, file_total = categorise(file)
        parts.update(file_parts)
        total += file_total
    log = max((workdir / ".snakemake" / "log").glob("*.log")).read_text()
    jobs = {rule: int(n) for rule, n in re.findall(r"^(fit_model|score_model)\s+(\d+)$", log, re.M)}
    return {"jobs": sum(jobs.values()), "tasks": jobs["fit_model"], "parts": parts, "samples": total, "rate": 200,
            "processes": len(processes), "submissions": len(groups)}


def report(result: dict, title: str) -> None:
    rate, jobs, tasks = result["rate"], result["jobs"], result["tasks"]
    startup = result["parts"].get(STARTUP, 0) / rate
    sampled = result["samples"] / rate
    if "usage" in result:
        print(f"\n{title}: {jobs} jobs, {tasks} tasks; coordinator CPU {result['usage']['cpu']:.1f} s (resource "
              f"usage), {sampled:.1f} s sampled holding the GIL, {sampled - startup:.1f} s after start-up")
    else:
        print(f"\n{title}: {jobs} fit and score jobs in {result['submissions']} group submissions "
              f"({result['processes']} node-side processes); {sampled:.1f} s sampled holding the GIL, "
              f"{sampled - startup:.1f} s after start-up (per submission: {startup / result['submissions']:.1f} s "
              f"start-up)")
    print(f"  {'part':<52}{'CPU (s)':>9}{'ms / job':>10}{'ms / task':>11}{'share':>7}")
    for name in [name for name, _ in PARTS] + ["other"]:
        seconds = result["parts"].get(name, 0) / rate
        per_job = "" if name == STARTUP else f"{1000 * seconds / jobs:.2f}"
        per_task = "" if name == STARTUP else f"{1000 * seconds / tasks:.2f}"
        print(f"  {name:<52}{seconds:>9.2f}{per_job:>10}{per_task:>11}{seconds / sampled:>7.0%}")
    run_part = sampled - startup
    print(f"  {'all but start-up':<52}{run_part:>9.2f}{1000 * run_part / jobs:>10.2f}{1000 * run_part / tasks:>11.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cores", type=int, default=20, help="simulated cores (default 20)")
    parser.add_argument("--fit-seconds", type=float, default=0.03, help="each fit's sleep (default 0.03)")
    parser.add_argument("--configs", type=int, default=100, help="configurations, x 6 folds = tasks (default 100)")
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second (default 200)")
    parser.add_argument("--snakemake-args", default="", help="more options for snakemake")
    parser.add_argument("--slurm", action="store_true", help="measure the node side of a run with profiles/slurm")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="manymodels-coordinator-", dir=os.environ.get("MANYMODELS_SHARED_TMP")))
    try:
        if args.slurm:
            result = run_slurm(tmp / "run", args.fit_seconds, args.configs, args.snakemake_args.split())
        else:
            result = run(tmp / "run", args.cores, args.fit_seconds, args.configs, args.rate,
                         args.snakemake_args.split())
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    report(result, ("Slurm node side" if args.slurm else f"--cores {args.cores}") + f", fits of {args.fit_seconds:g} s"
                   + (f", {args.snakemake_args}" if args.snakemake_args else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
