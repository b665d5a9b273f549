"""Recover from a run that was killed: remove Snakemake's locks when no run holds them any more.

Snakemake writes lock files under `.snakemake/locks/` for the duration of a run and removes them
at the end; a SIGKILL (or a lost login session) leaves them behind, and the next run refuses to
start until someone runs `snakemake --unlock`. Each run records its host in a marker file when
it starts. A later run on the same host removes leftover locks when no other Snakemake process
on this host works in the directory. Runs on other hosts (a shared cluster file system) cannot be
seen from here, so their locks are left alone.
"""

from __future__ import annotations

import os
import shutil
import socket
from datetime import datetime, timezone
from pathlib import Path

from ..task.io import read_json, write_json

MARKER = Path(".snakemake") / "manymodels" / "run.json"
LOCKS = Path(".snakemake") / "locks"


def write_run_marker(directory: str | os.PathLike = ".") -> dict:
    """Record that a run started now in this process (called from the Snakefile's onstart)."""
    marker = {"pid": os.getpid(), "host": socket.gethostname(), "started": datetime.now(timezone.utc).isoformat()}
    write_json(marker, Path(directory) / MARKER)
    return marker


def _ancestors() -> set[int]:
    """This process and its parents (a wrapper such as `timeout snakemake ...` is not another run)."""
    pids, pid = set(), os.getpid()
    while pid > 1 and pid not in pids:
        pids.add(pid)
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            break
        pid = int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))
    return pids


def other_snakemake_running(directory: str | os.PathLike) -> bool | None:
    """Whether another process on this host runs Snakemake in ``directory``; None if unknowable."""
    proc = Path("/proc")
    if not (proc / "self" / "cwd").exists():
        return None
    target, mine = os.path.realpath(directory), _ancestors()
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        try:
            if os.path.realpath(entry / "cwd") == target and b"snakemake" in (entry / "cmdline").read_bytes():
                return True
        except OSError:  # the process ended, or belongs to another user
            continue
    return False


def remove_stale_locks(directory: str | os.PathLike = ".") -> bool:
    """Remove the lock files of a dead run on this host; return True when locks were removed."""
    locks, marker_path = Path(directory) / LOCKS, Path(directory) / MARKER
    if not any(locks.glob("*.lock")) or not marker_path.exists():
        return False
    try:
        marker = read_json(marker_path)
    except ValueError:
        return False
    if marker.get("host") != socket.gethostname() or other_snakemake_running(directory) is not False:
        return False
    shutil.rmtree(locks)
    return True
