# How this Snakemake process runs tasks: its role (a local run, a submission to a cluster or a job on a
# node), the pool of warm workers, what cluster jobs ask for, and the records of the run (locks, the
# nothing-to-do shortcut). A config that does not fit the schema stops the run here, with one line
# naming the key and the file. What each rule reads and depends on is the plan's (common.smk).

import json

from snakemake.exceptions import WorkflowError
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
from manymodels.engine.internals import cache_function_signatures, use_manymodels_executor, when_nothing_to_do
from manymodels.engine.console import show_run_summary, stop_on_bad_input
from manymodels.engine.locks import register_run, remove_stale_locks, run_marker, write_plan_record
from manymodels.engine.dispatch import TaskCall, register
from manymodels.engine.pool import Limits, run_task, start_server, warm_when_idle
from manymodels.engine.scheduling import on_start
from manymodels.experiment.estimators import estimator_modules_of
from manymodels.experiment.schema import check_schema

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

# The config checked against the estimators and the data: a main process reads the check an earlier
# run made for this very config file, config, code, packages and data (RUN_FINGERPRINT, uptodate.smk),
# if any.
CHECK_KEY = f"{RUN_FINGERPRINT} {CONFIG_FILE}" if RUN_FINGERPRINT else None
CHECKED = load_checked(EXPERIMENT, run_fingerprint=CHECK_KEY) if workflow.is_main_process else None

# The workers are forked from a server that imports what the tasks need once: started now, it
# imports them while this process reads the rest of the workflow (a dry run with its check read
# back runs no task).
if not POOL["in_process"] and not (CHECKED and workflow.output_settings.dryrun):
    start_server([*estimator_modules_of(config), "manymodels.task.fit", "manymodels.task.score"])

# The config against its schema (which fills in the defaults), before this process counts as a live run.
with stop_on_bad_input():
    check_schema(config, config_file=CONFIG_FILE)
validate(config, "../schemas/config.schema.yaml")  # valid: this only fills in the defaults

if workflow.is_main_process:
    register_run(EXPERIMENT)
    if removed := remove_stale_locks():
        logger.warning(
            f"Removed the locks of an earlier run of {', '.join(removed)} that was killed (no live run works on it)."
        )

# Otherwise the first worker checks it (a process on a cluster node reads the check its login
# process saved instead).
if CHECKED is None and ROLE in ("submission", "step"):
    CHECKED = load_checked(EXPERIMENT, config)
if CHECKED is None:
    with stop_on_bad_input():
        CHECKED = run_task("manymodels.search:check_experiment", **POOL, config=config, config_file=CONFIG_FILE)
    if workflow.is_main_process:
        save_checked(EXPERIMENT, config, CHECKED, CHECK_KEY)
if workflow.is_main_process:
    for _note in CHECKED.get("notes", []):
        logger.warning(_note)
# A worker with nothing to do imports what the plots and the report need, so that they start at once.
if POOL_DISPATCH:
    warm_when_idle(["matplotlib", "manymodels.results.plots", "manymodels.results.report"], POOL["n_workers"])


# On a cluster, the profile sets the policy Snakemake lets it set: profiles/slurm groups each
# (fit, score) pair of one (configuration, fold) (groups, group-components) and says what a score job
# asks for (set-resources). What a fit job asks for depends on its family's limits in the config, so it
# is set here: memory and time that grow with each retry. Local runs do not ask (Snakemake would
# evaluate these functions for every job, for nothing).
def fit_mem_mb(wildcards, attempt):
    return fit_request(FIT_LIMITS[wildcards.model], attempt)["mem_mb"]


def fit_runtime(wildcards, attempt):
    return fit_request(FIT_LIMITS[wildcards.model], attempt)["runtime"]


FIT_RESOURCES = {"mem_mb": fit_mem_mb, "runtime": fit_runtime} if ON_CLUSTER else {}
# What one fit may use (limits: experiment-wide, models.<name>.limits: per family); None: no bound.
FIT_LIMITS = {
    model: Limits.of({**(config.get("limits") or {}), **(spec.get("limits") or {})})
    for model, spec in config["models"].items()
}


def storage_policy(path):
    """A fitted model's path, temporary (deleted once scored) unless keep_models is 'all'."""
    return path if config["keep_models"] == "all" else temp(path)


onstart:
    forget(EXPERIMENT)  # results are about to change: no shortcut until this run has succeeded
    on_start(workflow, EXPERIMENT)
    write_plan_record(
        EXPERIMENT,
        tasks=PLAN.tasks,
        folds=PLAN.task_folds,
        planned_fits=PLAN.planned_fits(),
        metrics=PLAN.metrics,
        selection_metric=PLAN.selection_metric,
        staged=PLAN.staged,
    )


def record_success():
    """Arm the nothing-to-do shortcut for the results as they are now."""
    if workflow.is_main_process and plain_invocation(sys.argv[1:]):
        with open(workflow.pathvars.apply("<results>/selection.json")) as fh:
            kept = [workflow.pathvars.apply(path) for path in PLAN.kept_model_files(json.load(fh))]
        record(EXPERIMENT, RUN_FINGERPRINT, targets=[*FINAL_TARGETS, *kept], shards=SHARD_FINGERPRINTS)


def nothing_to_do():
    show_run_summary(workflow.pathvars.apply("<results>/run.json"), up_to_date=True)
    record_success()


if workflow.is_main_process:
    when_nothing_to_do(nothing_to_do)  # Snakemake skips onsuccess when it had nothing to do


onsuccess:
    show_run_summary(workflow.pathvars.apply("<results>/run.json"))
    record_success()
