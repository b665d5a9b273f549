# One score job per fitted (model, configuration, fold): adding a metric or editing scoring
# code reruns these and aggregation, never a fit.


rule score_model:
    input:
        unpack(split_inputs),
        model="<results>/fits/{model}/{config_id}/fold-{fold}.joblib",
        meta="<results>/fits/{model}/{config_id}/fold-{fold}.json",
    output:
        "<results>/scores/{model}/{config_id}/fold-{fold}.parquet",
    log:
        "<logs>/score/{model}/{config_id}/fold-{fold}.log",
    group:
        CLUSTER_GROUP
    threads: 1
    resources:
        **CLUSTER_RESOURCES["score_model"],
    params:
        metrics=METRICS,
        data=DATA,
        code=CODE["score"],
    run:
        run_task(
            "manymodels.task.score:score_task",
            **POOL,
            metrics=params.metrics,
            **params.data,
            data=input.data,
            folds=input.get("folds"),
            fit_model=input.model,
            fit_meta=input.meta,
            out_scores=output[0],
            log=log[0],
        )
