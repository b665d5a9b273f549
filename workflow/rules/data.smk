# Prepare the rows used, hold out a test set, and assign the CV folds once, for every job to read.
# A streaming experiment reads its data file in batches instead (and generates it, if asked to).


if PLAN.streaming and PLAN.generated_stream:

    rule generate_stream_data:
        output:
            "<results>/data/stream.parquet",
        log:
            "<logs>/generate_stream_data.log",
        params:
            kwargs=config["data"]["source"].get("kwargs", {}),
            code=PLAN.code["data"],
        run:
            run_task(
                "manymodels.task.streaming:generate_logistic_interactions",
                **POOL,
                **params.kwargs,
                out=output[0],
                log=log[0],
            )


if PLAN.streaming:

    ruleorder: describe_stream > prepare_data

    rule describe_stream:
        input:
            PLAN.stream_data,
        output:
            "<results>/data/summary.json",
        log:
            "<logs>/describe_stream.log",
        params:
            data=PLAN.data,
            code=PLAN.code["data"],
        run:
            run_task(
                "manymodels.task.streaming:describe_stream",
                **POOL,
                data=input[0],
                **params.data,
                out_summary=output[0],
                log=log[0],
            )


rule prepare_data:
    input:
        PLAN.source_file,
    output:
        data="<results>/data/data.parquet",
        summary="<results>/data/summary.json",
    log:
        "<logs>/prepare_data.log",
    params:
        source=config["data"]["source"],
        data=PLAN.data,
        groups=config["data"]["groups"],
        code=PLAN.code["data"],
    run:
        run_task(
            "manymodels.task.prepare:prepare_data",
            **POOL,
            source=params.source,
            **params.data,
            groups=params.groups,
            out_data=output.data,
            out_summary=output.summary,
            log=log[0],
        )


rule split_holdout:
    input:
        "<results>/data/data.parquet",
    output:
        "<results>/data/holdout.parquet",
    log:
        "<logs>/split_holdout.log",
    params:
        holdout=config["holdout"],
        label=config["data"]["label"],
        code=PLAN.code["data"],
    run:
        run_task(
            "manymodels.task.prepare:split_holdout",
            **POOL,
            data=input[0],
            holdout=params.holdout,
            label=params.label,
            out=output[0],
            log=log[0],
        )


rule assign_folds:
    input:
        data="<results>/data/data.parquet",
        holdout="<results>/data/holdout.parquet",
    output:
        "<results>/data/folds.parquet",
    log:
        "<logs>/assign_folds.log",
    params:
        cv=config["cv"],
        label=config["data"]["label"],
        groups=config["data"]["groups"],
        code=PLAN.code["data"],
    run:
        run_task(
            "manymodels.task.prepare:assign_folds",
            **POOL,
            data=input.data,
            holdout=input.holdout,
            cv=params.cv,
            label=params.label,
            groups=params.groups,
            out_folds=output[0],
            log=log[0],
        )
