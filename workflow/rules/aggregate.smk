# Every score in one table, per-configuration summaries over folds, and the chosen configurations.


rule aggregate_scores:
    input:
        score_files,
    output:
        scores="results/scores.parquet",
        summary="results/summary.parquet",
        configs="results/configs.tsv",
    params:
        configs=TASKS,
        metrics=METRICS,
        code=CODE["aggregate"],
    log:
        "logs/aggregate_scores.log",
    run:
        run_task("manymodels.aggregate:aggregate_scores", **POOL, score_files=list(input), configs=params.configs,
                 metrics=params.metrics, out_scores=output.scores, out_summary=output.summary,
                 out_configs=output.configs, log=log[0])


checkpoint select_configurations:
    input:
        "results/summary.parquet",
    output:
        "results/selection.json",
    params:
        metrics=METRICS,
        selection_metric=selection_metric(config),
        simplest=config["selection"]["simplest"],
        final_fold="stream" if STREAMING else "full",
        code=CODE["aggregate"],
    log:
        "logs/select_configurations.log",
    run:
        run_task("manymodels.aggregate:select_configurations", **POOL, summary=input[0], metrics=params.metrics,
                 selection_metric=params.selection_metric, simplest=params.simplest, final_fold=params.final_fold,
                 out=output[0], log=log[0])
