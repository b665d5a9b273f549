"""Benchmark: the full grid, fold racing and successive halving, side by side in one run.

Each runs the same experiment with ``snakemake --cores N`` in an empty temporary directory: the
large penguins grid (configs/penguins-large.yaml) thinned to every ``--stride``-th n_components
(stride 8: 200 configurations; the whole grid, stride 1, takes about 16 minutes on 2 cores for the
full grid alone), as is, with ``racing: {burn_in: 2, alpha: 0.05}`` and with ``halving: {factor: 3}``.
Printed per variant: wall time, fit time (the seconds of every fit it made, from the fits'
metadata: what the search spent on fitting, apart from the workflow's own costs), fit jobs, and
the configuration it chose with its mean CV score; then each variant's fit time and wall time as
a ratio of the full grid's (measured in the same run), and whether its choice is the full grid's or
practically equivalent to it: compared on the full grid's fold scores with the Bayesian correlated
t-test of manymodels.results.compare, with the config's rope.

The issue's goal: each chooses the full grid's configuration or one practically equivalent to it,
with at most 20% of the full grid's fit time.

    python benchmarks/bench_search.py --stride 8 --cores 2
    python benchmarks/bench_search.py --stride 40 --cores 2     # a quick check (40 configurations)
    python benchmarks/bench_search.py --stride 8 --n-splits 10  # racing has more folds to skip
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "workflow"))

from bench_default import REPO, load_config, results_dir, run_workflow  # noqa: E402
from bench_scale import write_config  # noqa: E402

VARIANTS = {"full grid": {}, "racing": {"racing": {"burn_in": 2, "alpha": 0.05}}, "halving": {"halving": {"factor": 3}}}
GOAL_FIT_SHARE = 0.20


def racing_floor(n_splits: int) -> float:
    """The least share of the full grid's fits fold racing can make: every configuration is fitted on
    its burn-in folds (the full grid fits each on every fold and on all rows)."""
    return VARIANTS["racing"]["racing"]["burn_in"] / (n_splits + 1)


def goal_applies(name: str, n_splits: int) -> bool:
    """Whether the fit-share goal can be reached by a variant at all (racing's burn-in is a floor)."""
    return name != "racing" or racing_floor(n_splits) <= GOAL_FIT_SHARE


def subset_config(stride: int) -> dict:
    config = load_config(REPO / "configs" / "penguins-large.yaml")
    spec = config["models"]["gmm"]["grid"]["n_components"]
    config["models"]["gmm"]["grid"]["n_components"] = list(range(spec["from"], spec["to"] + 1, stride))
    return config


def fit_seconds(results: Path) -> tuple[float, int]:
    """The seconds of every fit made (its metadata files), and how many fits."""
    metas = list((results / "fits").glob("*/*/fold-*.json"))
    return sum(json.loads(p.read_text()).get("fit_seconds") or 0.0 for p in metas), len(metas)


def chosen(results: Path) -> dict:
    import pandas as pd

    overall = json.loads((results / "selection.json").read_text())["overall"]
    summary = pd.read_parquet(results / "summary.parquet").set_index(["model", "config_id"])
    row = summary.loc[(overall["model"], overall["config_id"])]
    return {**overall, "mean": float(row["ars_mean"]), "se": float(row["ars_se_corrected"])}


def against_full(full: Path, choice: dict, reference: dict, rope: float) -> str:
    """Whether ``choice`` is the full grid's ``reference`` or practically equivalent to it, on the full
    grid's fold scores."""
    import pandas as pd

    from manymodels.results.compare import compare_differences, fold_matrix, size_ratio

    if choice["config_id"] == reference["config_id"]:
        return "the same configuration"
    scores = pd.read_parquet(full / "scores.parquet")
    matrix = fold_matrix(scores, "ars")
    a, b = matrix.loc[(choice["model"], choice["config_id"])], matrix.loc[(reference["model"], reference["config_id"])]
    test = compare_differences((a - b).dropna().to_numpy(), size_ratio(scores), rope)
    no_worse = test["p_equivalent"] + test["p_better"]
    verdict = "practically equivalent" if no_worse >= 0.95 else ("credibly worse" if test["p_worse"] >= 0.95 else
                                                                "undecided")
    return f"{verdict} (P(no worse by {rope:g}) {no_worse:.2f}, difference {test['mean_difference']:+.4f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stride", type=int, default=8, help="every stride-th n_components of 2..399 (default 8)")
    parser.add_argument("--cores", type=int, default=os.cpu_count(), help="cores (default: %(default)s)")
    parser.add_argument("--n-splits", type=int, default=5, help="CV folds of every variant (default 5)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    base = subset_config(args.stride)
    base["cv"]["n_splits"] = args.n_splits
    rope = base["selection"].get("rope", 0.0)
    n_configs = len(base["models"]["gmm"]["grid"]["n_components"]) * len(base["models"]["gmm"]["grid"]["covariance_type"])
    tmp = Path(tempfile.mkdtemp(prefix="bench-search-"))
    rows = {}
    for name, extra in VARIANTS.items():
        config = copy.deepcopy(base) | extra
        config["name"] = name.replace(" ", "-")
        workdir = tmp / config["name"]
        workdir.mkdir()
        path = write_config(config, workdir / f"{config['name']}.yaml")
        wall, jobs = run_workflow(path, args.cores, workdir / "run")
        results = results_dir(workdir / "run", path)
        seconds, fits = fit_seconds(results)
        rows[name] = {"wall": wall, "jobs": jobs, "fit_seconds": seconds, "fits": fits, "results": results,
                      "chosen": chosen(results)}
        print(f"{name}: {wall:.1f} s wall, {seconds:.1f} s of fitting in {fits} fits, {jobs} jobs", flush=True)
    full = rows["full grid"]
    print(f"\nLarge penguins grid, every {args.stride}th n_components: {n_configs} configurations, {args.n_splits}-fold CV, "
          f"{args.cores} cores; rope {rope:g} ars")
    print("| variant | wall (s) | fit time (s) | fit time / full grid | wall / full grid | fits | jobs | chosen "
          "| CV ars (± corrected SE) | against the full grid's choice |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    ok, applied = True, []
    for name, row in rows.items():
        c = row["chosen"]
        share = row["fit_seconds"] / full["fit_seconds"]
        verdict = against_full(full["results"], c, full["chosen"], rope)
        params = ", ".join(f"{k}={v}" for k, v in c["params"].items())
        print(f"| {name} | {row['wall']:.1f} | {row['fit_seconds']:.1f} | {share:.2f} | {row['wall'] / full['wall']:.2f} "
              f"| {row['fits']} | {row['jobs']} | {params} | {c['mean']:.4f} ± {c['se']:.3f} | {verdict} |")
        if name != "full grid" and goal_applies(name, args.n_splits):
            applied.append(name)
            ok &= share <= GOAL_FIT_SHARE and verdict.split(" (")[0] in ("the same configuration", "practically equivalent")
    for name in rows:
        if name != "full grid" and name not in applied:
            print(f"\n{name}: no verdict on the {GOAL_FIT_SHARE:.0%} goal: with {args.n_splits} folds its floor is "
                  f"{racing_floor(args.n_splits):.0%} of the full grid's fits (every configuration pays its "
                  f"{VARIANTS[name]['racing']['burn_in']} burn-in folds)")
    if applied:
        print(f"\ngoal ({', '.join(applied)}: fit time <= {GOAL_FIT_SHARE:.0%} of the full grid's, and the same or a "
              f"practically equivalent choice): {'met' if ok else 'NOT met'}")
    if args.keep:
        print(f"kept: {tmp}")
    else:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
