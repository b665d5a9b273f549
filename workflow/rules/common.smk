# The experiment's plan. What every rule reads and depends on is the plan's (manymodels.engine.plan,
# unit-tested without Snakemake), built from the checked experiment (engine.smk): rules ask it in one
# line, and it asks the checkpoints here for the stages' decisions and the selection when its answer
# depends on them. Here too: the shards of score files left to plan, and the wildcards' patterns.

import json

from snakemake.exceptions import IncompleteCheckpointException
from snakemake.io import checkpoint_target

from manymodels.engine.ceiling import COMFORTABLE_JOBS
from manymodels.engine.plan import Plan, own_code_paths
from manymodels.engine.provenance import STAGE_MODULES, code_hash, own_code_hash
from manymodels.engine.uptodate import missing_kept_models, shard_pattern, shards_to_plan
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

# The shards of score files to plan: those the last successful run left as they are need not be
# (MANYMODELS_COMFORTABLE_JOBS: the DAG size this machine builds comfortably; larger is announced).
SHARD_FINGERPRINTS, SHARDS_UP_TO_DATE = {}, set()
if workflow.is_main_process:
    SHARD_FINGERPRINTS, SHARDS_UP_TO_DATE, _notes = shards_to_plan(
        PLAN,
        experiment=EXPERIMENT,
        environment=ENVIRONMENT,
        argv=sys.argv[1:],
        comfortable=int(os.environ.get("MANYMODELS_COMFORTABLE_JOBS", COMFORTABLE_JOBS)),
    )
    for _level, _note in _notes:
        getattr(logger, _level)(_note)
SHARDS_TO_PLAN = shard_pattern(set(PLAN.shards) - SHARDS_UP_TO_DATE)
# keep_models: all: a model that was scored and then deleted is a target, so the same command fits it
# again (Snakemake would otherwise leave a missing intermediate file alone while its score is there).
FIND_DELETED = workflow.is_main_process and config["keep_models"] == "all"
DELETED_MODELS = missing_kept_models(EXPERIMENT, set(PLAN.task), suffix=PLAN.model_suffix) if FIND_DELETED else []


def deleted_models():
    """DELETED_MODELS, and the deleted models of the trials proposed so far (Bayesian optimisation's)."""
    if not FIND_DELETED or not PLAN.proposing:
        return DELETED_MODELS
    return DELETED_MODELS + missing_kept_models(EXPERIMENT, PLAN.proposed_configurations(), suffix=PLAN.model_suffix)


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
