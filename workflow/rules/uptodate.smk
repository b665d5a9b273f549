# Is there nothing to do? Checked before anything heavy is imported; answered only for a plain run
# of the default target whose config, code, environment, data and results are all as recorded after
# the last successful run. Otherwise (UNCHANGED_TARGETS is None) Snakemake builds the DAG as usual.

import sys

sys.path.insert(0, str(Path(workflow.current_basedir.get_path_or_uri(secret_free=True)).parent))

from manymodels.engine.uptodate import FINAL_TARGETS, fingerprint, forget, plain_invocation, record, unchanged_targets

UNCHANGED_TARGETS = RUN_FINGERPRINT = None
if workflow.is_main_process:
    _source = config.get("data", {}).get("source") if isinstance(config.get("data"), dict) else None
    RUN_FINGERPRINT = fingerprint(config, Path(workflow.main_snakefile), _source if isinstance(_source, str) else None)
    UNCHANGED_TARGETS = unchanged_targets(RUN_FINGERPRINT, sys.argv[1:])
if UNCHANGED_TARGETS:
    logger.info("Nothing changed since the last successful run (config, code, packages, data and results/ "
                "as recorded in .snakemake/manymodels/uptodate.json); set MANYMODELS_NO_SHORTCUT=1 to have "
                "Snakemake check every job.")
