"""Recover from a run that was killed: remove the Snakemake locks that no live run holds.

Snakemake locks the files a run reads and writes (``.snakemake/locks/<i>.input.lock`` and
``<i>.output.lock``, one path per line) and removes those locks when the run ends; a SIGKILL or a
lost login session leaves them behind, and the next run refuses to start until someone runs
``snakemake --unlock``.

Every main Snakemake process of this workflow registers itself when it parses the workflow
(``.snakemake/manymodels/runs/<host>-<pid>.json``: the experiment, the host, the pid and the
process's start time) and removes the entry when it exits. A later run removes a pair of lock files
when no live registered process works on the experiments those locks cover (their paths under
``results/<name>/`` or ``logs/<name>/``). A process is live only if a process with its pid exists
*and* started at the recorded time, so a pid reused by another program is not mistaken for the run.
Runs registered from other hosts (a shared file system) cannot be checked from here: the locks of
their experiments are left alone.

Each run also records when it started (``.snakemake/manymodels/<name>/run.json``), so the report
and the run summary can tell what this run computed from what it reused.
"""

from __future__ import annotations

import atexit
import os
import socket
from datetime import datetime, timezone
from pathlib import Path

from ..experiment.layout import LOGS_ROOT, RESULTS_ROOT, STATE_ROOT, plan_record, run_started_record
from ..task.io import read_json, write_json

LOCKS = Path(".snakemake") / "locks"
RUNS = STATE_ROOT / "runs"
# Start times of one process read twice agree to the microsecond; anything else is another process.
START_TIME_TOLERANCE = 0.01


def run_marker(experiment: str) -> Path:
    """The record of when the experiment's last run started."""
    return run_started_record(experiment)


def write_plan_record(experiment: str, *, tasks: list[dict], folds: list[str], planned_fits: int, metrics: dict,
                      selection_metric: str, staged: bool) -> None:
    """Record what this run sets out to do (see :func:`manymodels.experiment.layout.plan_record`):
    every configuration's parameters, the folds, the metrics and how many fits are planned (nested
    CV's inner folds included; under a staged search, at most that many)."""
    write_json({"configs": [{k: t[k] for k in ("model", "config_id", "params")} for t in tasks], "folds": folds,
                "planned_fits": planned_fits, "staged": staged, "selection_metric": selection_metric,
                "metrics": {name: {"greater_is_better": spec["greater_is_better"], "on": spec["on"]}
                            for name, spec in metrics.items()}},
               plan_record(experiment))


def write_run_marker(experiment: str, directory: str | os.PathLike = ".") -> dict:
    """Record that a run of ``experiment`` started now in this process (the Snakefile's onstart)."""
    marker = {"pid": os.getpid(), "host": socket.gethostname(), "started": datetime.now(timezone.utc).isoformat()}
    write_json(marker, Path(directory) / run_marker(experiment))
    return marker


def _start_time(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), or None if there is none."""
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def register_run(experiment: str, directory: str | os.PathLike = ".") -> Path:
    """Register this process as a live run of ``experiment``; the entry goes when the process exits."""
    pid = os.getpid()
    entry = {"experiment": experiment, "host": socket.gethostname(), "pid": pid, "start_time": _start_time(pid),
             "registered": datetime.now(timezone.utc).isoformat()}
    path = Path(directory) / RUNS / f"{entry['host']}-{pid}.json"
    write_json(entry, path)
    atexit.register(path.unlink, missing_ok=True)
    return path


def is_alive(entry: dict) -> bool | None:
    """Whether a registered run is alive: True or False on this host, None for another host."""
    if entry.get("host") != socket.gethostname():
        return None
    started = _start_time(int(entry.get("pid", -1)))
    return started is not None and entry.get("start_time") is not None and abs(
        started - entry["start_time"]) < START_TIME_TOLERANCE


def live_experiments(directory: str | os.PathLike = ".") -> tuple[set[str], bool]:
    """Experiments that a live registered run (other than this process) works on, and whether any
    run is live at all. Entries of dead runs on this host are removed."""
    live, any_live = set(), False
    for path in sorted((Path(directory) / RUNS).glob("*.json")):
        try:
            entry = read_json(path)
        except (OSError, ValueError):
            continue
        if entry.get("host") == socket.gethostname() and entry.get("pid") == os.getpid():
            continue
        alive = is_alive(entry)
        if alive is False:
            path.unlink(missing_ok=True)
            continue
        live.add(str(entry.get("experiment")))  # alive, or unknowable (another host)
        any_live = True
    return live, any_live


def _experiment_of(path: str, directory: Path) -> str | None:
    """The experiment a locked path belongs to (results/<name>/... or logs/<name>/...), if any."""
    candidate = Path(path)
    if candidate.is_absolute():
        try:
            candidate = candidate.relative_to(directory.resolve())
        except ValueError:
            return None
    parts = candidate.parts
    if len(parts) >= 3 and Path(parts[0]) in (RESULTS_ROOT, LOGS_ROOT):
        return parts[1]
    return None


def lock_sets(directory: str | os.PathLike = ".") -> dict[str, list[Path]]:
    """Snakemake's lock files by run (the index in ``<i>.input.lock`` / ``<i>.output.lock``)."""
    sets: dict[str, list[Path]] = {}
    for path in sorted((Path(directory) / LOCKS).glob("*.lock")):
        sets.setdefault(path.name.split(".", 1)[0], []).append(path)
    return sets


def remove_stale_locks(directory: str | os.PathLike = ".") -> list[str]:
    """Remove the lock files of runs that are gone; return the experiments whose locks were removed."""
    directory = Path(directory)
    sets = lock_sets(directory)
    if not sets:
        return []
    live, any_live = live_experiments(directory)
    removed: set[str] = set()
    for files in sets.values():
        experiments = set()
        for path in files:
            try:
                lines = path.read_text().splitlines()
            except OSError:
                continue
            experiments |= {e for e in (_experiment_of(line.strip(), directory) for line in lines if line.strip()) if e}
        if experiments & live or (not experiments and any_live):
            continue
        for path in files:
            path.unlink(missing_ok=True)
        removed |= experiments or {"?"}
    return sorted(removed)
