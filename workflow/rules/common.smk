# Config checking, the task table and input functions. Everything here runs when the workflow is
# parsed, so a bad config or data file stops the run before any job starts, with one line naming
# the key (or column) and the file.

import functools
import json

from snakemake.exceptions import IncompleteCheckpointException, WorkflowError
from snakemake.io import checkpoint_target
from snakemake.utils import validate
from snakemake_logger_plugin_manymodels import note_fit_failure

from manymodels.engine.cluster import (
    adapt_cluster_execution,
    fit_request,
    load_checked,
    pool_settings,
    process_role,
    profile_node_process,
    record_cpu_use,
    save_checked,
    step_cpus,
)
from manymodels.engine.ceiling import COMFORTABLE_JOBS, dag_warning
from manymodels.engine.internals import cache_function_signatures, use_manymodels_executor, when_nothing_to_do
from manymodels.engine.console import show_run_summary, stop_on_bad_input
from manymodels.engine.locks import register_run, remove_stale_locks, run_marker, write_plan_record
from manymodels.engine.dispatch import TaskCall, register
from manymodels.engine.pool import Limits, run_task, start_server, warm_when_idle
from manymodels.engine.provenance import STAGE_MODULES, code_hash, own_code_hash
from manymodels.engine.scheduling import on_start
from manymodels.engine.uptodate import missing_kept_models, shard_fingerprints, shard_pattern, up_to_date_shards
from manymodels.experiment.config import metric_specs, racing_settings, selection_metric, streaming_settings
from manymodels.experiment.data import inner_fold_name, split_definition
from manymodels.experiment.estimators import dotted_paths, estimator_modules_of
from manymodels.experiment.grid import grid_parameters
from manymodels.experiment.halving import halving_settings, n_rungs, rung_fold
from manymodels.experiment.schema import check_schema
from manymodels.experiment.tasks import estimator_definition
from manymodels.task.model_files import suffix_of
from manymodels.results.aggregate import FILES_PER_SHARD, shard_tasks

cache_function_signatures()  # Snakemake inspected every function again for every job

# Tasks run in a pool of warm worker processes owned by the Snakemake process (profiles/default
# sets --force-use-threads, so `run:` jobs are threads that hand their task over); rules name task
# functions as strings: only the workers import scikit-learn and pandas. How many workers, and
# what changes on a cluster, depends on which kind of Snakemake process this is (one that runs a
# local run, submits cluster jobs, or runs them on a node): see manymodels.engine.cluster.
ROLE = process_role(workflow, sys.argv[1:])
# A local run's fit and score jobs go to the pool without a thread each (the manymodels executor, see
# manymodels.engine.internals) and claim no core of Snakemake's: the pool's workers are the cores, and
# every ready task waits in its queue.
# (MANYMODELS_EXECUTOR=local keeps Snakemake's own local executor: a thread per job, for comparison.)
POOL_DISPATCH = (
    ROLE == "local"
    and not workflow.output_settings.dryrun
    and os.environ.get("MANYMODELS_EXECUTOR", "manymodels") == "manymodels"
    and use_manymodels_executor()
)
TASK_THREADS = 0 if POOL_DISPATCH else 1
ON_CLUSTER = ROLE != "local"
adapt_cluster_execution(workflow, ROLE, sys.argv[1:])
try:
    _cores = workflow.cores
except WorkflowError:  # e.g. a dry run without --cores
    _cores = 1
POOL = pool_settings(
    ROLE, cores=_cores, local_cores=workflow.resource_settings.local_cores, dryrun=workflow.output_settings.dryrun
)
if ROLE in ("submission", "step"):
    record_cpu_use(EXPERIMENT, ROLE, step_cpus(_cores))
    profile_node_process(ROLE)  # only with MANYMODELS_PROFILE_NODE (benchmarks/bench_coordinator.py --slurm)

# The workers are forked from a server that imports what the tasks need once: started now, it
# imports them while this process reads the rest of the workflow.
if not POOL["in_process"]:
    start_server([*estimator_modules_of(config), "manymodels.task.fit", "manymodels.task.score"])

with stop_on_bad_input():
    check_schema(config, config_file=CONFIG_FILE)
validate(config, "../schemas/config.schema.yaml")  # valid: this only fills in the defaults

if workflow.is_main_process:
    register_run(EXPERIMENT)
    if removed := remove_stale_locks():
        logger.warning(
            f"Removed the locks of an earlier run of {', '.join(removed)} that was killed (no live run works on it)."
        )

# The first worker checks the config against the estimators and the data (a process on a cluster
# node reads the check the login process saved instead).
CHECKED = load_checked(EXPERIMENT, config) if ROLE in ("submission", "step") else None
if CHECKED is None:
    with stop_on_bad_input():
        CHECKED = run_task(
            "manymodels.experiment.check:check_experiment", **POOL, config=config, config_file=CONFIG_FILE
        )
if ROLE == "login":
    save_checked(EXPERIMENT, config, CHECKED)

if workflow.is_main_process:
    for _note in CHECKED.get("notes", []):
        logger.warning(_note)
# A worker with nothing to do imports what the plots and the report need, so that they start at once.
if POOL_DISPATCH:
    warm_when_idle(["matplotlib", "manymodels.results.plots", "manymodels.results.report"], POOL["n_workers"])

TASKS = CHECKED["tasks"]
TASK = {(t["model"], t["config_id"]): t for t in TASKS}
FOLDS = CHECKED["folds"]
OUTER_FOLDS = CHECKED.get("outer_folds", [])  # nested CV: 'o0', 'o1', ...
# Fold racing: the CV folds after the burn-in, each fitted only for the configurations still in the race.
RACING = racing_settings(config)
RACE_FOLDS = FOLDS[RACING["burn_in"] :] if RACING else []
# Successive halving: RUNGS rungs, each on every CV fold with more of the resource; the last is the full grid's.
HALVING = halving_settings(config)
RUNGS = (
    n_rungs(HALVING, [sum(t["model"] == m for t in TASKS) for m in config["models"]], config["models"])
    if HALVING
    else 0
)
SOURCE_FILE = [CHECKED["source_file"]] if CHECKED["source_file"] else []
VERSIONS = CHECKED["versions"]
METRICS = metric_specs(config["metrics"], config_file=CONFIG_FILE)

# Streaming (out-of-core) experiments: one task per configuration, learnt from the data file in
# batches; fold 'stream' stands for the whole stream.
STREAMING = streaming_settings(config)
GENERATED_STREAM = (
    isinstance(config["data"]["source"], dict) and config["data"]["source"]["generator"] == "logistic_interactions"
)
STREAM_DATA = "<results>/data/stream.parquet" if GENERATED_STREAM else CHECKED["source_file"]
# Fold 'full' (every training row) for every configuration only when something uses it: an
# in-sample metric, or refit: all (the held-out score of every configuration). Otherwise each
# family's chosen configuration alone is refitted after selection, as GridSearchCV refits its best.
# (A streaming fit learns from every row: its fold 'stream' is already the final fit.)
FULL_FOR_ALL = bool(STREAMING) or config["refit"] == "all" or any(spec["on"] == "train" for spec in METRICS.values())
TASK_FOLDS = ["stream"] if STREAMING else FOLDS + (["full"] if FULL_FOR_ALL else [])
# The format every model file is kept in: joblib (.joblib) or skops (.skops, safe to open elsewhere).
MODEL_FORMAT = config["model_format"]
MODEL_SUFFIX = suffix_of(MODEL_FORMAT)
# Where each family's chosen configuration fitted on every training row is (selection.json names it).
FINAL_MODEL = (
    f"fits/{{model}}/{{config_id}}/fold-stream{MODEL_SUFFIX}"
    if STREAMING
    else (
        f"fits/{{model}}/{{config_id}}/fold-full{MODEL_SUFFIX}"
        if FULL_FOR_ALL
        else f"models/{{model}}/{{config_id}}/fold-full{MODEL_SUFFIX}"
    )
)
CODE = {stage: code_hash(stage) for stage in STAGE_MODULES}
# Modules of the user's own that a family's estimator or a metric comes from (None: none): a
# change reruns that family's fits, or every score.
OWN_CODE = {
    model: own_code_hash(path for _, path in dotted_paths(estimator_definition(spec)))
    for model, spec in config["models"].items()
}
METRIC_CODE = own_code_hash(spec["function"] for spec in METRICS.values() if "function" in spec)
SCORE_CODE = CODE["score"] if METRIC_CODE is None else f"{CODE['score']}+{METRIC_CODE}"


# On a cluster, each (fit, score) pair of one (configuration, fold) is a component of group
# fit_score (--group-components, in profiles/default, bundles them into submissions), and fits and
# scores ask for memory and time that grow with each retry. Local runs have neither: Snakemake
# would evaluate the resource functions of every job and form groups it then ignores (a fifth of
# a large grid's DAG).
def fit_mem_mb(wildcards, attempt):
    return fit_request(FIT_LIMITS[wildcards.model], attempt)["mem_mb"]


def fit_runtime(wildcards, attempt):
    return fit_request(FIT_LIMITS[wildcards.model], attempt)["runtime"]


CLUSTER_GROUP = "fit_score" if ON_CLUSTER else None
CLUSTER_RESOURCES = {"fit_model": {}, "score_model": {}}
if ON_CLUSTER:
    CLUSTER_RESOURCES = {
        "fit_model": {"mem_mb": fit_mem_mb, "runtime": fit_runtime},
        "score_model": {
            "mem_mb": lambda wildcards, attempt: 1000 * attempt,
            "runtime": lambda wildcards, attempt: 5 * attempt,
        },
    }
DATA = {"features": CHECKED["features"], "label": config["data"]["label"]}
# What one fit may use (limits: experiment-wide, models.<name>.limits: per family); None: no bound.
FIT_LIMITS = {
    model: Limits.of({**(config.get("limits") or {}), **(spec.get("limits") or {})})
    for model, spec in config["models"].items()
}


onstart:
    forget(EXPERIMENT)  # results are about to change: no shortcut until this run has succeeded
    on_start(workflow, EXPERIMENT)
    write_plan_record(
        EXPERIMENT,
        tasks=TASKS,
        folds=TASK_FOLDS,
        planned_fits=len(TASKS) * (len(TASK_FOLDS) + len(OUTER_FOLDS) * len(FOLDS)),
        metrics=METRICS,
        selection_metric=selection_metric(config),
        staged=bool(RACE_FOLDS or HALVING),
    )


def record_success():
    """Arm the nothing-to-do shortcut for the results as they are now."""
    if workflow.is_main_process and plain_invocation(sys.argv[1:]):
        with open(workflow.pathvars.apply("<results>/selection.json")) as fh:
            kept = [workflow.pathvars.apply(path) for path in kept_model_files(json.load(fh))]
        record(EXPERIMENT, RUN_FINGERPRINT, targets=[*FINAL_TARGETS, *kept], shards=SHARD_FINGERPRINTS)


def nothing_to_do():
    show_run_summary(workflow.pathvars.apply("<results>/run.json"), up_to_date=True)
    record_success()


if workflow.is_main_process:
    when_nothing_to_do(nothing_to_do)  # Snakemake skips onsuccess when it had nothing to do


onsuccess:
    show_run_summary(workflow.pathvars.apply("<results>/run.json"))
    record_success()


wildcard_constraints:
    model=r"[A-Za-z][A-Za-z0-9_-]*",
    config_id=r"[0-9a-f]{10}",
    fold=r"\d+|full|all|stream|o\d+-\d+|\d+~(\d+of\d+|[A-Za-z_][A-Za-z0-9_]*=\d+)",
    rung=r"\d+",
    outer=r"\d+",
    refit=r"full|all",
    metric=r"[A-Za-z][A-Za-z0-9_]*",
    shard=r"[0-9a-f]+|all",
    race_fold=r"\d+",


def task_of(wildcards):
    """The configuration record behind a job's wildcards."""
    try:
        return TASK[(wildcards.model, wildcards.config_id)]
    except KeyError:
        raise WorkflowError(f"{wildcards.model}/{wildcards.config_id} is not a configuration of {CONFIG_FILE}")


def split_inputs_for(fold):
    """The prepared data and what splits it: the CV folds, or for fold 'full' the held-out rows."""
    if fold == "stream":
        return {"data": STREAM_DATA}
    inputs = {"data": "<results>/data/data.parquet"}
    if fold.startswith("o"):  # an inner fold of nested CV: its outer fold's file
        inputs["folds"] = f"<results>/data/nested/outer-{fold[1:].split('-')[0]}.parquet"
    elif fold == "full":
        inputs["folds"] = "<results>/data/holdout.parquet"
    elif fold != "all":
        inputs["folds"] = "<results>/data/folds.parquet"
    return inputs


def split_inputs(wildcards):
    return split_inputs_for(wildcards.fold)


def refit_inputs(wildcards):
    return split_inputs_for(wildcards.refit)


def fit_params(wildcards):
    """What a fit job hands its task (the configuration) and what else it depends on besides its
    inputs (the package code it runs, the estimator's version): one function, as Snakemake calls
    each params function of each job."""
    task = task_of(wildcards)
    return {
        "task": {key: task[key] for key in ("estimator", "kwargs", "fit_kwargs", "params")},
        "streaming": {"streaming": STREAMING} if wildcards.get("fold") == "stream" else {},
        "provenance": {"code": CODE["fit"], "version": VERSIONS[wildcards.model]}
        | ({"own_code": OWN_CODE[wildcards.model]} if OWN_CODE[wildcards.model] else {})
        | ({"model_format": CODE["skops"]} if MODEL_FORMAT == "skops" else {}),
    }


def fit_function(fold):
    """The package function that fits a task: batch learning, or streaming for fold 'stream'."""
    return "manymodels.task.streaming:fit_stream_task" if fold == "stream" else "manymodels.task.fit:fit_task"


# Score files are gathered in shards named by the leading hex digits of the config_id ('all' for
# one shard), so a changed configuration makes aggregation reread one shard, not every file.
SHARD_TASKS = shard_tasks(
    TASKS, len(TASK_FOLDS), per_shard=int(os.environ.get("MANYMODELS_SHARD_FILES", FILES_PER_SHARD))
)
# A shard whose tasks, shared settings and environment are those of the last successful run, with
# its fits, scores and gathered file untouched since, is not planned again: its gathered file is an
# input of aggregation like the data file, and Snakemake builds the DAG of the other shards only (a
# changed configuration of the large grid plans one sixteenth of its jobs).
SHARD_FINGERPRINTS, SHARDS_UP_TO_DATE = {}, set()
if workflow.is_main_process:
    SHARD_FINGERPRINTS = shard_fingerprints(ENVIRONMENT, config, SHARD_TASKS, TASK_FOLDS)
    # (Under racing a shard's files depend on the race's decisions, which other shards change: no pruning.)
    if not (RACE_FOLDS or HALVING):
        SHARDS_UP_TO_DATE = up_to_date_shards(EXPERIMENT, SHARD_FINGERPRINTS, SHARD_TASKS, sys.argv[1:])
    if SHARDS_UP_TO_DATE:
        logger.info(
            f"{len(SHARDS_UP_TO_DATE)} of {len(SHARD_TASKS)} shards of score files are as the last successful run "
            "left them; Snakemake plans the jobs of the others (MANYMODELS_NO_SHORTCUT=1 plans all)."
        )
_shards_to_plan = set(SHARD_TASKS) - SHARDS_UP_TO_DATE
SHARDS_TO_PLAN = shard_pattern(_shards_to_plan)
# A DAG too large to build comfortably here: say what it will cost before Snakemake starts on it
# (MANYMODELS_COMFORTABLE_JOBS: another size, for another machine).
if workflow.is_main_process and (
    _too_large := dag_warning(
        2 * len(TASK_FOLDS) * sum(len(SHARD_TASKS[s]) for s in _shards_to_plan)
        + 2 * len(TASKS) * len(OUTER_FOLDS) * len(FOLDS),
        comfortable=int(os.environ.get("MANYMODELS_COMFORTABLE_JOBS", COMFORTABLE_JOBS)),
    )
):
    logger.warning(_too_large)


def shard_score_files(wildcards):
    """The score files of a shard's tasks (under racing, only the folds each configuration reached)."""
    if HALVING:
        return halving_score_files(SHARD_TASKS[wildcards.shard])
    reached = {fold: racing_keys(fold) for fold in RACE_FOLDS}
    if RACE_FOLDS:  # a configuration dropped from the race is not fitted on every row either
        reached["full"] = reached[RACE_FOLDS[-1]]
    return [
        f"<results>/scores/{t['model']}/{t['config_id']}/fold-{fold}.parquet"
        for t in SHARD_TASKS[wildcards.shard]
        for fold in TASK_FOLDS
        if fold not in reached or (t["model"], t["config_id"]) in reached[fold]
    ]


def halving_keys(rung):
    """(model, config_id) of the configurations fitted at ``rung``: every one at rung 0, then those
    the decision after the previous rung kept (known once its checkpoint has run)."""
    if rung == 0:
        return set(TASK)
    return survivors(checkpoints.halving_decision, rung=str(rung - 1))


def halving_inputs(wildcards):
    """What the decision after a rung reads: its configurations' scores on every CV fold."""
    rung = int(wildcards.rung)
    return [
        f"<results>/scores/{model}/{config_id}/fold-{rung_fold(fold, rung, RUNGS, HALVING, config['models'], model)}.parquet"
        for model, config_id in sorted(halving_keys(rung))
        for fold in FOLDS
    ]


def halving_score_files(tasks):
    """Each configuration's scores at the last rung it reached (and on every row, for those that
    reached the last rung, when something needs it)."""
    reached = [halving_keys(rung) for rung in range(RUNGS)]
    files = []
    for t in tasks:
        key = (t["model"], t["config_id"])
        rung = max(r for r in range(RUNGS) if key in reached[r])
        folds = [rung_fold(f, rung, RUNGS, HALVING, config["models"], t["model"]) for f in FOLDS]
        if rung == RUNGS - 1 and "full" in TASK_FOLDS:
            folds.append("full")
        files += [f"<results>/scores/{t['model']}/{t['config_id']}/fold-{fold}.parquet" for fold in folds]
    return files


def racing_keys(fold):
    """(model, config_id) of the configurations fitted on CV fold ``fold``: every one, or under
    racing those the decision before that fold kept (known once its checkpoint has run)."""
    if fold not in RACE_FOLDS:
        return set(TASK)
    return survivors(checkpoints.race_decision, race_fold=fold)


def survivors(checkpoint, **wildcards):
    """(model, config_id) of the configurations a stage's decision kept: read once per version of
    the file, not once per shard and per stage that asks (every shard's input function does). A
    decision being made again in this run (its file removed for its job) is not known yet."""
    decision = checkpoint.get(**wildcards).output[0]
    if not os.path.exists(decision):
        raise IncompleteCheckpointException(checkpoint.rule, checkpoint_target(decision))
    return _survivors(str(decision), os.stat(decision).st_mtime_ns)


@functools.lru_cache(maxsize=None)
def _survivors(path, mtime_ns):
    with open(path) as fh:
        return frozenset((s["model"], s["config_id"]) for s in json.load(fh)["survivors"])


def race_inputs(wildcards):
    """What the decision before CV fold ``race_fold`` reads: the scores, on every earlier fold, of
    the configurations the decision before the previous fold kept."""
    position = FOLDS.index(wildcards.race_fold)
    return [
        f"<results>/scores/{model}/{config_id}/fold-{fold}.parquet"
        for model, config_id in sorted(racing_keys(FOLDS[position - 1]))
        for fold in FOLDS[:position]
    ]


def stage_decisions(wildcards=None):
    """The decisions of fold racing or successive halving (none without either)."""
    return [f"<results>/race/fold-{fold}.json" for fold in RACE_FOLDS] + [
        f"<results>/halving/rung-{rung}.json" for rung in range(RUNGS - 1)
    ]


def inner_score_files(wildcards):
    """Nested CV: the score files of every configuration on the inner folds of one outer fold."""
    outer = f"o{wildcards.outer}"
    return [
        f"<results>/scores/{t['model']}/{t['config_id']}/fold-{inner_fold_name(outer, fold)}.parquet"
        for t in TASKS
        for fold in FOLDS
    ]


def nested_files(wildcards=None):
    """The nested CV estimate the report shows (none without nested CV)."""
    return ["<results>/nested.json"] if OUTER_FOLDS else []


def shard_files(wildcards=None):
    return [f"<results>/shards/scores-{shard}.parquet" for shard in sorted(SHARD_TASKS)]


def plot_files(wildcards=None):
    files = [f"<results>/plots/{model}/{metric}.png" for model in config["models"] for metric in METRICS]
    files += ["<results>/plots/cv_scores.png", "<results>/plots/families.png"]
    if RACE_FOLDS or HALVING:
        files.append("<results>/plots/race.png")
    if config["holdout"] and config["data"]["label"]:
        files.append("<results>/plots/test_predictions.png")
    return files


def storage_policy(path):
    """A fitted model's path, temporary (deleted once scored) unless keep_models is 'all'."""
    return path if config["keep_models"] == "all" else temp(path)


def kept_model_files(choices):
    """What is fitted after selection (``choices``: results/selection.json): each family's chosen
    configuration on every training row (fold 'full') when no earlier fit did that for every
    configuration, or with keep_models: best, and its score on the held-out set; with a held-out
    set, the overall winner on every row (fold 'all')."""
    files = []
    chosen = [c["chosen"] for c in choices["models"].values() if c["chosen"]]
    if config["keep_models"] == "best" or not FULL_FOR_ALL:
        files += [f"<results>/models/{c['model']}/{c['config_id']}/fold-full{MODEL_SUFFIX}" for c in chosen]
    if config["holdout"] and not FULL_FOR_ALL:
        files += [f"<results>/models/{c['model']}/{c['config_id']}/fold-full.parquet" for c in chosen]
    if config["holdout"] and choices["overall"]:
        files.append(
            f"<results>/models/{choices['overall']['model']}/{choices['overall']['config_id']}/fold-all{MODEL_SUFFIX}"
        )
    return files


# Models refitted once configurations are chosen (see kept_model_files).
REFITS_AFTER_SELECTION = config["keep_models"] == "best" or bool(config["holdout"]) or not FULL_FOR_ALL


def chosen_choices():
    """results/selection.json, once the selection checkpoint has run."""
    with checkpoints.select_configurations.get().output[0].open() as fh:
        return json.load(fh)


def refit_scores(wildcards):
    """The held-out scores of the chosen configurations refitted after selection (none when every
    configuration was fitted on all rows: their scores are in the tables)."""
    if FULL_FOR_ALL or not config["holdout"]:
        return []
    return [path for path in kept_model_files(chosen_choices()) if path.endswith(".parquet")]


def winner_full_model(wildcards):
    """The overall winner fitted on every training row, and its metadata (for the test-set plot)."""
    winner = chosen_choices()["overall"]
    if not winner:
        return {}
    path = f"<results>/{FINAL_MODEL.format(model=winner['model'], config_id=winner['config_id'])}"
    return {"model": path, "meta": path.removesuffix(MODEL_SUFFIX) + ".json"}


# keep_models: all: a model that was scored and then deleted is a target, so the same command fits it
# again (Snakemake would otherwise leave a missing intermediate file alone while its score is there).
DELETED_MODELS = (
    missing_kept_models(EXPERIMENT, set(TASK), suffix=MODEL_SUFFIX)
    if workflow.is_main_process and config["keep_models"] == "all"
    else []
)


def kept_models(wildcards):
    """The refits after selection, known once the selection checkpoint has run, and the kept models
    that were deleted."""
    if not REFITS_AFTER_SELECTION:
        return DELETED_MODELS
    return kept_model_files(chosen_choices()) + DELETED_MODELS
