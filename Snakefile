# manymodels: one fit job and one score job per (configuration, fold), then aggregation.
# This file is the table of contents; the logic lives in workflow/manymodels (a Python package).

from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/fit.smk"
include: "workflow/rules/score.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        "results/scores.parquet",
        "results/summary.parquet",
        "results/selection.json",
        "results/report.html",
        kept_models,
    default_target: True
