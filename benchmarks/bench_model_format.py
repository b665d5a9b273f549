"""Benchmark: joblib against skops model files, on the models the shipped experiments kept.

For every kept model of each experiment named (run it first: `snakemake --cores 2 --configfile ...`),
this loads the model once, then writes and reads it in both formats with the package's own writer
and reader (the workflow's: joblib with compress=3, skops deflated; each read checks the SHA-256
first, and a skops read checks the file's types as `Results.load_model` does), the two formats one
after the other for each model, in the same process (one untimed round first, for the imports). It
prints, per experiment and model family, the median write and read time per model and the mean
bytes per model, then per experiment the totals over its kept models, and the ratios skops/joblib.

    python benchmarks/bench_model_format.py                                   # penguins, tournament-classification
    python benchmarks/bench_model_format.py --experiments penguins --per-family 10
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow"))

from manymodels.task.io import read_checked_json, task_identity  # noqa: E402
from manymodels.task.model_files import FORMATS, load_checked_model, write_model  # noqa: E402

DEFAULT_EXPERIMENTS = ["penguins", "tournament-classification"]


def kept_models(results: Path, per_family: int | None) -> list[Path]:
    """The experiment's kept joblib models (fits/ and models/), at most ``per_family`` of each family
    (spread over its files) when given."""
    files = sorted(results.glob("fits/*/*/fold-*.joblib")) + sorted(results.glob("models/*/*/fold-*.joblib"))
    if per_family is None:
        return files
    by_family: dict[str, list[Path]] = {}
    for path in files:
        by_family.setdefault(path.parent.parent.name, []).append(path)
    chosen = []
    for paths in by_family.values():
        step = max(1, len(paths) // per_family)
        chosen += paths[::step][:per_family]
    return chosen


def measure(model, folder: Path) -> dict:
    """Write and read ``model`` in each format: seconds and bytes."""
    out = {}
    for fmt in FORMATS:
        path = folder / f"model.{fmt}"
        start = time.perf_counter()
        record = write_model(model, path)
        written = time.perf_counter()
        load_checked_model(path, expected=record["model_sha256"], trust_file=False)
        read = time.perf_counter()
        out[fmt] = {"write": written - start, "read": read - written, "bytes": record["model_bytes"]}
        path.unlink()
    return out


def run(experiment: str, per_family: int | None, folder: Path) -> list[dict]:
    results = REPO / "results" / experiment
    files = kept_models(results, per_family)
    if not files:
        raise SystemExit(f"{results}: no kept joblib models; run `snakemake --cores 2 --configfile ...` for "
                         f"{experiment} first")
    rows = []
    warmed = False
    for path in files:
        meta = path.with_suffix(".json")
        model = load_checked_model(path, expected=read_checked_json(meta, **task_identity(meta))["model_sha256"])
        if model is None:  # a failed fit keeps None: nothing to compare
            continue
        if not warmed:  # the first write and read import skops and joblib's compressor: not timed
            measure(model, folder)
            warmed = True
        rows.append({"experiment": experiment, "family": path.parent.parent.name, "type": type(model).__name__,
                     **{f"{fmt}_{k}": v for fmt, m in measure(model, folder).items() for k, v in m.items()}})
    return rows


def summarise(rows: list[dict], keys: list[str], total: bool = False) -> list[list]:
    """One line per group of ``keys``: per model, the median write and read time (ms) and the mean
    bytes; with ``total``, the sums over the group's models (seconds, bytes) instead, which a mix of
    small and large models (an experiment's families) needs: its median says little."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in keys), []).append(row)
    table = []
    for key, members in groups.items():
        def seconds(column):
            values = [r[column] for r in members]
            return sum(values) if total else statistics.median(values) * 1000

        def size(fmt):
            values = [r[f"{fmt}_bytes"] for r in members]
            return sum(values) if total else statistics.mean(values)

        jw, jr, sw, sr = seconds("joblib_write"), seconds("joblib_read"), seconds("skops_write"), seconds("skops_read")
        jb, sb = size("joblib"), size("skops")
        table.append([*key, len(members), f"{jw:.2f}", f"{sw:.2f}", f"{sw / jw:.1f}x", f"{jr:.2f}", f"{sr:.2f}",
                      f"{sr / jr:.1f}x", f"{jb:,.0f}", f"{sb:,.0f}", f"{sb / jb:.2f}x"])
    return table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", nargs="+", default=DEFAULT_EXPERIMENTS,
                        help=f"experiments under results/ (default: {' '.join(DEFAULT_EXPERIMENTS)})")
    parser.add_argument("--per-family", type=int, default=None,
                        help="at most this many models of each family (default: every kept model)")
    args = parser.parse_args(argv)
    from tabulate import tabulate

    with tempfile.TemporaryDirectory() as tmp:
        rows = [row for name in args.experiments for row in run(name, args.per_family, Path(tmp))]
    ratio = "skops/joblib"
    per_model = ["models", "write ms joblib", "write ms skops", ratio, "read ms joblib", "read ms skops", ratio,
                 "bytes joblib", "bytes skops", ratio]
    print("Per model: median write and read time (ms; each read checks the SHA-256 first, a skops read also the "
          "file's types), mean bytes.")
    print(tabulate(summarise(rows, ["experiment", "family"]), headers=["experiment", "family", *per_model],
                   disable_numparse=True))
    print()
    print("Every kept model of the experiment: total write and read time (s), total bytes.")
    totals = [h.replace(" ms ", " s ") for h in per_model]
    print(tabulate(summarise(rows, ["experiment"], total=True), headers=["experiment", *totals],
                   disable_numparse=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
