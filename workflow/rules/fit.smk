# One fit job per (model, configuration, fold); fold 'full' fits on every row (in-sample
# criteria and the refit of the chosen configuration come from it).


rule fit_model:
    input:
        unpack(split_inputs),
    output:
        model=storage_policy("<results>/fits/{model}/{config_id}/fold-{fold}.joblib"),
        meta="<results>/fits/{model}/{config_id}/fold-{fold}.json",
    log:
        "<logs>/fit/{model}/{config_id}/fold-{fold}.log",
    threads: 1
    resources:
        # Cluster requests (profiles/slurm); a retry after running out of memory or time asks for more.
        mem_mb=lambda wildcards, attempt: 1000 * attempt,
        runtime=lambda wildcards, attempt: 10 * attempt,
    params:
        task=fit_params,
        data=DATA,
        provenance=fit_provenance,
        streaming=lambda w: {"streaming": STREAMING} if w.fold == "stream" else {},
    run:
        fit_job(fit_function(wildcards.fold), wildcards, input, output, params, log)


rule refit_chosen:
    """A chosen configuration refitted and kept under results/models/: on every row but the
    held-out set ('full', keep_models: best) or on every row ('all', the overall winner)."""
    input:
        unpack(lambda w: split_inputs_for(w.refit)),
    output:
        model="<results>/models/{model}/{config_id}/fold-{refit}.joblib",
        meta="<results>/models/{model}/{config_id}/fold-{refit}.json",
    log:
        "<logs>/refit_chosen/{model}/{config_id}/fold-{refit}.log",
    threads: 1
    params:
        task=fit_params,
        data=DATA,
        provenance=fit_provenance,
    run:
        run_task(
            "manymodels.task.fit:fit_task",
            **POOL,
            model=wildcards.model,
            config_id=wildcards.config_id,
            fold=wildcards.refit,
            **params.task,
            **params.data,
            data=input.data,
            folds=input.get("folds"),
            out_model=output.model,
            out_meta=output.meta,
            log=log[0],
        )
