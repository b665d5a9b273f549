# One fit job per (model, configuration, fold); fold 'full' fits on every row (in-sample
# criteria and the refit of the chosen configuration come from it).


rule fit_model:
    input:
        unpack(lambda w: PLAN.fit_inputs(w.model, w.config_id, w.fold)),
    output:
        model=storage_policy(f"<results>/fits/{{model}}/{{config_id}}/fold-{{fold}}{PLAN.model_suffix}"),
        meta="<results>/fits/{model}/{config_id}/fold-{fold}.json",
    log:
        "<logs>/fit/{model}/{config_id}/fold-{fold}.log",
    threads: TASK_THREADS
    resources:
        **FIT_RESOURCES,
    params:
        fit=lambda w: PLAN.fit_params(w.model, w.config_id, w.get("fold")),
        data=PLAN.data,
    run:
        fit_call(wildcards.fold, wildcards, input, output, params, log).run()


rule refit_chosen:
    """A chosen configuration refitted and kept under results/models/: on every row but the
    held-out set ('full', keep_models: best) or on every row ('all', the overall winner)."""
    input:
        unpack(lambda w: PLAN.split_inputs(w.refit)),
    output:
        model=f"<results>/models/{{model}}/{{config_id}}/fold-{{refit}}{PLAN.model_suffix}",
        meta="<results>/models/{model}/{config_id}/fold-{refit}.json",
    log:
        "<logs>/refit_chosen/{model}/{config_id}/fold-{refit}.log",
    threads: 1
    params:
        fit=lambda w: PLAN.fit_params(w.model, w.config_id, w.get("fold")),
        data=PLAN.data,
    run:
        fit_call(wildcards.refit, wildcards, input, output, params, log, "manymodels.task.fit:fit_task").run()
