"""Command line: `manymodels experiments`, `manymodels results [EXPERIMENT] ...`, `manymodels verify
[EXPERIMENT] [--repair]` and `manymodels export skops|mlflow [EXPERIMENT] ...` (also `python -m manymodels`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from ..experiment.tasks import SCORE_COLUMNS
from .store import QueryError, Results, UnfinishedExperiment, experiment_table, leaderboard_so_far, query

FORMATS = ("table", "csv", "json", "markdown")
# Shown unless --columns says otherwise: the identity, parameters, metrics and outcome of a task.
HIDDEN_BY_DEFAULT = ({name for name, _ in SCORE_COLUMNS} - {"model", "config_id", "fold", "status", "error", "fit_seconds"}
                     | {"params"})


def _experiment_argument(command: argparse.ArgumentParser) -> None:
    command.add_argument("directory", nargs="?", default=None,
                         help="an experiment's name or results directory; default: the only experiment under results/")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="manymodels", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("experiments", help="list the experiments of this clone (results/<name>/)")
    listing.add_argument("--root", default="results", help="where experiments live (default: results)")
    listing.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    results = commands.add_parser("results", help="query the results of an experiment")
    results.add_argument("directory", nargs="?", default=None,
                         help="an experiment's name (penguins), its results directory (results/penguins, or a copy "
                              "of it anywhere); default: the only experiment under results/")
    results.add_argument("--where", help="pandas query, e.g. \"covariance_type == 'full' and ars > 0.8\"; folds are "
                                          "named '0', '1', ..., 'full' (fold == 2 means fold '2')")
    results.add_argument("--sort", help="comma-separated columns; a leading '-' sorts descending, e.g. -ars")
    results.add_argument("--columns", help="comma-separated columns to show")
    results.add_argument("--limit", type=int, help="show at most this many rows")
    results.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    results.add_argument("--summary", action="store_true", help="one row per configuration instead of per task")
    results.add_argument("--failed", action="store_true", help="failed tasks grouped by error")
    results.add_argument("--stale", action="store_true", help="list artifacts of configurations no longer in the config")
    results.add_argument("--prune", action="store_true", help="delete those stale artifacts (asks first)")
    results.add_argument("--yes", action="store_true", help="with --prune: do not ask")
    verify = commands.add_parser("verify", help="check every artifact of an experiment against what was written")
    _experiment_argument(verify)
    verify.add_argument("--repair", action="store_true",
                        help="remove the bad files and what was derived from them, for snakemake to redo")
    export = commands.add_parser("export", help="results that travel: models as skops files, or every "
                                                "configuration in MLflow")
    targets = export.add_subparsers(dest="target", required=True)
    skops = targets.add_parser("skops", help="copy an experiment with every model converted to a skops file (safe "
                                             "to open elsewhere); nothing is refitted")
    _experiment_argument(skops)
    skops.add_argument("--out", help="the folder to write (default: the results directory's path with -skops added, "
                                     "e.g. results/penguins-skops)")
    mlflow = targets.add_parser("mlflow", help="one MLflow parent run per experiment, one child run per "
                                               "configuration (exporting again updates them)")
    _experiment_argument(mlflow)
    mlflow.add_argument("--tracking-uri", help="where to log (default: MLflow's own: $MLFLOW_TRACKING_URI, else a "
                                               "local store, sqlite:///mlflow.db)")
    mlflow.add_argument("--experiment-name", help="the MLflow experiment (default: the experiment's name)")
    mlflow.add_argument("--trusted", action="append", default=None, metavar="TYPE",
                        help="a type to trust when loading the chosen model of a skops experiment (your own "
                             "estimator class, e.g. mine.MyClassifier); repeat for several")
    return parser


def select(frame: pd.DataFrame, *, where=None, sort=None, columns=None, limit=None) -> pd.DataFrame:
    """Filter, sort, project and cut a table as the command-line options say."""
    if where:
        try:
            frame = query(frame, where)
        except QueryError as exc:
            raise SystemExit(str(exc)) from None
    if sort:
        keys = [key.strip() for key in sort.split(",") if key.strip()]
        names = [key.lstrip("-") for key in keys]
        _check_columns(frame, names)
        frame = frame.sort_values(names, ascending=[not key.startswith("-") for key in keys], kind="stable")
    if columns:
        names = [c.strip() for c in columns.split(",") if c.strip()]
        _check_columns(frame, names)
        frame = frame[names]
    if limit is not None:
        frame = frame.head(limit)
    return frame


def _check_columns(frame: pd.DataFrame, names: list[str]) -> None:
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise SystemExit(f"unknown column(s) {', '.join(missing)}; available: {', '.join(frame.columns)}")


def render(frame: pd.DataFrame, fmt: str) -> str:
    """The table as an aligned table, CSV, JSON records or a Markdown table."""
    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt == "json":
        return frame.to_json(orient="records", indent=1) + "\n"
    if fmt == "markdown":
        cells = frame.astype(object).where(frame.notna(), "")
        lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
        lines += ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |" for row in cells.itertuples(index=False)]
        return "\n".join(lines) + "\n"
    return (frame.to_string(index=False) if len(frame) else "(no rows)") + "\n"


def experiments_command(args) -> int:
    table = experiment_table(args.root)
    if table.empty:
        print(f"no experiment has run under {args.root}/ yet", file=sys.stderr)
        return 1
    sys.stdout.write(render(table, args.format))
    return 0


def results_command(args) -> int:
    try:
        store = Results(args.directory)
    except UnfinishedExperiment as exc:
        return unfinished_command(exc, args)
    except FileNotFoundError as exc:
        raise SystemExit(str(exc)) from None
    if args.stale or args.prune:
        stale = store.stale()
        for path in stale:
            print(path)
        print(f"{len(stale)} stale artifact directories", file=sys.stderr)
        if args.prune and stale:
            if not args.yes and not _confirm(f"Delete these {len(stale)} directories?"):
                print("nothing deleted", file=sys.stderr)
                return 1
            store.prune()
            print(f"deleted {len(stale)} directories", file=sys.stderr)
        return 0
    if args.failed:
        table = store.failures()
    elif args.summary:
        table = store.summary
    else:
        table = store.tasks
        if not args.columns:
            table = table[[c for c in table.columns if c not in HIDDEN_BY_DEFAULT | {"model_file"}]]
    table = select(table, where=args.where, sort=args.sort, columns=args.columns, limit=args.limit)
    sys.stdout.write(render(table, args.format))
    return 0


def unfinished_command(unfinished: UnfinishedExperiment, args) -> int:
    """An unfinished experiment: say so, then the leaderboard of what is scored so far."""
    print(str(unfinished), file=sys.stderr)
    table, metric = leaderboard_so_far(unfinished.path)
    if metric:
        print(f"Leaderboard so far, by mean {metric} over the CV folds scored (not final: configurations may have "
              "different folds scored):", file=sys.stderr)
    table = select(table, where=args.where, sort=args.sort, columns=args.columns,
                   limit=args.limit if args.limit is not None else 10)
    sys.stdout.write(render(table, args.format))
    return 0


def verify_command(args) -> int:
    from .store import experiment_dir
    from .verify import describe, repair, verify

    try:
        root = experiment_dir(args.directory)
    except FileNotFoundError as exc:
        candidates = [Path(args.directory or ""), Path("results") / (args.directory or "")]
        root = next((p for p in candidates if args.directory and (p / "fits").is_dir()), None)
        if root is None:  # no tables, and not even fits: nothing to verify
            raise SystemExit(str(exc)) from None
    problems = verify(root)
    sys.stdout.write(describe(problems))
    if not problems:
        print(f"{root}: every artifact is as written", file=sys.stderr)
        return 0
    if not args.repair:
        print(f"{len(problems)} bad artifact(s); `manymodels verify --repair {root.name}` removes them and what was "
              "derived from them", file=sys.stderr)
        return 1
    removed = repair(root, problems)
    print(f"removed {len(removed)} files and folders; run the same snakemake command to redo exactly those jobs",
          file=sys.stderr)
    return 0


def export_command(args) -> int:
    from ..task.model_files import UntrustedTypes
    from .export import ExportError, export_mlflow, export_skops

    try:
        if args.target == "skops":
            done = export_skops(args.directory, args.out)
            print(f"{done['out']}: {done['converted']} models converted to skops files (checksums verified first); "
                  f"open it with Results({str(done['out'])!r}) or `manymodels results {done['out']}`", file=sys.stderr)
            return 0
        done = export_mlflow(args.directory, tracking_uri=args.tracking_uri, experiment_name=args.experiment_name,
                             trusted=args.trusted)
    except (ExportError, FileNotFoundError, UntrustedTypes) as exc:
        raise SystemExit(str(exc)) from None
    print(f"{done['tracking_uri']}: experiment {done['experiment_id']}, parent run {done['parent_run_id']} with "
          f"{len(done['child_run_ids'])} configuration runs", file=sys.stderr)
    return 0


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        print(f"{question} Not a terminal: pass --yes to confirm.", file=sys.stderr)
        return False
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def _attach_sort_values(argv: list[str]) -> list[str]:
    """Let `--sort -ars` mean descending ars: argparse would read '-ars' as an option."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] == "--sort" and i + 1 < len(argv):
            out.append(f"--sort={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(_attach_sort_values(sys.argv[1:] if argv is None else argv))
    commands = {"experiments": experiments_command, "results": results_command, "verify": verify_command,
                "export": export_command}
    return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
