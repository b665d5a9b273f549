# Shared pipeline prefixes: the steps before a pipeline's final estimator fitted once per (prefix,
# fold), for every configuration that gives them the same parameters (manymodels.experiment.prefixes
# says which share). The fit jobs of those configurations read the output and fit their last step.


rule fit_prefix:
    input:
        unpack(lambda w: PLAN.split_inputs(w.fold)),
    output:
        model=storage_policy("<results>/prefixes/{model}/{prefix_id}/fold-{fold}.joblib"),
        train=storage_policy("<results>/prefixes/{model}/{prefix_id}/fold-{fold}.train.parquet"),
        test=storage_policy("<results>/prefixes/{model}/{prefix_id}/fold-{fold}.test.parquet"),
        meta="<results>/prefixes/{model}/{prefix_id}/fold-{fold}.json",
    log:
        "<logs>/prefix/{model}/{prefix_id}/fold-{fold}.log",
    threads: TASK_THREADS
    resources:
        **FIT_RESOURCES,
    params:
        prefix=lambda w: PLAN.prefix_params(w.model, w.prefix_id),
        data=PLAN.data,
    run:
        prefix_call(wildcards, input, output, params, log).run()
