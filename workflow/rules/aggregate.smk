# Every score in one table, per-configuration summaries over folds, and the chosen configurations.


rule gather_scores:
    input:
        shard_score_files,
    output:
        "<results>/shards/scores-{shard}.parquet",
    log:
        "<logs>/gather_scores/{shard}.log",
    wildcard_constraints:
        shard=SHARDS_TO_PLAN,
    params:
        metrics=list(METRICS),
        code=CODE["aggregate"],
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
        shard_files,
    output:
        scores="<results>/scores.parquet",
        summary="<results>/summary.parquet",
        configs="<results>/configs.tsv",
    log:
        "<logs>/aggregate_scores.log",
    params:
        configs=TASKS,
        metrics=METRICS,
        code=CODE["aggregate"],
    run:
        run_task(
            "manymodels.results.aggregate:aggregate_scores",
            **POOL,
            score_files=list(input),
            configs=params.configs,
            metrics=params.metrics,
            out_scores=output.scores,
            out_summary=output.summary,
            out_configs=output.configs,
            log=log[0],
        )


# What selection depends on, and the task that does it.
SELECTION = {
    "metrics": METRICS,
    "selection_metric": selection_metric(config),
    "simplest": config["selection"]["simplest"],
    "final_model": lambda wildcards: FINAL_MODEL,  # a function: Snakemake leaves its braces alone
    "code": CODE["aggregate"],
}


# Selection is a checkpoint only when models are refitted after it (refit: chosen, keep_models:
# best, or a held-out set): a checkpoint makes Snakemake evaluate the whole DAG again, seconds on a
# large grid.
if REFITS_AFTER_SELECTION:

    checkpoint select_configurations:
        input:
            "<results>/summary.parquet",
        output:
            "<results>/selection.json",
        log:
            "<logs>/select_configurations.log",
        params:
            **SELECTION,
        run:
            select_job(input, output, params, log)

else:

    rule select_configurations:
        input:
            "<results>/summary.parquet",
        output:
            "<results>/selection.json",
        log:
            "<logs>/select_configurations.log",
        params:
            **SELECTION,
        run:
            select_job(input, output, params, log)
