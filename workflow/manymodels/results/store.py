"""Query a results directory: every task as one DataFrame, models loaded lazily and verified.

Opening a store reads two Parquet tables and nothing else; a model is loaded only when asked
for, after its SHA-256 is checked against the one recorded when it was written. Every path is
relative to the results directory, so a copied or moved directory works the same.

Joblib files are pickles, which run code when loaded: open only results you trust. Skops files
(``model_format: skops``, or ``manymodels export skops``) load only types from scikit-learn, NumPy
and SciPy unless ``trusted=[...]`` names others (see :mod:`manymodels.task.model_files`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

from ..experiment.layout import RESULTS_ROOT, experiments, plan_record, run_started_record
from ..experiment.suggest import with_hint
from ..task.io import IntegrityError, read_checked_json, read_json, task_identity
from ..task.model_files import SUFFIXES, UntrustedTypes, load_checked_model, suffix_of

__all__ = ["IntegrityError", "Results", "UnfinishedExperiment", "UntrustedTypes", "experiment_dir", "experiment_table",
           "leaderboard_so_far", "model_file", "progress"]

KEPT_MODELS_DIR = "models"


def model_file(model: str, config_id: str, fold: str, suffix: str = ".joblib") -> str:
    """Path of a task's model file, relative to the results directory (``suffix``: the format's)."""
    return f"fits/{model}/{config_id}/fold-{fold}{suffix}"


class UnfinishedExperiment(FileNotFoundError):
    """An experiment whose run stopped (or still runs) before it wrote its tables: ``path`` is its
    results directory, :func:`progress` and :func:`leaderboard_so_far` say what is there."""

    def __init__(self, path: Path):
        self.path = path
        done = progress(path)
        planned = f" of {done['planned']} planned" if done["planned"] else ""
        super().__init__(f"{path}: unfinished: its last run stopped (or is still running) before it wrote the tables; "
                         f"{done['scored']}{planned} fits scored so far. Rerun the same snakemake command to finish it; "
                         "`manymodels results` shows the leaderboard of what is scored so far.")


def experiment_dir(where: str | Path | None = None, *, root: str | Path = RESULTS_ROOT) -> Path:
    """The results directory of an experiment: a directory (``results/penguins``, or a copy of it
    anywhere), an experiment's name (``penguins``: ``results/penguins``), or, when ``where`` is
    None, the only experiment under ``root``. An experiment with fits but no tables yet raises
    :class:`UnfinishedExperiment`."""
    if where is not None:
        path = Path(where)
        if (path / "scores.parquet").is_file() or path.is_dir() and (path / "run.json").is_file():
            return path
        named = Path(root) / str(where)
        if (named / "scores.parquet").is_file():
            return named
        for candidate in (path, named):
            if candidate.is_dir() and ((candidate / "scores").is_dir() or (candidate / "fits").is_dir()):
                raise UnfinishedExperiment(candidate)
        found = [p.name for p in experiments(root)]
        hint = with_hint("", str(where), found).lstrip("; ") if found else f"no experiment has finished under {root}/ yet"
        raise FileNotFoundError(f"{where}: no experiment results here (no scores.parquet); {hint}")
    found = experiments(root)
    if len(found) == 1:
        return found[0]
    if not found:
        raise FileNotFoundError(f"no experiment has finished under {root}/ yet: run snakemake first")
    raise FileNotFoundError(f"{root}/ holds {len(found)} experiments ({', '.join(p.name for p in found)}): name one")


class Results:
    """The results of one experiment: ``Results("penguins")`` or ``Results("results/penguins")``
    (also a copy of that directory on another machine); ``Results()`` when there is only one."""

    def __init__(self, path: str | Path | None = None):
        self.path = experiment_dir(path)
        if not (self.path / "scores.parquet").is_file():
            if (self.path / "scores").is_dir() or (self.path / "fits").is_dir():
                raise UnfinishedExperiment(self.path)
            raise FileNotFoundError(f"{self.path}: no scores.parquet here; is this a manymodels results directory?")
        self._tasks: pd.DataFrame | None = None
        self._model_format: str | None = None

    @property
    def model_format(self) -> str:
        """The format of the experiment's model files: 'joblib' or 'skops' (as selection.json records
        it; for results written before it did, as the files say)."""
        if self._model_format is None:
            try:
                recorded = self.selection.get("model_format")
            except (OSError, ValueError):
                recorded = None
            if recorded in SUFFIXES:
                self._model_format = recorded
            else:
                found = (next(self.path.glob(f"{kind}/*/*/fold-*.skops"), None) for kind in ("fits", KEPT_MODELS_DIR))
                self._model_format = "skops" if any(p is not None for p in found) else "joblib"
        return self._model_format

    @property
    def tasks(self) -> pd.DataFrame:
        """One row per (configuration, fold): parameters, metrics, status, timings and ``model_file``."""
        if self._tasks is None:
            tasks = pd.read_parquet(self.path / "scores.parquet")
            suffix = suffix_of(self.model_format)
            tasks["model_file"] = [model_file(*key, suffix) for key in zip(tasks["model"], tasks["config_id"],
                                                                            tasks["fold"])]
            self._tasks = tasks
        return self._tasks

    @property
    def summary(self) -> pd.DataFrame:
        """One row per configuration: mean, std and standard error over folds, counts, full-fit values."""
        return pd.read_parquet(self.path / "summary.parquet")

    @property
    def cv_results(self) -> pd.DataFrame:
        """scikit-learn's ``GridSearchCV.cv_results_`` as a table, one row per configuration of every
        family, with our extras (see :mod:`manymodels.results.cv_results`)."""
        path = self.path / "cv_results.parquet"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: not written yet; run snakemake for this experiment again to write it")
        return pd.read_parquet(path)

    @property
    def selection(self) -> dict:
        """selection.json: the best configuration of each family by each metric, the chosen ones, the winner."""
        return read_json(self.path / "selection.json")

    def best(self, metric: str | None = None, family: str | None = None) -> pd.Series:
        """A chosen configuration: its row of :attr:`summary` (``params`` as a dict, as scikit-learn's
        ``best_params_``), with ``by`` and ``value`` (the column and value it was chosen by),
        ``model_file`` (its fit on every training row, relative to the results directory; only chosen
        configurations are refitted, unless ``refit: all`` or an in-sample metric fits every one) and
        ``heldout_<metric>`` for each held-out score it has.

        Without arguments, the overall winner; ``family=`` that family's chosen configuration (by
        the selection rule, which may prefer a simpler configuration equivalent to the best);
        ``metric=`` the configuration with the best value of that metric (mean CV score, or the
        in-sample value), overall or within ``family``. KeyError for an unknown family or metric.
        """
        entry = self._selection_entry(metric, family)
        summary = self.summary
        row = summary[(summary["model"] == entry["model"]) & (summary["config_id"] == entry["config_id"])].iloc[0]
        row = row.astype(object)
        row["params"] = json.loads(row["params"])  # a dict, as best_params_ (the exact values of the config)
        extra = {"by": entry["by"], "value": entry["value"], "model_file": entry["model_file"]}
        extra.update({f"heldout_{m}": v for m, v in self._heldout_scores(entry).items()})
        return pd.concat([row, pd.Series(extra, dtype=object)])

    def best_estimator(self, family: str | None = None, trusted: list[str] | None = None):
        """The chosen configuration (the overall winner, or ``family``'s) fitted on every training
        row, as :meth:`best` names it (``model_file``), loaded after its SHA-256 is checked as
        :meth:`load_model` does (``trusted``: as there)."""
        return self.load_model(self._selection_entry(None, family)["model_file"], trusted=trusted)

    def _selection_entry(self, metric: str | None, family: str | None) -> dict:
        choices = self.selection
        families = choices["models"]
        if family is not None and family not in families:
            raise KeyError(with_hint(f"no model family '{family}' in {self.path}", family, families))
        if metric is not None:
            known = {name for f in families.values() for name in f["best"]}
            if metric not in known:
                raise KeyError(with_hint(f"no metric '{metric}' in {self.path}", metric, known))
        if metric is None:
            entry = choices["overall"] if family is None else families[family]["chosen"]
        elif family is not None:
            entry = families[family]["best"][metric]
        else:
            entry = self._best_of_families([f["best"][metric] for f in families.values()], metric)
        if entry is None:
            what = f"family '{family}'" if family is not None else "any family"
            raise LookupError(f"{self.path}: no configuration of {what} has a value of "
                              f"{metric or choices['selection_metric']}; `manymodels results {self.path} --failed` "
                              "lists the failures")
        return entry

    def _best_of_families(self, entries: list[dict | None], metric: str) -> dict | None:
        """The best of the families' best configurations by ``metric``: the smallest rank in
        :attr:`cv_results` (which knows whether greater is better), the first family on a tie."""
        entries = [e for e in entries if e]
        if len(entries) < 2:
            return entries[0] if entries else None
        table = self.cv_results
        column = f"rank_test_{metric}" if f"rank_test_{metric}" in table else f"rank_train_{metric}"
        ranks = table.set_index(["model", "config_id"])[column]
        return min(entries, key=lambda e: ranks[(e["model"], e["config_id"])])

    def _heldout_scores(self, entry: dict) -> dict:
        """Held-out scores of a configuration: in selection.json (refit: all), else those of its refit
        after selection (models/<model>/<config_id>/fold-full.parquet), if there is a held-out set."""
        if entry.get("test"):
            return entry["test"]
        refit = self.path / KEPT_MODELS_DIR / entry["model"] / entry["config_id"] / "fold-full.parquet"
        if not refit.is_file():
            return {}
        from .selection import with_refit_scores

        return with_refit_scores({"models": {}, "overall": dict(entry)}, [str(refit)])["overall"]["test"]

    def query(self, where: str | None = None) -> pd.DataFrame:
        """Tasks matching a pandas query expression, e.g. ``"covariance_type == 'full' and ars > 0.8"``.

        Folds are named '0', '1', ..., 'full' (text): a number compared with ``fold`` stands for
        its name (``fold == 2`` is ``fold == '2'``). A mistake raises :class:`QueryError`, naming
        the expression and the columns there are."""
        return self.tasks if not where else query(self.tasks, where)

    def failures(self) -> pd.DataFrame:
        """Failed tasks grouped by model, error type and message."""
        from .aggregate import failures

        return failures(self.tasks)

    def load_model(self, task, trusted: list[str] | None = None):
        """Load a fitted model: of a task (a row of :attr:`tasks`), of a chosen configuration (what
        :meth:`best` returns: its fit on every training row), or the one a ``model_file`` path
        names (relative to the results directory, as the tables, selection.json and nested.json give it).

        The file's SHA-256 must equal the recorded one: a modified, truncated or missing file
        raises IntegrityError naming it, and is never loaded. A skops file (model_format: skops)
        loads only types from scikit-learn, NumPy and SciPy, and those ``trusted`` names (e.g. your
        own estimator class, ``trusted=["mine.MyClassifier"]``): any other raises UntrustedTypes,
        naming them. A joblib file is unpickled, which runs code: open only results you trust.
        """
        if isinstance(task, str) or "fold" not in task:
            relative = task if isinstance(task, str) else task["model_file"]
            if relative is None or pd.isna(relative):
                raise LookupError(f"{self.path}: this configuration was not fitted on every training row (only the "
                                  "chosen configurations are refitted, unless refit: all or an in-sample metric)")
            rows = self.tasks[self.tasks["model_file"] == relative]
            if len(rows):
                task = rows.iloc[0]
            elif (self.path / relative).with_suffix(".json").is_file():  # a refit after selection: in no table
                path, meta = self.path / relative, (self.path / relative).with_suffix(".json")
                if not path.is_file():
                    raise IntegrityError(f"{path}: model file is missing (deleted?)")
                return self._load(path, read_checked_json(meta, **task_identity(meta)).get("model_sha256"), trusted)
            else:
                raise KeyError(f"{relative}: no such model in {self.path} (no task in scores.parquet, no fit record)")
        path, expected = self._model_path_and_checksum(task)
        return self._load(path, expected, trusted)

    @staticmethod
    def _load(path: Path, expected: str | None, trusted: list[str] | None):
        if expected is None or pd.isna(expected):
            raise IntegrityError(f"{path}: no checksum was recorded for this model; refusing to load it")
        return load_checked_model(path, expected=expected, trusted=trusted, trust_file=False)

    def _model_path_and_checksum(self, task) -> tuple[Path, str | None]:
        """The task's model file and its recorded SHA-256.

        Under fits/ the checksum is the one in the score table; a chosen model kept under
        models/ (keep_models: best) was refitted, and its own metadata file records its checksum.
        """
        relative = model_file(task["model"], task["config_id"], task["fold"], suffix_of(self.model_format))
        if (self.path / relative).is_file():
            return self.path / relative, task["model_sha256"]
        kept = self.path / KEPT_MODELS_DIR / relative.removeprefix("fits/")
        if kept.is_file():
            meta = kept.with_suffix(".json")
            return kept, read_checked_json(meta, **task_identity(meta)).get("model_sha256")
        raise IntegrityError(
            f"{self.path / relative}: model file is missing (not kept under keep_models, or deleted)"
        )

    def artifact_bytes(self) -> pd.DataFrame:
        """Bytes on disk per model family and kind of artifact (fits, scores, kept models)."""
        rows = []
        for kind in ("fits", "scores", KEPT_MODELS_DIR):
            for family in sorted(p for p in (self.path / kind).glob("*") if p.is_dir()):
                size = sum(f.stat().st_size for f in family.rglob("*") if f.is_file())
                rows.append({"model": family.name, "artifacts": kind, "bytes": size})
        return pd.DataFrame(rows, columns=["model", "artifacts", "bytes"])

    def stale(self) -> list[Path]:
        """Artifact directories (fits/, scores/, models/) of configurations no longer in the config.

        The current configurations are those of the last aggregation (``configs.tsv``).
        """
        current = pd.read_csv(self.path / "configs.tsv", sep="\t", usecols=["model", "config_id"], dtype=str)
        keep = set(zip(current["model"], current["config_id"]))
        found = []
        for kind in ("fits", "scores", KEPT_MODELS_DIR):
            for directory in sorted(self.path.glob(f"{kind}/*/*")):
                if directory.is_dir() and (directory.parent.name, directory.name) not in keep:
                    found.append(directory)
        return found

    def prune(self) -> list[Path]:
        """Delete the stale artifact directories; return what was deleted."""
        stale = self.stale()
        for directory in stale:
            shutil.rmtree(directory)
        return stale


def progress(path: str | Path) -> dict:
    """How far an experiment's results are: ``status`` ('finished', or 'unfinished' when its last
    run stopped, or still runs, before it wrote its run summary), ``scored`` (score files there),
    ``planned`` (the fits its last run planned; None when unknown, e.g. for a copied directory) and
    ``finished`` (when its last complete run ended)."""
    path = Path(path)
    try:
        run = read_json(path / "run.json")
    except (OSError, ValueError):
        run = None
    try:
        started = read_json(run_started_record(path.name)).get("started")
    except (OSError, ValueError):
        started = None
    plan = _plan(path)
    finished = run.get("finished") if run else None
    done = finished is not None and (started is None or str(finished) >= str(started))
    return {"status": "finished" if done else "unfinished", "finished": finished,
            "scored": sum(1 for _ in path.glob("scores/*/*/fold-*.parquet")),
            "planned": plan.get("planned_fits") if plan else None}


def _plan(path: Path) -> dict | None:
    """The record of what the experiment's last run set out to do (written in this clone only)."""
    try:
        return read_json(plan_record(path.name))
    except (OSError, ValueError):
        return None


def leaderboard_so_far(path: str | Path) -> tuple[pd.DataFrame, str | None]:
    """What an unfinished experiment has scored: one row per configuration (its parameters where
    the run's plan record has them, the folds scored and failed, the mean of each metric over its
    scored CV folds), best first by the selection metric; and that metric's name (None if unknown).
    The score files are checked as they are read."""
    from ..experiment.tasks import SCORE_COLUMNS
    from .aggregate import read_score_table

    path = Path(path)
    files = sorted(str(p) for p in path.glob("scores/*/*/fold-*.parquet"))
    if not files:
        return pd.DataFrame(columns=["model", "config_id"]), None
    import pyarrow.parquet as pq

    reserved = {name for name, _ in SCORE_COLUMNS}
    metrics = [n for n in pq.read_schema(files[0]).names if n not in reserved]
    scores = read_score_table(files, metrics).to_pandas()
    cv = scores[~scores["fold"].isin(["full", "all"])]
    grouped = cv.groupby(["model", "config_id"], sort=False)
    table = grouped.agg(folds_scored=("fold", "size"), failed=("status", lambda s: int((s != "ok").sum())))
    table = table.join(grouped[metrics].mean().add_suffix("_mean")).reset_index()
    plan = _plan(path) or {}
    params = {(c["model"], c["config_id"]): c["params"] for c in plan.get("configs", [])}
    table.insert(2, "params", [json.dumps(params.get(k)) if k in params else None
                               for k in zip(table["model"], table["config_id"])])
    metric = plan.get("selection_metric") if plan.get("selection_metric") in metrics else (metrics[0] if metrics else None)
    if metric is not None:
        greater = plan.get("metrics", {}).get(metric, {}).get("greater_is_better", True)
        table = table.sort_values(f"{metric}_mean", ascending=not greater, na_position="last", kind="stable")
    return table.reset_index(drop=True), metric


class QueryError(ValueError):
    """A query that cannot run on a table: the message names the expression and the columns."""


def query(table: pd.DataFrame, where: str) -> pd.DataFrame:
    """``table.query(where)``, with numbers compared with ``fold`` read as fold names (folds are
    text: '0', '1', 'full'); a mistake is one QueryError line with the columns there are."""
    try:
        return table.query(fold_names_as_text(where), engine="python")
    except Exception as exc:  # pandas raises UndefinedVariableError, SyntaxError, TypeError, ...
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise QueryError(f"--where {where!r}: {reason}; the columns are: {', '.join(map(str, table.columns))}") from None


def fold_names_as_text(where: str) -> str:
    """``where`` with every number compared with ``fold`` (``fold == 2``, ``3 != fold``, ``fold in
    [0, 1]``) quoted, since fold names are text."""
    import io
    import tokenize

    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(where).readline))
    except (tokenize.TokenError, SyntaxError):
        return where  # pandas says what is wrong with it
    words = [t.string for t in tokens]
    comparisons = {"==", "!=", "<", ">", "<=", ">="}
    quoted, depth = set(), None  # depth: inside the brackets after `fold in`
    for i, word in enumerate(words):
        if depth is not None:
            depth += word in "([" and word != ""
            depth -= word in ")]" and word != ""
            if tokens[i].type == tokenize.NUMBER:
                quoted.add(i)
            if depth == 0 and word in ")]":
                depth = None
        elif word == "in" and i and words[i - 1] == "fold":
            depth = 0
        elif tokens[i].type == tokenize.NUMBER and (words[max(0, i - 2):i] in (["fold", c] for c in comparisons)
                                                    or words[i + 1:i + 3] in ([c, "fold"] for c in comparisons)):
            quoted.add(i)
    if not quoted:
        return where
    out = [(tokenize.STRING, repr(t.string)) if i in quoted else (t.type, t.string) for i, t in enumerate(tokens)]
    return tokenize.untokenize(out).strip()


def experiment_table(root: str | Path = RESULTS_ROOT) -> pd.DataFrame:
    """One row per experiment under ``root``: its name, status (finished, or unfinished with its
    progress), config file, last run, fits and failures, winner and report (from each experiment's
    ``run.json``, written at the end of its last run)."""
    rows = []
    for path in experiments(root):
        done = progress(path)
        status = done["status"] if done["status"] == "finished" else (
            f"unfinished: {done['scored']}" + (f" of {done['planned']}" if done["planned"] else "") + " fits scored")
        row = {"experiment": path.name, "status": status, "config_file": None, "finished": None, "fits": None,
               "failed": None, "winner": None, "score": None,
               "report": str(path / "report.html") if (path / "report.html").is_file() else None}
        try:
            run = read_json(path / "run.json")
        except (OSError, ValueError):
            run = None
        if run:
            from .formatting import format_params, format_score

            families = run.get("families", {}).values()
            winner = run.get("winner")
            row.update(config_file=run.get("config_file"), finished=str(run.get("finished", ""))[:19].replace("T", " "),
                       fits=sum(f.get("fits", f["tasks"]) for f in families), failed=sum(f["failed"] for f in families))
            if winner:
                row.update(winner=f"{winner['model']} {format_params(winner['params'])}",
                           score=f"{run['selection_metric']} {format_score(winner['value'], winner.get('se', winner.get('sem')))}")
        rows.append(row)
    return pd.DataFrame(rows, columns=["experiment", "status", "config_file", "finished", "fits", "failed", "winner",
                                       "score", "report"])
