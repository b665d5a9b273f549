"""Helpers for the real-Slurm tests: start the single-node Slurm, run snakemake through it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
UP, DOWN = REPO / "scripts" / "slurm" / "up", REPO / "scripts" / "slurm" / "down"
CLUSTER_NAME = "manymodels"  # the ClusterName scripts/slurm/up writes

# Without slurmdbd there is no sacct: check job states with squeue (the test Slurm keeps finished
# jobs visible for MinJobAge = 300 s >= 3 x the first check delay), and check early.
TEST_FLAGS = ("--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "1")
# Seconds for one snakemake run through Slurm; `timeout -k` kills a hang. A run of the default
# experiment takes 2-3 minutes on a quiet 2-core machine and 7 under `make test`'s parallel load
# (each one-off job is a submission of its own, its Snakemake start-up slowed by the load).
SLURM_TIMEOUT = 900


class SlurmUnavailable(RuntimeError):
    """The test Slurm could not be installed or started."""


def _run(cmd, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def slurm_running() -> bool:
    """Whether the Slurm of scripts/slurm/up answers and its node takes jobs."""
    if shutil.which("sinfo") is None or shutil.which("scontrol") is None:
        return False
    try:
        config = _run(["scontrol", "show", "config"], timeout=15)
        state = _run(["sinfo", "--noheader", "--nodes=localhost", "--format=%T"], timeout=15)
    except subprocess.TimeoutExpired:
        return False
    ours = any(line.split("=", 1)[-1].strip() == CLUSTER_NAME
               for line in config.stdout.splitlines() if line.startswith("ClusterName"))
    return ours and state.returncode == 0 and state.stdout.strip().startswith(("idle", "mixed", "alloc"))


def start_slurm() -> bool:
    """Make sure the test Slurm runs; return True when this call started it.

    Raises SlurmUnavailable, with what went wrong, when it cannot be installed or started.
    """
    if slurm_running():
        return False
    if os.geteuid() != 0:
        raise SlurmUnavailable(
            "the Slurm tests need a running single-node Slurm: start it as root with scripts/slurm/up "
            "(it installs munge and Slurm with apt on Debian 12), or deselect these tests with -m 'not slurm'"
        )
    try:
        result = _run(["bash", str(UP)], timeout=600)
    except subprocess.TimeoutExpired:
        raise SlurmUnavailable("scripts/slurm/up did not finish within 600 s") from None
    if result.returncode != 0 or not slurm_running():
        raise SlurmUnavailable(f"scripts/slurm/up could not install or start Slurm (exit {result.returncode}):\n"
                               f"{result.stdout}{result.stderr}")
    return True


def stop_slurm() -> None:
    _run(["bash", str(DOWN)], timeout=120)


def cancel_jobs() -> None:
    """Cancel whatever a killed run left queued on the test cluster."""
    _run(["scancel", "--full", "--partition=debug"], timeout=30)


def install_slurm_profile(config_home: Path) -> dict:
    """`make slurm-profile` with ``config_home`` as XDG_CONFIG_HOME (the README's step); the
    environment in which `snakemake --profile slurm` finds that profile."""
    env = {**os.environ, "XDG_CONFIG_HOME": str(config_home)}
    subprocess.run(["make", "-C", str(REPO), "slurm-profile"], env=env, check=True, capture_output=True, text=True)
    return env


def snakemake_on_slurm(root: Path, *args: str, timeout: int = SLURM_TIMEOUT) -> subprocess.CompletedProcess:
    """`snakemake --profile slurm` in ``root`` (the user's command, the profile installed by
    `make slurm-profile`) plus the test flags."""
    env = install_slurm_profile(root.parent / "config-home")
    cmd = ["timeout", "-k", "10", str(timeout), sys.executable, "-m", "snakemake",
           "--profile", "slurm", *TEST_FLAGS, *args]
    try:
        return subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=timeout + 30, env=env)
    finally:
        cancel_jobs_of(root)


def cancel_jobs_of(root: Path) -> None:
    """Cancel the jobs still queued or running for ``root`` (after a timeout, nothing is left)."""
    result = _run(["squeue", "--noheader", "--format=%i %Z"], timeout=30)
    ids = [line.split()[0] for line in result.stdout.splitlines()
           if len(line.split()) == 2 and Path(line.split()[1]) == Path(root)]
    if ids:
        _run(["scancel", *ids], timeout=30)


def default_experiment(**changes) -> dict:
    """config.yaml (the default experiment), with top-level sections updated by ``changes``."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    for section, values in changes.items():
        config[section].update(values)
    return config


def submitted_jobs(output: str) -> list[str]:
    """The Slurm log folders of the jobs a run submitted (one per sbatch), e.g. 'group_fit_score_...'."""
    return [line.split("slurm_logs/", 1)[1].split("/", 1)[0]
            for line in output.splitlines() if "has been submitted with SLURM jobid" in line]
