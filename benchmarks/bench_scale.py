"""Benchmark at scale: the workflow, an in-process joblib loop and GridSearchCV, side by side.

In one invocation, on the same cores, for one grid:

(a) the workflow end to end (``snakemake --cores N`` in an empty temporary directory, as in
    ``bench_default.py``);
(b) a hand-written in-process ``joblib.Parallel`` loop doing exactly the same fits and scores
    (every configuration on every CV fold plus the 'full' fit), from ``bench_default.py``;
(c) ``GridSearchCV(n_jobs=N, error_score=nan)`` on the same grid and the same CV splits, with the
    same metrics (out-of-sample ones as test scores, in-sample ones such as BIC as train scores,
    ``return_train_score=True``) and ``refit`` on the selection metric. It fits each configuration
    on the CV folds only, and refits only the best one on all rows: less work than (a) and (b),
    which also fit every configuration on all rows.

All three check their CV means against each other. With ``--reruns`` the workflow's directory is
then reused to measure what a user does next:

- a nothing-to-do rerun (the same command again);
- one configuration changed (one grid point replaced by a new one): the jobs Snakemake plans are
  checked to be exactly that configuration's fit and score jobs plus aggregation and what depends
  on it, then the rerun is timed and compared with the full run;
- aggregation alone: ``manymodels.results.aggregate.aggregate_scores`` over every score file, in a fresh
  process, with its wall time and peak memory (RSS).

Grids (``--grid``):

- ``default``: config.yaml (36 configurations, 216 fits);
- ``large``: reference 000's grid, configs/penguins-large.yaml (n_components 2..399 x 4 covariance
  types = 1,592 configurations, 9,552 fits with n_init 5): hours of fitting on 2 cores;
- ``large-subset``: the same grid with every ``--stride``-th n_components value (2, 10, 18, ...,
  394 for stride 8: 200 configurations, 1,200 fits). A stride keeps the large grid's mix: cheap
  small mixtures, costly large ones (full covariance, hundreds of components), and fits that fail
  because there are more components than training rows (above 266 on a CV fold, above 333 on all
  rows) in the same proportions.

``--fast-fits`` sets ``n_init: 1, max_iter: 10`` in the chosen grid: the same tasks and jobs with
much cheaper fits, to measure the workflow's own costs (reruns, aggregation, scheduling) on the
full large grid within minutes; ratios measured with it are overhead-bound worst cases.

Goals (issue 8): on the large grid workflow/joblib <= 1.25 and workflow/GridSearchCV < 1; a
nothing-to-do rerun under 10 s; a one-configuration change reruns only its jobs and costs under 5%
of the full run; aggregation under 10 s with peak RSS under 500 MB.

    python benchmarks/bench_scale.py --grid default --cores 2
    python benchmarks/bench_scale.py --grid large-subset --stride 8 --cores 2 --reruns
    python benchmarks/bench_scale.py --grid large --fast-fits --cores 2 --reruns --skip-baselines
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "workflow"))

from bench_default import (  # noqa: E402
    PACKAGE_ROOT, REPO, THREAD_VARIABLES, compare, load_config, results_dir, run_baseline, run_fresh, run_workflow,
    snakemake_command, timed_snakemake,
)

GRIDS = {"default": REPO / "config.yaml", "large": REPO / "configs" / "penguins-large.yaml",
         "large-subset": REPO / "configs" / "penguins-large.yaml"}
# The goals of the large grid (and its subset): against the baselines, and for reruns and aggregation.
LARGE_GOALS = {"workflow/joblib": 1.1, "workflow/GridSearchCV": 1.0, "workflow/GridSearchCV same fits": 1.0,
               "nothing-to-do rerun (s)": 10.0, "one-config dry run (s)": 15.0, "one-config rerun (s)": 15.0,
               "one-config rerun / full run": 0.05, "aggregation (s)": 10.0, "aggregation peak RSS (MB)": 500.0}
# Only the goals that apply to the grid run get a verdict: the default grid is too small for the rerun
# and aggregation goals (a rerun of one of its 36 configurations is not 5% of its run), and its fits are
# short, so the workflow's fixed costs weigh more.
GRID_GOALS = {"large": LARGE_GOALS, "large-subset": LARGE_GOALS, "default": {"workflow/joblib": 1.2}}
# Goals against the baselines are about real fits: with --fast-fits they do not apply.
BASELINE_GOALS = ("workflow/joblib", "workflow/GridSearchCV", "workflow/GridSearchCV same fits")


def goals_for(grid: str, *, fast_fits: bool) -> dict[str, float]:
    """The goals that apply to a variant of the benchmark."""
    goals = dict(GRID_GOALS.get(grid, {}))
    if fast_fits:
        goals = {name: goal for name, goal in goals.items() if name not in BASELINE_GOALS}
    return goals


# --------------------------------------------------------------------------------------------
# Grids


def write_config(config: dict, path: Path) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def chosen_config(grid: str, stride: int, fast_fits: bool) -> dict:
    """The config of the chosen grid: the large one thinned to every stride-th n_components."""
    config = load_config(GRIDS[grid])
    model = config["models"]["gmm"]
    if grid == "large-subset":
        spec = model["grid"]["n_components"]
        model["grid"]["n_components"] = list(range(spec["from"], spec["to"] + 1, stride))
    if fast_fits:
        model["kwargs"] = {**model.get("kwargs", {}), "n_init": 1, "max_iter": 10}
    return config


def one_config_changed(config: dict) -> tuple[dict, dict, dict]:
    """The config with one configuration changed; (new config, old point, new point).

    The (n_components 10, 'spherical') configuration, a real fit, gets a tighter convergence
    tolerance (tol 1e-4 instead of the default 1e-3): a new configuration of the same kind, and
    the old one leaves the grid. Sub-grids express the change.
    """
    from manymodels.experiment.grid import expand_values

    grid = config["models"]["gmm"]["grid"]
    n_values = expand_values(grid["n_components"], key="n_components")
    others = [c for c in grid["covariance_type"] if c != "spherical"]
    old = {"n_components": min((n for n in n_values if n >= 10), default=n_values[-1]), "covariance_type": "spherical"}
    new = {**old, "tol": 1e-4}
    changed = copy.deepcopy(config)
    changed["models"]["gmm"]["grid"] = [
        {"n_components": n_values, "covariance_type": others},
        {"n_components": [n for n in n_values if n != old["n_components"]], "covariance_type": ["spherical"]},
        {key: [value] for key, value in new.items()},
    ]
    return changed, old, new


# --------------------------------------------------------------------------------------------
# (c) GridSearchCV: runs in its own Python process (see run_gridsearch)


def gridsearch(config_path: str, cores: int, out: str, same_fits: bool) -> None:
    """GridSearchCV over the config's single model on the same CV folds; CV means to Parquet.

    With ``same_fits`` every row is added as one more split (trained and scored on all rows), so
    that GridSearchCV fits each configuration on all rows too, as the workflow does; CV means are
    still taken over the CV folds only.
    """
    import warnings

    import numpy as np
    import pandas as pd
    from joblib import parallel_config
    from sklearn.model_selection import GridSearchCV

    from bench_default import load_data, make_folds
    from manymodels.experiment.config import import_object, metric_specs, selection_metric
    from manymodels.experiment.grid import expand_grid

    warnings.simplefilter("ignore")  # failed fits (more components than rows) are expected (workers: run_fresh)
    config = load_config(Path(config_path))
    (model, spec), = config["models"].items()
    metrics = metric_specs(config["metrics"])
    X, y = load_data(config)
    splits = make_folds(config["cv"], X, y)
    cv = [(train, test) for name, train, test in splits if name != "full"]
    n_cv = len(cv)
    if same_fits:
        everything = np.arange(len(X))
        cv.append((everything, everything))
    points = expand_grid(spec["grid"], key=model)
    param_grid = [{k: [v] for k, v in p.items()} for p in points] if isinstance(spec["grid"], list) else {
        k: sorted({p[k] for p in points}, key=lambda v: (str(type(v)), v)) for k in points[0]}

    def scorer(name, metric):
        def score(estimator, X_, y_):
            if "function" in metric:
                return import_object(metric["function"], key=name, config_file="")(y_, getattr(estimator, metric["response"])(X_))
            method = getattr(estimator, metric["method"])
            return method(X_, y_) if metric["needs_y"] else method(X_)
        return score

    scoring = {name: scorer(name, metric) for name, metric in metrics.items()}
    estimator = import_object(spec["estimator"], key=model, config_file="")(**spec.get("kwargs", {}))
    search = GridSearchCV(estimator, param_grid, scoring=scoring, cv=cv, n_jobs=cores, error_score=np.nan,
                          refit=selection_metric(config), return_train_score=True)
    with parallel_config(backend="loky", inner_max_num_threads=1):
        search.fit(X, y)
    results = search.cv_results_
    table = pd.DataFrame(list(results["params"]))
    table.insert(0, "model", model)
    for name, metric in metrics.items():
        where = "train" if metric["on"] == "train" else "test"
        per_fold = np.column_stack([results[f"split{i}_{where}_{name}"] for i in range(n_cv)]).astype(float)
        with np.errstate(all="ignore"), warnings.catch_warnings():  # the workflow's mean: over folds with a score
            table[f"{name}_mean"] = np.where(np.isnan(per_fold).all(axis=1), np.nan, np.nanmean(per_fold, axis=1))
    table.to_parquet(out, index=False)
    Path(out).with_suffix(".json").write_text(json.dumps({"n_fits": len(points) * len(cv) + 1}))


def run_gridsearch(config_path: Path, cores: int, out: Path, same_fits: bool) -> tuple[float, int]:
    """Run ``gridsearch`` in a fresh interpreter; return (wall seconds, number of fits)."""
    code = f"from bench_scale import gridsearch; gridsearch({str(config_path)!r}, {cores}, {str(out)!r}, {same_fits})"
    return run_fresh(code, out, "GridSearchCV")


# --------------------------------------------------------------------------------------------
# Reruns


def planned_jobs(text: str) -> dict[str, int]:
    """Jobs per rule from the 'Job stats' table Snakemake prints before running."""
    table = text.split("Job stats:", 1)[1] if "Job stats:" in text else ""
    counts = {}
    for line in table.splitlines()[3:]:
        match = re.match(r"\s*(\w+)\s+(\d+)\s*$", line)
        if not match:
            break
        if match.group(1) != "total":
            counts[match.group(1)] = int(match.group(2))
    return counts


def planned_config_ids(text: str, rule: str) -> set[str]:
    """config_id wildcards of the planned jobs of ``rule`` in a dry run's output."""
    ids, current = set(), None
    for line in text.splitlines():
        match = re.match(r"\s*(?:local)?rule (\w+):", line)
        if match:
            current = match.group(1)
        elif current == rule and "wildcards:" in line:
            found = re.search(r"config_id=([0-9a-f]{10})", line)
            if found:
                ids.add(found.group(1))
    return ids


def measure_aggregation(workdir: Path, config_path: Path) -> tuple[float, float, int]:
    """Aggregate every score file in a fresh process as the workflow does (each shard gathered,
    then the shards aggregated): (wall seconds, peak RSS in MB, score files)."""
    results = results_dir(workdir, config_path).relative_to(workdir)
    code = f"""
import json, resource, sys, time
sys.path.insert(0, {str(PACKAGE_ROOT)!r})
from manymodels.experiment.config import check_config, metric_specs
from manymodels.experiment.data import fold_names
from manymodels.experiment.layout import shard_tasks
from manymodels.results.aggregate import aggregate_scores, gather_scores
import yaml
config = yaml.safe_load(open({str(config_path)!r}))
tasks = check_config(config, config_file="config")
metrics = metric_specs(config["metrics"])
folds = fold_names(config["cv"]) + ["full"]
shards = {{name: [f"{results}/scores/{{t['model']}}/{{t['config_id']}}/fold-{{k}}.parquet" for t in members for k in folds]
          for name, members in shard_tasks(tasks, len(folds)).items()}}
start = time.perf_counter()
for name, files in shards.items():
    gather_scores(score_files=files, metric_names=list(metrics), out=f"agg/shard-{{name}}.parquet")
aggregate_scores(score_files=[f"agg/shard-{{name}}.parquet" for name in shards], configs=tasks, metrics=metrics,
                 out_scores="agg/scores.parquet", out_summary="agg/summary.parquet", out_configs="agg/configs.tsv")
seconds = time.perf_counter() - start
print(json.dumps({{"seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "files": sum(map(len, shards.values())), "shards": len(shards)}}))
"""
    (workdir / "agg").mkdir(exist_ok=True)
    env = {**os.environ, **{name: "1" for name in THREAD_VARIABLES}}
    proc = subprocess.run([sys.executable, "-c", code], cwd=workdir, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"aggregation failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return result["seconds"], result["peak_mb"], result["files"]


def measure_reruns(workdir: Path, config: dict, config_path: Path, cores: int, full_seconds: float) -> dict:
    from manymodels.experiment.tasks import config_id, estimator_definition

    figures = {}
    seconds, text = timed_snakemake(workdir, snakemake_command(config_path, cores), "rerun-nothing.log")
    if "Nothing to be done" not in text:
        sys.exit(f"the nothing-to-do rerun ran jobs; see {workdir / 'rerun-nothing.log'}")
    figures["nothing-to-do rerun (s)"] = seconds
    print(f"nothing-to-do rerun: {seconds:.2f} s", flush=True)
    seconds, text = timed_snakemake(workdir, snakemake_command(config_path, cores), "rerun-nothing-dag.log",
                                    MANYMODELS_NO_SHORTCUT="1")
    if "Nothing to be done" not in text:
        sys.exit(f"the nothing-to-do rerun ran jobs; see {workdir / 'rerun-nothing-dag.log'}")
    figures["same, Snakemake's full DAG (s)"] = seconds
    print(f"nothing-to-do rerun with MANYMODELS_NO_SHORTCUT=1 (Snakemake builds the whole DAG): {seconds:.2f} s",
          flush=True)

    changed, old, new = one_config_changed(config)
    changed_path = write_config(changed, workdir / "changed-config.yaml")
    spec = changed["models"]["gmm"]
    new_id = config_id(estimator_definition(spec), spec.get("kwargs", {}), new, spec.get("fit_kwargs"))
    seconds, dry = timed_snakemake(workdir, snakemake_command(changed_path, cores, "-n", "--logger-manymodels-jobs"),
                                   "rerun-one-dry.log")
    figures["one-config dry run (s)"] = seconds
    counts = planned_jobs(dry)
    fitted, scored = planned_config_ids(dry, "fit_model"), planned_config_ids(dry, "score_model")
    n_folds = config["cv"]["n_splits"] + 1
    exact = fitted == {new_id} == scored and counts.get("fit_model") == n_folds == counts.get("score_model")
    print(f"one configuration changed ({old} -> {new}, config_id {new_id}): planned {counts}; "
          f"{'exactly' if exact else 'NOT exactly'} its {n_folds} fit and score jobs; dry run {seconds:.2f} s", flush=True)
    seconds, _ = timed_snakemake(workdir, snakemake_command(changed_path, cores), "rerun-one.log")
    figures["one-config rerun (s)"] = seconds
    figures["one-config rerun / full run"] = seconds / full_seconds
    figures["one-config jobs exact"] = exact
    print(f"one configuration changed: rerun {seconds:.2f} s = {seconds / full_seconds:.1%} of the full run", flush=True)

    seconds, peak_mb, n_files = measure_aggregation(workdir, changed_path)
    figures["aggregation (s)"], figures["aggregation peak RSS (MB)"] = seconds, peak_mb
    print(f"aggregation of {n_files} score files: {seconds:.2f} s, peak RSS {peak_mb:.0f} MB", flush=True)
    return figures


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grid", choices=sorted(GRIDS), default="large-subset")
    parser.add_argument("--stride", type=int, default=8, help="large-subset: every stride-th n_components (default 8)")
    parser.add_argument("--fast-fits", action="store_true", help="n_init 1, max_iter 10: the workflow's own costs")
    parser.add_argument("--cores", type=int, default=os.cpu_count(), help="cores for every side (default: all)")
    parser.add_argument("--reruns", action="store_true", help="then measure reruns and aggregation")
    parser.add_argument("--skip-baselines", action="store_true", help="run the workflow side only")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="manymodels-scale-"))
    config = chosen_config(args.grid, args.stride, args.fast_fits)
    # One experiment throughout: the changed configuration of --reruns is written to another file.
    config.setdefault("name", "bench-scale")
    config_path = write_config(config, tmp / "config.yaml")
    metric_names = list(config["metrics"])
    figures: dict[str, float] = {}
    all_ok = True
    try:
        workdir = tmp / "workflow"
        seconds, n_jobs = run_workflow(config_path, args.cores, workdir)
        figures["workflow (s)"] = seconds
        print(f"workflow: {seconds:.2f} s ({n_jobs} Snakemake jobs)", flush=True)
        summary = results_dir(workdir, config_path) / "summary.parquet"
        if not args.skip_baselines:
            seconds, n_fits = run_baseline(config_path, args.cores, tmp / "joblib.parquet")
            figures["joblib (s)"] = seconds
            print(f"joblib.Parallel: {seconds:.2f} s ({n_fits} fits)", flush=True)
            compared = [("joblib", tmp / "joblib.parquet")]
            for name, same_fits in (("GridSearchCV", False), ("GridSearchCV same fits", True)):
                out = tmp / f"{name.replace(' ', '-')}.parquet"
                seconds, n_search_fits = run_gridsearch(config_path, args.cores, out, same_fits)
                figures[f"{name} (s)"] = seconds
                compared.append((name, out))
                print(f"{name}: {seconds:.2f} s ({n_search_fits} fits)", flush=True)
            for name, path in compared:
                ok, text = compare(summary, path, metric_names)
                all_ok &= ok
                print(f"workflow vs {name}: {'MATCH' if ok else 'DO NOT MATCH'}: {text}", flush=True)
            for name, _ in compared:
                figures[f"workflow/{name}"] = figures["workflow (s)"] / figures[f"{name} (s)"]
        if args.reruns:
            figures.update(measure_reruns(workdir, config, config_path, args.cores, figures["workflow (s)"]))
            all_ok &= bool(figures["one-config jobs exact"])
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    print()
    label = f"{args.grid}" + (f" (stride {args.stride})" if args.grid == "large-subset" else "")
    print(f"grid {label}{', fast fits' if args.fast_fits else ''}, --cores {args.cores}, {n_jobs} Snakemake jobs")
    goals = goals_for(args.grid, fast_fits=args.fast_fits)
    for name, value in figures.items():
        goal = goals.get(name)
        verdict = "" if goal is None else f"   goal {'<=' if goal != 1.0 and '/' in name else '<'} {goal}: " + (
            "met" if value <= goal else "NOT met")
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        print(f"  {name:<30}{shown:>10}{verdict}")
    print(f"  {'results match':<30}{'yes' if all_ok else 'NO':>10}")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
