"""Benchmark: shared pipeline prefixes against GridSearchCV, in one run, on the same splits.

Runs the shipped example (configs/kernel-prefix.yaml: kernel PCA x logistic regression, 6 kernel
PCAs x 8 values of C x 5 folds) three ways on the same cores, each timed as a command from its
start to its end:
1. the workflow, ``snakemake --cores N`` in an empty temporary directory (every prefix fitted once
   per fold, as a cached job);
2. ``GridSearchCV(Pipeline, n_jobs=N)`` with a plain Pipeline (each kernel PCA refitted for every C);
3. the same with ``Pipeline(memory=<a temporary folder>)`` (scikit-learn's transformer cache).
Each search runs in a fresh interpreter, as bench_default.py runs its baseline: its imports and its
reading of the data count, as the workflow's do; its threads are left as GridSearchCV's users leave
them (one BLAS thread per loky worker, every core for the refit). The searches use the workflow's
own prepared data and folds (results/<name>/data/), so the splits are the same, and do the same
work as the workflow: they score the config's metrics (accuracy and ROC AUC) and refit the
configuration chosen by its selection metric on every row (GridSearchCV's ``refit``, which the
workflow's refit of the winner matches). Printed: the three wall times and each search's ``fit``
alone (how this benchmark timed the searches before), the ratios, and the largest difference
between the workflow's mean CV score of each configuration and metric and each search's.

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

from bench_default import REPO, load_config, results_dir, run_fresh, snakemake_command, timed_snakemake  # noqa: E402

CONFIG = REPO / "configs" / "kernel-prefix.yaml"
GOALS = {"plain / workflow": 3.0, "memory / workflow": 1.0}


def search(name: str, results: str, cores: int, out: str) -> None:
    """One search, run in a fresh interpreter (:func:`searches`): GridSearchCV over the shipped
    example's grid on the workflow's folds, with a plain Pipeline (``name`` 'plain') or with
    ``Pipeline(memory=...)`` ('memory'). Writes ``out``: its fit's seconds and the mean CV scores."""
    import numpy as np
    import pandas as pd
    from sklearn.model_selection import GridSearchCV

    from manymodels.experiment.data import TEST, TRAIN
    from manymodels.experiment.estimators import make_estimator
    from manymodels.experiment.grid import expand_values
    from manymodels.experiment.tasks import estimator_definition

    config = load_config(CONFIG)
    (model, spec), = config["models"].items()
    frame = pd.read_parquet(Path(results) / "data" / "data.parquet")
    folds = pd.read_parquet(Path(results) / "data" / "folds.parquet")
    label = config["data"]["label"]
    X, y = frame.drop(columns=[label]), frame[label].to_numpy()
    splits = [(np.flatnonzero(folds[c].to_numpy() == TRAIN), np.flatnonzero(folds[c].to_numpy() == TEST))
              for c in folds.columns]
    grid = {key: expand_values(value, key=key) for key, value in spec["grid"].items()}
    with tempfile.TemporaryDirectory(prefix="bench-prefix-cache-") as cache:
        pipeline = make_estimator(estimator_definition(spec), spec.get("kwargs"))
        if name == "memory":
            pipeline.set_params(memory=cache)
        grid_search = GridSearchCV(pipeline, grid, scoring=list(config["metrics"]), cv=splits, n_jobs=cores,
                                   refit=config["selection"]["metric"])
        start = time.perf_counter()
        grid_search.fit(X, y)
        seconds = time.perf_counter() - start
    means = [[json.dumps(p, sort_keys=True), metric, m] for metric in config["metrics"]
             for p, m in zip(grid_search.cv_results_["params"], grid_search.cv_results_[f"mean_test_{metric}"])]
    n_fits = len(splits) * len(grid_search.cv_results_["params"]) + 1  # and the refit
    Path(out).write_text(json.dumps({"fit_seconds": seconds, "means": means, "n_fits": n_fits}))


def searches(results: Path, cores: int, tmp: Path) -> dict[str, tuple[float, float, dict]]:
    """Each search timed as the workflow is, as a command: a fresh interpreter, whose start-up,
    imports and reading of the data count (as bench_default.py times its baseline), left to set its
    own threads as GridSearchCV's users leave it (loky gives each of its workers one BLAS thread; the
    refit in the main process uses every core). (Command seconds, its fit's seconds, mean CV scores
    by (configuration's parameters as JSON, metric)) per search."""
    timed = {}
    for name in ("plain", "memory"):
        out = tmp / f"{name}.json"
        code = f"from bench_prefix import search; search({name!r}, {str(results)!r}, {cores}, {str(out)!r})"
        seconds, _ = run_fresh(code, out, f"GridSearchCV ({name})", one_thread=False)
        report = json.loads(out.read_text())
        means = {(p, metric): m for p, metric, m in report["means"]}
        timed[name] = (seconds, report["fit_seconds"], means)
        print(f"GridSearchCV ({name} Pipeline, n_jobs={cores}): {seconds:.1f} s "
              f"(its fit alone: {report['fit_seconds']:.1f} s)", flush=True)
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
        timed = searches(results, args.cores, Path(tmp))
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    ok = True
    for name, (their_seconds, fit_seconds, means) in timed.items():
        ratio = their_seconds / seconds
        diff = max(abs(ours[key] - means[key]) for key in means) if means.keys() == ours.keys() else float("nan")
        goal = GOALS[f"{name} / workflow"]
        met = ratio >= goal and diff <= 1e-12
        ok &= met
        print(f"{name} / workflow: {ratio:.2f}x (goal >= {goal}x; its fit alone / workflow: "
              f"{fit_seconds / seconds:.2f}x); CV means: max |diff| {diff:.1e} over "
              f"{len(means) // len(config['metrics'])} configurations x {len(config['metrics'])} metrics: "
              f"{'met' if met else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
