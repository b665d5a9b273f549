# One score job per fitted (model, configuration, fold): adding a metric or editing scoring
# code reruns these and aggregation, never a fit.


rule score_model:
    input:
        unpack(split_inputs),
        model=f"<results>/fits/{{model}}/{{config_id}}/fold-{{fold}}{MODEL_SUFFIX}",
        meta="<results>/fits/{model}/{config_id}/fold-{fold}.json",
    output:
        "<results>/scores/{model}/{config_id}/fold-{fold}.parquet",
    log:
        "<logs>/score/{model}/{config_id}/fold-{fold}.log",
    group:
        CLUSTER_GROUP
    threads: TASK_THREADS
    resources:
        **CLUSTER_RESOURCES["score_model"],
    params:
        metrics=METRICS,
        data=DATA,
        code=SCORE_CODE,
    run:
        score_call(wildcards, input, output, params, log).run()


rule score_refit:
    """A chosen configuration refitted after selection, scored on the held-out set."""
    input:
        unpack(lambda w: split_inputs_for("full")),
        model=f"<results>/models/{{model}}/{{config_id}}/fold-full{MODEL_SUFFIX}",
        meta="<results>/models/{model}/{config_id}/fold-full.json",
    output:
        "<results>/models/{model}/{config_id}/fold-full.parquet",
    log:
        "<logs>/score_refit/{model}/{config_id}.log",
    params:
        metrics=METRICS,
        data=DATA,
        code=SCORE_CODE,
    run:
        score_call(wildcards, input, output, params, log).run()
