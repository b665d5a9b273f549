"""What a job's result depends on besides its inputs: the package code it runs.

Snakemake's `code` rerun trigger sees only a rule's own body. Each rule therefore carries, as a
`params:` entry, a hash of the package modules its task executes, so editing scoring code reruns
the score jobs and nothing upstream, and editing fitting code reruns the fits.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent

# The modules each stage's task runs, relative to the package (task/io.py holds the shared readers
# and writers; experiment/ the definitions a task is built from).
_DEFINITIONS = ["experiment/data.py", "experiment/generators.py", "experiment/tasks.py"]
STAGE_MODULES = {
    "data": ["task/prepare.py", "task/streaming.py", "task/io.py", *_DEFINITIONS],
    "fit": ["task/fit.py", "task/streaming.py", "task/hashing.py", "task/io.py", "experiment/estimators.py",
            *_DEFINITIONS],
    "score": ["task/score.py", "task/io.py", "experiment/metrics.py", "experiment/estimators.py", *_DEFINITIONS],
    "aggregate": ["results/aggregate.py", "results/selection.py", "task/score.py", "task/io.py", "experiment/tasks.py"],
    "plot": ["results/plots.py", "results/aggregate.py", "results/store.py", "task/score.py", "task/io.py",
             "experiment/tasks.py"],
    "report": ["results/report.py", "results/summary.py", "results/formatting.py", "results/store.py",
               "results/aggregate.py", "task/score.py", "task/io.py", "experiment/tasks.py"],
}


def code_hash(stage: str) -> str:
    """Hash of the source of the modules a stage runs."""
    digest = hashlib.sha256()
    for name in STAGE_MODULES[stage]:
        digest.update(name.encode())
        digest.update((PACKAGE_DIR / name).read_bytes())
    return digest.hexdigest()[:16]
