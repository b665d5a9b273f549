# One score job per fitted (model, configuration, fold): adding a metric or editing scoring
# code reruns these and aggregation, never a fit.


rule score_model:
    input:
        unpack(lambda w: PLAN.score_inputs(w.model, w.config_id, w.fold)),
        model=f"<results>/fits/{{model}}/{{config_id}}/fold-{{fold}}{PLAN.model_suffix}",
        meta="<results>/fits/{model}/{config_id}/fold-{fold}.json",
    output:
        "<results>/scores/{model}/{config_id}/fold-{fold}.parquet",
    log:
        "<logs>/score/{model}/{config_id}/fold-{fold}.log",
    threads: TASK_THREADS
    params:
        metrics=PLAN.metrics,
        data=PLAN.data,
        code=lambda w: PLAN.score_provenance(w.model, w.config_id, w.fold),
    run:
        score_call(wildcards, input, output, params, log).run()


rule score_refit:
    """A chosen configuration refitted after selection, scored on the held-out set."""
    input:
        unpack(lambda w: PLAN.split_inputs("full")),
        model=f"<results>/models/{{model}}/{{config_id}}/fold-full{PLAN.model_suffix}",
        meta="<results>/models/{model}/{config_id}/fold-full.json",
    output:
        "<results>/models/{model}/{config_id}/fold-full.parquet",
    log:
        "<logs>/score_refit/{model}/{config_id}.log",
    params:
        metrics=PLAN.metrics,
        data=PLAN.data,
        code=PLAN.score_code,
    run:
        score_call(wildcards, input, output, params, log).run()
