"""Benchmark: how large a grid Snakemake can plan here (the DAG ceiling).

For each target number of jobs, a grid of the default experiment's Gaussian mixtures is made just
large enough (12 jobs per configuration: 5 CV folds and the fit on all rows, a fit and a score job
each) and ``snakemake --dry-run`` runs it in an empty temporary directory, as a user's first command
on a new experiment does. Printed per size: the jobs Snakemake planned, the wall time of the dry
run and of building the DAG within it (from "Building DAG of jobs..." to the job count), the peak
memory of the Snakemake process and its worker together, and the time and memory per 1,000 jobs
relative to the smallest size measured in the same run (1.00 = grows linearly).

The README's "How large can a grid be" and ``manymodels.engine.ceiling.MEASURED`` hold what this
printed on a 2-core machine; the workflow warns before building a DAG larger than the comfortable
size measured here.

    python benchmarks/bench_dag.py --jobs 10000 50000 100000 300000
    python benchmarks/bench_dag.py --jobs 2000            # a quick check
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_default import REPO, snakemake_command  # noqa: E402

JOBS_PER_CONFIGURATION = 12  # (5 folds + full) x (fit + score)
COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]


def grid_config(n_jobs: int) -> dict:
    """The default experiment with one Gaussian-mixture family of about ``n_jobs / 12`` configurations."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    per_type = max(1, round(n_jobs / JOBS_PER_CONFIGURATION / len(COVARIANCE_TYPES)))
    config["name"] = f"dag-{n_jobs}"
    config["models"] = {"gmm": {
        "estimator": "sklearn.mixture.GaussianMixture",
        "kwargs": {"n_components": 3, "n_init": 1},
        "grid": {"covariance_type": COVARIANCE_TYPES, "tol": [round(1e-3 * (1 + i * 1e-5), 12) for i in range(per_type)]},
    }}
    config["selection"] = {"metric": "ars"}
    return config


def peak_rss(pid: int, stop: threading.Event, out: list[int]) -> None:
    """Poll the summed RSS of ``pid`` and its children until ``stop``; the maximum goes to ``out``."""
    top = psutil.Process(pid)
    peak = 0
    while not stop.is_set():
        try:
            procs = [top, *top.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in procs if p.is_running()))
        except psutil.Error:
            pass
        stop.wait(0.1)
    out.append(peak)


def dry_run(n_jobs: int, cores: int, timeout: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-dag-") as tmp:
        workdir = Path(tmp)
        config = workdir / f"dag-{n_jobs}.yaml"
        config.write_text(yaml.safe_dump(grid_config(n_jobs), sort_keys=False))
        command = snakemake_command(config, cores, "--dry-run")
        start = time.perf_counter()
        proc = subprocess.Popen(command, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        stop, peak = threading.Event(), []
        watcher = threading.Thread(target=peak_rss, args=(proc.pid, stop, peak))
        watcher.start()
        dag_start = dag_end = None
        planned = None
        lines = []
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        for line in proc.stdout:
            lines.append(line)
            now = time.perf_counter()
            if line.startswith("Building DAG of jobs"):
                dag_start = now
            elif m := re.match(r"^(\d+) jobs would run", line):
                dag_end, planned = now, int(m.group(1))
        proc.wait()
        timer.cancel()
        seconds = time.perf_counter() - start
        stop.set()
        watcher.join()
    if proc.returncode != 0 and planned is None:
        return {"target": n_jobs, "failed": True, "seconds": seconds, "peak_gb": peak[0] / 2**30,
                "tail": "".join(lines[-15:])}
    return {"target": n_jobs, "jobs": planned, "seconds": seconds,
            "dag_seconds": (dag_end - dag_start) if dag_start and dag_end else float("nan"),
            "peak_gb": peak[0] / 2**30}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[10_000, 50_000, 100_000, 300_000])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=1200, help="seconds allowed for one dry run")
    args = parser.parse_args()

    print(f"{'target':>8} {'jobs':>8} {'dry run s':>10} {'DAG s':>8} {'peak GB':>8} "
          f"{'s/1k jobs':>10} {'MB/1k jobs':>11} {'time x':>7} {'memory x':>9}", flush=True)
    first = None
    for n_jobs in sorted(args.jobs):
        row = dry_run(n_jobs, args.cores, args.timeout)
        if row.get("failed"):
            print(f"{n_jobs:>8} dry run failed or passed --timeout after {row['seconds']:.0f} s "
                  f"(peak {row['peak_gb']:.2f} GB):\n{row['tail']}", flush=True)
            continue
        per_k_s = row["seconds"] / (row["jobs"] / 1000)
        per_k_mb = row["peak_gb"] * 1024 / (row["jobs"] / 1000)
        first = first or (per_k_s, per_k_mb)
        print(f"{n_jobs:>8} {row['jobs']:>8} {row['seconds']:>10.1f} {row['dag_seconds']:>8.1f} "
              f"{row['peak_gb']:>8.2f} {per_k_s:>10.2f} {per_k_mb:>11.1f} {per_k_s / first[0]:>7.2f} "
              f"{per_k_mb / first[1]:>9.2f}", flush=True)


if __name__ == "__main__":
    main()
