# Every score in one table, per-configuration summaries over folds, and the chosen configurations.


rule gather_scores:
    input:
        lambda w: PLAN.shard_score_files(w.shard),
    output:
        "<results>/shards/scores-{shard}.parquet",
    log:
        "<logs>/gather_scores/{shard}.log",
    wildcard_constraints:
        shard=SHARDS_TO_PLAN,
    params:
        metrics=list(PLAN.metrics),
        code=PLAN.code["aggregate"],
    run:
        run_task(
            "manymodels.results.aggregate:gather_scores",
            **POOL,
            score_files=list(input),
            metric_names=params.metrics,
            out=output[0],
            log=log[0],
        )


rule aggregate_scores:
    input:
        shards=lambda w: PLAN.shard_files(),
        race=lambda w: PLAN.stage_decisions(),
    output:
        scores="<results>/scores.parquet",
        summary="<results>/summary.parquet",
        configs="<results>/configs.tsv",
    log:
        "<logs>/aggregate_scores.log",
    params:
        configs=PLAN.tasks,
        metrics=PLAN.metrics,
        code=PLAN.code["aggregate"],
    run:
        run_task(
            "manymodels.results.aggregate:aggregate_scores",
            **POOL,
            score_files=list(input.shards),
            race=list(input.race),
            configs=params.configs,
            metrics=params.metrics,
            out_scores=output.scores,
            out_summary=output.summary,
            out_configs=output.configs,
            log=log[0],
        )


# What selection depends on, and the task that does it (final_model, a format string, as a function:
# Snakemake leaves a function's braces alone).
SELECTION = PLAN.selection_params() | {"final_model": lambda wildcards: PLAN.final_model}


# Selection is a checkpoint only when models are refitted after it (refit: chosen, keep_models:
# best, or a held-out set): a checkpoint makes Snakemake evaluate the whole DAG again, seconds on a
# large grid.
if PLAN.refits_after_selection:

    checkpoint select_configurations:
        input:
            summary="<results>/summary.parquet",
            scores="<results>/scores.parquet",
        output:
            selection="<results>/selection.json",
            comparisons="<results>/comparisons.parquet",
        log:
            "<logs>/select_configurations.log",
        params:
            **SELECTION,
        run:
            select_job(input, output, params, log)

else:

    rule select_configurations:
        input:
            summary="<results>/summary.parquet",
            scores="<results>/scores.parquet",
        output:
            selection="<results>/selection.json",
            comparisons="<results>/comparisons.parquet",
        log:
            "<logs>/select_configurations.log",
        params:
            **SELECTION,
        run:
            select_job(input, output, params, log)


# The table a GridSearchCV user can read: cv_results_'s columns, one row per configuration.
rule write_cv_results:
    input:
        scores="<results>/scores.parquet",
        summary="<results>/summary.parquet",
        comparisons="<results>/comparisons.parquet",
    output:
        parquet="<results>/cv_results.parquet",
        csv="<results>/cv_results.csv",
    log:
        "<logs>/write_cv_results.log",
    params:
        metrics=PLAN.metrics,
        code=PLAN.code["aggregate"],
    run:
        run_task(
            "manymodels.results.cv_results:write_cv_results",
            **POOL,
            scores=input.scores,
            summary=input.summary,
            comparisons=input.comparisons,
            metrics=params.metrics,
            out_parquet=output.parquet,
            out_csv=output.csv,
            log=log[0],
        )
