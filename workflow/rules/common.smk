# Config checking, the task table and input functions. Everything here runs when the workflow is
# parsed, so a bad config or data file stops the run before any job starts.

import sys

sys.path.insert(0, str(Path(workflow.current_basedir.get_path_or_uri(secret_free=True)).parent))

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from manymodels import ConfigError
from manymodels.config import describe_schema_error, metric_specs, selection_metric
from manymodels.locks import MARKER as RUN_MARKER, remove_stale_locks
from manymodels.pool import run_task, submit
from manymodels.provenance import STAGE_MODULES, code_hash
from manymodels.runtime import on_start

CONFIG_FILE = (workflow.configfiles or ["config.yaml"])[-1]

try:
    validate(config, "../schemas/config.schema.yaml")
except WorkflowError:
    raise ConfigError(describe_schema_error(config, config_file=CONFIG_FILE)) from None

if workflow.is_main_process and remove_stale_locks():
    logger.warning("Removed the locks of an earlier run that was killed (no Snakemake process works here now).")

# Tasks run in a pool of warm worker processes, one per core, owned by the Snakemake process
# (profiles/default sets --force-use-threads, so `run:` jobs are threads that hand their task
# over). Rules name task functions as strings: only the workers import scikit-learn and pandas.
# A cluster job has a fresh process of its own: it runs its task there instead.
try:
    _cores = workflow.cores
except WorkflowError:  # e.g. a dry run without --cores
    _cores = 1
POOL = {"n_workers": _cores, "in_process": not workflow.is_main_process}

# Warm every worker while one of them checks the config against the estimators and the data.
ESTIMATOR_MODULES = sorted({spec["estimator"].rpartition(".")[0] for spec in config["models"].values()})
for _ in range(POOL["n_workers"] - 1):
    submit("manymodels.experiment:warm_up", **POOL, modules=[*ESTIMATOR_MODULES, "manymodels.fit", "manymodels.score"])
EXPERIMENT = run_task("manymodels.experiment:check_experiment", **POOL, config=config, config_file=CONFIG_FILE)

TASKS = EXPERIMENT["tasks"]
TASK = {(t["model"], t["config_id"]): t for t in TASKS}
FOLDS = EXPERIMENT["folds"]
DATA_SOURCE = EXPERIMENT["source"]
VERSIONS = EXPERIMENT["versions"]
METRICS = metric_specs(config["metrics"])
CODE = {stage: code_hash(stage) for stage in STAGE_MODULES}
DATA = {"features": config["data"]["features"], "label": config["data"]["label"]}


onstart:
    on_start(workflow)


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


def storage_policy(path):
    """A fitted model's path, temporary (deleted once scored) unless keep_models is 'all'."""
    return path if config["keep_models"] == "all" else temp(path)


def kept_models(wildcards):
    """With keep_models: best, the chosen configuration of each family, refitted and kept."""
    if config["keep_models"] != "best":
        return []
    import json

    with checkpoints.select_configurations.get().output[0].open() as fh:
        choices = json.load(fh)
    return [f"results/models/{model}/{c['chosen']['config_id']}/fold-full.joblib"
            for model, c in choices.items() if c["chosen"]]
