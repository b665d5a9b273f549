"""`manymodels verify [EXPERIMENT] [--repair]`: is every artifact what was written?

Each kind of artifact is checked the way the jobs that read it check it:

- a fit's metadata (``fits/<model>/<config_id>/fold-<f>.json``, and the refits under ``models/``):
  valid JSON whose content matches the checksum recorded when it was written, of the task its
  path names;
- a fitted model (``.joblib``, or ``.skops`` with model_format: skops, beside it): the SHA-256 its
  metadata recorded; with keep_models: all,
  a model its fit recorded must be there (a missing one is listed, and ``--repair`` removes its fit
  record and score so that the same snakemake command fits it again);
- a score file (``scores/<model>/<config_id>/fold-<f>.parquet``): readable, every page checksum
  right, one row, of the task its path names and of the model its fit wrote;
- a shared pipeline prefix (``prefixes/<model>/<prefix_id>/fold-<f>.json`` and its fitted steps and
  output beside it): its metadata checked as a fit's, each file the SHA-256 it recorded; with
  keep_models: all, each file must be there;
- a gathered shard (``shards/scores-<prefix>.parquet``): readable, only the tasks of its prefix;
- the tables (``scores.parquet``, ``summary.parquet``), the data (``data/*.parquet``) and the
  JSON documents the workflow writes: readable.

``--repair`` removes every bad file and what was derived from it (a model's score, the shard that
gathered it, the tables, plots and report; a prefix's fitted steps and output, and the fits on it),
so that Snakemake, which does not redo an intermediate file while what it feeds is up to date,
regenerates exactly those jobs on the next run of the same command. Nothing else is touched.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..task.io import (IntegrityError, check_checksum, read_checked_json, read_checked_table, read_json,
                       task_identity)
from ..task.model_files import SUFFIXES, suffix_of
from .aggregate import check_score_file, check_shard, shard_name

# What every run derives from all scores: removed with anything they were derived from.
FINAL = ("scores.parquet", "summary.parquet", "configs.tsv", "selection.json", "run.json", "report.html", "report",
         "plots", "models")


@dataclass
class Problem:
    path: Path
    why: str


def verify(results: str | os.PathLike) -> list[Problem]:
    """Every artifact under an experiment's results directory that is not what was written."""
    root = Path(results)
    problems: list[Problem] = []

    def check(path: Path, func) -> object:
        try:
            return func(path)
        except (IntegrityError, OSError, ValueError, KeyError, IndexError) as exc:
            problems.append(Problem(path, getattr(exc, "why", None) or str(exc)))
            return None

    recorded: dict[Path, str] = {}  # fit metadata -> the model SHA-256 it recorded
    keeps_all = keeps_every_model(root)
    for kind in ("fits", "models"):
        for meta_path in sorted((root / kind).glob("*/*/fold-*.json")):
            meta = check(meta_path, lambda p: read_checked_json(p, **task_identity(p)))
            if meta is None:
                continue
            recorded[meta_path] = meta.get("model_sha256")
            model_path = meta_path.with_suffix(suffix_of(meta.get("model_format", "joblib")))
            if model_path.exists():
                check(model_path, lambda p: check_checksum(p, meta.get("model_sha256")))
            elif kind == "fits" and keeps_all and meta.get("model_sha256"):
                # Temporary models are gone once scored (keep_models: none or best); kept ones must be there.
                problems.append(Problem(model_path, "missing: the fit recorded it and keep_models is all"))
    for meta_path in sorted((root / "prefixes").glob("*/*/fold-*.json")):
        meta = check(meta_path, lambda p: read_checked_json(p, **prefix_identity(p)))
        for path, digest in prefix_files(meta_path, meta).items() if meta is not None else ():
            if path.exists():
                check(path, lambda p: check_checksum(p, digest))
            elif keeps_all:
                problems.append(Problem(path, "missing: its prefix job recorded it and keep_models is all"))
    for kind, pattern in (("scores", "*/*/fold-*.parquet"), ("models", "*/*/fold-*.parquet")):
        for score_path in sorted((root / kind).glob(pattern)):
            fit = root / ("fits" if kind == "scores" else "models") / score_path.relative_to(root / kind)
            check(score_path, lambda p: _score_row(p, recorded.get(fit.with_suffix(".json"))))
    for shard in sorted((root / "shards").glob("scores-*.parquet")):
        check(shard, lambda p: check_shard(p, read_checked_table(p, columns=["config_id"])))
    for name in ("scores.parquet", "summary.parquet", *(f"data/{p.name}" for p in sorted(root.glob("data/*.parquet")))):
        if (root / name).exists():
            check(root / name, read_checked_table)
    for name in ("selection.json", "run.json", "data/summary.json"):
        if (root / name).exists():
            check(root / name, read_json)
    return problems


def keeps_every_model(root: Path) -> bool:
    """Whether the experiment keeps every fitted model (keep_models: all): as its last run summary
    says, else as its files say (some model file under fits/ is there)."""
    try:
        policy = read_json(root / "run.json").get("keep_models")
    except (OSError, ValueError):
        policy = None
    if policy is not None:
        return policy == "all"
    return any(next((root / "fits").glob(f"*/*/fold-*{suffix}"), None) is not None for suffix in SUFFIXES.values())


def prefix_identity(meta_path: Path) -> dict:
    """(model, prefix_id, fold) of a prefix's metadata from its path: prefixes/<model>/<prefix_id>/fold-<f>.json."""
    return {"model": meta_path.parent.parent.name, "prefix_id": meta_path.parent.name,
            "fold": meta_path.name.split(".", 1)[0].removeprefix("fold-")}


def prefix_files(meta_path: Path, meta: dict) -> dict[Path, str]:
    """The files a prefix job wrote beside its metadata, each with the SHA-256 it recorded."""
    stem = meta_path.parent / meta_path.name.split(".", 1)[0]
    return {stem.with_name(f"{stem.name}.joblib"): meta.get("model_sha256"),
            stem.with_name(f"{stem.name}.train.parquet"): meta.get("train", {}).get("sha256"),
            stem.with_name(f"{stem.name}.test.parquet"): meta.get("test", {}).get("sha256")}


def _score_row(path: Path, model_sha256: str | None) -> None:
    table = read_checked_table(path)
    check_score_file(path, table)
    if model_sha256 is not None and table.column("model_sha256")[0].as_py() != model_sha256:
        raise IntegrityError("it scored another model than the one its fit wrote (the fit was redone since)")


def derived(results: str | os.PathLike, bad: Path) -> list[Path]:
    """A bad file and what was derived from it, to remove so that Snakemake redoes them."""
    root = Path(results)
    relative = bad.relative_to(root)
    top = relative.parts[0]
    removed = [bad]
    if top in ("fits", "models", "scores") and len(relative.parts) == 4:
        task = relative.parent / relative.name.split(".", 1)[0]
        removed += [root / top / f"{task.relative_to(top)}{ext}" for ext in (".json", *SUFFIXES.values(), ".parquet")]
        if top == "fits":
            removed.append(root / "scores" / f"{task.relative_to(top)}.parquet")
        if top != "models":
            model, config_id = relative.parts[1:3]
            removed += [s for s in (root / "shards").glob("scores-*.parquet")
                        if shard_name(s) in ("all", f"trials-{model}") or config_id.startswith(shard_name(s))]
    elif top == "prefixes" and len(relative.parts) == 4:
        # The prefix's files, and every fit on it (with its score and what gathered it): fitted again.
        stem = relative.name.split(".", 1)[0]
        removed += [bad.with_name(f"{stem}{ext}") for ext in (".json", ".joblib", ".train.parquet", ".test.parquet")]
        model, prefix_id = relative.parts[1:3]
        for fit in sorted((root / "fits" / model).glob(f"*/{stem}.json")):
            try:
                on_it = read_json(fit).get("prefix_id") == prefix_id
            except (OSError, ValueError):
                on_it = False
            if on_it:
                removed += derived(results, fit)
    elif top == "data":
        removed += [root / "data"]  # everything depends on the prepared data: Snakemake redoes what reads it
    removed += [root / name for name in FINAL]
    return list(dict.fromkeys(p for p in removed if p.exists() or p.is_symlink()))


def repair(results: str | os.PathLike, problems: list[Problem]) -> list[Path]:
    """Remove the bad files and what was derived from them; return what was removed."""
    import shutil

    removed: list[Path] = []
    for problem in problems:
        for path in derived(results, problem.path):
            if path in removed:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def describe(problems: list[Problem]) -> str:
    return "".join(f"{p.path}: {p.why}\n" for p in problems)

