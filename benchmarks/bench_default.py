"""Benchmark: the whole manymodels workflow against a hand-written joblib loop doing the same fits.

In one invocation, and on the same number of cores, this measures

(a) the workflow end to end: ``python -m snakemake -s <repo>/Snakefile --configfile <config>
    --cores N`` in a fresh, empty temporary working directory (nothing is copied; the default
    profile in <repo>/profiles/default is still picked up, as Snakemake looks for it next to the
    Snakefile). The wall time of the whole subprocess is timed: start-up, DAG, every fit and score
    job, aggregation, plots and the report.
(b) a baseline: a fresh Python process (so its imports count, as the workflow's do) that loads
    the data the same way (features + label, complete cases), expands the same grids, and runs
    one ``joblib.Parallel(n_jobs=N)`` loop over every (configuration, fold) -- the CV folds and a
    'full' fit on all rows -- fitting and computing the configured metrics. It writes each
    configuration's CV means to a Parquet file.
(c) a correctness check: every ``<metric>_mean`` column of the workflow's results/summary.parquet
    must match the baseline's mean to 1e-9 (absolute) for every configuration, joined on the
    model and hyperparameter columns. The script exits non-zero if they do not match.

Both sides cap BLAS/OpenMP to one thread per worker: the workflow's pool does it itself; the
baseline sets the thread variables before numpy loads and runs loky with inner_max_num_threads=1.

Run (the target in the issue is workflow/baseline <= 1.5 on the default grid):

    python benchmarks/bench_default.py --cores 2
    python benchmarks/bench_default.py --cores 2 --repeat 3 --config path/to/config.yaml --keep
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE_ROOT = REPO / "workflow"  # holds the importable manymodels package
TOLERANCE = 1e-9
TARGET_RATIO = 1.5
THREAD_VARIABLES = (
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS",
)


# --------------------------------------------------------------------------------------------
# Config


def load_config(path: Path) -> dict:
    import yaml

    with open(path) as fh:
        return yaml.safe_load(fh)


def config_for_workdir(config_path: Path, workdir: Path) -> Path:
    """The config file to hand to the workflow run in ``workdir``.

    The workflow reads a relative data path from its working directory; a config whose relative
    data path exists from here gets a copy in ``workdir`` with that path made absolute (data made in
    memory by a generator, or a named dataset, need none).
    """
    config = load_config(config_path)
    source = config["data"]["source"]
    if not isinstance(source, str) or source == "penguins" or Path(source).is_absolute() or not Path(source).exists():
        return config_path
    import yaml

    config["data"]["source"] = str(Path(source).resolve())
    resolved = workdir / f"resolved-{config_path.name}"
    resolved.write_text(yaml.safe_dump(config, sort_keys=False))
    return resolved


def results_dir(workdir: Path, config_path: Path) -> Path:
    """Where the workflow run in ``workdir`` with ``config_path`` writes: results/<experiment name>/."""
    sys.path.insert(0, str(PACKAGE_ROOT))
    from manymodels.experiment.layout import experiment_name

    return workdir / "results" / experiment_name(load_config(config_path), str(config_path))


# --------------------------------------------------------------------------------------------
# (a) The workflow


def snakemake_command(config_path: Path, cores: int, *extra: str) -> list[str]:
    """The workflow's command line, as a user types it (the default profile applies)."""
    return [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--configfile", str(config_path),
            "--cores", str(cores), *extra]


def timed_snakemake(workdir: Path, command: list[str], log_name: str, **env: str) -> tuple[float, str]:
    """Run ``command`` in ``workdir`` with its output in ``log_name``; (wall seconds, output).
    Exits with the log's last lines if it fails."""
    log = workdir / log_name
    with open(log, "w") as fh:
        start = time.perf_counter()
        proc = subprocess.run(command, cwd=workdir, stdout=fh, stderr=subprocess.STDOUT, env={**os.environ, **env})
        seconds = time.perf_counter() - start
    text = log.read_text()
    if proc.returncode != 0:
        sys.exit(f"snakemake failed (exit {proc.returncode}); last lines of {log}:\n" + "\n".join(text.splitlines()[-40:]))
    return seconds, text


def run_workflow(config_path: Path, cores: int, workdir: Path) -> tuple[float, int | None]:
    """Run the whole workflow in ``workdir``; return (wall seconds, number of Snakemake jobs)."""
    workdir.mkdir(parents=True)
    seconds, text = timed_snakemake(workdir, snakemake_command(config_for_workdir(config_path, workdir), cores),
                                    "snakemake.log")
    if "profiles/default" not in text:
        print(f"warning: the default profile does not seem to be in use (see {workdir / 'snakemake.log'})",
              file=sys.stderr)
    steps = re.findall(r"(\d+) of (\d+) (?:steps|jobs)", text)
    return seconds, (int(steps[-1][1]) if steps else None)


# --------------------------------------------------------------------------------------------
# (b) The baseline: runs in its own Python process (see run_baseline)


def load_data(config: dict):
    """Features (a DataFrame) and label (an array) of the source, complete cases only: (X, y)."""
    import pandas as pd

    data = config["data"]
    source = data["source"]
    if source == "penguins":
        import importlib.resources

        source = str(importlib.resources.files("palmerpenguins").joinpath("data/penguins.csv"))
    columns = data["features"] + ([data["label"]] if data.get("label") else [])
    if str(source).lower().endswith(".csv"):
        frame = pd.read_csv(source, usecols=columns)[columns]
    else:
        frame = pd.read_parquet(source, columns=columns)
    frame = frame.dropna().reset_index(drop=True)
    # A DataFrame, as the workflow fits on: the same memory layout gives the same floating point.
    X = frame[data["features"]].astype(float)
    y = frame[data["label"]].to_numpy() if data.get("label") else None
    return X, y


def make_folds(cv: dict, X, y) -> list[tuple[str, object, object]]:
    """(name, train indices, test indices) for each CV fold, then 'full' (all rows, no test rows)."""
    import numpy as np
    import sklearn.model_selection as ms

    splitter_cls = getattr(ms, cv.get("splitter", "KFold"))
    options = {"n_splits": cv["n_splits"], "shuffle": cv.get("shuffle", False)}
    if options["shuffle"]:
        options["random_state"] = cv.get("random_state")
    folds = [(str(i), train, test) for i, (train, test) in enumerate(splitter_cls(**options).split(X, y))]
    everything = np.arange(len(X))
    return folds + [("full", everything, everything[:0])]


def configurations(config: dict) -> list[dict]:
    """One record per distinct (model, grid point): model, estimator path, constructor options."""
    import inspect

    from manymodels.experiment.config import import_object
    from manymodels.experiment.grid import expand_grid
    from manymodels.experiment.tasks import config_id, derive_seed

    records = []
    for model, spec in config["models"].items():
        kwargs = spec.get("kwargs", {})
        accepts_seed = "random_state" in inspect.signature(
            import_object(spec["estimator"], key=model, config_file="")).parameters
        seen = set()
        for params in expand_grid(spec["grid"], key=model):
            key = json.dumps(params, sort_keys=True)
            if key in seen:
                continue
            seen.add(key)
            options = {**kwargs, **params}
            if accepts_seed and "random_state" not in options:  # as the workflow seeds an unseeded fit
                options["random_state"] = derive_seed(config_id(spec["estimator"], kwargs, params))
            records.append({"model": model, "estimator": spec["estimator"], "options": options, "params": params})
    return records


def fit_and_score(estimator: str, options: dict, metrics: dict, X_train, y_train, X_test, y_test) -> dict:
    """Fit one (configuration, fold) and compute every metric; a failure gives NaN scores."""
    import importlib
    import math
    import warnings

    def resolve(path):
        module, _, attr = path.rpartition(".")
        return getattr(importlib.import_module(module), attr)

    scores = {name: math.nan for name in metrics}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            est = resolve(estimator)(**options).fit(X_train, y_train)
        except Exception:
            return scores
        for name, spec in metrics.items():
            X, y = (X_test, y_test) if spec["on"] == "test" else (X_train, y_train)
            if len(X) == 0:
                continue
            try:
                if "function" in spec:
                    scores[name] = float(resolve(spec["function"])(y, getattr(est, spec["response"])(X)))
                else:
                    method = getattr(est, spec["method"])
                    scores[name] = float(method(X, y) if spec["needs_y"] else method(X))
            except Exception:
                pass
    return scores


def baseline(config_path: str, cores: int, out: str) -> None:
    """The baseline proper (in its own process): every fit and score in one joblib.Parallel loop."""
    import numpy as np
    import pandas as pd
    from joblib import Parallel, delayed, parallel_config

    from manymodels.experiment.config import metric_specs

    config = load_config(Path(config_path))
    metrics = metric_specs(config["metrics"])
    X, y = load_data(config)
    folds = make_folds(config["cv"], X, y)
    configs = configurations(config)
    pick = (lambda idx: y[idx]) if y is not None else (lambda idx: None)
    tasks = [(c, name, train, test) for c in configs for name, train, test in folds]
    with parallel_config(backend="loky", inner_max_num_threads=1):
        results = Parallel(n_jobs=cores)(
            delayed(fit_and_score)(c["estimator"], c["options"], metrics, X.iloc[train], pick(train), X.iloc[test],
                                   pick(test))
            for c, name, train, test in tasks
        )
    rows = []
    for i, c in enumerate(configs):  # results come in task order: configurations x folds
        per_fold = results[i * len(folds) : (i + 1) * len(folds)]
        cv = [scores for (name, _, _), scores in zip(folds, per_fold) if name != "full"]
        row = {"model": c["model"], **c["params"]}
        for metric in metrics:
            values = np.array([s[metric] for s in cv], dtype=float)
            values = values[~np.isnan(values)]
            row[f"{metric}_mean"] = float(values.mean()) if len(values) else float("nan")
        rows.append(row)
    table = pd.DataFrame(rows)
    for column in {p for c in configs for p in c["params"]}:
        # As in summary.parquet: a parameter mixing types (say 'sqrt' and 0.5) is stored as JSON text.
        kinds = {type(v) for c in configs for k, v in c["params"].items() if k == column}
        if len(kinds) > 1 and not kinds <= {int, float}:
            table[column] = [json.dumps(c["params"][column]) if column in c["params"] else None for c in configs]
    table.to_parquet(out, index=False)
    Path(out).with_suffix(".json").write_text(json.dumps({"n_fits": len(tasks), "n_configs": len(configs)}))


def run_fresh(code: str, out: Path, what: str, *, one_thread: bool = True) -> tuple[float, int]:
    """Run ``code`` in a fresh interpreter (BLAS and OpenMP at one thread unless ``one_thread`` is
    False, these benchmarks and the package importable) that writes ``out``; return (wall seconds,
    number of fits it reports)."""
    threads = {name: "1" for name in THREAD_VARIABLES} if one_thread else {}
    env = {**os.environ, **threads, "PYTHONWARNINGS": "ignore"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), str(Path(__file__).resolve().parent),
                                                      env.get("PYTHONPATH")]))
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], env=env)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{what} failed (exit {proc.returncode})")
    return seconds, json.loads(out.with_suffix(".json").read_text())["n_fits"]


def run_baseline(config_path: Path, cores: int, out: Path) -> tuple[float, int]:
    """Run ``baseline`` in a fresh interpreter; return (wall seconds, number of fits)."""
    code = f"from bench_default import baseline; baseline({str(config_path)!r}, {cores}, {str(out)!r})"
    return run_fresh(code, out, "baseline")


# --------------------------------------------------------------------------------------------
# (c) The correctness check


def compare(summary_path: Path, baseline_path: Path, metric_names: list[str]) -> tuple[bool, str]:
    """Match the workflow's CV means against the baseline's, per configuration; (ok, description)."""
    import numpy as np
    import pandas as pd

    summary = pd.read_parquet(summary_path)
    base = pd.read_parquet(baseline_path)
    means = [f"{m}_mean" for m in metric_names]
    keys = [c for c in base.columns if c not in means]  # model and the hyperparameter columns
    merged = summary[keys + means].merge(base, on=keys, how="outer", suffixes=("_wf", "_base"), indicator=True)
    problems = []
    unmatched = merged[merged["_merge"] != "both"]
    if len(unmatched):
        problems.append(f"{len(unmatched)} configurations are on one side only:\n{unmatched[keys + ['_merge']]}")
    both = merged[merged["_merge"] == "both"]
    worst = 0.0
    for column in means:
        a, b = both[f"{column}_wf"].to_numpy(float), both[f"{column}_base"].to_numpy(float)
        nan_mismatch = np.isnan(a) != np.isnan(b)
        diff = np.where(np.isnan(a) | np.isnan(b), 0.0, np.abs(a - b))
        worst = max(worst, float(diff.max(initial=0.0)))
        bad = nan_mismatch | (diff > TOLERANCE)
        if bad.any():
            shown = both.loc[bad, keys + [f"{column}_wf", f"{column}_base"]]
            problems.append(f"{column}: {int(bad.sum())} of {len(both)} configurations differ:\n{shown.to_string()}")
    text = f"{len(both)} configurations x {len(means)} metrics compared, max |difference| {worst:.3g}"
    return not problems, "\n".join([text, *problems])


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=REPO / "config.yaml", help="experiment config (default: %(default)s)")
    parser.add_argument("--cores", type=int, default=os.cpu_count(), help="cores for both sides (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each side; min and all values are reported")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    config_path = args.config.resolve()
    metric_names = list(load_config(config_path)["metrics"])

    tmp = Path(tempfile.mkdtemp(prefix="manymodels-bench-"))
    workflow_times, baseline_times, all_ok = [], [], True
    try:
        for i in range(args.repeat):
            seconds, n_jobs = run_workflow(config_path, args.cores, tmp / f"workflow-{i}")
            workflow_times.append(seconds)
            print(f"run {i + 1}/{args.repeat}: workflow {seconds:.2f} s ({n_jobs} Snakemake jobs)", flush=True)
            out = tmp / f"baseline-{i}.parquet"
            seconds, n_fits = run_baseline(config_path, args.cores, out)
            baseline_times.append(seconds)
            print(f"run {i + 1}/{args.repeat}: baseline {seconds:.2f} s ({n_fits} fits)", flush=True)
            ok, text = compare(results_dir(tmp / f"workflow-{i}", config_path) / "summary.parquet", out, metric_names)
            all_ok &= ok
            print(f"run {i + 1}/{args.repeat}: results {'MATCH' if ok else 'DO NOT MATCH'}: {text}", flush=True)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    ratio = min(workflow_times) / min(baseline_times)
    fmt = lambda values: ", ".join(f"{v:.2f}" for v in values)
    print()
    print(f"config {config_path}, --cores {args.cores}, {n_fits} fits")
    print(f"{'':<26}{'min':>9}  all")
    print(f"{'workflow wall (s)':<26}{min(workflow_times):>9.2f}  {fmt(workflow_times)}")
    print(f"{'baseline wall (s)':<26}{min(baseline_times):>9.2f}  {fmt(baseline_times)}")
    print(f"{'ratio workflow/baseline':<26}{ratio:>9.2f}  (target <= {TARGET_RATIO})")
    print(f"{'fits':<26}{n_fits:>9}")
    print(f"{'results match (1e-9)':<26}{'yes' if all_ok else 'NO':>9}")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
