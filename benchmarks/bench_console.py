"""Benchmark: what the console costs the Snakemake process, per logger.

Logging is part of Snakemake's per-job cost: every job emits several log records, and the main
process formats and writes them while it schedules. This runs the same experiment (the default
grid with one EM iteration per fit, so the workflow's own costs dominate) once per console, in
one invocation and on the same cores:

- ``default``: Snakemake's own console (about 15 lines per job);
- ``manymodels``: this workflow's logger plugin (``workflow/snakemake_logger_plugin_manymodels``);
- ``rich``: snakemake-logger-plugin-rich, if it is installed (``pip install snakemake-logger-plugin-rich``).

For each it prints the CPU seconds of the Snakemake process itself (its threads included, its pool
workers not), that per job, the wall time and the lines printed. Every run uses the settings of
profiles/default but the logger (``--workflow-profile none`` plus the same flags).

    python benchmarks/bench_console.py --cores 2 [--grid default|large-subset] [--repeat 2]
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_default import REPO  # noqa: E402
from bench_scale import chosen_config, write_config  # noqa: E402

# profiles/default without its logger (the flags must match that file).
PROFILE_FLAGS = ["--workflow-profile", "none", "--force-use-threads", "--scheduler", "greedy",
                 "--scheduler-subsample", "20", "--rerun-incomplete", "--show-failed-logs"]
LOGGERS = {"default": [], "manymodels": ["--logger", "manymodels"], "rich": ["--logger", "rich"]}
# Runs Snakemake in this process and reports the process's own CPU time when it exits.
WRAPPER = """
import atexit, json, resource, sys, time
start = time.perf_counter()
def report():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with open({out!r}, "w") as fh:
        json.dump({{"cpu": usage.ru_utime + usage.ru_stime, "wall": time.perf_counter() - start}}, fh)
atexit.register(report)
from snakemake.cli import main
sys.argv = ["snakemake", *{args!r}]
main()
"""


def available(name: str) -> bool:
    if name != "rich":
        return True
    import importlib.util

    return importlib.util.find_spec("snakemake_logger_plugin_rich") is not None


def run(name: str, config_path: Path, cores: int, workdir: Path) -> dict:
    workdir.mkdir(parents=True)
    out = workdir / "usage.json"
    args = ["-s", str(REPO / "Snakefile"), "--configfile", str(config_path), "--cores", str(cores),
            *PROFILE_FLAGS, *LOGGERS[name]]
    env = {**os.environ, "MANYMODELS_NO_SHORTCUT": "1"}
    proc = subprocess.run([sys.executable, "-c", WRAPPER.format(out=str(out), args=args)], cwd=workdir,
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"{name}: snakemake failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    usage = json.loads(out.read_text())
    text = proc.stdout + proc.stderr
    usage["lines"] = len(text.splitlines())
    steps = re.findall(r"(\d+) of (\d+) (?:steps|jobs)", text)
    usage["jobs"] = int(steps[-1][1]) if steps else None
    return usage


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grid", choices=["default", "large-subset"], default="default")
    parser.add_argument("--cores", type=int, default=os.cpu_count())
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="manymodels-console-"))
    try:
        config = chosen_config(args.grid, 8, fast_fits=True)
        config["name"] = "console"
        config_path = write_config(config, tmp / "config.yaml")
        n_jobs = None
        results: dict[str, list[dict]] = {}
        for i in range(args.repeat):
            for name in LOGGERS:
                if not available(name):
                    print(f"{name}: not installed, skipped", flush=True)
                    continue
                usage = run(name, config_path, args.cores, tmp / f"{name}-{i}")
                n_jobs = n_jobs or usage["jobs"]
                results.setdefault(name, []).append(usage)
                print(f"run {i + 1}/{args.repeat} {name}: {usage['cpu']:.2f} s CPU, {usage['wall']:.2f} s wall, "
                      f"{usage['lines']} lines", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\ngrid {args.grid} (fast fits), --cores {args.cores}, {n_jobs} jobs; min over {args.repeat} run(s)")
    print(f"  {'console':<12}{'CPU (s)':>9}{'ms/job':>9}{'wall (s)':>10}{'lines':>9}")
    for name, runs in results.items():
        cpu = min(r["cpu"] for r in runs)
        print(f"  {name:<12}{cpu:>9.2f}{1000 * cpu / n_jobs:>9.2f}{min(r['wall'] for r in runs):>10.2f}"
              f"{min(r['lines'] for r in runs):>9}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
