# Is there nothing to do? Checked before anything heavy is imported; answered only for a plain run
# of the default target whose config, code, environment, data and results are all as recorded after
# the last successful run. Otherwise (UNCHANGED_TARGETS is None) Snakemake builds the DAG as usual.

from manymodels.engine.console import show_run_summary
from manymodels.engine.uptodate import (
    environment_fingerprint,
    final_targets,
    fingerprint,
    forget,
    plain_invocation,
    record,
    record_path,
    unchanged_targets,
)

FINAL_TARGETS = final_targets(EXPERIMENT)
UNCHANGED_TARGETS = RUN_FINGERPRINT = ENVIRONMENT = None
if workflow.is_main_process:
    _source = config.get("data", {}).get("source") if isinstance(config.get("data"), dict) else None
    ENVIRONMENT = environment_fingerprint(
        Path(workflow.main_snakefile), _source if isinstance(_source, str) else None, config
    )
    RUN_FINGERPRINT = fingerprint(config, ENVIRONMENT)
    UNCHANGED_TARGETS = unchanged_targets(EXPERIMENT, RUN_FINGERPRINT, sys.argv[1:])
if UNCHANGED_TARGETS:
    logger.info(
        f"Nothing changed since the last successful run of {EXPERIMENT} (config, code, packages, data and "
        f"results as recorded in {record_path(EXPERIMENT)}); set MANYMODELS_NO_SHORTCUT=1 to have "
        "Snakemake check every job."
    )
    show_run_summary(results_dir(EXPERIMENT) / "run.json", up_to_date=True)
