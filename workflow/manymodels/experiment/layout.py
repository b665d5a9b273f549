"""Where an experiment's files live: its name, its config file, its results, logs and state, and
which shard of score files gathers each configuration's scores.

One config file is one experiment. ``snakemake --configfile F`` runs exactly the experiment in F
and plain ``snakemake`` runs ``config.yaml``; each writes under ``results/<name>/`` and
``logs/<name>/``, the name taken from the config's ``name:`` key, else from the config file's stem,
so experiments run one after another in one clone never overwrite each other.

Standard library only: the Snakefile uses this before anything heavy is imported.
"""

from __future__ import annotations

import re
from pathlib import Path

from .. import ConfigError

DEFAULT_CONFIG_FILE = "config.yaml"
RESULTS_ROOT = Path("results")
LOGS_ROOT = Path("logs")
# Records of the engine (the nothing-to-do shortcut, the last run's start), one folder per experiment.
STATE_ROOT = Path(".snakemake") / "manymodels"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# A results folder is an experiment's once a run has written one of these (the folders: a run that
# was stopped, or is still running, before it wrote the tables).
MARKERS = ("scores.parquet", "run.json", "scores", "fits")
# About this many score files are gathered into one shard (MANYMODELS_SHARD_FILES sets another number).
FILES_PER_SHARD = 1000


def config_file_of(command_line_configfiles) -> str:
    """The config file that defines this run's experiment: the last ``--configfile``, else config.yaml."""
    files = [str(f) for f in command_line_configfiles or ()]
    if not files:
        return DEFAULT_CONFIG_FILE
    # Snakemake hands over absolute paths; name the file as the user would, relative to here.
    path = Path(files[-1])
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def experiment_name(config: dict, config_file: str) -> str:
    """The experiment's name: ``name:`` in the config, else the config file's stem."""
    name = config.get("name") if isinstance(config, dict) else None
    if name is None:
        name = Path(config_file).stem
        where = f"{config_file}: the file name '{Path(config_file).name}'"
    else:
        where = f"{config_file}: name"
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ConfigError(
            f"{where} does not make a valid experiment name ({name!r}): use letters, digits, '_', '-' and '.', "
            "starting with a letter or digit (set name: in the config)"
        )
    return name


def results_dir(name: str) -> Path:
    return RESULTS_ROOT / name


def logs_dir(name: str) -> Path:
    return LOGS_ROOT / name


def state_dir(name: str) -> Path:
    return STATE_ROOT / name


def experiments(root: str | Path = RESULTS_ROOT) -> list[Path]:
    """The experiment folders under ``root`` (``results/``), by name."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and any((p / m).exists() for m in MARKERS))


def plan_record(name: str) -> Path:
    """What the last run of an experiment set out to do (written when it starts): its configurations
    and planned fits, so an unfinished run's progress and leaderboard can be shown."""
    return state_dir(name) / "plan.json"


def run_started_record(name: str) -> Path:
    """When the experiment's last run started."""
    return state_dir(name) / "run.json"


def shard_tasks(tasks: list[dict], n_folds: int, per_shard: int = FILES_PER_SHARD) -> dict[str, list[dict]]:
    """Tasks by the shard that gathers their score files: the first ``shard_digits`` hex digits of
    the config_id, or 'all' when there is one shard."""
    digits = shard_digits(len(tasks) * n_folds, per_shard)
    shards: dict[str, list[dict]] = {}
    for task in tasks:
        shards.setdefault(task["config_id"][:digits] or "all", []).append(task)
    return shards


def shard_digits(n_files: int, per_shard: int = FILES_PER_SHARD) -> int:
    """How many leading hex digits of the config_id name a shard of score files: 0 (a single shard)
    up to ``per_shard`` files, then enough for shards of about that size (1: 16 shards, 2: 256)."""
    digits = 0
    while n_files > per_shard * 16**digits:
        digits += 1
    return digits
