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
