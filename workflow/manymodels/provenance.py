"""What a job's result depends on besides its inputs: the package code it runs, and versions.

Snakemake's `code` rerun trigger sees only a rule's own body. Each rule therefore carries, as a
`params:` entry, a hash of the package modules its task executes, so editing scoring code reruns
the score jobs and nothing upstream, and editing fitting code reruns the fits.
"""

from __future__ import annotations

import hashlib
from importlib import metadata
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent

# The modules each stage's task runs (io holds the shared readers and writers).
STAGE_MODULES = {
    "data": ["data.py", "streaming.py", "io.py"],
    "fit": ["fit.py", "streaming.py", "hashing.py", "estimators.py", "io.py", "tasks.py"],
    "score": ["score.py", "metrics.py", "io.py"],
    "aggregate": ["aggregate.py", "score.py", "io.py"],
    "plot": ["plots.py", "aggregate.py", "store.py", "score.py", "io.py"],
    "report": ["report.py", "store.py", "aggregate.py", "score.py", "io.py"],
}


def code_hash(stage: str) -> str:
    """Hash of the source of the modules a stage runs."""
    digest = hashlib.sha256()
    for name in STAGE_MODULES[stage]:
        digest.update(name.encode())
        digest.update((PACKAGE_DIR / name).read_bytes())
    return digest.hexdigest()[:16]


def package_version(definition) -> str:
    """Version(s) of the distribution(s) behind an estimator definition (a dotted path or steps)."""
    if not isinstance(definition, str):
        return ", ".join(sorted({package_version(step["estimator"]) for step in definition}))
    top = definition.split(".")[0]
    try:
        dists = metadata.packages_distributions().get(top, [top])
        return f"{dists[0]}=={metadata.version(dists[0])}"
    except metadata.PackageNotFoundError:
        return f"{top}==unknown"
