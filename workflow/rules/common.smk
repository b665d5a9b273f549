# The experiment's plan. What every rule reads and depends on is the plan's (manymodels.engine.plan,
# unit-tested without Snakemake), built from the checked experiment (engine.smk): rules ask it in one
# line, and it asks the checkpoints here for the stages' decisions and the selection when its answer
# depends on them. Here too: the shards of score files left to plan, and the wildcards' patterns.

import json

from snakemake.exceptions import IncompleteCheckpointException
from snakemake.io import checkpoint_target

from manymodels.engine.ceiling import COMFORTABLE_JOBS, dag_warning
from manymodels.engine.plan import Plan, own_code_paths
from manymodels.engine.provenance import STAGE_MODULES, code_hash, own_code_hash
from manymodels.engine.uptodate import missing_kept_models, shard_fingerprints, shard_pattern, up_to_date_shards
from manymodels.experiment.layout import FILES_PER_SHARD
from manymodels.search import SEARCHES, read_decision


def decision(folder, stage):
    """A stage's decision (results/<name>/<folder>/<stage>.json). One being made again in this run
    (its file removed for its job) is not known yet."""
    made = checkpoints.stage_decision.get(search=folder, stage=stage).output[0]
    if not os.path.exists(made):
        raise IncompleteCheckpointException(checkpoints.stage_decision.rule, checkpoint_target(made))
    return read_decision(str(made), os.stat(made).st_mtime_ns)


def chosen_choices():
    """results/selection.json, once the selection checkpoint has run."""
    with checkpoints.select_configurations.get().output[0].open() as fh:
        return json.load(fh)


# Modules of the user's own that a family's estimator or a metric comes from: a change reruns that
# family's fits, or every score.
_families, _metrics = own_code_paths(config, config_file=CONFIG_FILE)
PLAN = Plan(
    config,
    CHECKED,
    config_file=CONFIG_FILE,
    code={stage: code_hash(stage) for stage in STAGE_MODULES},
    own_code={model: own_code_hash(paths) for model, paths in _families.items()},
    metric_code=own_code_hash(_metrics),
    per_shard=int(os.environ.get("MANYMODELS_SHARD_FILES", FILES_PER_SHARD)),
    decisions=decision,
    selection=chosen_choices,
)

# A shard whose tasks, shared settings and environment are those of the last successful run, with
# its fits, scores and gathered file untouched since, is not planned again: its gathered file is an
# input of aggregation like the data file, and Snakemake builds the DAG of the other shards only (a
# changed configuration of the large grid plans one sixteenth of its jobs). Under a staged search a
# shard's files depend on the decisions, which other shards change: no pruning.
SHARD_FINGERPRINTS, SHARDS_UP_TO_DATE = {}, set()
if workflow.is_main_process:
    SHARD_FINGERPRINTS = shard_fingerprints(ENVIRONMENT, config, PLAN.shards, PLAN.task_folds)
    if not PLAN.staged:
        SHARDS_UP_TO_DATE = up_to_date_shards(EXPERIMENT, SHARD_FINGERPRINTS, PLAN.shards, sys.argv[1:])
    if SHARDS_UP_TO_DATE:
        logger.info(
            f"{len(SHARDS_UP_TO_DATE)} of {len(PLAN.shards)} shards of score files are as the last successful run "
            "left them; Snakemake plans the jobs of the others (MANYMODELS_NO_SHORTCUT=1 plans all)."
        )
SHARDS_TO_PLAN = shard_pattern(set(PLAN.shards) - SHARDS_UP_TO_DATE)
# A DAG too large to build comfortably here: say what it will cost before Snakemake starts on it
# (MANYMODELS_COMFORTABLE_JOBS: another size, for another machine).
if workflow.is_main_process and (
    _too_large := dag_warning(
        PLAN.planned_jobs(set(PLAN.shards) - SHARDS_UP_TO_DATE),
        comfortable=int(os.environ.get("MANYMODELS_COMFORTABLE_JOBS", COMFORTABLE_JOBS)),
    )
):
    logger.warning(_too_large)
# keep_models: all: a model that was scored and then deleted is a target, so the same command fits it
# again (Snakemake would otherwise leave a missing intermediate file alone while its score is there).
DELETED_MODELS = (
    missing_kept_models(EXPERIMENT, set(PLAN.task), suffix=PLAN.model_suffix)
    if workflow.is_main_process and config["keep_models"] == "all"
    else []
)


wildcard_constraints:
    model=r"[A-Za-z][A-Za-z0-9_-]*",
    config_id=r"[0-9a-f]{10}",
    prefix_id=r"[0-9a-f]{10}",
    fold=r"\d+|full|all|stream|o\d+-\d+|\d+~(\d+of\d+|[A-Za-z_][A-Za-z0-9_]*=\d+)",
    outer=r"\d+",
    refit=r"full|all",
    metric=r"[A-Za-z][A-Za-z0-9_]*",
    shard=r"[0-9a-f]+|all|trials-[A-Za-z][A-Za-z0-9_-]*",
    search="|".join(search.folder for search in SEARCHES.values()),
    stage=r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)?",
