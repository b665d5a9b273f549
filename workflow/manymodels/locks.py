"""Recover from a run that was killed: remove Snakemake's lock when the process holding it is gone.

Snakemake writes `.snakemake/locks/` for the duration of a run and removes it at the end; a
SIGKILL (or a lost node) leaves it behind, and the next run refuses to start until someone runs
`snakemake --unlock`. Each run records its PID and host in a marker file when it starts; a later
run on the same host removes the locks only if that process no longer exists.
"""

from __future__ import annotations

import os
import shutil
import socket
from datetime import datetime, timezone
from pathlib import Path

from .io import read_json, write_json

MARKER = Path(".snakemake") / "manymodels" / "run.json"
LOCKS = Path(".snakemake") / "locks"


def write_run_marker(directory: str | os.PathLike = ".") -> dict:
    """Record that a run started now in this process (called from the Snakefile's onstart)."""
    marker = {"pid": os.getpid(), "host": socket.gethostname(), "started": datetime.now(timezone.utc).isoformat()}
    write_json(marker, Path(directory) / MARKER)
    return marker


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_locks(directory: str | os.PathLike = ".") -> bool:
    """Remove the locks of a dead run on this host; return True when locks were removed.

    Locks are left alone when no marker says who took them, when the run was on another host
    or when its process is still alive.
    """
    locks, marker_path = Path(directory) / LOCKS, Path(directory) / MARKER
    if not locks.exists() or not marker_path.exists():
        return False
    try:
        marker = read_json(marker_path)
    except ValueError:
        return False
    if marker.get("host") != socket.gethostname() or _alive(int(marker["pid"])):
        return False
    shutil.rmtree(locks)
    return True
