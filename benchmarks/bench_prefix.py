"""Benchmark: shared pipeline prefixes against GridSearchCV, in one run, on the same splits.

Runs the shipped example (configs/kernel-prefix.yaml: kernel PCA x logistic regression, 6 kernel
PCAs x 8 values of C x 5 folds) three ways on the same cores:
1. the workflow, ``snakemake --cores N`` in an empty temporary directory (every prefix fitted once
   per fold, as a cached job);
2. ``GridSearchCV(Pipeline, n_jobs=N)`` with a plain Pipeline (each kernel PCA refitted for every C);
3. the same with ``Pipeline(memory=<a temporary folder>)`` (scikit-learn's transformer cache).
The searches use the workflow's own prepared data and folds (results/<name>/data/), so the splits
are the same, and do the same work as the workflow: they score the config's metrics (accuracy and
ROC AUC) and refit the configuration chosen by its selection metric on every row (GridSearchCV's
``refit``, which the workflow's refit of the winner matches). Printed: the three wall times, the
ratios, and the largest difference between the workflow's mean CV score of each configuration and
metric and each search's.

The issue's goal: the workflow at least 3x faster than (2) and faster than (3), equal CV means.

    python benchmarks/bench_prefix.py --cores 2
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "workflow"))

from bench_default import REPO, load_config, results_dir, snakemake_command, timed_snakemake  # noqa: E402

CONFIG = REPO / "configs" / "kernel-prefix.yaml"
GOALS = {"plain / workflow": 3.0, "memory / workflow": 1.0}


def searches(results: Path, config: dict, cores: int) -> dict[str, tuple[float, dict]]:
    """Wall seconds and mean CV scores of each search, by (configuration's parameters as JSON, metric)."""
    import numpy as np
    import pandas as pd
    from sklearn.model_selection import GridSearchCV

    from manymodels.experiment.data import TEST, TRAIN
    from manymodels.experiment.estimators import make_estimator
    from manymodels.experiment.grid import expand_values
    from manymodels.experiment.tasks import estimator_definition

    (model, spec), = config["models"].items()
    frame = pd.read_parquet(results / "data" / "data.parquet")
    folds = pd.read_parquet(results / "data" / "folds.parquet")
    label = config["data"]["label"]
    X, y = frame.drop(columns=[label]), frame[label].to_numpy()
    splits = [(np.flatnonzero(folds[c].to_numpy() == TRAIN), np.flatnonzero(folds[c].to_numpy() == TEST))
              for c in folds.columns]
    grid = {key: expand_values(value, key=key) for key, value in spec["grid"].items()}
    timed = {}
    for name in ("plain", "memory"):
        with tempfile.TemporaryDirectory(prefix="bench-prefix-cache-") as cache:
            pipeline = make_estimator(estimator_definition(spec), spec.get("kwargs"))
            if name == "memory":
                pipeline.set_params(memory=cache)
            search = GridSearchCV(pipeline, grid, scoring=list(config["metrics"]), cv=splits, n_jobs=cores,
                                  refit=config["selection"]["metric"])
            start = time.perf_counter()
            search.fit(X, y)
            seconds = time.perf_counter() - start
        means = {(json.dumps(p, sort_keys=True), metric): m for metric in config["metrics"]
                 for p, m in zip(search.cv_results_["params"], search.cv_results_[f"mean_test_{metric}"])}
        timed[name] = (seconds, means)
        print(f"GridSearchCV ({name} Pipeline, n_jobs={cores}): {seconds:.1f} s", flush=True)
    return timed


def main(argv=None) -> int:
    import os

    import pandas as pd

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args(argv)
    config = load_config(CONFIG)
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-prefix-") as tmp:
        workdir = Path(tmp) / "workflow"
        workdir.mkdir()
        seconds, _ = timed_snakemake(workdir, snakemake_command(CONFIG, args.cores), "snakemake.log")
        print(f"workflow (snakemake --cores {args.cores}): {seconds:.1f} s", flush=True)
        results = results_dir(workdir, CONFIG)
        cv = pd.read_parquet(results / "cv_results.parquet")
        ours = {(json.dumps(json.loads(p), sort_keys=True), metric): m for metric in config["metrics"]
                for p, m in zip(cv["params"], cv[f"mean_test_{metric}"])}
        timed = searches(results, config, args.cores)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    ok = True
    for name, (their_seconds, means) in timed.items():
        ratio = their_seconds / seconds
        diff = max(abs(ours[key] - means[key]) for key in means) if means.keys() == ours.keys() else float("nan")
        goal = GOALS[f"{name} / workflow"]
        met = ratio >= goal and diff <= 1e-12
        ok &= met
        print(f"{name} / workflow: {ratio:.2f}x (goal >= {goal}x); CV means: max |diff| {diff:.1e} "
              f"over {len(means) // len(config['metrics'])} configurations x {len(config['metrics'])} metrics: "
              f"{'met' if met else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
