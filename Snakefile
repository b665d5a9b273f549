# manymodels: one fit job and one score job per (configuration, fold), then aggregation.
# This file is the table of contents; the logic lives in workflow/manymodels (a Python package).

from snakemake.utils import min_version

min_version("9.0")


# One experiment per config file: `snakemake --configfile F` runs exactly the experiment in F
# (nothing of config.yaml leaks in); plain `snakemake` runs config.yaml.
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


# The experiment's name, and its folders results/<name>/ and logs/<name>/ (<results> and <logs>).
include: "workflow/rules/experiment.smk"
# A plain rerun with nothing changed since the last successful run is answered from that run's
# record, without building the DAG of every fit and score job (see manymodels/engine/uptodate.py).
include: "workflow/rules/uptodate.smk"


if UNCHANGED_TARGETS:

    rule all:
        default_target: True
        input:
            UNCHANGED_TARGETS,

else:

    include: "workflow/rules/engine.smk"
    include: "workflow/rules/common.smk"
    include: "workflow/rules/jobs.smk"
    include: "workflow/rules/data.smk"
    include: "workflow/rules/prefix.smk"
    include: "workflow/rules/fit.smk"
    include: "workflow/rules/score.smk"
    include: "workflow/rules/aggregate.smk"
    include: "workflow/rules/nested.smk"
    include: "workflow/rules/search.smk"
    include: "workflow/rules/report.smk"

    rule all:
        default_target: True
        input:
            FINAL_TARGETS,
            lambda wildcards: PLAN.kept_models(deleted_models()),
