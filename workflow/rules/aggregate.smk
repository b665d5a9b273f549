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
        shards=shard_files,
        race=stage_decisions,
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
            score_files=list(input.shards),
            race=list(input.race),
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
    "rule": config["selection"]["rule"],
    "rope": config["selection"]["rope"],
    "credibility": config["selection"]["credibility"],
    "grid_parameters": {model: grid_parameters(spec) for model, spec in config["models"].items()},
    "final_model": lambda wildcards: FINAL_MODEL,  # a function: Snakemake leaves its braces alone
    "code": CODE["aggregate"],
}


# Selection is a checkpoint only when models are refitted after it (refit: chosen, keep_models:
# best, or a held-out set): a checkpoint makes Snakemake evaluate the whole DAG again, seconds on a
# large grid.
if REFITS_AFTER_SELECTION:

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
        metrics=METRICS,
        code=CODE["aggregate"],
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
