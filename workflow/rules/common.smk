# Config checking, the task table and input functions. Everything here runs when the workflow is
# parsed, so a bad config or data file stops the run before any job starts.

import sys

sys.path.insert(0, str(Path(workflow.current_basedir.get_path_or_uri(secret_free=True)).parent))

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from manymodels import ConfigError
from manymodels.config import check_config, describe_schema_error, metric_specs, selection_metric
from manymodels.aggregate import aggregate_scores, select_configurations
from manymodels.data import assign_folds, check_columns, fold_names, prepare_data, resolve_source
from manymodels.fit import fit_task
from manymodels.locks import MARKER as RUN_MARKER, remove_stale_locks, write_run_marker
from manymodels.pool import run_task
from manymodels.plots import plot_metric
from manymodels.provenance import STAGE_MODULES, code_hash, package_version
from manymodels.report import write_report
from manymodels.score import score_task

CONFIG_FILE = (workflow.configfiles or ["config.yaml"])[-1]

try:
    validate(config, "../schemas/config.schema.yaml")
except WorkflowError:
    raise ConfigError(describe_schema_error(config, config_file=CONFIG_FILE)) from None

TASKS = check_config(config, config_file=CONFIG_FILE)
TASK = {(t["model"], t["config_id"]): t for t in TASKS}
DATA_SOURCE = resolve_source(config["data"]["source"])
check_columns(DATA_SOURCE, features=config["data"]["features"], label=config["data"]["label"], config_file=CONFIG_FILE)
FOLDS = fold_names(config["cv"])
METRICS = metric_specs(config["metrics"])
CODE = {stage: code_hash(stage) for stage in STAGE_MODULES}
VERSIONS = {name: package_version(spec["estimator"]) for name, spec in config["models"].items()}
DATA = {"features": config["data"]["features"], "label": config["data"]["label"]}

# Tasks go to a pool of warm worker processes, one per core, in the main Snakemake process
# (profiles/default sets --force-use-threads). A cluster job has its own fresh process: it runs
# the task there rather than starting a pool.
POOL = {"n_workers": workflow.cores or 1, "in_process": not workflow.is_main_process}

if workflow.is_main_process and remove_stale_locks():
    logger.warning("Removed the locks of an earlier run whose process no longer exists.")


onstart:
    write_run_marker()


wildcard_constraints:
    model=r"[A-Za-z][A-Za-z0-9_-]*",
    config_id=r"[0-9a-f]{10}",
    fold=r"\d+|full",
    metric=r"[A-Za-z][A-Za-z0-9_]*",


def task_of(wildcards):
    """The configuration record behind a job's wildcards."""
    try:
        return TASK[(wildcards.model, wildcards.config_id)]
    except KeyError:
        raise WorkflowError(f"{wildcards.model}/{wildcards.config_id} is not a configuration of {CONFIG_FILE}")


def split_inputs(wildcards):
    """The prepared data and, for a CV fold (not 'full'), the fold assignment."""
    inputs = {"data": "results/data/data.parquet"}
    if wildcards.fold != "full":
        inputs["folds"] = "results/data/folds.parquet"
    return inputs


def fit_params(wildcards):
    task = task_of(wildcards)
    return {key: task[key] for key in ("estimator", "kwargs", "params")}


def score_files(wildcards=None):
    return [
        f"results/scores/{t['model']}/{t['config_id']}/fold-{fold}.parquet"
        for t in TASKS
        for fold in FOLDS + ["full"]
    ]


def plot_files(wildcards=None):
    return [f"results/plots/{model}/{metric}.png" for model in config["models"] for metric in METRICS]
