# Nested CV (config key nested): the whole selection again inside each outer fold, for an honest
# estimate of the procedure. Inner (configuration, fold) pairs are ordinary fit and score jobs on
# folds 'o<i>-<k>'; one job per outer fold chooses, refits and scores on the outer test rows.

from manymodels.experiment.data import split_definition


rule assign_outer_fold:
    input:
        data="<results>/data/data.parquet",
        holdout="<results>/data/holdout.parquet",
    output:
        "<results>/data/nested/outer-{outer}.parquet",
    log:
        "<logs>/assign_outer_fold/{outer}.log",
    params:
        cv=config["cv"],
        # What this outer fold depends on: adding outer folds to a splitter that can grow leaves it alone.
        outer=lambda w: split_definition(config["nested"]["outer"], int(w.outer)),
        label=config["data"]["label"],
        groups=config["data"]["groups"],
        code=PLAN.code["data"],
    run:
        run_task(
            "manymodels.task.prepare:assign_outer_fold",
            **POOL,
            data=input.data,
            holdout=input.holdout,
            cv=params.cv,
            outer=config["nested"]["outer"],
            index=int(wildcards.outer),
            label=params.label,
            groups=params.groups,
            out_folds=output[0],
            log=log[0],
        )


rule evaluate_outer_fold:
    input:
        scores=lambda w: PLAN.inner_score_files(w.outer),
        data="<results>/data/data.parquet",
        folds="<results>/data/nested/outer-{outer}.parquet",
    output:
        directory("<results>/nested/outer-{outer}"),
    log:
        "<logs>/nested/outer-{outer}.log",
    params:
        configs=PLAN.tasks,
        selection=PLAN.outer_selection_params(),
        data=PLAN.data,
        model_format=PLAN.model_format,
        code=PLAN.code["aggregate"],
        fit=PLAN.code["fit"],
    run:
        outer_fold_job(wildcards, input, output, params, log)


rule nested_estimate:
    input:
        outer=PLAN.outer_fold_dirs(),
        selection="<results>/selection.json",
        summary="<results>/summary.parquet",
    output:
        "<results>/nested.json",
    log:
        "<logs>/nested_estimate.log",
    params:
        metrics=PLAN.metrics,
        code=PLAN.code["aggregate"],
    run:
        run_task(
            "manymodels.results.nested:nested_estimate",
            **POOL,
            outer_dirs=list(input.outer),
            selection=input.selection,
            summary=input.summary,
            metrics=params.metrics,
            out=output[0],
            log=log[0],
        )
