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
# Every search's module: their verdicts are part of aggregation, and a search may write its own report
# section and plot (a new search is a module there).
_SEARCHES = sorted(f"search/{path.name}" for path in (PACKAGE_DIR / "search").glob("*.py"))
STAGE_MODULES = {
    "data": ["task/prepare.py", "task/streaming.py", "task/io.py", *_DEFINITIONS],
    "fit": ["task/fit.py", "task/streaming.py", "task/hashing.py", "task/io.py", "experiment/estimators.py",
            *_DEFINITIONS],
    "score": ["task/score.py", "task/io.py", "task/model_files.py", "experiment/metrics.py", "experiment/estimators.py",
              *_DEFINITIONS],
    "aggregate": ["results/aggregate.py", "results/selection.py", "results/compare.py", "results/cautions.py",
                  "results/formatting.py", "results/cv_results.py", "results/nested.py", "results/racing.py",
                  "results/stages.py", "experiment/halving.py", *_SEARCHES, "task/fit.py",
                  "task/score.py", "task/io.py", "task/model_files.py", "experiment/tasks.py"],
    "plot": [*_SEARCHES, "results/plots.py", "results/racing.py", "results/stages.py", "results/aggregate.py", "results/store.py", "task/score.py", "task/io.py",
             "task/model_files.py", "experiment/tasks.py"],
    # Shared pipeline prefixes: the prefix jobs and the final-step fits on them (a family that shares
    # no prefix keeps the fit stage's hash, and its cached fits).
    "prefix": ["task/prefix.py", "task/fit.py", "task/io.py", "experiment/estimators.py", "experiment/prefixes.py",
               *_DEFINITIONS],
    # model_format: skops: what keeps a fit's model as a skops file (the fit stage's modules stay as they are,
    # so the fits of a joblib experiment keep their hash).
    "skops": ["task/model_files.py"],
    "report": [*_SEARCHES, "results/report.py", "results/summary.py", "results/verdict.py", "results/formatting.py", "results/store.py",
               "results/aggregate.py", "task/score.py", "task/io.py", "experiment/tasks.py"],
}


def hash_files(files, digest=None):
    """``digest`` (a new SHA-256 by default) updated with each (name, path) of ``files``: the name,
    then the file's bytes."""
    digest = digest or hashlib.sha256()
    for name, path in files:
        digest.update(name.encode())
        digest.update(Path(path).read_bytes())
    return digest


def code_hash(stage: str) -> str:
    """Hash of the source of the modules a stage runs."""
    return hash_files((name, PACKAGE_DIR / name) for name in STAGE_MODULES[stage]).hexdigest()[:16]


def own_code_hash(dotted_paths) -> str | None:
    """Hash of the source of the user's own modules among those the dotted paths (estimators,
    transformers, metric functions) come from: modules outside the Python installation and its
    environments, and outside this package (whose code :func:`code_hash` covers). For a module of a
    package, every module of that package. None when every module is installed.

    Editing such a module then reruns the jobs that use it, as editing the package's own code does
    (an installed package's version is recorded instead).
    """
    files = dict(sorted({item for path in dotted_paths for item in _own_files(path.rpartition(".")[0])}))
    if not files:
        return None
    return hash_files(files.items()).hexdigest()[:16]  # by name, not place: a copied project hashes the same


def _own_files(module: str) -> list[tuple[str, Path]]:
    """(name relative to the import path, file) of the top-level module or package of ``module``."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(module.split(".")[0])
    except (ImportError, ValueError):
        return []  # the config check names modules that do not import
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return []
    origin = Path(spec.origin).resolve()
    if _installed(origin):
        return []
    if spec.submodule_search_locations:  # a package: all of it
        root = origin.parent.parent
        return [(str(p.relative_to(root)), p) for p in sorted(origin.parent.rglob("*.py")) if "__pycache__" not in p.parts]
    return [(origin.name, origin)]


def _installed(path: Path) -> bool:
    import sys
    import sysconfig

    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, *sysconfig.get_paths().values()}
    roots = [Path(r).resolve() for r in roots if r]
    return path.is_relative_to(PACKAGE_DIR) or any(path.is_relative_to(root) for root in roots)
