"""Helpers for integration tests: a copy of the workflow in a temporary directory, run for real."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[2]

# Columns that legitimately differ between two runs of the same tasks.
TIMING_COLUMNS = ["fit_seconds", "score_seconds", "fitted_at", "scored_at"]
SNAKEMAKE_TIMEOUT = 600


def make_workflow(root: Path, config: dict) -> Path:
    """Copy the Snakefile, package and profiles into ``root`` and write ``config`` as config.yaml.

    Working on a copy lets a test edit the package's code without touching the repository.
    """
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO / "Snakefile", root / "Snakefile")
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for folder in ("workflow", "profiles"):
        shutil.copytree(REPO / folder, root / folder, ignore=ignore)
    write_config(root, config)
    return root


def write_config(root: Path, config: dict) -> None:
    (root / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def snakemake(root: Path, *args: str, cores: int = 2, check: bool = True, **popen) -> subprocess.CompletedProcess:
    """Run real snakemake in ``root`` with the workflow's default profile."""
    cmd = [sys.executable, "-m", "snakemake", "--cores", str(cores), *args]
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=SNAKEMAKE_TIMEOUT, **popen)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def manymodels(root: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the `manymodels` command (results, verify, export, ...) in ``root``."""
    return subprocess.run([sys.executable, "-m", "manymodels", *args], cwd=root, capture_output=True, text=True,
                          timeout=SNAKEMAKE_TIMEOUT)


def planned_jobs(root: Path, *args: str, **popen) -> list[tuple[str, dict]]:
    """The jobs a dry run schedules: (rule, wildcards) pairs (the console lists every job with
    --logger-manymodels-jobs)."""
    result = snakemake(root, "--dry-run", "--logger-manymodels-jobs", *args, **popen)
    return jobs_listed(result.stdout + result.stderr)


def jobs_listed(out: str) -> list[tuple[str, dict]]:
    """The (rule, wildcards) pairs of the jobs a dry run with --logger-manymodels-jobs printed."""
    jobs: list[tuple[str, dict]] = []
    for line in out.splitlines():
        if m := re.match(r"^\s*(?:local)?(?:rule|checkpoint) (\w+):$", line):  # indented inside a group job
            jobs.append((m.group(1), {}))
        elif (m := re.match(r"^\s+wildcards: (.*)$", line)) and jobs:
            jobs[-1][1].update(kv.split("=", 1) for kv in m.group(1).split(", "))
    if not jobs:
        assert "Nothing to be done" in out, out
    return jobs


def job_counts(jobs) -> Counter:
    return Counter(rule for rule, _ in jobs)


def comparable(table: pd.DataFrame) -> pd.DataFrame:
    """A results table without timing columns, in a canonical row order."""
    table = table.drop(columns=[c for c in TIMING_COLUMNS if c in table])
    return table.sort_values(["model", "config_id", "fold"]).reset_index(drop=True)


def copy_run(source: Path, target: Path) -> Path:
    """Copy a finished workflow directory, keeping mtimes so Snakemake sees it as up to date."""
    shutil.copytree(source, target, symlinks=True)
    return target

