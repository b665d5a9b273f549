"""Query a results directory: every task as one DataFrame, models loaded lazily and verified.

Opening a store reads two Parquet tables and nothing else; a model is unpickled only when asked
for, after its SHA-256 is checked against the one recorded when it was written. Every path is
relative to the results directory, so a copied or moved directory works the same.

Joblib files are pickles, which run code when loaded: open only results you trust.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from ..experiment.layout import RESULTS_ROOT, experiments
from ..experiment.suggest import with_hint
from ..task.io import IntegrityError, load_checked_model, read_checked_json, read_json, task_identity

__all__ = ["IntegrityError", "Results", "experiment_dir", "experiment_table", "model_file"]

KEPT_MODELS_DIR = "models"


def model_file(model: str, config_id: str, fold: str) -> str:
    """Path of a task's model file, relative to the results directory."""
    return f"fits/{model}/{config_id}/fold-{fold}.joblib"


def experiment_dir(where: str | Path | None = None, *, root: str | Path = RESULTS_ROOT) -> Path:
    """The results directory of an experiment: a directory (``results/penguins``, or a copy of it
    anywhere), an experiment's name (``penguins``: ``results/penguins``), or, when ``where`` is
    None, the only experiment under ``root``."""
    if where is not None:
        path = Path(where)
        if (path / "scores.parquet").is_file() or path.is_dir() and (path / "run.json").is_file():
            return path
        named = Path(root) / str(where)
        if (named / "scores.parquet").is_file():
            return named
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
            raise FileNotFoundError(f"{self.path}: no scores.parquet here; is this a manymodels results directory?")
        self._tasks: pd.DataFrame | None = None

    @property
    def tasks(self) -> pd.DataFrame:
        """One row per (configuration, fold): parameters, metrics, status, timings and ``model_file``."""
        if self._tasks is None:
            tasks = pd.read_parquet(self.path / "scores.parquet")
            tasks["model_file"] = [model_file(*key) for key in zip(tasks["model"], tasks["config_id"], tasks["fold"])]
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
        """A chosen configuration: its row of :attr:`summary` (``params`` is JSON text, ``json.loads``
        gives the grid point back), with ``by`` and ``value`` (the column and value it was chosen by),
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
        extra = {"by": entry["by"], "value": entry["value"], "model_file": entry["model_file"]}
        extra.update({f"heldout_{m}": v for m, v in self._heldout_scores(entry).items()})
        return pd.concat([row, pd.Series(extra, dtype=object)])

    def best_estimator(self, family: str | None = None):
        """The chosen configuration (the overall winner, or ``family``'s) fitted on every training
        row, as :meth:`best` names it (``model_file``), loaded after its SHA-256 is checked as
        :meth:`load_model` does."""
        entry = self._selection_entry(None, family)
        identity = task_identity(entry["model_file"])
        tasks = self.tasks
        rows = tasks[(tasks["model"] == identity["model"]) & (tasks["config_id"] == identity["config_id"])
                     & (tasks["fold"] == identity["fold"])]
        # A refit after selection (under models/) is in no score row: its metadata file has its checksum.
        return self.load_model(rows.iloc[0] if len(rows) else pd.Series({**identity, "model_sha256": None}))

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
        """Tasks matching a pandas query expression, e.g. ``"covariance_type == 'full' and ars > 0.8"``."""
        return self.tasks if not where else self.tasks.query(where, engine="python")

    def failures(self) -> pd.DataFrame:
        """Failed tasks grouped by model, error type and message."""
        from .aggregate import failures

        return failures(self.tasks)

    def load_model(self, task):
        """Load the fitted model of a task (a row of :attr:`tasks`, or its ``model_file``).

        The file's SHA-256 must equal the recorded one: a modified, truncated or missing file
        raises IntegrityError naming it, and is never unpickled.
        """
        if isinstance(task, str):
            rows = self.tasks[self.tasks["model_file"] == task]
            if rows.empty:
                raise KeyError(f"{task}: no such task in {self.path / 'scores.parquet'}")
            task = rows.iloc[0]
        path, expected = self._model_path_and_checksum(task)
        if expected is None or pd.isna(expected):
            raise IntegrityError(f"{path}: no checksum was recorded for this model; refusing to load it")
        return load_checked_model(path, expected=expected)

    def _model_path_and_checksum(self, task) -> tuple[Path, str | None]:
        """The task's model file and its recorded SHA-256.

        Under fits/ the checksum is the one in the score table; a chosen model kept under
        models/ (keep_models: best) was refitted, and its own metadata file records its checksum.
        """
        relative = model_file(task["model"], task["config_id"], task["fold"])
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


def experiment_table(root: str | Path = RESULTS_ROOT) -> pd.DataFrame:
    """One row per experiment under ``root``: its name, config file, last run, tasks and failures,
    winner and report (from each experiment's ``run.json``, written at the end of its last run)."""
    rows = []
    for path in experiments(root):
        row = {"experiment": path.name, "config_file": None, "finished": None, "tasks": None, "failed": None,
               "winner": None, "score": None, "report": str(path / "report.html") if (path / "report.html").is_file() else None}
        try:
            run = read_json(path / "run.json")
        except (OSError, ValueError):
            run = None
        if run:
            from .formatting import format_params, format_score

            families = run.get("families", {}).values()
            winner = run.get("winner")
            row.update(config_file=run.get("config_file"), finished=str(run.get("finished", ""))[:19].replace("T", " "),
                       tasks=sum(f["tasks"] for f in families), failed=sum(f["failed"] for f in families))
            if winner:
                row.update(winner=f"{winner['model']} {format_params(winner['params'])}",
                           score=f"{run['selection_metric']} {format_score(winner['value'], winner.get('sem'))}")
        rows.append(row)
    return pd.DataFrame(rows, columns=["experiment", "config_file", "finished", "tasks", "failed", "winner", "score",
                                       "report"])
