"""Benchmark: peak memory and speed of one streaming fit as the data file grows.

For each size (default 1e5 and 1e6 rows; add 1e7 with --sizes), this writes reference 001's
synthetic data set in row groups, then fits one configuration (hashed interactions of degree 2,
SGD logistic regression) in a fresh process with the workflow's own task function, and prints the
peak resident memory of that process and rows per second. Peak memory must not grow with the file:
the file is read in batches, never whole. On the largest file it also compares the fitted
coefficients with the generator's true ones.

    python benchmarks/bench_streaming.py                  # 1e5 and 1e6 rows
    python benchmarks/bench_streaming.py --sizes 100000 1000000 10000000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# The configuration fitted: every input, squares and pairwise interactions, light regularisation.
CONFIG = {
    "estimator": [
        {"name": "hash", "estimator": "manymodels.task.hashing.HashingInteractions", "kwargs": {}},
        {"name": "clf", "estimator": "sklearn.linear_model.SGDClassifier",
         "kwargs": {"loss": "log_loss", "penalty": "elasticnet"}},
    ],
    "params": {"hash__features": ["x1", "x2", "x3"], "hash__degree": 2, "hash__n_features": 2**20,
               "clf__alpha": 1e-6, "clf__l1_ratio": 0.15, "clf__learning_rate": "adaptive", "clf__eta0": 0.01},
}
STREAMING = {"batch_size": 10_000, "drop_fraction": 0.7, "loss": "log_loss", "classes": [0, 1]}

# Runs in a fresh process, so its peak RSS is that of one streaming fit alone.
CHILD = """
import json, resource, sys, time
sys.path.insert(0, {workflow!r})
from manymodels.task.streaming import fit_stream_task
config, streaming, data, out = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
start = time.perf_counter()
fit_stream_task(model="sgd", config_id="bench", fold="stream", estimator=config["estimator"], kwargs={{}},
                params=config["params"], features=["x1", "x2", "x3"], label="y", data=data, streaming=streaming,
                out_model=out + ".joblib", out_meta=out + ".json")
seconds = time.perf_counter() - start
print(json.dumps({{"seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def generate(n_rows: int, path: Path) -> float:
    sys.path.insert(0, str(REPO / "workflow"))
    from manymodels.task.streaming import generate_logistic_interactions

    start = time.perf_counter()
    generate_logistic_interactions(n_rows=n_rows, random_state=0, row_group_size=100_000, out=str(path))
    return time.perf_counter() - start


def fit(data: Path, out: Path) -> dict:
    child = CHILD.format(workflow=str(REPO / "workflow"))
    result = subprocess.run([sys.executable, "-c", child, json.dumps(CONFIG), json.dumps(STREAMING), str(data), str(out)],
                            capture_output=True, text=True, check=True, env={"OPENBLAS_NUM_THREADS": "1", "PATH": ""})
    return json.loads(result.stdout.strip().splitlines()[-1])


def coefficient_table(model_path: Path):
    import joblib

    from manymodels.experiment.generators import TRUE_COEFFICIENTS

    pipeline = joblib.load(model_path)
    hasher, clf = pipeline.named_steps["hash"], pipeline.named_steps["clf"]
    rows = [("intercept", TRUE_COEFFICIENTS["intercept"], float(clf.intercept_[0]))]
    for term, true in TRUE_COEFFICIENTS.items():
        if term != "intercept":
            index, sign = hasher.term_index(term)
            rows.append((term, true, float(clf.coef_[0, index]) * sign))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="manymodels-stream-") as tmp:
        for n in args.sizes:
            data = Path(tmp) / f"data-{n}.parquet"
            gen_seconds = generate(n, data)
            measured = fit(data, Path(tmp) / f"model-{n}")
            meta = json.loads((Path(tmp) / f"model-{n}.json").read_text())
            results.append((n, data.stat().st_size / 1e6, gen_seconds, measured, meta))
            print(f"{n:>10} rows: file {data.stat().st_size / 1e6:8.1f} MB, fit {measured['seconds']:7.1f} s, "
                  f"{n / measured['seconds']:9.0f} rows/s, peak RSS {measured['peak_rss_mb']:7.1f} MB, "
                  f"progressive log loss {meta['progressive']['model']:.4f} (null {meta['progressive']['null']:.4f})",
                  flush=True)
        largest = args.sizes[-1]
        print(f"\nfitted vs true coefficients on {largest} rows:")
        table = coefficient_table(Path(tmp) / f"model-{largest}.joblib")
        for term, true, fitted in table:
            print(f"  {term:>10} true {true:6.3f}  fitted {fitted:7.3f}")
        print(f"  max |fitted - true| = {max(abs(f - t) for _, t, f in table):.3f}")
    peaks = [r[3]["peak_rss_mb"] for r in results]
    print(f"\npeak RSS ratio, largest / smallest file: {peaks[-1] / peaks[0]:.2f} "
          f"(file size ratio {args.sizes[-1] / args.sizes[0]:.0f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
