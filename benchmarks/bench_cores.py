"""Benchmark: does the workflow keep every worker busy at many cores? Simulated on a small machine.

A classifier whose fit sleeps a fixed time (benchmarks/simulated.py) uses no CPU, so ``--cores 20``
on 2 cores shows the workflow's own limits: 20 pool workers can overlap, and what keeps them from
being busy is the Snakemake process handing out jobs. For each fit time, in one invocation:

(a) the workflow, ``snakemake --cores N --local-cores N`` on ``configs`` configurations x (5 folds
    + full) of sklearn:iris: its wall time, the CPU seconds of the Snakemake process itself (its
    threads, not its workers), and from the start and end times every fit records, the fit phase
    (first fit start to last fit end), tasks per second in it and worker utilisation = summed fit
    time / (N x fit phase); then where the rest of the run went: start-up and DAG (a dry run),
    data preparation and worker warm-up (to the first fit), the scoring tail, aggregation, plots
    and the report, and the summary at the end. The CPU per task in the fit phase, of the
    coordinator (the Snakemake process) and of the workers (the processes below it), and the
    utilisation they allow at N real cores: on a small machine the N simulated workers share its
    cores with the coordinator, so the measured utilisation understates what N cores would do,
    and what a design moves into the workers is counted where it runs;
(b) a warm ``joblib.Parallel(n_jobs=N)`` loop (workers started before timing) over the same fits
    and scores: its wall time and utilisation.

    python benchmarks/bench_cores.py --cores 20 --fit-seconds 0.03 0.1 0.3
    python benchmarks/bench_cores.py --cores 4 --fit-seconds 0.1 --configs 50      # quick
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
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
N_SPLITS = 5

# Runs Snakemake in this process and reports its own CPU time (threads included) when it exits, and
# every 0.1 s: (time, its CPU, the CPU of every process below it: the pool's workers and the server
# they are forked from), so the CPU of the coordinator and of the workers over the fit phase is known.
WRAPPER = """
import atexit, json, resource, sys, threading, time
import psutil
start, samples, seen = time.time(), [], {{}}
def sample():
    me = psutil.Process()
    while True:
        for child in me.children(recursive=True):
            try:
                t = child.cpu_times()
                seen[child.pid] = t.user + t.system
            except psutil.Error:
                pass
        usage = resource.getrusage(resource.RUSAGE_SELF)
        samples.append((time.time(), usage.ru_utime + usage.ru_stime, sum(seen.values())))
        time.sleep(0.1)
threading.Thread(target=sample, daemon=True).start()
def report():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with open({out!r}, "w") as fh:
        json.dump({{"cpu": usage.ru_utime + usage.ru_stime, "start": start, "end": time.time(),
                   "samples": samples}}, fh)
atexit.register(report)
from snakemake.cli import main
sys.argv = ["snakemake", *{args!r}]
main()
"""

BASELINE = """
import json, os, sys, time
sys.path.insert(0, {here!r})
os.environ["MANYMODELS_FIT_TIMES"] = {times!r}
from joblib import Parallel, delayed
from sklearn.datasets import load_iris
from sklearn.metrics import accuracy_score
from sklearn.model_selection import StratifiedKFold
from simulated import SleepClassifier

X, y = load_iris(return_X_y=True, as_frame=True)
splits = list(StratifiedKFold({n_splits}, shuffle=True, random_state=0).split(X, y))
splits.append((list(range(len(y))), []))

def task(seed, train, test):
    est = SleepClassifier(sleep_seconds={fit_seconds}, replicate=seed).fit(X.iloc[train], y.iloc[train])
    return accuracy_score(y.iloc[test], est.predict(X.iloc[test])) if len(test) else None

with Parallel(n_jobs={cores}) as parallel:
    parallel(delayed(time.sleep)(0.5) for _ in range({cores}))  # start every worker first
    start = time.time()
    parallel(delayed(task)(seed, train, test) for seed in range({configs}) for train, test in splits)
    print(json.dumps({{"wall": time.time() - start}}))
"""


def write_config(path: Path, name: str, fit_seconds: float, configs: int) -> Path:
    config = {
        "name": name,
        "data": {"source": "sklearn:iris", "label": "target"},
        "cv": {"splitter": "StratifiedKFold", "n_splits": N_SPLITS, "shuffle": True, "random_state": 0},
        "models": {"sleep": {"estimator": "simulated.SleepClassifier", "kwargs": {"sleep_seconds": fit_seconds},
                             "grid": {"replicate": {"from": 0, "to": configs - 1}}}},
        "metrics": {"accuracy": "accuracy"},
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def fit_times(folder: Path) -> list[tuple[float, float]]:
    times = []
    for file in folder.glob("*.txt"):
        times += [tuple(map(float, line.split())) for line in file.read_text().splitlines() if line.strip()]
    return sorted(times)


def utilisation(times, cores: int) -> dict:
    first, last = times[0][0], max(end for _, end in times)
    busy = sum(end - start for start, end in times)
    return {"fits": len(times), "fit_phase": last - first, "busy": busy, "utilisation": busy / (cores * (last - first)),
            "tasks_per_s": len(times) / (last - first), "first_fit": first, "last_fit": last}


def run_workflow(workdir: Path, config: Path, cores: int, fit_seconds: float, extra: list[str]) -> dict:
    times = workdir / "fit-times"
    times.mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "MANYMODELS_FIT_TIMES": str(times), "MANYMODELS_NO_SHORTCUT": "1"}
    base = ["-s", str(REPO / "Snakefile"), "--configfile", str(config), "--cores", str(cores),
            "--local-cores", str(cores), *extra]
    start = time.time()
    dry = subprocess.run([sys.executable, "-m", "snakemake", *base, "-n"], cwd=workdir, env=env, capture_output=True,
                         text=True)
    dag_seconds = time.time() - start
    if dry.returncode != 0:
        sys.exit(f"dry run failed:\n{(dry.stdout + dry.stderr)[-3000:]}")
    jobs = int(re.search(r"(\d+) jobs would run", dry.stdout + dry.stderr).group(1))
    usage_file = workdir / "usage.json"
    proc = subprocess.run([sys.executable, "-c", WRAPPER.format(out=str(usage_file), args=base)], cwd=workdir, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"snakemake failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    usage = json.loads(usage_file.read_text())
    fits = utilisation(fit_times(times), cores)
    fits.update(cpu_per_task(usage["samples"], fits))
    results = workdir / "results" / config.stem
    mtime = lambda pattern: max(p.stat().st_mtime for p in results.glob(pattern))  # noqa: E731
    phases = {
        "start-up and DAG (dry run)": dag_seconds,
        "start to first fit (start-up, DAG, data, worker warm-up)": fits["first_fit"] - usage["start"],
        "fit phase": fits["fit_phase"],
        "scoring tail (last fit to last score)": mtime("scores/*/*/*.parquet") - fits["last_fit"],
        "aggregation (to summary.parquet)": mtime("summary.parquet") - mtime("scores/*/*/*.parquet"),
        "plots and report (to report.html)": mtime("report.html") - mtime("summary.parquet"),
        "summary and exit": usage["end"] - mtime("report.html"),
    }
    return {"wall": usage["end"] - usage["start"], "cpu": usage["cpu"], "jobs": jobs, **fits, "phases": phases}


def cpu_per_task(samples: list, fits: dict) -> dict:
    """Seconds of CPU per task in the fit phase: of the coordinator (the Snakemake process, its
    threads) and of the workers (every process below it), from the samples taken every 0.1 s."""
    inside = [s for s in samples if fits["first_fit"] <= s[0] <= fits["last_fit"]]
    if len(inside) < 2:
        return {"coordinator_cpu": float("nan"), "worker_cpu": float("nan")}
    (t0, own0, kids0), (t1, own1, kids1) = inside[0], inside[-1]
    tasks = fits["fits"] * (t1 - t0) / fits["fit_phase"]  # the tasks of the sampled part of the phase
    return {"coordinator_cpu": (own1 - own0) / tasks, "worker_cpu": (kids1 - kids0) / tasks}


def extrapolated(fit_seconds: float, coordinator: float, worker: float, cores: int) -> float:
    """Worker utilisation at ``cores`` real cores: each task holds a worker for its fit and the workers'
    CPU per task, and the coordinator, one core, needs its CPU per task; the slower bound sets the
    pace: tasks per second = min(cores / (fit + worker), 1 / coordinator); utilisation = that x fit /
    cores."""
    rate = min(cores / (fit_seconds + worker), 1 / coordinator if coordinator > 0 else float("inf"))
    return rate * fit_seconds / cores


def run_baseline(workdir: Path, cores: int, fit_seconds: float, configs: int) -> dict:
    times = workdir / "baseline-times"
    times.mkdir(parents=True)
    code = BASELINE.format(here=str(HERE), times=str(times), n_splits=N_SPLITS, fit_seconds=fit_seconds, cores=cores,
                           configs=configs)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"baseline failed:\n{proc.stderr[-3000:]}")
    wall = json.loads(proc.stdout.strip().splitlines()[-1])["wall"]
    return {"wall": wall, **utilisation(fit_times(times), cores)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cores", type=int, default=20, help="simulated cores: workers and --cores (default 20)")
    parser.add_argument("--fit-seconds", type=float, nargs="+", default=[0.03, 0.1, 0.3])
    parser.add_argument("--configs", type=int, default=200, help="configurations (x 6 folds = fits; default 200)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--snakemake-args", default="", help="more options for snakemake, e.g. '--persistence-backend db'")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="manymodels-cores-"))
    rows = []
    try:
        for fit_seconds in args.fit_seconds:
            name = f"cores-{fit_seconds:g}".replace(".", "_")
            config = write_config(tmp / f"{name}.yaml", name, fit_seconds, args.configs)
            flow = run_workflow(tmp / name, config, args.cores, fit_seconds, args.snakemake_args.split())
            base = run_baseline(tmp / name, args.cores, fit_seconds, args.configs)
            rows.append((fit_seconds, flow, base))
            print(f"fit {fit_seconds:g} s: workflow {flow['wall']:.1f} s (fit phase {flow['fit_phase']:.1f} s, "
                  f"utilisation {flow['utilisation']:.0%}), joblib {base['wall']:.1f} s "
                  f"(utilisation {base['utilisation']:.0%})", flush=True)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    n_fits = rows[0][1]["fits"]
    print(f"\n--cores {args.cores} (simulated: fits sleep), {args.configs} configurations x {N_SPLITS + 1} folds = "
          f"{n_fits} fits, {rows[0][1]['jobs']} Snakemake jobs; machine: {os.cpu_count()} cores")
    header = (f"  {'fit (s)':>8} {'ideal phase':>12} {'fit phase':>10} {'utilisation':>12} {'busy of N':>10} "
              f"{'tasks/s':>8} {'SM CPU (s)':>11} {'run (s)':>8} {'joblib (s)':>11} {'joblib util.':>13} {'ratio':>6}")
    print(header)
    for fit_seconds, flow, base in rows:
        ideal = flow["fits"] * fit_seconds / args.cores
        print(f"  {fit_seconds:>8g} {ideal:>12.1f} {flow['fit_phase']:>10.1f} {flow['utilisation']:>12.0%} "
              f"{flow['utilisation'] * args.cores:>10.1f} {flow['tasks_per_s']:>8.0f} {flow['cpu']:>11.1f} "
              f"{flow['wall']:>8.1f} {base['wall']:>11.1f} {base['utilisation']:>13.0%} "
              f"{flow['wall'] / base['wall']:>6.2f}")
    print(f"\nCPU per task in the fit phase, and the utilisation they allow at {args.cores} real cores (on this machine "
          f"the {args.cores} simulated workers share its {os.cpu_count()} cores with the coordinator):")
    print(f"  {'fit (s)':>8} {'coordinator (ms)':>17} {'workers (ms)':>13} {'tasks/s, one coordinator core':>30} "
          f"{'utilisation at ' + str(args.cores) + ' real cores':>28}")
    for fit_seconds, flow, _ in rows:
        c, w = flow["coordinator_cpu"], flow["worker_cpu"]
        print(f"  {fit_seconds:>8g} {1000 * c:>17.1f} {1000 * w:>13.1f} {1 / c:>30.0f} "
              f"{extrapolated(fit_seconds, c, w, args.cores):>28.0%}")
    print("\nwhere a run's time goes (seconds):")
    names = list(rows[0][1]["phases"])
    print(f"  {'':<58}" + "".join(f"{f'fit {fs:g} s':>12}" for fs, _, _ in rows))
    for phase in names:
        print(f"  {phase:<58}" + "".join(f"{flow['phases'][phase]:>12.1f}" for _, flow, _ in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
